"""Helpers for the bounce-intake tests: a journal whose recipients were sent, and mail.

The recipients match the French bounces of ``tests/data/bounces-own`` (their
Message-IDs are ``<warn-000N@example.org>``), so the same journal serves the
file, CLI and IMAP tests.
"""

from __future__ import annotations

from pathlib import Path

from notify.addressbook.model import Recipient
from notify.journal import AttemptEnd, AttemptStart, Journal

OWN = Path(__file__).parent / "data" / "bounces-own"
SENT_AT = "Fri, 27 Nov 2026 09:00:00 +0100"
SHA = "ab" * 32

#: address -> Message-ID of the warning sent to it (None: never sent).
PEOPLE: dict[str, str | None] = {
    "dr.lefebvre@orange.example": "<warn-0001@example.org>",
    "m.bernard@free.example": "<warn-0002@example.org>",
    "secretariat.cabinet-roux@sfr.example": "<warn-0003@example.org>",
    "pharmacie.centrale@pharma-lyon.example": "<warn-0004@example.org>",
    "labo.analyses@wanadoo.example": "<warn-0005@example.org>",
    "dr.petit@clinique.example": "<warn-0006@example.org>",
    "dr.girard@cabinet-girard.example": "<warn-0007@example.org>",
    "s.moreau@kine.example": "<warn-0008@example.org>",
    "jamais.envoye@exemple.fr": None,
}


def make_journal(
    path: Path, people: dict[str, str | None] | None = None, *, template: str = "alerte"
) -> dict[str, int]:
    """Create (or extend) the journal at ``path``; return address -> recipient id.

    Every recipient with a Message-ID is made ``sent`` with it, dated :data:`SENT_AT`.
    """
    people = PEOPLE if people is None else people
    with Journal.open(path) as journal:
        campaign = journal.open_campaign(
            template, languages=["fr"], settings={}, templates={}, variables={}
        )
        journal.add_recipients(campaign.id, [Recipient(a, a, a) for a in people])
        ids = {a: journal.find_recipient(a, campaign_id=campaign.id)[0].id for a in people}
        starts = [AttemptStart(ids[a], mid, SENT_AT, SHA) for a, mid in people.items() if mid]
        with journal.sending_lock():
            journal.begin_attempts(starts)
            journal.end_attempts([AttemptEnd(s.recipient_id, "sent", 250) for s in starts])
    return ids


def own(name: str) -> bytes:
    """The bytes of one file of ``tests/data/bounces-own``."""
    return (OWN / name).read_bytes()


def dsn(
    recipient: str,
    *,
    status: str = "5.1.1",
    action: str = "failed",
    message_id: str | None = None,
    envid: str | None = None,
    date: str = "Fri, 27 Nov 2026 11:00:00 +0100",
    report_id: str = "<dsn-1@mx.example>",
) -> bytes:
    """A standard RFC 3464 delivery status notification."""
    envelope = f"Original-Envelope-Id: {envid}\n" if envid else ""
    headers = f"Message-ID: {message_id}\n" if message_id else ""
    text = f"""Return-Path: <>
Date: {date}
From: Mail Delivery System <MAILER-DAEMON@mx.example>
To: secours.martin@exemple.org
Subject: Undelivered Mail Returned to Sender
Message-ID: {report_id}
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b1"

--b1
Content-Type: text/plain

Your message could not be delivered to {recipient}.

--b1
Content-Type: message/delivery-status

Reporting-MTA: dns; mx.example
{envelope}
Final-Recipient: rfc822; {recipient}
Action: {action}
Status: {status}
Diagnostic-Code: smtp; {status[0]}50 {status} mailbox problem

--b1
Content-Type: text/rfc822-headers

From: secours.martin@exemple.org
To: {recipient}
Subject: Alerte
{headers}
--b1--
"""
    return text.encode()
