"""What the bounce parser returns: one report per message, one record per recipient.

A :class:`BounceReport` says what kind of message was read (a standard delivery
status notification, a free-text bounce, an auto-reply, ...) and carries one
:class:`BounceRecord` per recipient it names. :func:`to_json` turns a report into
plain JSON data for ``notify bounces --dry-run --format json``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Final

# Kinds of message.
DSN: Final = "dsn"  # a structured report: RFC 3464 (or a provider's machine-readable one)
BOUNCE: Final = "bounce"  # a free-text failure notice (qmail, Exim, Exchange, Gmail, ...)
AUTO_REPLY: Final = "auto-reply"  # vacation / out-of-office: proves delivery
FEEDBACK_REPORT: Final = "feedback-report"  # ARF abuse complaint (RFC 5965)
RECEIPT: Final = "receipt"  # read receipt (RFC 8098 disposition notification)
NOT_BOUNCE: Final = "not-bounce"  # an ordinary message
UNPARSEABLE: Final = "unparseable"  # looked like a report but could not be read

KINDS: Final = (DSN, BOUNCE, AUTO_REPLY, FEEDBACK_REPORT, RECEIPT, NOT_BOUNCE, UNPARSEABLE)

# Reasons for a failure.
USER_UNKNOWN: Final = "user-unknown"
MAILBOX_FULL: Final = "mailbox-full"
HOST_UNKNOWN: Final = "host-unknown"
REJECTED: Final = "rejected"  # spam, policy, blocked, relaying denied, virus
EXPIRED: Final = "expired"  # delivery time expired, the remote server gave up
OTHER: Final = "other"

REASONS: Final = (USER_UNKNOWN, MAILBOX_FULL, HOST_UNKNOWN, REJECTED, EXPIRED, OTHER)

# Actions (RFC 3464 section 2.3.3), plus the ones this parser adds for other kinds.
FAILED: Final = "failed"
DELAYED: Final = "delayed"
DELIVERED: Final = "delivered"
RELAYED: Final = "relayed"
EXPANDED: Final = "expanded"
AUTO_REPLIED: Final = "auto-replied"  # an auto-reply came back from this address
COMPLAINED: Final = "complained"  # this address reported the message as abuse
DISPLAYED: Final = "displayed"  # a read receipt: the message was opened (or deleted...)

FAILURE_ACTIONS: Final = (FAILED, DELAYED)


@dataclass(slots=True)
class BounceRecord:
    """What one report says about one recipient.

    ``status`` is the RFC 3463 enhanced status code (``"5.1.1"``). When the message
    gives none, it is derived from the SMTP reply code (``550`` gives ``"5.0.0"``) or
    from the text (``"mailbox full"`` gives ``"5.2.2"``), and ``status_inferred`` is
    true. ``permanent`` is true for a permanent failure (5.x.x), false for a
    transient one (4.x.x), and None when the record is not a failure or nothing
    tells. ``reason`` is one of :data:`REASONS` for failures, None otherwise.
    """

    recipient: str | None
    action: str
    original_recipient: str | None = None
    status: str | None = None
    status_inferred: bool = False
    reply_code: str | None = None
    permanent: bool | None = None
    reason: str | None = None
    diagnostic: str | None = None
    remote_mta: str | None = None
    original_message_id: str | None = None
    envid: str | None = None
    source: str = ""

    @property
    def is_failure(self) -> bool:
        """True when this record reports that the message did not (yet) arrive."""
        return self.action in FAILURE_ACTIONS


@dataclass(slots=True)
class BounceReport:
    """One message read from a mailbox, and what it says.

    ``note`` explains, in words a person can act on, why a message is
    ``unparseable`` or ``not-bounce`` (or anything worth knowing about the others).
    """

    kind: str
    records: list[BounceRecord] = field(default_factory=list)
    subject: str | None = None
    date: str | None = None
    message_id: str | None = None
    sender: str | None = None
    source: str = ""
    note: str | None = None

    @property
    def failures(self) -> list[BounceRecord]:
        """The records that report a failed or delayed delivery."""
        return [record for record in self.records if record.is_failure]


def to_json(report: BounceReport) -> dict[str, Any]:
    """Return ``report`` as JSON-ready data (str, bool, None, lists and dicts only)."""
    return {
        "source": report.source,
        "kind": report.kind,
        "subject": report.subject,
        "date": report.date,
        "message_id": report.message_id,
        "sender": report.sender,
        "note": report.note,
        "records": [_record_json(record) for record in report.records],
    }


def _record_json(record: BounceRecord) -> dict[str, Any]:
    return {
        "recipient": record.recipient,
        "original_recipient": record.original_recipient,
        "action": record.action,
        "status": record.status,
        "status_inferred": record.status_inferred,
        "reply_code": record.reply_code,
        "permanent": record.permanent,
        "reason": record.reason,
        "diagnostic": record.diagnostic,
        "remote_mta": record.remote_mta,
        "original_message_id": record.original_message_id,
        "envid": record.envid,
        "source": record.source,
    }
