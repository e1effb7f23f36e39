"""Commands that send and report progress: send, status.

``notify send`` shows its plan (how many messages, through which account, how long),
asks before sending unless ``--yes`` (and refuses without a terminal to ask on),
shows progress (a bar on a terminal, a line now and then otherwise), and stops
gracefully on SIGINT or SIGTERM: the messages in flight finish and are recorded,
exit 130, and the same command resumes.

With address books only this run's recipients are sent (a contact removed from them
since is left pending); without, the campaign recorded in the journal is resumed with
the recipients of the last address books given.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Coroutine, Iterable, Iterator, Mapping
from contextlib import contextmanager, nullcontext
from datetime import datetime
from itertools import chain
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from notify import sending, views
from notify.addressbook.addresses import clean
from notify.addressbook.model import Recipient
from notify.addressbook.sources import Import
from notify.campaign import (
    Limits,
    campaign_token,
    describe_duration,
    dmarc_warning,
    effective_limits,
    exposure_order,
)
from notify.cli.app import _progress, _settings, app, err, out, state
from notify.cli.contacts import _composer
from notify.cli.options import (
    AllAddressesOpt,
    EncodingOpt,
    ExcludeOpt,
    GroupOpt,
    MapOpt,
    MinCountOpt,
    SecureOpt,
    SendSources,
    SinceOpt,
    TemplateOpt,
    WindowOpt,
    import_contacts,
    refuse_without_sources,
)
from notify.compose import Composer
from notify.compose_process.protocol import real_clock
from notify.deliver import (
    Account,
    Attempt,
    DeliverySummary,
    Outgoing,
    Policy,
    account_from_settings,
    deliver,
    preset_for,
)
from notify.errors import AccountError, NotifyError, QuotaPaused, UsageError
from notify.journal import SENDABLE, Campaign, Journal, QuotaUsage, State
from notify.settings import Settings

if TYPE_CHECKING:  # the progress bar is imported when a terminal shows one
    from rich.progress import Progress, TaskID

T = TypeVar("T")
EXIT_STOPPED = 130
STOPPED = (
    "stopped: the messages in flight were finished and recorded. "
    "Run the same command again to resume."
)
_SIGNALS = (signal.SIGINT, signal.SIGTERM)


class Stopper:
    """SIGINT and SIGTERM handler for the sending commands.

    While a sending task runs, a signal cancels it: the engine lets the transactions
    in flight finish (a second signal cuts them short, recorded as uncertain or
    paused, never failed). Outside of it, a signal raises KeyboardInterrupt; every
    journal write is one transaction, rolled back if cut.
    """

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[Any] | None = None
        self.received = 0

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.received += 1
        loop, task = self._loop, self._task
        if loop is None or task is None:
            raise KeyboardInterrupt
        if self.received == 1:
            loop.call_soon_threadsafe(
                err.print,
                "stopping: finishing the messages in flight (press Ctrl-C again to cut them)",
            )
        loop.call_soon_threadsafe(task.cancel)

    @contextmanager
    def installed(self) -> Iterator[None]:
        """Handle SIGINT and SIGTERM with this object, then restore the old handlers."""
        previous = {signum: signal.getsignal(signum) for signum in _SIGNALS}
        self.received = 0
        for signum in _SIGNALS:
            signal.signal(signum, self)
        try:
            yield
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        """Run ``coro`` in a new event loop; a signal cancels it (KeyboardInterrupt)."""

        async def runner() -> T:
            self._loop, self._task = asyncio.get_running_loop(), asyncio.current_task()
            try:
                return await coro
            finally:
                self._loop = self._task = None

        try:
            return asyncio.run(runner())
        except asyncio.CancelledError:
            raise KeyboardInterrupt from None


stopper = Stopper()


@contextmanager
def graceful_stop() -> Iterator[None]:
    """Install :data:`stopper`; a stop becomes the resume message and exit 130."""
    with stopper.installed():
        try:
            yield
        except KeyboardInterrupt:
            err.print(STOPPED, markup=False)
            raise typer.Exit(EXIT_STOPPED) from None


def ask(yes: bool, question: str) -> None:
    """Ask ``question`` on the terminal unless ``yes``; refuse without a terminal."""
    if yes:
        return
    if not sys.stdin.isatty():
        raise UsageError(
            "nothing was sent: there is no terminal to confirm on",
            hint="Check the plan above, then run the same command with --yes.",
        )
    try:
        confirmed = typer.confirm(question, default=False)
    except typer.Abort:
        raise KeyboardInterrupt from None
    if not confirmed:
        out.print("Nothing was sent.", markup=False)
        raise typer.Exit(0)


@app.command()
def send(
    template: TemplateOpt,
    sources: SendSources = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
    limit: Annotated[
        int | None, typer.Option("--limit", min=1, help="Send at most N messages in this run.")
    ] = None,
    test: Annotated[
        bool, typer.Option("--test", help="Send one sample to the sender's own address.")
    ] = False,
    mapping: MapOpt = None,
    encoding: EncodingOpt = None,
    exclude: ExcludeOpt = None,
    group: GroupOpt = None,
    all_addresses: AllAddressesOpt = False,
    include_secure: SecureOpt = False,
    since: SinceOpt = None,
    min_count: MinCountOpt = 1,
    window: WindowOpt = False,
) -> None:
    """Send one message per recipient, record everything, resume where a run stopped.

    Without SOURCE, resume the campaign of --template recorded in the journal: every
    recipient still due from the last address books given is sent (they are not read
    again).
    """
    with graceful_stop():
        if not sources:
            refuse_without_sources(
                {"--map": mapping, "--encoding": encoding, "--exclude": exclude,
                 "--group": group, "--all-addresses": all_addresses,
                 "--include-secure": include_secure, "--since": since,
                 "--min-count": min_count != 1, "--window": window, "--test": test}
            )  # fmt: skip
        settings = _settings()
        composer = _composer(settings, template)
        account = account_from_settings(settings.smtp)
        result = None
        if sources:
            result = import_contacts(
                settings,
                sources,
                mapping=mapping,
                encoding=encoding,
                exclude=exclude,
                groups=group,
                all_addresses=all_addresses,
                include_secure=include_secure,
                since=since,
                min_count=min_count,
                window_only=window,
            )
            views.print_problems(err, result)
        warning = dmarc_warning(settings)
        if warning:
            err.print("warning: " + warning, markup=False)
        with result or nullcontext():  # the import's temporary store is deleted at the end
            if test and result is not None:
                send_test(settings, composer, account, result.contacts.recipients, yes)
                return
            code = run_send(
                settings, composer, account, result, template, state.journal, yes=yes, limit=limit
            )
    raise typer.Exit(code)


def send_test(
    settings: Settings,
    composer: Composer,
    account: Account,
    recipients: Iterable[Recipient],
    yes: bool,
) -> None:
    """Send one sample, as the first recipient would get it, to the sender alone."""
    first = next(iter(recipients), None)
    if first is None:
        raise UsageError("no recipient to build a sample from")
    sender = clean(settings.sender.address)
    sample = sending.sample_recipient(first, sender.email, sender.ascii_email)
    now = datetime.now().astimezone()
    composed = composer.compose(
        sample, message_id=composer.message_id_for(sample, f"test|{now.isoformat()}"), date=now
    )
    ask(yes, f"Send one sample (as {first.email} would get it) to {sender.email}?")
    outgoing = Outgoing(0, sender.ascii_email, composed.to, composed.data)
    seen: list[Attempt] = []
    summary = stopper.run(
        deliver(
            [outgoing],
            account,
            Policy(max_attempts=1),
            sending.NullRecorder(),
            progress=seen.append,
        )
    )
    if summary.sent != 1:
        reply = f": {seen[-1].code or ''} {seen[-1].text}".rstrip() if seen else ""
        raise AccountError(
            f"the sample was not accepted by {account.describe()}{reply}",
            hint="Nothing was recorded in the journal. Fix the account, then try again.",
        )
    out.print(
        f"Sample sent to {sender.email} only (nothing recorded in the journal): "
        "check how it looks before sending.",
        markup=False,
    )


def _due(counts: Mapping[State, int]) -> int:
    return sum(counts.get(s, 0) for s in SENDABLE)


def _due_split(journal: Journal, campaign: Campaign) -> tuple[int, int]:
    """(due and in the campaign's roster, due but not in it): two index counts.

    The roster is the recipients of the last run given address books: this run's
    when it was given some, else the one a resume takes up.
    """
    due = journal.due(campaign.id, roster=True)
    return due, journal.due(campaign.id) - due


def _print_scope(resumed: str | None, aside: int) -> None:
    """Who this run is for: the campaign ``resumed`` as recorded, or the sources given
    (``aside``: due recipients of earlier runs missing from the last sources)."""
    if resumed is not None:
        out.print(
            f"Resuming campaign {resumed!r} as recorded in the journal: every recipient "
            "still due from the last address books given is sent (they are not read "
            "again).",
            markup=False,
        )
    if aside:
        where = "the last address books given" if resumed is not None else "these sources"
        out.print(
            f"{views.plural(aside, 'recipient')} of earlier runs not in {where} "
            "(removed or excluded since): left pending, not sent by this run.",
            markup=False,
        )


def _no_campaign(template: str, journal_path: Path) -> UsageError:
    return UsageError(
        f"no campaign of template {template!r} in journal {journal_path} to resume",
        hint="Give the address books (notify send --template NAME SOURCE...) to start it.",
    )


def _add_run(journal: Journal, campaign: Campaign, result: Import | None) -> int:
    """Add this run's recipients (they become the campaign's roster); how many are new."""
    if result is None:
        return 0
    added = journal.add_recipients(campaign.id, exposure_order(result.contacts.recipients))
    # People this account cannot write to are kept for the report's follow-up list.
    journal.record_unreachable(
        campaign.id, chain(result.contacts.unreachable, result.contacts.secure)
    )
    return added


def account_line(account: Account) -> str:
    """``user at host:port (security)``, or ``host:port (security), no login``."""
    if account.username:
        return f"{account.username} at {account.describe()}"
    return f"{account.describe()}, no login"


def plan_lines(
    due: int,
    added: int,
    recovered: int,
    account: Account,
    limits: Limits,
    cap: sending.RunCap | None,
) -> list[str]:
    """What ``notify send`` is about to do, one fact a line."""
    lines = [f"{due} messages to send, one per recipient, through {account_line(account)}"]
    if added:
        lines.append(f"{added} new recipients added to the campaign")
    if recovered:
        lines.append(
            f"{recovered} messages were in flight when a previous run stopped: recorded as "
            "uncertain, they are sent again with the same Message-ID"
        )
    if cap is not None and cap.cap is not None and cap.cap < due:
        if cap.by == "limit":
            why = "--limit"
        else:
            why = f"the daily limit of {limits.per_day} leaves {cap.per_day_left} for now"
        lines.append(
            f"this run sends {cap.cap} ({why}); run the same command again for the other "
            f"{due - cap.cap}"
        )
    lines.append(describe_duration(due, limits))
    return lines


class Ticker:
    """Progress of a sending run on stderr: a bar on a terminal, a line now and then
    otherwise (no control characters in logs)."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.done = 0
        self.step = max(50, total // 10)
        self.bar: Progress | None = _progress(total) if err.is_terminal else None
        self.task: TaskID | None = None

    def __enter__(self) -> Ticker:
        if self.bar is not None:
            self.bar.__enter__()
            self.task = self.bar.add_task("sending", total=self.total)
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)

    def attempt(self, attempt: Attempt) -> None:
        """Count a message whose attempt ended (a retry to come does not count)."""
        if attempt.outcome == "transient" and not attempt.final:
            return
        self.done += 1
        if self.bar is not None and self.task is not None:
            self.bar.advance(self.task)
        elif self.done % self.step == 0 and self.done < self.total:
            err.print(f"{self.done} of {self.total} messages handled", markup=False)


