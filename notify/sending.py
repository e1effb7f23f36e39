"""The send stage: the journal, the composer and the delivery engine, wired together.

The journal is written before and after every SMTP transaction (through the
:class:`JournalRecorder` the engine calls), so a crash or Ctrl-C loses nothing: a
rerun resumes, never resends what was accepted, and resends an ``uncertain``
message with the same Message-ID and Date (byte for byte the same message).

The messages are composed in this process, or, for a large pass on a machine with a
second core, by a child process (:mod:`notify.compose_process`, ``[sending]
compose_process``): the same bytes, while this process only sends and journals.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Literal

from notify.addressbook.model import Recipient
from notify.campaign import Limits
from notify.compose import Composed, Composer, TemplateSet
from notify.compose_process.parent import ComposeProcess, Framed
from notify.compose_process.protocol import compose_record, job_for, real_clock
from notify.deliver import Account, Attempt, DeliverySummary, Outgoing, Policy, deliver
from notify.errors import NotifyError, QuotaPaused
from notify.journal import (
    AttemptEnd,
    AttemptStart,
    Campaign,
    Journal,
    Outcome,
)
from notify.settings import Settings

PAGE = 100  # recipients read from the journal at a time
COMPOSE_PROCESS_MIN = 2000  # messages due in a pass for "auto" to compose in a child


def settings_snapshot(settings: Settings) -> dict[str, Any]:
    """The settings as JSON-ready data, without any secret (for the journal)."""
    data = settings.model_dump(mode="json")
    smtp = data.get("smtp", {})
    for key in ("password", "password_command", "oauth2_token_command"):
        smtp.pop(key, None)
    return data


def open_campaign(
    journal: Journal,
    settings: Settings,
    template_set: TemplateSet,
    *,
    template: str,
    token: str,
) -> Campaign:
    """Get or create the campaign of ``template`` and record what it renders with."""
    journal.record_incident(settings.incident)
    return journal.open_campaign(
        template,
        languages=template_set.languages,
        settings=settings_snapshot(settings),
        templates={t.path.name: t.source for t in template_set.templates.values()},
        variables={"campaign_token": token, "default_language": settings.contacts.default_language},
    )


@dataclass(frozen=True, slots=True)
class _InFlight:
    message_id: str
    date: str
    sha256: str


class JournalRecorder:
    """The engine's recorder: commits ``sending`` before, the outcome after."""

    def __init__(self, journal: Journal, on_attempt: Callable[[Attempt], None] | None = None):
        self.journal = journal
        self.in_flight: dict[int, _InFlight] = {}
        self.on_attempt = on_attempt
        self.summary = DeliverySummary()  # what this recorder saw (survives a raise)

    def remember(self, ref: int, message_id: str, date: str, sha256: str) -> None:
        """What the journal records when ``ref``'s message is begun (see :meth:`starting`)."""
        self.in_flight[ref] = _InFlight(message_id, date, sha256)

    def starting(self, batch: Sequence[Outgoing]) -> None:
        starts = [
            AttemptStart(o.ref, m.message_id, m.date, m.sha256)
            for o in batch
            for m in (self.in_flight[o.ref],)
        ]
        begun = set(self.journal.begin_attempts(starts))
        missing = [o.rcpt for o in batch if o.ref not in begun]
        if missing:  # marked by hand since it was queued: never send it
            # The rest of the batch was begun but will not be written: back to pending.
            self.journal.end_attempts(
                [
                    AttemptEnd(ref, "pending", note="not sent: the batch was withdrawn")
                    for ref in begun
                ]
            )
            raise RecipientWithdrawn(missing)

    def finished(self, attempts: Sequence[Attempt]) -> None:
        self.journal.end_attempts([_end(a) for a in attempts])
        for attempt in attempts:
            _tally(self.summary, attempt)
            if attempt.final or attempt.outcome in {"sent", "permanent", "uncertain"}:
                self.in_flight.pop(attempt.ref, None)
            if self.on_attempt is not None:
                self.on_attempt(attempt)


class RecipientWithdrawn(Exception):
    """A recipient was marked by hand while queued: it must not be sent.

    The engine stops the pass (nothing of the batch is sent); :func:`send_campaign`
    then starts a new pass, which no longer sees that recipient.
    """

    def __init__(self, addresses: list[str]) -> None:
        super().__init__(", ".join(addresses))
        self.addresses = addresses


def _end(attempt: Attempt) -> AttemptEnd:
    """The journal's view of an engine attempt."""
    outcome: Outcome
    if attempt.outcome == "sent":
        outcome, note = "sent", ""
    elif attempt.outcome == "uncertain":
        outcome = "uncertain"
        note = "no reply after the message was sent: it may or may not have been accepted"
    elif attempt.outcome == "paused":
        outcome, note = "pending", "the run paused before the server took the message"
    elif attempt.outcome == "permanent":
        outcome, note = "failed", "permanent failure"
    elif attempt.final:
        outcome, note = "failed", f"temporary failures: gave up after {attempt.number} attempts"
    else:
        outcome, note = "deferred", "temporary failure: will retry"
    return AttemptEnd(attempt.ref, outcome, attempt.code, attempt.text, attempt.queue_id, note=note)


