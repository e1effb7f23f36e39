"""The bounce parser on our own fictional samples: French notices, auto-replies, broken input."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest

from notify.bounces import parse_message

OWN = Path(__file__).parent / "data" / "bounces-own"


class Want(NamedTuple):
    kind: str
    recipient: str | None
    action: str | None
    status: str | None
    permanent: bool | None
    reason: str | None


CASES = {
    "orange-boite-pleine.eml": Want(
        "bounce", "dr.lefebvre@orange.example", "failed", "5.2.2", True, "mailbox-full"
    ),
    "free-adresse-inconnue-latin1.eml": Want(
        "bounce", "m.bernard@free.example", "failed", "5.1.1", True, "user-unknown"
    ),
    "sfr-dsn-francais.eml": Want(
        "dsn", "secretariat.cabinet-roux@sfr.example", "failed", "5.1.1", True, "user-unknown"
    ),
    "laposte-domaine-inconnu.eml": Want(
        "bounce", "pharmacie.centrale@pharma-lyon.example", "failed", "5.1.2", True, "host-unknown"
    ),
    "retard-temporaire.eml": Want(
        "bounce", "labo.analyses@wanadoo.example", "delayed", "4.3.0", False, "other"
    ),
    "exchange-ndr-francais.eml": Want(
        "bounce", "dr.petit@clinique.example", "failed", "5.1.10", True, "user-unknown"
    ),
    "absent-du-cabinet.eml": Want(
        "auto-reply", "dr.girard@cabinet-girard.example", "auto-replied", None, None, None
    ),
    "je-suis-absente-sans-entete.eml": Want(
        "auto-reply", "s.moreau@kine.example", "auto-replied", None, None, None
    ),
    "reponse-humaine.eml": Want("not-bounce", None, None, None, None, None),
    "tronque.eml": Want("unparseable", None, None, None, None, None),
    "charset-inconnu.eml": Want("not-bounce", None, None, None, None, None),
}


@pytest.mark.parametrize("name", sorted(CASES), ids=lambda n: n.removesuffix(".eml"))
def test_own_sample(name: str) -> None:
    """Each own sample gives the kind, recipient, action, status and classification listed."""
    want = CASES[name]
    report = parse_message((OWN / name).read_bytes(), source=name)
    assert report.kind == want.kind
    if want.recipient is None:
        assert report.records == []
        return
    assert len(report.records) == 1
    record = report.records[0]
    got = (record.recipient, record.action, record.status, record.permanent, record.reason)
    assert got == (want.recipient, want.action, want.status, want.permanent, want.reason)


def test_every_own_sample_is_listed() -> None:
    """Every file in tests/data/bounces-own has an expectation here."""
    assert sorted(p.name for p in OWN.glob("*.eml")) == sorted(CASES)


def test_unparseable_says_what_to_do() -> None:
    """A notice naming no readable recipient says so and tells the user to read it."""
    report = parse_message((OWN / "tronque.eml").read_bytes(), source="tronque.eml")
    assert report.note is not None
    assert "by hand" in report.note
    assert report.source == "tronque.eml"


def test_french_dsn_keeps_envid_and_original_recipient() -> None:
    """A DSN's Original-Envelope-Id, Original-Recipient and Remote-MTA are kept."""
    record = parse_message((OWN / "sfr-dsn-francais.eml").read_bytes()).records[0]
    assert record.envid == "notify-campagne-1-0003"
    assert record.original_recipient == "Secretariat.Cabinet-Roux@sfr.example"
    assert record.remote_mta == "mbox3.sfr.example"
    assert record.original_message_id == "<warn-0003@example.org>"


def test_free_text_bounce_finds_original_message_id() -> None:
    """A free-text bounce gets the original Message-ID from the copy of the message."""
    record = parse_message((OWN / "orange-boite-pleine.eml").read_bytes()).records[0]
    assert record.original_message_id == "<warn-0001@example.org>"


def test_auto_reply_points_to_the_message_it_answers() -> None:
    """An auto-reply's record carries the Message-ID it replies to (In-Reply-To)."""
    record = parse_message((OWN / "absent-du-cabinet.eml").read_bytes()).records[0]
    assert record.original_message_id == "<warn-0007@example.org>"
