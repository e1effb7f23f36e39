"""The ``notify bounces`` command: read bounces and auto-replies, fold them into the journal."""

from __future__ import annotations

import enum
import json
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import MofNCompleteColumn, Progress, SpinnerColumn, TextColumn
from rich.table import Table

from notify.bounces import BounceReport, iter_messages, parse_message, to_json
from notify.bounces.imap import fold_inbox, imap_account, read_inbox
from notify.bounces.intake import IntakeSummary, fold_messages
from notify.cli.app import _settings, app, err, out, state
from notify.errors import UsageError
from notify.journal import Journal


class BounceFormat(enum.StrEnum):
    table = "table"
    json = "json"


SourceArg = Annotated[
    Path | None,
    typer.Argument(
        metavar="[SOURCE]",
        help="An mbox file, a Maildir folder, an .eml file or a folder of them; "
        "without it, the IMAP inbox set in [imap] (or the sending account's).",
        show_default=False,
    ),
]
SinceOpt = Annotated[
    datetime | None,
    typer.Option("--since", help="Only messages since this date (YYYY-MM-DD)."),
]
DryRunOpt = Annotated[
    bool,
    typer.Option("--dry-run", help="Only show what was parsed: change nothing, no journal."),
]
FormatOpt = Annotated[BounceFormat, typer.Option("--format", help="table or json.")]


@app.command("bounces")
def bounces_command(
    source: SourceArg = None,
    since: SinceOpt = None,
    dry_run: DryRunOpt = False,
    output: FormatOpt = BounceFormat.table,
) -> None:
    """Read bounces, auto-replies and read receipts; fold them into the journal."""
    moment = since.astimezone() if since is not None and since.tzinfo is None else since
    if dry_run:
        reports = [parse_message(data, source=where) for where, data in _read(source, moment)]
        _print_reports(reports, output)
        return
    summary = _fold(source, moment, state.journal)
    if output is BounceFormat.json:
        _write_json(summary.to_json())
    else:
        _print_summary(summary)


def _read(source: Path | None, since: datetime | None) -> Iterator[tuple[str, bytes]]:
    if source is not None:
        return iter_messages(source, since=since)
    return read_inbox(imap_account(_settings()), since)


def _fold(source: Path | None, since: datetime | None, journal_path: Path) -> IntakeSummary:
    if not journal_path.exists():
        raise UsageError(
            f"{journal_path}: no journal: nothing was sent from it yet",
            hint="Pass --journal with this incident's journal, or use --dry-run to only "
            "look at the bounces.",
        )
    account = imap_account(_settings()) if source is None else None
    with Journal.open(journal_path, create=False) as journal, _progress() as progress:
        task = progress.add_task("reading", total=None)

        def advance(_outcome: object) -> None:
            progress.advance(task)

        if source is not None:
            return fold_messages(journal, iter_messages(source, since=since), on_message=advance)
        if account is None:  # pragma: no cover - built above when there is no source
            raise UsageError("no source to read bounces from")
        return fold_inbox(
            journal,
            account,
            since=since,
            on_total=lambda total: progress.update(task, total=total),
            on_message=advance,
        )


def _progress() -> Progress:
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        MofNCompleteColumn(),
        console=err,
        transient=True,
    )


def _write_json(data: Any) -> None:
    out.file.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


def _print_reports(reports: list[BounceReport], output: BounceFormat) -> None:
    if output is BounceFormat.json:
        _write_json([to_json(report) for report in reports])
        return
    table = Table(title=f"Messages read ({len(reports)})", title_justify="left")
    for column in ("Source", "Kind", "Recipient", "Action", "Status", "Failure", "Reason"):
        table.add_column(column, overflow="fold")
    table.add_column("Original Message-ID", overflow="fold")
    for report in reports:
        if not report.records:
            table.add_row(report.source, report.kind, "", "", "", "", report.note or "", "")
        for r in report.records:
            failure = "" if r.permanent is None else ("permanent" if r.permanent else "transient")
            table.add_row(
                r.source, report.kind, r.recipient or "", r.action, r.status or "", failure,
                r.reason or "", r.original_message_id or "",
            )  # fmt: skip
    out.print(table)


def _print_summary(summary: IntakeSummary) -> None:
    lines = [
        f"Messages read: {summary.read} new, {summary.already_read} already read before.",
        f"Bounces matched to a recipient: {summary.bounces_matched} "
        f"({summary.hard_bounces} permanent, {summary.soft_bounces} temporary or delayed).",
        f"Delivered (auto-reply, read receipt): {summary.delivered}.",
        f"Not bounces (replies and other mail, left for you to read): {summary.not_bounces}.",
    ]
    if summary.complaints:
        lines.append(f"Reported as spam by the recipient: {summary.complaints}.")
    for line in lines:
        out.print(line, markup=False)
    if summary.postponed:
        out.print(
            f"Left for later ({len(summary.postponed)}): a recipient is being sent right "
            "now; run 'notify bounces' again once 'notify send' has finished.",
            markup=False,
        )
    if not summary.unmatched:
        return
    # One block per message rather than a table: a path folded across table
    # lines cannot be copied, and the user has to open each of these files.
    out.print(
        f"Not matched to any recipient: read them yourself ({len(summary.unmatched)})",
        markup=False,
    )
    for item in summary.unmatched:
        details = [item.kind]
        if item.recipient:
            details.append(f"recipient {item.recipient}")
        if item.action or item.status:
            details.append(" ".join(part for part in (item.action, item.status) if part))
        details.append(item.why)
        out.print(f"  {item.source}", markup=False)
        out.print(f"    {' · '.join(details)}", markup=False)
