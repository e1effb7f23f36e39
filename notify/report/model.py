"""The report model: plain data built once from the journal, rendered in every format.

Every datetime is aware and already in the report's zone (:attr:`Report.zone`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

DeadlineStatus = Literal["filed", "open", "overdue", "unknown"]
FollowUpReason = Literal["no-address", "secure-network", "failed", "bounced", "uncertain"]
FollowUpState = Literal["to-reach", "notified-other", "skipped"]

#: What was done about a person to reach by other means, in the order reports count them.
FOLLOW_UP_STATES: dict[FollowUpState, str] = {
    "to-reach": "still to reach",
    "notified-other": "informed by other means",
    "skipped": "not informed: decision recorded",
}

#: Why a person needs to be reached by other means, as a reader says it.
FOLLOW_UP_REASONS: dict[FollowUpReason, str] = {
    "no-address": "no e-mail address",
    "secure-network": "secure health-messaging address only (MSSanté, Apicrypt)",
    "failed": "the message was refused",
    "bounced": "the message bounced",
    "uncertain": "delivery unknown (the run was interrupted)",
}


@dataclass(frozen=True, slots=True)
class Register:
    """The GDPR art. 33(5) register entry, from the incident recorded in the journal.

    ``persons_concerned`` / ``records_concerned`` are the numbers the controller
    recorded (``None``: not recorded); ``persons_in_journal`` counts the recipients
    and the people without e-mail the journal holds. ``deadline`` is ``aware_at``
    + 72 hours (art. 33(1)); ``missing`` names the settings keys left empty.
    """

    recorded: bool
    kind: str
    compromised_address: str
    window_start: datetime | None
    window_end: datetime | None
    nature: str
    data_categories: str
    persons_concerned: int | None
    records_concerned: int | None
    persons_in_journal: int
    consequences: str
    measures: str
    discovered_at: datetime | None
    aware_at: datetime | None
    deadline: datetime | None
    deadline_status: DeadlineStatus
    cnil_reference: str
    ars_reference: str
    missing: list[str] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class CampaignSummary:
    """One campaign: its template, when its first and last messages went, its counts.

    ``without_email`` counts the people kept apart (no address, secure network only);
    ``without_email_counts`` splits them by :data:`FOLLOW_UP_STATES` (every key present).
    """

    id: int
    template: str
    created_at: datetime
    languages: list[str]
    revisions: int
    first_message: datetime | None
    last_message: datetime | None
    counts: dict[str, int]
    recipients: int
    without_email: int
    without_email_counts: dict[str, int]


@dataclass(frozen=True, slots=True)
class RecipientRow:
    """One recipient of one campaign, as the record lists it."""

    campaign: str
    address: str
    name: str
    state: str
    attempts: int
    first_attempt: datetime | None
    last_attempt: datetime | None
    last_code: int | None
    last_reply: str
    message_id: str
    sha256: str
    bounce_reason: str
    note: str
    marked_by: str

    @property
    def smtp_reply(self) -> str:
        """The last SMTP reply as one line: ``550 5.1.1 unknown user``."""
        code = "" if self.last_code is None else str(self.last_code)
        return " ".join(p for p in (code, self.last_reply) if p)


@dataclass(frozen=True, slots=True)
class FollowUp:
    """A person not reached by e-mail: to reach by phone, letter or secure messaging.

    ``id`` is the identifier ``notify mark`` takes for a person kept apart (``U3``,
    stable across reports); empty for an e-mail recipient (mark it by its address).
    ``state`` says what was done; ``note``, ``marked_by`` and ``marked_at`` come from
    the last manual mark (empty / ``None`` when there was none). A recipient listed
    here (failed, bounced, uncertain) is always ``to-reach``: once marked, it leaves
    the list.
    """

    campaign: str
    reason: FollowUpReason
    name: str
    address: str
    organization: str
    phones: list[str]
    postal: list[str]
    detail: str
    sources: list[str]
    id: str = ""
    state: FollowUpState = "to-reach"
    note: str = ""
    marked_by: str = ""
    marked_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class HourCounts:
    """What happened during one hour (``start``): attempts and their outcomes."""

    start: datetime
    begun: int = 0
    sent: int = 0
    deferred: int = 0
    failed: int = 0
    uncertain: int = 0
    paused: int = 0
    bounced: int = 0
    marked: int = 0


@dataclass(frozen=True, slots=True)
class Notable:
    """One event worth a line of the timeline: a run, a pause, a mark, a bounce..."""

    at: datetime
    kind: str
    campaign: str
    address: str
    text: str
    seq: int


@dataclass(frozen=True, slots=True)
class Integrity:
    """The hash chain's state: its digest, and whether every row still fits it."""

    digest: str
    events: int
    intact: bool
    first_bad_seq: int | None
    problem: str


@dataclass(frozen=True, slots=True)
class Report:
    """The incident record: everything a report shows, in every format."""

    generated_at: datetime
    zone: str
    journal: str
    notify_version: str
    register: Register
    campaigns: list[CampaignSummary]
    recipients: list[RecipientRow]
    follow_up: list[FollowUp]
    hours: list[HourCounts]
    notable: list[Notable]
    integrity: Integrity

    @property
    def still_to_reach(self) -> int:
        """How many people of :attr:`follow_up` are still to reach."""
        return sum(1 for p in self.follow_up if p.state == "to-reach")