async def outgoing_messages(
    journal: Journal,
    campaign: Campaign,
    composer: Composer,
    recorder: JournalRecorder,
    *,
    token: str,
    mail_from: str,
    clock: Callable[[], datetime],
    roster: bool = False,
    helper: ComposeProcess | None = None,
    wait_for_helper: bool = False,
) -> AsyncGenerator[Outgoing, None]:
    """Compose, lazily and in exposure order, every message the journal says is due.

    ``roster``: only this run's recipients (the journal's roster, see
    :meth:`Journal.add_recipients`): a recipient added by an earlier run but no longer
    in the sources (removed, or excluded since) is left pending, never sent by this run.

    ``helper``: a composing process (not started) for this pass. It is started once
    the first page is composed, and pages are composed here until it is ready, then
    by it, from the next page on: its start-up (most of a second) delays nothing, and
    a helper that cannot start or dies before it is ready changes nothing.
    ``wait_for_helper`` (``compose_process = "on"``): it composes every message, and
    its failure is raised. It is killed and reaped when this generator ends, is
    closed, or fails.
    """
    after: int | None = None
    using: ComposeProcess | None = None  # the helper, once started and asked to compose
    later = None if wait_for_helper else helper  # started after the first page
    try:
        if helper is not None and wait_for_helper:
            await helper.start()
            await helper.wait_ready()
            using = helper
        while using is None or not using.ready():
            page = journal.to_send(campaign.id, limit=PAGE, after=after, roster=roster)
            if not page:
                return
            after = page[-1].rank
            for record in page:
                if record.id in recorder.in_flight:  # already queued in this run
                    continue
                composed, date = compose_record(composer, record, token, clock())
                recorder.remember(record.id, composed.message_id, date, composed.sha256)
                yield _outgoing(campaign, record.id, mail_from, composed.to, composed)
            await asyncio.sleep(0)
            if later is not None:  # now: its start-up does not delay the first message
                using, later = await _started(later), None
        await using.begin(after)
        while framed := await using.next_message():
            if framed.ref in recorder.in_flight:
                continue
            recorder.remember(framed.ref, framed.message_id, framed.date, framed.sha256)
            yield _outgoing(campaign, framed.ref, mail_from, framed.rcpt, framed)
    finally:
        if helper is not None:
            await helper.close()


def _outgoing(
    campaign: Campaign, ref: int, mail_from: str, rcpt: str, message: Composed | Framed
) -> Outgoing:
    """What the engine sends for recipient ``ref``: composed here or by the child."""
    return Outgoing(
        ref=ref,
        mail_from=mail_from,
        rcpt=rcpt,
        data=message.data,
        envid=envid_for(campaign.id, ref),
        needs_smtputf8=message.needs_smtputf8,
    )


async def _started(helper: ComposeProcess) -> ComposeProcess | None:
    """``helper`` started, or None when it cannot start (the pass goes on without it)."""
    try:
        await helper.start()
    except NotifyError:
        return None
    return helper


def use_compose_process(
    mode: Literal["auto", "on", "off"], due: int, clock: Callable[[], datetime]
) -> bool:
    """Whether a pass of ``due`` messages is composed by a child process.

    "auto": when it pays, that is at least COMPOSE_PROCESS_MIN messages, a second
    core to run it on, and notify send's own clock (:func:`real_clock`; tests pass a
    fake one and compose in-process unless they ask for "on").
    """
    if mode != "auto":
        return mode == "on"
    return due >= COMPOSE_PROCESS_MIN and _cores() >= 2 and clock is real_clock


def _helper(
    journal: Journal,
    campaign: Campaign,
    composer: Composer,
    mode: Literal["auto", "on", "off"],
    cap: int | None,
    clock: Callable[[], datetime],
    *,
    token: str,
    roster: bool,
) -> ComposeProcess | None:
    """The composing process of a pass (not started), or None to compose here."""
    due = 0
    if mode == "auto":  # an index count
        due = journal.due(campaign.id, roster=roster)
        due = due if cap is None else min(due, cap)
    if not use_compose_process(mode, due, clock):
        return None
    fixed = None if clock is real_clock else clock()
    job = job_for(
        journal.path,
        campaign.id,
        composer,
        token=token,
        roster=roster,
        page=PAGE,
        fixed_now_for_tests=fixed,
    )
    return ComposeProcess(job)


def _cores() -> int:
    """The processor cores this process may run on."""
    affinity = getattr(os, "sched_getaffinity", None)
    return len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)


def envid_for(campaign_id: int, recipient_id: int) -> str:
    """The DSN envelope id of a recipient's message: ties a bounce to its record."""
    return f"notify-{campaign_id}-{recipient_id}"


