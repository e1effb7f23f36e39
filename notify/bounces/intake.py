"""Fold bounces, auto-replies and read receipts into the incident journal.

:func:`fold_messages` reads raw messages (from :func:`notify.bounces.iter_messages`
or an IMAP inbox), parses each with :func:`notify.bounces.parse_message`, matches
every record to a journal recipient, and records the message with its effects in
one journal transaction (:meth:`notify.journal.Journal.record_inbound`).

Matching, first that applies:

1. the original Message-ID the report quotes: the recipient whose last message
   carried it (exact);
2. the DSN envelope id ``notify-<campaign>-<recipient>`` (exact);
3. the failed address, only when the report quotes no Message-ID at all (a report
   about another message is not ours): the recipient with that address that was
   sent a message, dated no later than the report (one hour of clock skew allowed),
   the most recent one when several campaigns wrote to it.

Effects (see :mod:`notify.journal.inbound`): a permanent failure makes a ``sent``
recipient ``bounced``; a delay or transient failure is an event only; an
auto-reply, a read receipt or a success DSN is a ``delivered`` event (evidence
``auto-reply``, ``receipt``, ``dsn``); an abuse report is a ``complained`` event.
Nothing is ever deleted. What cannot be matched is kept in the ``inbound`` row and
the ``inbound`` event, and returned in :attr:`IntakeSummary.unmatched`.

Reading the same mailbox twice changes nothing: each message's fingerprint
(:func:`fingerprint`) is stored, and a message already read is only counted.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Final, Literal

from notify.bounces.model import (
    AUTO_REPLY,
    BOUNCE,
    DSN,
    FEEDBACK_REPORT,
    NOT_BOUNCE,
    RECEIPT,
    UNPARSEABLE,
    BounceRecord,
    BounceReport,
    to_json,
)
from notify.bounces.parse import parse_message
from notify.errors import JournalError
from notify.journal import Journal, RecipientRecord
from notify.journal.inbound import Effect, InboundEffect
from notify.sending import parse_envid

#: A report dated this much before the message it is matched to (by address) still fits.
CLOCK_SKEW: Final = timedelta(hours=1)
_SUCCESS_ACTIONS: Final = ("delivered", "relayed", "expanded")
_EVIDENCE: Final = {AUTO_REPLY: "auto-reply", RECEIPT: "receipt", DSN: "dsn", BOUNCE: "dsn"}

Status = Literal["recorded", "already-read", "busy"]


@dataclass(frozen=True, slots=True)
class Unmatched:
    """A record (or a whole message) no journal recipient could be tied to.

    ``why`` says, for a person, why it could not be matched and what to do.
    """

    source: str
    kind: str
    recipient: str | None
    action: str | None
    status: str | None
    permanent: bool | None
    reason: str | None
    original_message_id: str | None
    why: str

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data."""
        return {name: getattr(self, name) for name in self.__slots__}


@dataclass(frozen=True, slots=True)
class MessageOutcome:
    """What became of one message read.

    ``settled`` is true for a bounce, auto-reply, receipt or report whose every
    record was matched: nothing in it is left for a person to read (an IMAP
    ``move_to`` moves only these).
    """

    where: str
    status: Status
    kind: str
    settled: bool


@dataclass(slots=True)
class IntakeSummary:
    """The counts of one reading, and what could not be matched.

    ``read`` counts the new messages recorded, ``already_read`` those skipped
    because an earlier reading recorded them. ``hard_bounces``, ``soft_bounces``,
    ``delivered`` (auto-replies, read receipts, success DSNs) and ``complaints``
    count the records matched to a recipient in this reading. ``postponed`` lists
    the messages left unread because a recipient is being sent right now.
    """

    read: int = 0
    already_read: int = 0
    not_bounces: int = 0
    hard_bounces: int = 0
    soft_bounces: int = 0
    delivered: int = 0
    complaints: int = 0
    unmatched: list[Unmatched] = field(default_factory=list)
    postponed: list[str] = field(default_factory=list)

    @property
    def bounces_matched(self) -> int:
        """Failure records (hard and soft) tied to a recipient."""
        return self.hard_bounces + self.soft_bounces

    def to_json(self) -> dict[str, Any]:
        """Plain JSON data (for ``notify bounces --format json``)."""
        return {
            "read": self.read,
            "already_read": self.already_read,
            "not_bounces": self.not_bounces,
            "bounces_matched": self.bounces_matched,
            "hard_bounces": self.hard_bounces,
            "soft_bounces": self.soft_bounces,
            "delivered": self.delivered,
            "complaints": self.complaints,
            "unmatched": [item.to_json() for item in self.unmatched],
            "postponed": list(self.postponed),
        }