def run_send(
    settings: Settings,
    composer: Composer,
    account: Account,
    result: Import | None,
    template: str,
    journal_path: Path,
    *,
    yes: bool,
    limit: int | None,
) -> int:
    """Add the new recipients, show the plan, ask, send what is due; the exit code.

    ``result`` None: resume the campaign of ``template`` recorded in the journal (a
    :class:`UsageError` when there is none), every recipient due in it.
    """
    token = campaign_token(settings, template)
    limits = effective_limits(settings)
    resume = result is None
    if resume and not journal_path.exists():
        raise _no_campaign(template, journal_path)
    with Journal.open(journal_path, create=not resume) as journal, journal.sending_lock():
        if resume and journal.find_campaign(template) is None:
            raise _no_campaign(template, journal_path)
        recovered = journal.recover()
        campaign = sending.open_campaign(
            journal, settings, composer.template_set, template=template, token=token
        )
        added = _add_run(journal, campaign, result)
        due, aside = _due_split(journal, campaign)
        _print_scope(template if resume else None, aside)
        if due == 0:
            out.print("0 messages to send: every recipient was already handled.", markup=False)
            views.print_counts(out, journal, campaign)
            return views.exit_code_for(journal.counts(campaign.id))
        try:
            cap = sending.run_cap(journal, limits, limit)
        except QuotaPaused:
            _print_lines(plan_lines(due, added, recovered, account, limits, None))
            raise
        _print_lines(plan_lines(due, added, recovered, account, limits, cap))
        count = due if cap.cap is None else min(due, cap.cap)
        ask(yes, f"Send {count} messages now?")
        return _send_due(settings, composer, account, journal, campaign, cap, token, count)


