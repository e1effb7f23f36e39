"""How the CLI shows things: tables, JSON and CSV on stdout, problems on stderr.

Part of the command-line layer: the library returns data, this module prints it.
"""

from __future__ import annotations

import csv
import enum
import itertools
import json
from collections.abc import Iterator, Mapping
from typing import Any

from rich.console import Console
from rich.table import Table

from notify.addressbook.merge import ContactList
from notify.addressbook.model import Entry, Recipient
from notify.addressbook.sources import Import
from notify.errors import EXIT_OK, EXIT_SOME_UNREACHED
from notify.journal import Campaign, Journal, State
from notify.tabular import safe_cell


def plural(count: int, singular: str, many: str | None = None) -> str:
    """``1 message``, ``2 messages``."""
    return f"{count} {singular if count == 1 else (many or singular + 's')}"


class Format(enum.StrEnum):
    table = "table"
    json = "json"
    csv = "csv"


_PROBLEM_TITLES = {
    "malformed": "could not be read",
    "encoding": "encoding",
    "invalid-address": "invalid addresses",
    "no-address": "no e-mail address (reach by other means)",
    "secure-network": "secure health messaging (kept apart)",
    "excluded": "excluded",
    "duplicate": "duplicates merged",
}


def print_problems(console: Console, result: Import) -> None:
    """Every problem, grouped by kind, each with file:line."""
    for error in result.unreadable:
        console.print(f"error: {error}", markup=False)
    contacts = result.contacts
    for kind, title in _PROBLEM_TITLES.items():
        count = contacts.count(kind)
        if count:
            console.print(f"{title} ({count}):", markup=False)
            for problem in contacts.problems_of(kind):
                console.print(f"  {problem}", markup=False)


def print_import_summary(console: Console, result: Import) -> None:
    """One line a person can check: how many of each."""
    contacts = result.contacts
    parts = [
        plural(len(contacts.recipients), "recipient"),
        plural(contacts.entries_read, "contact") + " read",
        plural(contacts.duplicates, "duplicate") + " merged",
        f"{len(contacts.unreachable)} without e-mail",
        f"{len(contacts.secure)} on secure messaging",
        plural(contacts.count("invalid-address"), "invalid address", "invalid addresses"),
        f"{contacts.excluded} excluded",
    ]
    if result.unreadable:
        parts.append(f"{len(result.unreadable)} sources unreadable")
    console.print(", ".join(parts), markup=False)


def _sources(recipient: Recipient | Entry) -> list[str]:
    if isinstance(recipient, Entry):
        return [str(recipient.origin)]
    return [str(o) for o in recipient.sources]


def recipient_record(item: Recipient | Entry, status: str) -> dict[str, Any]:
    """The JSON/CSV shape of one person."""
    is_entry = isinstance(item, Entry)
    return {
        "status": status,
        "email": None if is_entry else item.email,  # type: ignore[union-attr]
        "name": item.name,
        "given_name": item.given_name,
        "family_name": item.family_name,
        "civility": item.civility,
        "title": item.title,
        "organization": item.organization,
        "language": item.language,
        "groups": list(item.groups),
        "other_emails": [] if is_entry else list(item.other_emails),  # type: ignore[union-attr]
        "phones": list(item.phones),
        "postal": list(item.postal),
        "sent_count": item.sent_count,
        "in_window": bool(item.window_messages),
        "sources": _sources(item),
    }


def _records(contacts: ContactList) -> Iterator[dict[str, Any]]:
    yield from (recipient_record(r, "send") for r in contacts.recipients)
    yield from (recipient_record(r, "secure-network") for r in contacts.secure)
    yield from (recipient_record(e, "no-address") for e in contacts.unreachable)


def print_contacts(console: Console, contacts: ContactList, output: Format) -> None:
    """The recipients, the ones kept apart and the unreachable, in the chosen format."""
    if output is Format.json:
        _write_json(console, _records(contacts))
    elif output is Format.csv:
        _write_csv(console, _records(contacts))
    else:
        _print_tables(console, contacts)


