"""Commands that read address books and templates: contacts, preview."""

# ruff: noqa: PLC0415 - a module only one command needs is imported when it runs

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from notify import views
from notify.addressbook.sources import Import
from notify.campaign import (
    campaign_token,
    describe_duration,
    dmarc_warning,
    effective_limits,
    exposure_order,
)
from notify.cli.app import _progress, _settings, app, err, out
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
from notify.compose import Composer, load_template
from notify.errors import EXIT_USAGE
from notify.settings import Settings


@app.command()
def contacts(
    sources: Sources,
    output_format: Annotated[
        views.Format, typer.Option("--format", help="table, json or csv.")
    ] = views.Format.table,
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
    """Import, merge and show the recipients; list every problem with file:line."""
    result = import_contacts(
        _settings(),
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
    with result:
        views.print_problems(err, result)
        views.print_contacts(out, result.contacts, output_format)
        views.print_import_summary(err, result)
    if result.unreadable:
        raise typer.Exit(EXIT_USAGE)


@app.command()
def preview(
    sources: Sources,
    template: TemplateOpt,
    out_dir: Annotated[Path, typer.Option("--out", help="Folder for the outbox.")] = Path("outbox"),
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
    """Dry run: write every message to an outbox (.eml, index.html, manifest.json); send nothing."""
    settings = _settings()
    composer = _composer(settings, template)
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
    with result:
        views.print_problems(err, result)
        run_preview(settings, composer, result, template, out_dir)
    if result.unreadable:
        raise typer.Exit(EXIT_USAGE)


def run_preview(
    settings: Settings, composer: Composer, result: Import, template: str, out_dir: Path
) -> None:
    """Write the outbox and print what it holds."""
    from notify.preview import write_preview  # only preview and demo write an outbox

    recipients = exposure_order(result.contacts.recipients)
    lines = views.plan_lines(result, describe_duration(len(recipients), effective_limits(settings)))
    warning = dmarc_warning(settings)
    if warning:
        lines.append("warning: " + warning)
    with _progress(len(recipients)) as progress:
        task = progress.add_task("composing", total=len(recipients))
        summary = write_preview(
            out_dir,
            composer,
            recipients,
            result.contacts,
            template=template,
            campaign_token=campaign_token(settings, template),
            date=datetime.now().astimezone(),
            summary_lines=lines,
            progress=lambda done: progress.update(task, completed=done),
        )
    for line in lines:
        out.print(line, markup=False)
    for text, count in sorted(summary.warnings.items()):
        out.print(f"check ({count}): {text}", markup=False)
    for finding in summary.template_findings:
        out.print(f"template: {finding}", markup=False)
    out.print(f"Outbox: {out_dir / 'index.html'} (nothing was sent)", markup=False)


def _composer(settings: Settings, template: str) -> Composer:
    return Composer(
        load_template(template),
        settings.incident,
        settings.sender,
        default_language=settings.contacts.default_language,
    )