def _print_lines(lines: list[str]) -> None:
    for line in lines:
        out.print(line, markup=False)


def _send_due(
    settings: Settings,
    composer: Composer,
    account: Account,
    journal: Journal,
    campaign: Campaign,
    cap: sending.RunCap,
    token: str,
    count: int,
) -> int:
    """Send, print the counts, and turn the outcome into the exit code."""
    policy = Policy.from_settings(
        settings.sending, cap=cap.cap, preset=preset_for(settings.smtp.provider)
    )
    try:
        with Ticker(count) as ticker:
            summary = stopper.run(
                sending.send_campaign(
                    journal,
                    campaign,
                    composer,
                    account,
                    policy,
                    token=token,
                    mail_from=clean(settings.sender.address).ascii_email,
                    clock=real_clock,
                    on_attempt=ticker.attempt,
                    roster=True,
                    compose_process=settings.sending.compose_process,
                )
            )
    except NotifyError:
        views.print_counts(out, journal, campaign)
        raise
    views.print_counts(out, journal, campaign)
    return _outcome(journal, campaign, summary, cap)


def _outcome(
    journal: Journal,
    campaign: Campaign,
    summary: DeliverySummary,
    cap: sending.RunCap,
) -> int:
    final = journal.counts(campaign.id)
    left = journal.due(campaign.id, roster=True)
    if summary.cap_reached and left:
        if cap.by == "day":
            raise QuotaPaused(
                "the daily sending limit of this account is reached for now "
                f"({left} messages still to send)",
                resume_at=journal.quota_usage().frees_at,
                hint="Run the same command again after the time shown; nothing is lost.",
            )
        out.print(
            f"--limit {cap.cap} reached: {left} messages still to send. "
            "Run the same command again to send them.",
            markup=False,
        )
    _print_unreached(final)
    return views.exit_code_for(final)


