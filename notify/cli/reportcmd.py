"""Commands that read and annotate the incident record: report, mark."""

from __future__ import annotations

import enum
import getpass
import sys
from pathlib import Path
from typing import Annotated

import typer

from notify.cli.app import app, err, out, state
from notify.errors import ConfigError, UsageError
from notify.journal import (
    MARK_STATES,
    UNREACHABLE_STATES,
    Journal,
    RecipientRecord,
    UnreachableRecord,
    parse_label,
)
from notify.report import (
    build_report,
    find_sent,
    render_csv,
    render_html,
    render_json,
    render_markdown,
    reproduce,
    write_private,
)
from notify.report.model import Report
from notify.report.reproduce import Reproduction
from notify.settings import DEFAULT_CONFIG, IncidentSettings, load_settings


class ReportFormat(enum.StrEnum):
    md = "md"
    html = "html"
    csv = "csv"
    json = "json"


FormatOpt = Annotated[
    ReportFormat, typer.Option("--format", help="md (default), html, csv or json.")
]
OutOpt = Annotated[
    Path | None,
    typer.Option("--out", help="Write to this file (owner-only, 0600) instead of the screen."),
]
CampaignOpt = Annotated[
    str | None,
    typer.Option("--campaign", metavar="TEMPLATE", help="Only this campaign (its template name)."),
]


def _open_journal(*, read_only: bool = False) -> Journal:
    path = state.journal
    if not path.exists():
        raise UsageError(
            f"{path}: no journal yet", hint="Run 'notify send' first, or pass --journal."
        )
    return Journal.open(path, create=False, read_only=read_only)


def _emit(data: bytes, out_file: Path | None) -> None:
    """``data`` to ``out_file`` (0600) or, byte for byte, to standard output."""
    if out_file is not None:
        write_private(out_file, data)
        return
    sys.stdout.flush()
    sys.stdout.buffer.write(data)
    sys.stdout.buffer.flush()


def _check_options(fmt: ReportFormat, excel: bool, verify: bool, message: str | None) -> None:
    if excel and fmt is not ReportFormat.csv:
        raise UsageError("--excel applies to CSV only", hint="Add --format csv.")
    if verify and message is not None:
        raise UsageError("--verify and --message do one thing each", hint="Run them one by one.")


@app.command()
def report(
    output_format: FormatOpt = ReportFormat.md,
    out_file: OutOpt = None,
    excel: Annotated[
        bool, typer.Option("--excel", help="CSV for French Excel: UTF-8 with BOM, ';'.")
    ] = False,
    verify: Annotated[
        bool,
        typer.Option("--verify", help="Only check the journal's hash chain (exit 1: altered)."),
    ] = False,
    message: Annotated[
        str | None,
        typer.Option(
            "--message",
            metavar="ADDRESS",
            help="Show the exact message sent to ADDRESS, checked against its recorded SHA-256.",
        ),
    ] = None,
    campaign: CampaignOpt = None,
) -> None:
    """The incident record (GDPR register, who was informed, timeline, integrity).

    Exit 1 when the journal's hash chain is broken, or a reproduced message differs.
    """
    _check_options(output_format, excel, verify, message)
    # Only a full report may write (the incident of notify.toml), and only when it can:
    # a journal on read-only media (an archived copy) is reported as it is.
    read_only = verify or message is not None or not Journal.can_write(state.journal)
    with _open_journal(read_only=read_only) as journal:
        if verify:
            raise typer.Exit(_verify(journal))
        if message is not None:
            raise typer.Exit(_show_message(journal, message, campaign, out_file))
        if campaign is not None:
            raise UsageError("--campaign goes with --message", hint="Add --message ADDRESS.")
        if not journal.read_only:
            _refresh_incident(journal)
        built = build_report(journal)
    _emit(_render(built, output_format, excel).encode("utf-8"), out_file)
    if out_file is not None:
        err.print(
            f"Report written to {out_file} (owner-only: it holds personal data).", markup=False
        )
    if not built.integrity.intact:
        err.print(f"warning: the journal was altered: {built.integrity.problem}", markup=False)
        raise typer.Exit(1)


def _render(built: Report, fmt: ReportFormat, excel: bool) -> str:
    if fmt is ReportFormat.html:
        return render_html(built)
    if fmt is ReportFormat.csv:
        return render_csv(built, excel=excel)
    if fmt is ReportFormat.json:
        return render_json(built)
    return render_markdown(built)


