"""Plain data the journal takes and returns: states, campaigns, recipients, events."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from notify.addressbook.model import Recipient
from notify.journal.codec import recipient_from_json

State = Literal[
    "pending",  # to send
    "sending",  # an SMTP transaction was begun and its end is not recorded yet
    "sent",  # the server accepted the message (250 after DATA)
    "deferred",  # a transient failure (4xx, timeout, dropped connection): retried later
    "failed",  # a permanent failure (5xx) or too many attempts: not retried
    "bounced",  # accepted, then a bounce (DSN) said it was not delivered
    "uncertain",  # the process stopped during the SMTP transaction: fate unknown
    "skipped",  # a person decided not to send to this recipient
    "notified-other",  # informed by other means (phone, letter, in person): not sent
]

#: Every state, in the order reports list them.
STATES: tuple[State, ...] = (
    "pending",
    "sending",
    "sent",
    "deferred",
    "failed",
    "bounced",
    "uncertain",
    "skipped",
    "notified-other",
)

#: States :meth:`Journal.to_send` returns (deferred only once its retry time has come).
SENDABLE: tuple[State, ...] = ("pending", "uncertain", "deferred")

#: States a person may set with :meth:`Journal.mark` (``notify mark``).
MARK_STATES: tuple[State, ...] = (
    "pending",
    "sent",
    "failed",
    "bounced",
    "skipped",
    "notified-other",
)

Outcome = Literal["sent", "deferred", "failed", "uncertain", "pending"]

#: Outcomes :meth:`Journal.end_attempts` accepts; ``pending`` puts the recipient back
#: in the queue without a verdict (the run paused on a sending limit, or was stopped
#: before the message was handed to the server).
OUTCOMES: tuple[Outcome, ...] = ("sent", "deferred", "failed", "uncertain", "pending")

EventKind = Literal[
    "incident-recorded",
    "campaign-created",
    "campaign-revised",
    "recipients-added",
    "attempt-start",
    "attempt-end",
    "recovered",
    "marked",
    "bounced",
    "unreachable-recorded",
    "unreachable-marked",
    "inbound",
    "delivered",
    "complained",
]


@dataclass(frozen=True, slots=True)
class Revision:
    """What a campaign renders with: reproduces any message by re-rendering.

    ``templates`` maps each template file name to its source text; ``variables``
    holds the campaign-wide variables with their Python types (datetimes stay
    datetimes); ``settings`` is the settings snapshot without secrets.
    """

    id: int
    campaign_id: int
    created_at: datetime
    fingerprint: str
    languages: list[str]
    settings: dict[str, Any]
    templates: dict[str, str]
    variables: dict[str, Any]
    notify_version: str


@dataclass(frozen=True, slots=True)
class Campaign:
    """One template sent to a list of recipients; found again by its template name."""

    id: int
    template: str
    created_at: datetime
    revision: Revision


@dataclass(frozen=True, slots=True)
class RecipientRecord:
    """The current state of one recipient of one campaign (a row of the projection).

    ``rank`` orders recipients by exposure (smaller first) and is the cursor for
    :meth:`Journal.to_send`. ``message_id``, ``date_header``, ``sha256`` and
    ``revision_id`` describe the last message begun for this recipient.
    """

    id: int
    campaign_id: int
    key: str
    email: str
    ascii_email: str
    name: str
    sources: list[str]
    rank: int
    state: State
    attempts: int
    message_id: str | None
    date_header: str | None
    sha256: str | None
    revision_id: int | None
    last_code: int | None
    last_text: str | None
    queue_id: str | None
    next_retry_at: datetime | None
    note: str | None
    added_at: datetime
    updated_at: datetime
    data: str = field(repr=False)

    @property
    def recipient(self) -> Recipient:
        """The recipient's data as it was when added (for re-rendering)."""
        return recipient_from_json(self.data)


@dataclass(frozen=True, slots=True)
class AttemptStart:
    """A message about to be handed to the SMTP server.

    ``date`` is the ``Date:`` header value and ``sha256`` the hex SHA-256 of the exact
    bytes given to the server. For an ``uncertain`` recipient, ``message_id`` must be
    the one recorded (:attr:`RecipientRecord.message_id`): the same message is sent
    again so that a copy already delivered is recognised as a duplicate.
    """

    recipient_id: int
    message_id: str
    date: str
    sha256: str


@dataclass(frozen=True, slots=True)
class AttemptEnd:
    """How an SMTP transaction ended for one recipient.

    ``retry_at`` is when a ``deferred`` recipient may be tried again (``None``: at
    once). ``code`` and ``text`` are the server's last reply, ``queue_id`` the id the
    server gave the accepted message when it said one. ``note`` explains an
    outcome that has no SMTP reply (timeout, pause, dropped connection).
    """

    recipient_id: int
    outcome: Outcome
    code: int | None = None
    text: str = ""
    queue_id: str | None = None
    retry_at: datetime | None = None
    note: str = ""


@dataclass(frozen=True, slots=True)
class Event:
    """One row of the append-only event log."""

    seq: int
    ts: datetime
    kind: EventKind
    campaign_id: int | None
    recipient_id: int | None
    state_from: State | None
    state_to: State | None
    data: dict[str, Any]
    hash: str


@dataclass(frozen=True, slots=True)
class ChainBreak:
    """The first event row that does not fit the hash chain.

    ``problem`` is ``altered`` (the row's content changed after it was written),
    ``inserted`` (a row that was never appended by notify) or ``deleted`` (one or
    more rows before ``seq`` are missing).
    """

    seq: int
    problem: Literal["altered", "inserted", "deleted"]
    message: str


@dataclass(frozen=True, slots=True)
class QuotaUsage:
    """Messages counted against a rolling sending quota.

    ``count`` messages were accepted (or may have been: uncertain) since ``since``;
    the oldest of them leaves the window at ``frees_at`` (``None`` when none).
    """

    since: datetime
    count: int
    frees_at: datetime | None
