"""One pass over the event log: per-recipient facts, hourly counts, notable events.

A *run* is inferred from the attempts: attempts less than :data:`RUN_GAP` apart
belong to one run (the journal does not record runs as such). A pause is an attempt
put back in the queue (outcome ``pending``: a sending limit was reached, or the run
was stopped before the server took the message).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta, tzinfo
from typing import Any

from notify.journal import Event
from notify.report.model import HourCounts, Notable

#: Attempts further apart than this belong to two different runs.
RUN_GAP = timedelta(minutes=15)

_HOUR_FIELDS = ("begun", "sent", "deferred", "failed", "uncertain", "paused", "bounced", "marked")


@dataclass(slots=True)
class PersonFacts:
    """What the events say about one recipient."""

    first_attempt: datetime | None = None
    last_attempt: datetime | None = None
    bounce_reason: str = ""
    marked_by: str = ""
    marked_at: datetime | None = None


@dataclass(slots=True)
class _Run:
    start: Event
    end: Event
    campaigns: set[int] = field(default_factory=set)
    counts: Counter[str] = field(default_factory=Counter)


@dataclass(slots=True)
class Timeline:
    """The result of reading the event log once.

    ``labels`` maps a campaign id to its template name and ``people`` a recipient id
    to its address, to name them in the notable lines.
    """

    zone: tzinfo
    labels: dict[int, str]
    people: dict[int, str]
    facts: dict[int, PersonFacts] = field(default_factory=dict)
    first_message: dict[int, datetime] = field(default_factory=dict)
    last_message: dict[int, datetime] = field(default_factory=dict)
    revisions: Counter[int] = field(default_factory=Counter)
    events: int = 0
    notable: list[Notable] = field(default_factory=list)
    _hours: dict[datetime, Counter[str]] = field(default_factory=dict)
    _run: _Run | None = None

    def read(self, event: Event) -> None:
        """Fold one event in (events must come in ``seq`` order)."""
        self.events += 1
        at = event.ts.astimezone(self.zone)
        if event.kind in ("attempt-start", "attempt-end"):
            self._attempt(event, at)
        elif event.kind == "recovered":
            self._count(at, "uncertain")
            self._note(event, at, "recovered", "fate unknown: a run stopped during sending")
        elif event.kind == "bounced":
            self._bounce(event, at)
        elif event.kind == "marked":
            self._mark(event, at)
        elif event.kind == "unreachable-marked":
            self._mark_unreachable(event, at)
        else:
            self._other(event, at)

    def finish(self) -> None:
        """Close the last run; call once every event was read."""
        self._close_run()
        self.notable.sort(key=lambda n: n.seq)

    def hours(self) -> list[HourCounts]:
        """The hourly counts, oldest first."""
        return [
            HourCounts(start, **{k: counts[k] for k in _HOUR_FIELDS})
            for start, counts in sorted(self._hours.items())
        ]

    def _count(self, at: datetime, what: str) -> None:
        hour = at.replace(minute=0, second=0, microsecond=0)
        self._hours.setdefault(hour, Counter())[what] += 1

    def _facts(self, event: Event) -> PersonFacts:
        return self.facts.setdefault(event.recipient_id or 0, PersonFacts())

    def _note(self, event: Event, at: datetime, kind: str, text: str) -> None:
        campaign = self.labels.get(event.campaign_id or 0, "")
        address = self.people.get(event.recipient_id or 0, "")
        self.notable.append(Notable(at, kind, campaign, address, text, event.seq))

    def _attempt(self, event: Event, at: datetime) -> None:
        run = self._run
        if run is None or event.ts - run.end.ts > RUN_GAP:
            self._close_run()
            run = self._run = _Run(event, event)
        run.end = event
        run.campaigns.add(event.campaign_id or 0)
        if event.kind == "attempt-start":
            facts = self._facts(event)
            facts.first_attempt = facts.first_attempt or at
            facts.last_attempt = at
            campaign = event.campaign_id or 0
            self.first_message.setdefault(campaign, at)
            self.last_message[campaign] = at
            what = "begun"
        else:
            what = "paused" if event.state_to == "pending" else str(event.state_to)
        run.counts[what] += 1
        self._count(at, what)

    def _close_run(self) -> None:
        run, self._run = self._run, None
        if run is None:
            return
        start, end = run.start.ts.astimezone(self.zone), run.end.ts.astimezone(self.zone)
        parts = [f"{run.counts[k]} {k}" for k in _HOUR_FIELDS if run.counts[k]]
        names = ", ".join(sorted(self.labels.get(c, "?") for c in run.campaigns))
        text = f"sending run {start:%H:%M}–{end:%H:%M} ({names}): " + ", ".join(parts)
        self.notable.append(Notable(start, "run", names, "", text, run.start.seq))
        if run.counts["paused"]:
            text = (
                f"run paused: {run.counts['paused']} message(s) put back in the queue "
                "(sending limit reached, or the run was stopped)"
            )
            self.notable.append(Notable(end, "pause", names, "", text, run.end.seq))

    def _bounce(self, event: Event, at: datetime) -> None:
        data = event.data
        permanent = bool(data.get("permanent"))
        reason = " ".join(str(data.get(k) or "") for k in ("status", "diagnostic")).strip()
        if permanent:
            self._facts(event).bounce_reason = reason or "bounced (no reason given)"
            self._count(at, "bounced")
        what = "bounce" if permanent else "delay notice or auto-reply"
        self._note(event, at, "bounce", f"{what}: {reason or 'no detail'}")

    def _mark(self, event: Event, at: datetime) -> None:
        data = event.data
        by = str(data.get("by") or "")
        facts = self._facts(event)
        facts.marked_by, facts.marked_at = by, at
        self._count(at, "marked")
        who = f" by {by}" if by else ""
        text = f"marked {event.state_to} (was {event.state_from}){who}: {data.get('note', '')}"
        self._note(event, at, "mark", text)

    def _mark_unreachable(self, event: Event, at: datetime) -> None:
        """A person without e-mail informed by other means, skipped, or back to reach."""
        data = event.data
        by = str(data.get("by") or "")
        self._count(at, "marked")
        who = f" by {by}" if by else ""
        person = f"U{data.get('unreachable_id')} {data.get('name') or '(no name)'}"
        text = (
            f"{person}: marked {data.get('to')} (was {data.get('from')}){who}: "
            f"{data.get('note', '')}"
        )
        campaign = self.labels.get(event.campaign_id or 0, "")
        address = str(data.get("email") or "")
        self.notable.append(Notable(at, "mark", campaign, address, text, event.seq))

    def _other(self, event: Event, at: datetime) -> None:
        data: dict[str, Any] = event.data
        if event.kind in ("campaign-created", "campaign-revised"):
            self.revisions[event.campaign_id or 0] += 1
            verb = "created" if event.kind == "campaign-created" else "revised"
            langs = ", ".join(str(x) for x in data.get("languages", []))
            text = f"campaign {verb} (revision {data.get('revision_id')}, languages {langs})"
        elif event.kind == "incident-recorded":
            text = f"incident details recorded (version {data.get('version')})"
        elif event.kind == "recipients-added":
            text = f"{data.get('count')} recipient(s) added"
        elif str(event.kind) == "unreachable-recorded":
            text = f"{data.get('count')} person(s) without e-mail kept for follow-up"
        else:
            text = event.kind
        self._note(event, at, event.kind, text)