def _refresh_incident(journal: Journal) -> None:
    """Record the incident of notify.toml when it changed (a CNIL reference filed...)."""
    config = state.config or (DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None)
    if config is None:
        return
    try:
        incident = load_settings(state.config).incident
    except ConfigError as exc:
        err.print(f"warning: {exc.message}: the incident recorded earlier is used", markup=False)
        return
    if incident == IncidentSettings():
        return  # no [incident] in this notify.toml: keep what the journal holds
    current = journal.incident()
    if (
        current is not None
        and current.compromised_address
        and (incident.compromised_address.casefold() != current.compromised_address.casefold())
    ):
        err.print(
            f"warning: {config} describes another incident "
            f"({incident.compromised_address or 'no compromised address'}): "
            "the incident recorded in the journal is used",
            markup=False,
        )
        return
    if journal.record_incident(incident):
        err.print(
            f"Incident details updated from {config} (recorded in the journal).", markup=False
        )


def _verify(journal: Journal) -> int:
    problem = journal.verify()
    if problem is None:
        out.print(f"Journal {journal.path}: intact (digest {journal.digest()}).", markup=False)
        return 0
    out.print(
        f"Journal {journal.path}: ALTERED at event {problem.seq} ({problem.problem}): "
        f"{problem.message}.",
        markup=False,
    )
    out.print(
        "Keep the file as it is for the investigation, and compare with the digest "
        "printed in an earlier report.",
        markup=False,
    )
    return 1


def _show_message(
    journal: Journal, address: str, campaign: str | None, out_file: Path | None
) -> int:
    result = reproduce(journal, find_sent(journal, address, campaign))
    if result.data is None:
        err.print(f"error: the message to {address} {result.problem}", markup=False)
        return 1
    _emit(result.data, out_file)
    err.print(_verdict(result), markup=False)
    return 0 if result.matches else 1


def _verdict(result: Reproduction) -> str:
    record = result.record
    where = f"{record.email} (campaign {result.campaign}, Message-ID {record.message_id})"
    if result.matches:
        return (
            f"Reproduced the message sent to {where}: its SHA-256 {result.sha256} "
            "matches the one recorded before sending."
        )
    return (
        f"MISMATCH: the message re-rendered for {where} has SHA-256 {result.sha256}, "
        f"but {result.recorded_sha256} was recorded before sending. The journal's "
        "templates, settings or recipient data were changed after sending: run "
        "'notify report --verify' and keep the journal as it is."
    )


_ALL_STATES = tuple(dict.fromkeys((*MARK_STATES, *UNREACHABLE_STATES)))
_ABOUT_PEOPLE = (
    "notified-other: informed by phone, letter, in person or secure messaging; "
    "skipped: a decision not to inform (say why in --note); to-reach: undo a mark."
)


@app.command()
def mark(
    target: Annotated[
        str,
        typer.Argument(
            metavar="ADDRESS|ID",
            help="The recipient's e-mail; or, for a person to reach by other means, the "
            "Id 'notify report' gives them (U3) or their secure-messaging address.",
        ),
    ],
    new_state: Annotated[
        str,
        typer.Option(
            "--state",
            help=f"For a recipient: one of {', '.join(MARK_STATES)}. For a person to reach "
            f"by other means: one of {', '.join(UNREACHABLE_STATES)}.",
        ),
    ],
    note: Annotated[
        str, typer.Option("--note", help="What was done and when, e.g. 'phoned on 27/11'.")
    ] = "",
    by: Annotated[
        str | None, typer.Option("--by", help="Who did it (default: your user name).")
    ] = None,
    campaign: CampaignOpt = None,
) -> None:
    """Record a decision, or a notification made by other means (phone, letter)."""
    if new_state not in _ALL_STATES:
        raise UsageError(
            f"--state {new_state!r} is not allowed: use one of {', '.join(MARK_STATES)} "
            f"(a recipient), or {', '.join(UNREACHABLE_STATES)} (a person to reach by "
            "other means)",
            hint="For someone informed by phone or letter: --state notified-other.",
        )
    if not note.strip():
        raise UsageError(
            "--note is required: say what was done and when",
            hint="For example: --note 'phoned on 27/11 at 14:00, warned in person'.",
        )
    with _open_journal() as journal:
        campaign_id = _campaign_id(journal, campaign)
        names = {c.id: c.template for c in journal.campaigns()}
        recipients, people = _targets(journal, target, campaign_id, names)
        if recipients:
            _mark_recipients(journal, target, recipients, new_state, note, by, campaign_id, names)
        else:
            _mark_people(journal, people, new_state, note, by, names)