def _write_json(console: Console, records: Iterator[dict[str, Any]]) -> None:
    """A JSON list, one record at a time: the text ``json.dumps(list, indent=2)`` gives."""
    out, empty = console.file, True
    for record in records:
        text = json.dumps(record, ensure_ascii=False, indent=2).replace("\n", "\n  ")
        out.write(("[" if empty else ",") + "\n  " + text)
        empty = False
    out.write("[]\n" if empty else "\n]\n")


def _write_csv(console: Console, records: Iterator[dict[str, Any]]) -> None:
    first = next(records, None)
    if first is None:
        return
    writer = csv.writer(console.file, lineterminator="\n")
    writer.writerow(first.keys())
    for record in itertools.chain([first], records):
        writer.writerow(
            safe_cell("; ".join(v) if isinstance(v, list) else v) for v in record.values()
        )


def _print_tables(console: Console, contacts: ContactList) -> None:
    table = Table(title=f"Recipients ({len(contacts.recipients)})", title_justify="left")
    for column in ("E-mail", "Name", "Title", "Organisation", "Lang", "Exposure", "Sources"):
        table.add_column(column, overflow="fold")
    for r in contacts.recipients:
        exposure = "window" if r.in_window else (f"sent {r.sent_count}" if r.sent_count else "")
        table.add_row(
            r.email, r.name, r.title, r.organization, r.language, exposure, str(len(r.sources))
        )
    console.print(table)
    if contacts.secure:
        secure = Table(
            title=f"Secure health messaging: send from your secure client ({len(contacts.secure)})",
            title_justify="left",
        )
        secure.add_column("E-mail")
        secure.add_column("Name")
        for r in contacts.secure:
            secure.add_row(r.email, r.name)
        console.print(secure)
    if contacts.unreachable:
        other = Table(
            title=f"No e-mail: reach by other means ({len(contacts.unreachable)})",
            title_justify="left",
        )
        for column in ("Name", "Phone", "Postal address", "Source"):
            other.add_column(column, overflow="fold")
        for e in contacts.unreachable:
            other.add_row(e.name, "; ".join(e.phones), "; ".join(e.postal), str(e.origin))
        console.print(other)


def plan_lines(result: Import, duration: str) -> list[str]:
    """The summary of what a preview or a send will do, one fact a line."""
    contacts = result.contacts
    lines = [
        f"{len(contacts.recipients)} messages, one per recipient",
        plural(contacts.duplicates, "duplicate") + " merged",
        plural(len(contacts.unreachable), "contact") + " without e-mail: reach them by other means",
        f"{len(contacts.secure)} on secure health messaging: send from your secure client",
        plural(contacts.count("invalid-address"), "invalid address", "invalid addresses")
        + f", {contacts.excluded} excluded",
        duration,
    ]
    if result.unreadable:
        lines.append(f"{len(result.unreadable)} sources could not be read")
    return lines


_STATE_ORDER: tuple[State, ...] = (
    "pending",
    "sending",
    "deferred",
    "sent",
    "uncertain",
    "failed",
    "bounced",
    "skipped",
    "notified-other",
)


def print_counts(console: Console, journal: Journal, campaign: Campaign) -> None:
    """The count of recipients in each state for one campaign."""
    counts = journal.counts(campaign.id)
    table = Table(
        title=f"Campaign {campaign.template} (started {campaign.created_at:%Y-%m-%d %H:%M})",
        title_justify="left",
    )
    table.add_column("State")
    table.add_column("Recipients", justify="right")
    for name in _STATE_ORDER:
        if counts.get(name):
            table.add_row(name, str(counts[name]))
    table.add_row("total", str(sum(counts.values())))
    console.print(table)


def exit_code_for(counts: Mapping[State, int]) -> int:
    """0 when everyone was reached, 1 when the run finished with some not reached."""
    unreached = sum(counts.get(s, 0) for s in ("failed", "bounced", "uncertain"))
    return EXIT_SOME_UNREACHED if unreached else EXIT_OK
