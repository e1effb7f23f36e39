"""Commands that send and report progress: send, status."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.progress import (
    Progress,
    TaskID,
)

from notify import sending, views
from notify.addressbook.addresses import clean
from notify.addressbook.model import Recipient
from notify.addressbook.sources import Import
from notify.campaign import (
    campaign_token,
    describe_duration,
    dmarc_warning,
    effective_limits,
    exposure_order,
)
from notify.cli.app import _confirm, _progress, _run_cancellable, _settings, app, err, out, state
from notify.cli.contacts import _composer
from notify.cli.options import (
    AllAddressesOpt,
    EncodingOpt,
    ExcludeOpt,
    GroupOpt,
    MapOpt,
    MinCountOpt,
    SecureOpt,
    SinceOpt,
    Sources,
    TemplateOpt,
    WindowOpt,
    import_contacts,
)
from notify.compose import Composer
from notify.deliver import (
    Account,
    Attempt,
    Outgoing,
    Policy,
    account_from_settings,
    deliver,
    preset_for,
)
from notify.errors import AccountError, QuotaPaused, UsageError
from notify.journal import Journal
from notify.settings import Settings


@app.command()
def send(
    sources: Sources,
    template: TemplateOpt,
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
    """Send one message per recipient, record everything, resume where a run stopped."""
    settings = _settings()
    composer = _composer(settings, template)
    account = account_from_settings(settings.smtp)
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
    if test:
        _send_test(settings, composer, account, result.contacts.recipients, yes)
        return
    code = run_send(
        settings, composer, account, result, template, state.journal, yes=yes, limit=limit
    )
    raise typer.Exit(code)


def _send_test(
    settings: Settings,
    composer: Composer,
    account: Account,
    recipients: list[Recipient],
    yes: bool,
) -> None:
    if not recipients:
        raise UsageError("no recipient to build a sample from")
    sender = clean(settings.sender.address)
    sample = sending.sample_recipient(recipients[0], sender.email, sender.ascii_email)
    composed = composer.compose(
        sample,
        message_id=composer.message_id_for(sample, "test|" + datetime.now().isoformat()),
        date=datetime.now().astimezone(),
    )
    _confirm(yes, f"Send one sample (as {recipients[0].email} would get it) to {sender.email}?")
    outgoing = Outgoing(0, sender.ascii_email, composed.to, composed.data)
    summary = _run_cancellable(
        deliver([outgoing], account, Policy(max_attempts=1), sending.NullRecorder())
    )
    if summary.sent != 1:
        raise AccountError(f"the sample was not accepted by {account.host}")
    out.print(f"Sample sent to {sender.email}: check how it looks before sending.", markup=False)


def run_send(
    settings: Settings,
    composer: Composer,
    account: Account,
    result: Import,
    template: str,
    journal_path: Path,
    *,
    yes: bool,
    limit: int | None,
) -> int:
    token = campaign_token(settings, template)
    limits = effective_limits(settings)
    with Journal.open(journal_path) as journal, journal.sending_lock():
        recovered = journal.recover()
        campaign = sending.open_campaign(
            journal, settings, composer.template_set, template=template, token=token
        )
        added = journal.add_recipients(campaign.id, exposure_order(result.contacts.recipients))
        counts = journal.counts(campaign.id)
        due = sum(counts.get(s, 0) for s in ("pending", "deferred", "uncertain"))
        lines = views.send_plan_lines(
            due, added, recovered, account, limits, describe_duration(due, limits)
        )
        for line in lines:
            out.print(line, markup=False)
        if due == 0:
            views.print_counts(out, journal, campaign)
            return views.exit_code_for(journal.counts(campaign.id))
        _confirm(yes, f"Send {due} messages now?")
        cap = sending.quota_left(journal, limits, limit)
        policy = Policy.from_settings(
            settings.sending, cap=cap, preset=preset_for(settings.smtp.provider)
        )
        with _progress(min(due, cap or due)) as progress:
            task = progress.add_task("sending", total=min(due, cap or due))
            summary = _run_cancellable(
                sending.send_campaign(
                    journal,
                    campaign,
                    composer,
                    account,
                    policy,
                    token=token,
                    mail_from=clean(settings.sender.address).ascii_email,
                    clock=lambda: datetime.now().astimezone(),
                    on_attempt=lambda a: (
                        progress.advance(task) if a.final or a.outcome != "transient" else None
                    ),
                )
            )
        views.print_counts(out, journal, campaign)
        final = journal.counts(campaign.id)
        if summary.cap_reached and sum(final.get(s, 0) for s in ("pending", "deferred")) > 0:
            if limit is None:
                usage = journal.quota_usage()
                raise QuotaPaused(
                    "the daily sending limit is reached for now",
                    resume_at=usage.frees_at,
                    hint="Run the same command again after the time shown; nothing is lost.",
                )
            out.print(f"--limit {limit} reached: run again to send the rest.", markup=False)
            return 0
        return views.exit_code_for(final)


def _advance(progress: Progress, task: TaskID, attempt: Attempt) -> None:
    if attempt.final or attempt.outcome != "transient":
        progress.advance(task)


@app.command()
def status() -> None:
    """Counts per state for each campaign, the quota left today, when sending can resume."""
    show_status(_settings(), state.journal)


def show_status(settings: Settings, journal_path: Path) -> None:
    """Print the counts of every campaign and the quota."""
    if not journal_path.exists():
        raise UsageError(
            f"{journal_path}: no journal yet", hint="Run 'notify send' first, or pass --journal."
        )
    with Journal.open(journal_path, create=False) as journal:
        campaigns = journal.campaigns()
        if not campaigns:
            out.print("No campaign yet.", markup=False)
        for campaign in campaigns:
            views.print_counts(out, journal, campaign)
        views.print_quota(out, journal.quota_usage(), effective_limits(settings))
