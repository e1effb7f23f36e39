"""What the human-readable reports (Markdown, HTML) say: labels, dates, sentences.

Shared by both renderers so that they say the same thing; escaping is theirs.
"""

from __future__ import annotations

from datetime import datetime

from notify.report.model import (
    FOLLOW_UP_REASONS,
    FOLLOW_UP_STATES,
    CampaignSummary,
    FollowUp,
    Integrity,
    Register,
    Report,
)

#: Each state as a reader understands it, in the order the report lists them.
STATE_LABELS: dict[str, str] = {
    "sent": "accepted by the recipient's server",
    "notified-other": "informed by other means (phone, letter, in person)",
    "pending": "not sent yet",
    "sending": "being sent",
    "deferred": "temporary failure: will be retried",
    "failed": "refused: permanent failure",
    "bounced": "bounced after acceptance",
    "uncertain": "fate unknown (a run was interrupted)",
    "skipped": "not sent: decided by a person",
}

#: The columns of the activity-per-hour table.
HOUR_HEADERS = (
    "Hour",
    "Begun",
    "Accepted",
    "Deferred",
    "Failed",
    "Uncertain",
    "Paused",
    "Bounces",
    "Manual marks",
)

KINDS = {"mailbox-hijack": "mailbox taken over", "data-breach": "breach of personal data"}
NOT_RECORDED = "not recorded"


def when(moment: datetime | None) -> str:
    """``2026-11-27 10:15`` (the report's zone), or "not recorded"."""
    return NOT_RECORDED if moment is None else f"{moment:%Y-%m-%d %H:%M}"


def number(value: int | None) -> str:
    """A count, or "not recorded"."""
    return NOT_RECORDED if value is None else f"{value:,}".replace(",", " ")


def text(value: str) -> str:
    """A free-text field on one line, or "not recorded"."""
    value = " ".join(value.split())
    return value or NOT_RECORDED


def deadline(register: Register, now: datetime) -> str:
    """The 72-hour notification clock in one sentence."""
    if register.deadline is None:
        return "unknown: set incident.aware_at (when you became aware of the breach)"
    due = when(register.deadline)
    if register.deadline_status == "filed":
        return f"{due}: notification filed (CNIL reference {register.cnil_reference})"
    if register.deadline_status == "overdue":
        return f"{due}: OVERDUE, no CNIL reference recorded (file it and record the reference)"
    hours = int((register.deadline - now).total_seconds() // 3600)
    return f"{due}: not filed yet, {hours} hour(s) left"


def persons(register: Register) -> str:
    """The approximate number of persons: recorded, and as counted in the journal."""
    counted = f"{number(register.persons_in_journal)} people in this journal"
    if register.persons_concerned is None:
        return f"{NOT_RECORDED} ({counted})"
    return f"about {number(register.persons_concerned)} ({counted})"


def register_fields(register: Register, now: datetime) -> list[tuple[str, str]]:
    """(label, value) for every line of the register section, in order."""
    window = f"{when(register.window_start)} to {when(register.window_end)}"
    return [
        ("Kind of incident", KINDS.get(register.kind, register.kind)),
        ("Compromised address", text(register.compromised_address)),
        ("Compromise window", window),
        ("Nature of the breach", text(register.nature)),
        ("Categories of data concerned", text(register.data_categories)),
        ("Persons concerned (approx.)", persons(register)),
        ("Records concerned (approx.)", number(register.records_concerned)),
        ("Likely consequences", text(register.consequences)),
        ("Measures taken or proposed", text(register.measures)),
        ("Breach discovered", when(register.discovered_at)),
        ("Controller aware (starts the 72-hour clock)", when(register.aware_at)),
        ("CNIL notification due (aware + 72 h)", deadline(register, now)),
        ("CNIL reference", register.cnil_reference.strip() or "not filed yet"),
        ("ARS / CERT Santé reference", register.ars_reference.strip() or "none recorded"),
    ]


def missing_sentence(register: Register) -> str:
    """What to fill in, or "" when the register is complete."""
    if not register.recorded:
        return (
            "No incident is recorded in this journal: fill in [incident] in notify.toml, "
            "then run 'notify report' again."
        )
    if not register.missing:
        return ""
    keys = ", ".join(f"incident.{k}" for k in register.missing)
    return f"To complete: {keys} (in notify.toml), then run 'notify report' again."


def follow_reason(person: FollowUp) -> str:
    """Why this person was not reached by e-mail."""
    return FOLLOW_UP_REASONS[person.reason]


#: The columns of the "people to reach by other means" table.
FOLLOW_UP_HEADERS = (
    "Id",
    "Name",
    "E-mail",
    "Why",
    "Phone",
    "Postal address",
    "Detail",
    "State",
    "Note",
    "Marked",
    "Campaign",
)

#: How to record what was done, under the table (plain text; each renderer formats it).
MARK_COMMAND = 'notify mark ID --state notified-other --note "phoned on 28/11 at 10:00"'
MARK_HELP = (
    "ID is the Id column (U3...), or the e-mail address of a recipient. A decision not "
    'to inform: --state skipped --note "why"; to undo a mark: --state to-reach.'
)


def follow_state(person: FollowUp) -> str:
    """What was done about this person, as a reader says it."""
    return FOLLOW_UP_STATES[person.state]


def marked(person: FollowUp) -> str:
    """``2026-11-28 10:00 by secretariat``, or "" when nobody marked the person."""
    if person.marked_at is None and not person.marked_by:
        return ""
    at = "" if person.marked_at is None else when(person.marked_at)
    by = f"by {person.marked_by}" if person.marked_by else ""
    return " ".join(p for p in (at, by) if p)


def follow_title(report: Report) -> str:
    """The section title: how many people are still to reach."""
    return f"3. People to reach by other means ({report.still_to_reach} still to reach)"


def follow_counts(people: list[FollowUp]) -> str:
    """``5 listed: 3 still to reach, 1 informed by other means, ...`` (zeros left out)."""
    parts = [
        f"{sum(1 for p in people if p.state == state)} {label}"
        for state, label in FOLLOW_UP_STATES.items()
    ]
    return f"{len(people)} listed: " + ", ".join(p for p in parts if not p.startswith("0 ")) + "."


def to_reach_sentence(report: Report) -> str:
    """What is left to do about the people to reach, or "" when nothing is."""
    count = report.still_to_reach
    if not count:
        return ""
    people = "1 person is" if count == 1 else f"{count} people are"
    return (
        f"To complete: {people} still to reach by other means (phone, letter, secure "
        "messaging): inform them, then record it with 'notify mark'."
    )


def kept_apart(campaign: CampaignSummary) -> str:
    """The people without e-mail of a campaign and what was done about them."""
    parts = [
        f"{campaign.without_email_counts.get(state, 0)} {label}"
        for state, label in FOLLOW_UP_STATES.items()
        if campaign.without_email_counts.get(state, 0)
    ]
    detail = f" ({', '.join(parts)})" if parts else ""
    return f"{campaign.without_email}{detail}"


def integrity_sentence(integrity: Integrity) -> str:
    """The verification result in one sentence."""
    if integrity.intact:
        return f"intact: all {integrity.events} events fit the hash chain"
    return f"ALTERED: {integrity.problem} (event {integrity.first_bad_seq})"


def heading(report: Report) -> str:
    """The line under the title: when, from which journal, in which zone."""
    return (
        f"Generated {when(report.generated_at)} by notify {report.notify_version} "
        f"from the journal {report.journal}. All times are {report.zone}."
    )