def fingerprint(data: bytes) -> str:
    """The SHA-256 (hex) identifying a message read back.

    Line endings are normalised to LF and trailing blank lines dropped first, so
    that one message read over IMAP (CRLF) and from a mailbox export (LF) is
    recognised as the same message.
    """
    normal = bytes(data).replace(b"\r\n", b"\n").rstrip(b"\n")
    return hashlib.sha256(normal).hexdigest()


def fold_messages(
    journal: Journal,
    messages: Iterable[tuple[str, bytes]],
    *,
    on_message: Callable[[MessageOutcome], None] | None = None,
) -> IntakeSummary:
    """Fold every ``(where, raw message)`` into ``journal``; return the summary.

    ``on_message`` is called after each message is recorded (or skipped).
    """
    summary = IntakeSummary()
    for where, data in messages:
        outcome = fold_message(journal, where, data, summary)
        if on_message is not None:
            on_message(outcome)
    return summary


def fold_message(
    journal: Journal, where: str, data: bytes, summary: IntakeSummary | None = None
) -> MessageOutcome:
    """Parse, match and record one message; add what happened to ``summary``."""
    summary = summary if summary is not None else IntakeSummary()
    digest = fingerprint(data)
    known = journal.find_inbound(digest)
    if known is not None:
        summary.already_read += 1
        kind = str(known.get("kind", ""))
        return MessageOutcome(where, "already-read", kind, bool(known.get("settled")))
    report = parse_message(data, source=where)
    effects, matched, unmatched = _match_report(journal, report)
    settled = report.kind not in (NOT_BOUNCE, UNPARSEABLE) and not unmatched
    stored = {
        "report": to_json(report),
        "matched": matched,
        "unmatched": [item.to_json() for item in unmatched],
        "settled": settled,
    }
    status = journal.record_inbound(
        digest, source=where, kind=report.kind, data=stored, effects=effects
    )
    if status == "recorded":
        _count(summary, report, effects, unmatched)
    elif status == "busy":
        summary.postponed.append(where)
    else:  # read by another process meanwhile
        summary.already_read += 1
    return MessageOutcome(where, status, report.kind, settled and status != "busy")


def _count(
    summary: IntakeSummary,
    report: BounceReport,
    effects: list[InboundEffect],
    unmatched: list[Unmatched],
) -> None:
    summary.read += 1
    if report.kind == NOT_BOUNCE:
        summary.not_bounces += 1
    summary.unmatched.extend(unmatched)
    for effect in effects:
        if effect.effect == "hard":
            summary.hard_bounces += 1
        elif effect.effect == "soft":
            summary.soft_bounces += 1
        elif effect.effect == "delivered":
            summary.delivered += 1
        else:
            summary.complaints += 1


def _match_report(
    journal: Journal, report: BounceReport
) -> tuple[list[InboundEffect], list[dict[str, Any]], list[Unmatched]]:
    """The effects of ``report``, a note of each match, and the records left unmatched."""
    if report.kind == NOT_BOUNCE:
        return [], [], []
    if report.kind == UNPARSEABLE or not report.records:
        why = report.note or "names no recipient that could be read"
        return [], [], [_unmatched_message(report, f"{why}; open it and decide by hand")]
    effects: list[InboundEffect] = []
    matched: list[dict[str, Any]] = []
    unmatched: list[Unmatched] = []
    when = _parse_date(report.date)
    for record in report.records:
        found = match_record(journal, record, when)
        if isinstance(found, str):
            unmatched.append(_unmatched_record(report, record, found))
            continue
        recipients, how = found
        effect = effect_of(report.kind, record)
        for recipient in recipients:
            details = _details(report, record, how)
            exact = how in ("message-id", "envid")
            effects.append(InboundEffect(recipient.id, effect, exact, details))
            matched.append({"recipient_id": recipient.id, "how": how, "effect": effect})
    return effects, matched, unmatched


