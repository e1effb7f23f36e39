"""The command line: parses, calls the library, prints. Nothing else."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from notify import __version__, views
from notify.addressbook.merge import MergeOptions
from notify.addressbook.sources import Import, SourceOptions, load_contacts
from notify.errors import EXIT_USAGE, NotifyError, UsageError
from notify.settings import Settings, load_settings

app = typer.Typer(
    name="notify",
    help="Warn every correspondent or patient after a mailbox hijack or a data breach.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)
out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


class State:
    config: Path | None = None
    journal: Path = Path("incident.db")


state = State()

# Option bundles shared by contacts, preview and send.
Sources = Annotated[
    list[Path],
    typer.Argument(help="Address books: .vcf, .csv, a Sent folder (mbox file or Maildir)."),
]
MapOpt = Annotated[
    list[str] | None,
    typer.Option("--map", help="CSV columns: FIELD=COLUMN, e.g. email=Courriel (repeatable)."),
]
EncodingOpt = Annotated[
    str | None, typer.Option("--encoding", help="Encoding of the sources (default: detected).")
]
ExcludeOpt = Annotated[
    list[str] | None,
    typer.Option("--exclude", help="An address, @domain, or a file of them (repeatable)."),
]
GroupOpt = Annotated[
    list[str] | None, typer.Option("--group", help="Only people in this group (repeatable).")
]
AllAddressesOpt = Annotated[
    bool, typer.Option("--all-addresses", help="Write to every address of a person.")
]
SecureOpt = Annotated[
    bool,
    typer.Option(
        "--include-secure", help="Also write to MSSanté/Apicrypt addresses from this account."
    ),
]
SinceOpt = Annotated[
    datetime | None,
    typer.Option("--since", help="Sent folder: only messages since this date (YYYY-MM-DD)."),
]
MinCountOpt = Annotated[
    int, typer.Option("--min-count", min=1, help="Sent folder: only people written to N times.")
]
WindowOpt = Annotated[
    bool,
    typer.Option("--window", help="Sent folder: only recipients of mail sent during the window."),
]


def _version(value: bool) -> None:
    if value:
        out.print(f"notify {__version__}")
        raise typer.Exit()


@app.callback()
def _global(
    config: Annotated[
        Path | None, typer.Option("--config", help="Settings file (default ./notify.toml).")
    ] = None,
    journal: Annotated[Path, typer.Option("--journal", help="Incident journal (SQLite).")] = Path(
        "incident.db"
    ),
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version.")
    ] = False,
) -> None:
    state.config = config
    state.journal = journal


def _settings() -> Settings:
    return load_settings(state.config)


def _aware(moment: datetime | None) -> datetime | None:
    return moment.astimezone() if moment is not None and moment.tzinfo is None else moment


def _parse_map(items: Sequence[str] | None) -> dict[str, str] | None:
    if not items:
        return None
    mapping: dict[str, str] = {}
    for item in items:
        for part in item.split(","):
            field, sep, column = part.partition("=")
            if not sep or not field.strip() or not column.strip():
                raise UsageError(
                    f"--map {part!r}: expected FIELD=COLUMN", hint="Example: --map email=Courriel"
                )
            mapping[field.strip()] = column.strip()
    return mapping


def _exclusions(items: Sequence[str] | None) -> tuple[str, ...]:
    found: list[str] = []
    for item in items or ():
        path = Path(item)
        if "@" not in item or path.is_file():
            try:
                lines = path.read_text(encoding="utf-8-sig").splitlines()
            except OSError as exc:
                raise UsageError(
                    f"--exclude {item}: not an address, @domain or readable file ({exc.strerror})"
                ) from None
            found.extend(ln.strip() for ln in lines if ln.strip() and not ln.startswith("#"))
        else:
            found.append(item)
    return tuple(found)


def import_contacts(
    settings: Settings,
    sources: Sequence[Path],
    *,
    mapping: Sequence[str] | None = None,
    encoding: str | None = None,
    exclude: Sequence[str] | None = None,
    groups: Sequence[str] | None = None,
    all_addresses: bool = False,
    include_secure: bool = False,
    since: datetime | None = None,
    min_count: int = 1,
    window_only: bool = False,
) -> Import:
    """Read and merge the sources as the shared options say."""
    incident = settings.incident
    window = None
    if incident.window_start and incident.window_end:
        window = (_aware(incident.window_start), _aware(incident.window_end))
    if window_only and window is None:
        raise UsageError(
            "--window needs the compromise window",
            hint="Set incident.window_start and incident.window_end in notify.toml.",
        )
    source_options = SourceOptions(
        encoding=encoding,
        mapping=_parse_map(mapping),
        owner=incident.compromised_address,
        since=_aware(since),
        min_count=min_count,
        window=window,  # type: ignore[arg-type]
        window_only=window_only,
    )
    owners = tuple(a for a in (incident.compromised_address, settings.sender.address) if a)
    merge_options = MergeOptions(
        all_addresses=all_addresses,
        exclude=_exclusions(exclude),
        owner_addresses=owners,
        groups=tuple(groups or ()),
        secure_domains=tuple(settings.contacts.secure_domains),
        include_secure=include_secure,
    )
    return load_contacts(list(sources), source_options, merge_options)


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
    views.print_problems(err, result)
    views.print_contacts(out, result.contacts, output_format)
    views.print_import_summary(err, result)
    if result.unreadable:
        raise typer.Exit(EXIT_USAGE)


def main() -> None:
    """Entry point: run the app, turn notify's errors into messages and exit codes."""
    try:
        app(standalone_mode=False)
    except NotifyError as exc:
        err.print(f"error: {exc.message}", markup=False)
        if exc.hint:
            err.print(exc.hint, markup=False)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err.print("aborted")
        sys.exit(130)
    except KeyboardInterrupt:
        err.print("interrupted")
        sys.exit(130)