def _print_unreached(counts: Mapping[State, int]) -> None:
    """Say who was not reached and what to do about it (the exit code is then 1)."""
    parts = {s: counts.get(s, 0) for s in ("failed", "bounced", "uncertain")}
    total = sum(parts.values())
    if not total:
        return
    detail = ", ".join(f"{n} {s}" for s, n in parts.items() if n)
    todo = []
    if parts["uncertain"]:
        todo.append("run the same command again to resend the uncertain ones (same Message-ID)")
    if parts["failed"] or parts["bounced"]:
        todo.append("reach the others by other means and record it with 'notify mark'")
    if len(todo) == 1:
        todo[0] = todo[0].replace(" the others ", " them ")
    err.print(
        f"{total} recipients could not be reached ({detail}): {'; '.join(todo)}.", markup=False
    )


@app.command()
def status() -> None:
    """Counts per state for each campaign, the quota left today, when sending can resume."""
    show_status(_settings(), state.journal)


def show_status(settings: Settings, journal_path: Path) -> None:
    """Print the counts of every campaign, the quota, and when sending can resume."""
    if not journal_path.exists():
        raise UsageError(
            f"{journal_path}: no journal yet", hint="Run 'notify send' first, or pass --journal."
        )
    with Journal.open(journal_path, read_only=True) as journal:
        campaigns = journal.campaigns()
        if not campaigns:
            out.print("No campaign yet.", markup=False)
        due = 0
        for campaign in campaigns:
            views.print_counts(out, journal, campaign)
            due += _due(journal.counts(campaign.id))
        limits = effective_limits(settings)
        for line in status_lines(journal.quota_usage(), limits, due):
            out.print(line, markup=False)


def status_lines(usage: QuotaUsage, limits: Limits, due: int) -> list[str]:
    """The quota used and left, and when sending can resume."""
    if not limits.per_day:
        lines = [f"Quota: {usage.count} messages sent in the last 24 hours, no daily limit set."]
        left = None
    else:
        left = max(0, limits.per_day - usage.count)
        lines = [
            f"Quota: {usage.count} of {limits.per_day} used in the last 24 hours, {left} left."
        ]
    if due == 0:
        lines.append("Nothing left to send.")
    elif left == 0 and usage.frees_at is not None:
        when = f"{usage.frees_at.astimezone():%Y-%m-%d %H:%M}"
        lines.append(f"{due} messages still to send: sending can resume after {when}.")
    else:
        lines.append(f"{due} messages still to send: sending can resume now ('notify send').")
    return lines
