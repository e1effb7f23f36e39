"""Option bundles shared by contacts, preview and send, and the import they drive."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from notify.addressbook.merge import MergeOptions
from notify.addressbook.sources import Import, SourceOptions, load_contacts
from notify.errors import UsageError
from notify.settings import Settings

# Option bundles shared by contacts, preview and send.
Sources = Annotated[
    list[Path],
    typer.Argument(
        metavar="SOURCE", help="Address books: .vcf, .csv, a Sent folder (mbox or Maildir)."
    ),
]
# notify send alone may be run without sources: it then resumes the campaign recorded.
SendSources = Annotated[
    list[Path] | None,
    typer.Argument(
        metavar="SOURCE",
        help="Address books: .vcf, .csv, a Sent folder (mbox or Maildir). Without any, "
        "resume the campaign of --template recorded in the journal: every recipient still "
        "due from the last address books given is sent, without reading them again.",
        show_default=False,
    ),
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


TemplateOpt = Annotated[
    str,
    typer.Option("--template", "-t", help="Template name (see 'notify templates') or a file."),
]


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


def refuse_without_sources(given: Mapping[str, object]) -> None:
    """``notify send`` without SOURCE: refuse the options ``given`` (name: value) that
    need address books, rather than ignore them."""
    used = [name for name, value in given.items() if value]
    if used:
        raise UsageError(
            f"{', '.join(used)} {'needs' if len(used) == 1 else 'need'} the address books "
            "(SOURCE...), and none is given",
            hint="Give the address books as for the first run, or run 'notify send "
            "--template NAME' alone to resume the campaign recorded in the journal.",
        )


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
