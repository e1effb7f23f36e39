"""Build the :class:`~notify.report.model.Report` from a journal (reads only)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta, tzinfo

from notify import __version__
from notify.journal import Campaign, Journal, RecipientRecord
from notify.journal.unreachable import UnreachableRecord
from notify.report.model import (
    FOLLOW_UP_STATES,
    CampaignSummary,
    DeadlineStatus,
    FollowUp,
    FollowUpReason,
    Integrity,
    RecipientRow,
    Register,
    Report,
)
from notify.report.timeline import PersonFacts, Timeline
from notify.settings import IncidentSettings

#: GDPR art. 33(1): notify the supervisory authority within 72 hours of awareness.
NOTIFICATION_DELAY = timedelta(hours=72)

_FOLLOW_STATES: tuple[FollowUpReason, ...] = ("failed", "bounced", "uncertain")
_REGISTER_KEYS = (
    "nature",
    "data_categories",
    "persons_concerned",
    "records_concerned",
    "consequences",
    "measures",
    "discovered_at",
    "aware_at",
)


def report_zone(incident: IncidentSettings | None, now: datetime) -> tzinfo:
    """The zone times are shown in: the one of ``aware_at``, else the local zone now."""
    if incident is not None and incident.aware_at is not None and incident.aware_at.tzinfo:
        return incident.aware_at.tzinfo
    return now.astimezone().tzinfo or UTC


def _local(moment: datetime | None, zone: tzinfo) -> datetime | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.astimezone()
    return moment.astimezone(zone)


def _deadline(incident: IncidentSettings, now: datetime) -> tuple[datetime | None, DeadlineStatus]:
    if incident.cnil_reference.strip():
        status: DeadlineStatus = "filed"
    elif incident.aware_at is None:
        status = "unknown"
    else:
        status = "open"
    if incident.aware_at is None:
        return None, status
    aware = incident.aware_at if incident.aware_at.tzinfo else incident.aware_at.astimezone()
    deadline = aware + NOTIFICATION_DELAY
    if status == "open" and now > deadline:
        status = "overdue"
    return deadline, status


def build_register(
    incident: IncidentSettings | None, persons: int, now: datetime, zone: tzinfo
) -> Register:
    """The art. 33(5) register entry (every field; ``missing`` lists the empty ones)."""
    recorded = incident is not None
    inc = incident or IncidentSettings()
    deadline, status = _deadline(inc, now)
    missing = [k for k in _REGISTER_KEYS if getattr(inc, k) in (None, "")]
    return Register(
        recorded=recorded,
        kind=inc.kind,
        compromised_address=inc.compromised_address,
        window_start=_local(inc.window_start, zone),
        window_end=_local(inc.window_end, zone),
        nature=inc.nature,
        data_categories=inc.data_categories,
        persons_concerned=inc.persons_concerned,
        records_concerned=inc.records_concerned,
        persons_in_journal=persons,
        consequences=inc.consequences,
        measures=inc.measures,
        discovered_at=_local(inc.discovered_at, zone),
        aware_at=_local(inc.aware_at, zone),
        deadline=_local(deadline, zone),
        deadline_status=status,
        cnil_reference=inc.cnil_reference,
        ars_reference=inc.ars_reference,
        missing=missing,
    )


def _row(record: RecipientRecord, template: str, facts: PersonFacts) -> RecipientRow:
    return RecipientRow(
        campaign=template,
        address=record.email,
        name=record.name,
        state=record.state,
        attempts=record.attempts,
        first_attempt=facts.first_attempt,
        last_attempt=facts.last_attempt,
        last_code=record.last_code,
        last_reply=record.last_text or "",
        message_id=record.message_id or "",
        sha256=record.sha256 or "",
        bounce_reason=facts.bounce_reason,
        note=record.note or "",
        marked_by=facts.marked_by,
    )


def _follow_recipient(record: RecipientRecord, row: RecipientRow, facts: PersonFacts) -> FollowUp:
    person = record.recipient
    detail = row.bounce_reason or row.smtp_reply or row.note
    if record.state == "uncertain" and not detail:
        detail = "the run stopped while the message was being handed over"
    return FollowUp(
        campaign=row.campaign,
        reason=record.state,  # type: ignore[arg-type]  # one of _FOLLOW_STATES
        name=record.name,
        address=record.email,
        organization=person.organization,
        phones=list(person.phones),
        postal=list(person.postal),
        detail=detail,
        sources=list(record.sources),
        note=row.note,
        marked_by=row.marked_by,
        marked_at=facts.marked_at,
    )


def _follow_unreachable(person: UnreachableRecord, template: str, zone: tzinfo) -> FollowUp:
    return FollowUp(
        campaign=template,
        reason=person.reason,
        name=person.name,
        address=person.email or "",
        organization=person.organization,
        phones=person.phones,
        postal=person.postal,
        detail=(
            "write from your secure health-messaging client"
            if person.email
            else "no usable e-mail address in the address books"
        ),
        sources=person.sources,
        id=person.label,
        state=person.state,
        note=person.note,
        marked_by=person.marked_by,
        marked_at=_local(person.marked_at, zone),
    )


def _integrity(journal: Journal, events: int) -> Integrity:
    problem = journal.verify()
    return Integrity(
        digest=journal.digest(),
        events=events,
        intact=problem is None,
        first_bad_seq=None if problem is None else problem.seq,
        problem="" if problem is None else problem.message,
    )


def zone_label(moment: datetime) -> str:
    """``UTC+01:00`` for a datetime one hour ahead of UTC."""
    offset = moment.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    minutes = abs(int(offset.total_seconds())) // 60
    return f"UTC{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _people(
    records: list[RecipientRecord],
    others: dict[int, list[UnreachableRecord]],
    labels: dict[int, str],
    timeline: Timeline,
) -> tuple[list[RecipientRow], list[FollowUp]]:
    rows, follow = [], []
    for record in records:
        facts = timeline.facts.get(record.id, PersonFacts())
        row = _row(record, labels[record.campaign_id], facts)
        rows.append(row)
        if record.state in _FOLLOW_STATES:
            follow.append(_follow_recipient(record, row, facts))
    for campaign_id, people in others.items():
        template = labels[campaign_id]
        follow.extend(_follow_unreachable(p, template, timeline.zone) for p in people)
    return rows, follow


def _summary(
    journal: Journal,
    campaign: Campaign,
    timeline: Timeline,
    recipients: int,
    others: list[UnreachableRecord],
) -> CampaignSummary:
    outcomes = Counter(p.state for p in others)
    return CampaignSummary(
        id=campaign.id,
        template=campaign.template,
        created_at=campaign.created_at.astimezone(timeline.zone),
        languages=list(campaign.revision.languages),
        revisions=timeline.revisions[campaign.id],
        first_message=timeline.first_message.get(campaign.id),
        last_message=timeline.last_message.get(campaign.id),
        counts={str(s): n for s, n in journal.counts(campaign.id).items()},
        recipients=recipients,
        without_email=len(others),
        without_email_counts={s: outcomes[s] for s in FOLLOW_UP_STATES},
    )


def build_report(journal: Journal, *, now: datetime | None = None) -> Report:
    """Read the whole journal into one :class:`Report` (``now``: for the 72-hour clock)."""
    moment = now or datetime.now().astimezone()
    incident = journal.incident()
    zone = report_zone(incident, moment)
    campaigns = journal.campaigns()
    labels = {c.id: c.template for c in campaigns}
    records = [r for c in campaigns for r in journal.iter_recipients(c.id)]
    others = {c.id: list(journal.iter_unreachable(c.id)) for c in campaigns}
    timeline = Timeline(zone, labels, {r.id: r.email for r in records})
    for event in journal.events():
        timeline.read(event)
    timeline.finish()
    rows, follow = _people(records, others, labels, timeline)
    per_campaign = Counter(r.campaign_id for r in records)
    summaries = [
        _summary(journal, c, timeline, per_campaign[c.id], others[c.id]) for c in campaigns
    ]
    keys = {r.key for r in records} | {p.key for ps in others.values() for p in ps}
    generated = moment.astimezone(zone)
    return Report(
        generated_at=generated,
        zone=zone_label(generated),
        journal=str(journal.path),
        notify_version=__version__,
        register=build_register(incident, len(keys), moment, zone),
        campaigns=summaries,
        recipients=rows,
        follow_up=follow,
        hours=timeline.hours(),
        notable=timeline.notable,
        integrity=_integrity(journal, timeline.events),
    )