def parse_envid(envid: str) -> tuple[int, int] | None:
    """The (campaign id, recipient id) of an envelope id made by :func:`envid_for`."""
    parts = envid.strip().split("-")
    if len(parts) == 3 and parts[0] == "notify" and parts[1].isdigit() and parts[2].isdigit():
        return int(parts[1]), int(parts[2])
    return None


@dataclass(frozen=True, slots=True)
class RunCap:
    """How many messages one run may hand to the server, and what sets that number.

    ``by`` is ``"limit"`` (the ``--limit`` option), ``"day"`` (the daily quota left)
    or None (no cap: ``cap`` is None too).
    """

    cap: int | None
    by: Literal["limit", "day"] | None
    per_day_left: int | None = None


def run_cap(journal: Journal, limits: Limits, limit: int | None) -> RunCap:
    """The cap of this run: the daily quota left, and ``--limit``, whichever is smaller.

    Raises :class:`QuotaPaused` when the daily quota is spent, saying when it frees up.
    """
    if not limits.per_day:
        return RunCap(limit, None if limit is None else "limit")
    usage = journal.quota_usage()
    left = limits.per_day - usage.count
    if left <= 0:
        raise QuotaPaused(
            f"the daily sending limit of this account ({limits.per_day} in 24 hours) is reached",
            resume_at=usage.frees_at,
            hint="Run the same command again after the time shown; nothing is lost.",
        )
    if limit is not None and limit <= left:
        return RunCap(limit, "limit", left)
    return RunCap(left, "day", left)


def quota_left(journal: Journal, limits: Limits, limit: int | None) -> int | None:
    """How many messages this run may send (see :func:`run_cap`), or None for no cap."""
    return run_cap(journal, limits, limit).cap


def _tally(summary: DeliverySummary, attempt: Attempt) -> None:
    """Count one attempt the way the engine's summary does."""
    summary.attempts += 1
    if attempt.outcome == "sent":
        summary.sent += 1
    elif attempt.outcome == "permanent":
        summary.permanent += 1
    elif attempt.outcome == "uncertain" and attempt.final:
        summary.uncertain += 1
    elif attempt.outcome == "transient" and attempt.final:
        summary.gave_up += 1
    elif attempt.outcome == "paused":
        summary.paused += 1


def _units_used(summary: DeliverySummary) -> int:
    """Cap units a stopped pass may have used: every attempt not paused (an upper bound)."""
    return summary.attempts - summary.paused


async def send_campaign(
    journal: Journal,
    campaign: Campaign,
    composer: Composer,
    account: Account,
    policy: Policy,
    *,
    token: str,
    mail_from: str,
    clock: Callable[[], datetime],
    on_attempt: Callable[[Attempt], None] | None = None,
    roster: bool = False,
    compose_process: Literal["auto", "on", "off"] = "auto",
) -> DeliverySummary:
    """Send every due message of ``campaign``; the caller holds the sending lock.

    A recipient marked by hand (``notify mark``) after it was read from the journal
    is never sent: the pass stops before it and a new pass goes on without it, the
    cap reduced by what the stopped pass may have used.

    ``compose_process``: whether a child process composes the messages of a pass
    (see :func:`use_compose_process`). With "on" and a clock other than
    :func:`real_clock`, the clock is read once and its time is the Date of every new
    message of the pass (a test hook).
    """
    cap, stopped = policy.cap, DeliverySummary()
    while True:
        recorder = JournalRecorder(journal, on_attempt)
        helper = _helper(
            journal, campaign, composer, compose_process, cap, clock, token=token, roster=roster
        )
        messages = outgoing_messages(
            journal,
            campaign,
            composer,
            recorder,
            token=token,
            mail_from=mail_from,
            clock=clock,
            roster=roster,
            helper=helper,
            wait_for_helper=compose_process == "on",
        )
        try:
            async with aclosing(messages):  # the composing process is reaped here
                summary = await deliver(messages, account, replace(policy, cap=cap), recorder)
        except RecipientWithdrawn:
            _add(stopped, recorder.summary)
            if cap is not None:
                cap -= _units_used(recorder.summary)
                if cap <= 0:
                    stopped.cap_reached = True
                    return stopped
            continue
        _add(summary, stopped)
        return summary


def _add(total: DeliverySummary, more: DeliverySummary) -> None:
    """Add the counts of ``more`` to ``total``."""
    for name in ("sent", "permanent", "uncertain", "gave_up", "paused", "attempts"):
        setattr(total, name, getattr(total, name) + getattr(more, name))


def sample_recipient(recipient: Recipient, address: str, ascii_address: str) -> Recipient:
    """A copy of ``recipient`` addressed to the sender: ``send --test``."""
    return replace(recipient, email=address, ascii_email=ascii_address, key=address.casefold())


class NullRecorder:
    """A recorder that records nothing: for ``send --test`` (not part of the campaign)."""

    def starting(self, batch: Sequence[Outgoing]) -> None:
        """Nothing to record."""

    def finished(self, attempts: Sequence[Attempt]) -> None:
        """Nothing to record."""