def effect_of(kind: str, record: BounceRecord) -> Effect:
    """What a record means for its recipient: hard, soft, delivered or complained."""
    if kind == FEEDBACK_REPORT:
        return "complained"
    if kind in (AUTO_REPLY, RECEIPT) or record.action in _SUCCESS_ACTIONS:
        return "delivered"
    return "hard" if record.permanent is True and record.action == "failed" else "soft"


def match_record(
    journal: Journal, record: BounceRecord, when: datetime | None
) -> tuple[list[RecipientRecord], str] | str:
    """The recipients ``record`` is about and how they were found, or why none."""
    address = record.recipient or record.original_recipient
    message_id = (record.original_message_id or "").strip()
    if message_id:
        found = _by_message_id(journal, message_id, address)
        if found:
            return found, "message-id"
    by_envid = _by_envid(journal, record.envid)
    if isinstance(by_envid, RecipientRecord):
        return [by_envid], "envid"
    if by_envid is not None:
        return by_envid
    if message_id:
        return (
            f"about message {message_id}, which was not sent from this journal "
            "(an older or unrelated message?)"
        )
    if not address:
        return "names no recipient address and no message notify sent"
    return _by_address(journal, address, when)


def _by_message_id(journal: Journal, message_id: str, address: str | None) -> list[RecipientRecord]:
    bare = message_id.strip("<>")
    for candidate in dict.fromkeys((message_id, f"<{bare}>", f"<{bare.lower()}>")):
        found = journal.find_by_message_id(candidate)
        if found:
            same = [r for r in found if address and _same_address(r, address)]
            return same or found
    return []


def _by_envid(journal: Journal, envid: str | None) -> RecipientRecord | str | None:
    """The recipient an envelope id of ours names; a reason when it names none."""
    ids = parse_envid(envid) if envid else None
    if ids is None:
        return None
    campaign_id, recipient_id = ids
    try:
        recipient = journal.recipient(recipient_id)
    except JournalError:
        recipient = None
    if recipient is None or recipient.campaign_id != campaign_id:
        return (
            f"envelope id {envid} names no recipient of this journal "
            "(was it sent with another --journal?)"
        )
    return recipient


def _by_address(
    journal: Journal, address: str, when: datetime | None
) -> tuple[list[RecipientRecord], str] | str:
    sent = [r for r in journal.find_recipient(address) if r.attempts > 0]
    if not sent:
        return f"{address} was not sent any message from this journal"
    dated = [(r, _parse_date(r.date_header)) for r in sent]
    if when is not None:
        dated = [(r, d) for r, d in dated if d is None or d <= when + CLOCK_SKEW]
        if not dated:
            return f"dated before notify's message to {address}: about an older message"
    latest = max((d for _, d in dated if d is not None), default=None)
    best = [r for r, d in dated if d == latest]
    if len(best) > 1:
        ids = ", ".join(f"#{r.id}" for r in best)
        return f"{address} was sent several messages ({ids}) and the report does not say which"
    return best, "address"


def _same_address(recipient: RecipientRecord, address: str) -> bool:
    wanted = address.strip().casefold()
    return wanted in (recipient.email.casefold(), recipient.ascii_email.casefold(), recipient.key)


def _details(report: BounceReport, record: BounceRecord, how: str) -> dict[str, Any]:
    details: dict[str, Any] = {
        "matched_by": how,
        "source": record.source or report.source,
        "report_kind": report.kind,
        "report_message_id": report.message_id,
        "report_date": report.date,
        "address": record.recipient,
        "action": record.action,
        "status": record.status,
        "permanent": record.permanent,
        "reason": record.reason,
        "diagnostic": (record.diagnostic or "")[:2000] or None,
        "remote_mta": record.remote_mta,
        "original_message_id": record.original_message_id,
    }
    if effect_of(report.kind, record) == "delivered":
        details["evidence"] = _EVIDENCE.get(report.kind, report.kind)
    return details


def _unmatched_record(report: BounceReport, record: BounceRecord, why: str) -> Unmatched:
    return Unmatched(
        source=record.source or report.source,
        kind=report.kind,
        recipient=record.recipient or record.original_recipient,
        action=record.action,
        status=record.status,
        permanent=record.permanent,
        reason=record.reason,
        original_message_id=record.original_message_id,
        why=why,
    )


def _unmatched_message(report: BounceReport, why: str) -> Unmatched:
    return Unmatched(report.source, report.kind, None, None, None, None, None, None, why)


def _parse_date(value: str | None) -> datetime | None:
    if not value:
        return None
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
