"""Bounces, auto-replies and reports: what came back after sending.

Public API::

    parse_message(data: bytes, *, source: str = "") -> BounceReport
    iter_messages(path: Path, since: datetime | None = None) -> Iterator[tuple[str, bytes]]
    to_json(report: BounceReport) -> dict[str, Any]

A :class:`BounceReport` has a ``kind``:

==================  ==========================================================
``dsn``             RFC 3464 delivery status notification (or Amazon SES JSON)
``bounce``          free-text failure notice (qmail, Exim, Exchange, Gmail, ...)
``auto-reply``      vacation / out-of-office reply: proves delivery
``feedback-report`` ARF abuse or opt-out complaint: not a failure
``receipt``         read receipt (disposition notification): proves delivery
``not-bounce``      an ordinary message
``unparseable``     could not be read, or a notice naming no readable recipient
==================  ==========================================================

and one :class:`BounceRecord` per recipient: ``recipient``, ``original_recipient``,
``action`` (failed, delayed, delivered, relayed, expanded; auto-replied,
complained, or the disposition of a receipt), ``status`` (RFC 3463 code, with
``status_inferred`` when not written in the message), ``reply_code``,
``permanent`` (True hard, False soft, None unknown or not a failure), ``reason``
(user-unknown, mailbox-full, host-unknown, rejected, expired, other),
``diagnostic``, ``remote_mta``, ``original_message_id``, ``envid``, ``source``.

Permanence follows the status class (5.x.x hard, 4.x.x soft), so a
``5.2.2 mailbox full`` is permanent with reason mailbox-full, and an
``Action: failed`` with ``Status: 4.x.x`` is a final failure of a transient
condition (permanent False). See :mod:`notify.bounces.classify`.
"""

from __future__ import annotations

from notify.bounces.model import (
    AUTO_REPLY,
    BOUNCE,
    DSN,
    FEEDBACK_REPORT,
    KINDS,
    NOT_BOUNCE,
    REASONS,
    RECEIPT,
    UNPARSEABLE,
    BounceRecord,
    BounceReport,
    to_json,
)
from notify.bounces.parse import parse_message
from notify.bounces.sources import iter_messages

__all__ = [
    "AUTO_REPLY",
    "BOUNCE",
    "DSN",
    "FEEDBACK_REPORT",
    "KINDS",
    "NOT_BOUNCE",
    "REASONS",
    "RECEIPT",
    "UNPARSEABLE",
    "BounceRecord",
    "BounceReport",
    "iter_messages",
    "parse_message",
    "to_json",
]