def _targets(
    journal: Journal, target: str, campaign_id: int | None, names: dict[int, str]
) -> tuple[list[RecipientRecord], list[UnreachableRecord]]:
    """The e-mail recipients, else the people to reach by other means, ``target`` names."""
    person_id = parse_label(target)
    if person_id is not None:
        return [], [_person_by_id(journal, target, person_id, campaign_id, names)]
    recipients = journal.find_recipient(target, campaign_id=campaign_id)
    if recipients:
        return recipients, []
    people = journal.find_unreachable(target, campaign_id=campaign_id)
    if not people:
        raise _not_found(journal, target)
    return [], people


def _mark_people(
    journal: Journal,
    people: list[UnreachableRecord],
    new_state: str,
    note: str,
    by: str | None,
    names: dict[int, str],
) -> None:
    _check_person_state(people[0], new_state)
    after = journal.mark_unreachable([p.id for p in people], new_state, note.strip(), by=_who(by))
    old = {p.id: p.state for p in people}
    for person in after:
        out.print(
            f"{person.label} {person.name or '(no name)'} "
            f"({person.email or 'no e-mail address'}): {old.get(person.id, '?')} -> "
            f"{person.state} (campaign {names.get(person.campaign_id, '?')}), "
            "recorded in the journal.",
            markup=False,
        )


def _mark_recipients(
    journal: Journal,
    address: str,
    before: list[RecipientRecord],
    new_state: str,
    note: str,
    by: str | None,
    campaign_id: int | None,
    names: dict[int, str],
) -> None:
    if new_state not in MARK_STATES:
        raise UsageError(
            f"--state {new_state!r} is for a person to reach by other means; {address} is "
            f"an e-mail recipient: use one of {', '.join(MARK_STATES)}",
            hint="Informed by phone or letter: --state notified-other; "
            "to send to them again: --state pending.",
        )
    after = journal.mark(address, new_state, note.strip(), by=_who(by), campaign_id=campaign_id)
    old = {r.id: r.state for r in before}
    for record in after:
        out.print(
            f"{record.email}: {old.get(record.id, '?')} -> {record.state} "
            f"(campaign {names.get(record.campaign_id, '?')}), recorded in the journal.",
            markup=False,
        )


def _person_by_id(
    journal: Journal, target: str, person_id: int, campaign_id: int | None, names: dict[int, str]
) -> UnreachableRecord:
    person = journal.unreachable_person(person_id)
    if person is None:
        raise UsageError(
            f"no person {target.strip()} among the people to reach by other means in "
            f"journal {journal.path}",
            hint="'notify report' lists them, each with its Id (U1, U2...) in section 3.",
        )
    if campaign_id is not None and person.campaign_id != campaign_id:
        raise UsageError(
            f"{person.label} ({person.name or 'no name'}) belongs to campaign "
            f"{names.get(person.campaign_id, '?')}, not {names.get(campaign_id, '?')}",
            hint="Leave out --campaign: an Id names one person of one campaign.",
        )
    return person


def _check_person_state(person: UnreachableRecord, new_state: str) -> None:
    if new_state in UNREACHABLE_STATES:
        return
    why = (
        "secure health-messaging address only"
        if person.reason == "secure-network"
        else "no e-mail address"
    )
    raise UsageError(
        f"--state {new_state!r} is not allowed for {person.label} "
        f"({person.name or 'no name'}, {why}): this account sent them no e-mail; use one of "
        f"{', '.join(UNREACHABLE_STATES)}",
        hint=_ABOUT_PEOPLE,
    )


def _not_found(journal: Journal, target: str) -> UsageError:
    return UsageError(
        f"{target} is not a recipient in journal {journal.path}",
        hint="Check the spelling; 'notify report' lists every recipient, and gives each "
        "person without an e-mail address an Id (U1, U2...): pass that Id instead.",
    )


def _who(by: str | None) -> str:
    if by is not None:
        return by.strip()
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return ""


def _campaign_id(journal: Journal, campaign: str | None) -> int | None:
    if campaign is None:
        return None
    found = journal.find_campaign(campaign)
    if found is None:
        names = ", ".join(c.template for c in journal.campaigns()) or "none"
        raise UsageError(f"no campaign {campaign!r} in this journal (campaigns: {names})")
    return found.id
