"""Entries, recipients and problems as compact rows, for the merge's private store.

Each object becomes a tuple of plain values packed with :mod:`marshal` (fast, and it
only ever reads back what this process wrote). A file path is stored once, as a
small number (:class:`Paths`); dates as ISO 8601 text, which keeps their offset.
"""

from __future__ import annotations

import marshal
import sqlite3
from datetime import datetime
from typing import Any

from notify.addressbook.addresses import Address
from notify.addressbook.model import Entry, Origin, Problem, Recipient, SentMessage

_CACHED_PATHS = 4096  # file names remembered in memory; more are looked up in the store


class Paths:
    """File names as numbers: each name is written to the store once."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._ids: dict[str, int] = {}
        self._names: dict[int, str] = {}

    def id_of(self, path: str) -> int:
        """The number of ``path``, adding it to the store when new."""
        found = self._ids.get(path)
        if found is not None:
            return found
        row = self._conn.execute("SELECT id FROM path WHERE name = ?", (path,)).fetchone()
        if row is None:
            cursor = self._conn.execute("INSERT INTO path(name) VALUES (?)", (path,))
            row = (cursor.lastrowid,)
        if len(self._ids) >= _CACHED_PATHS:
            self._ids.clear()
        self._ids[path] = found = int(row[0])
        return found

    def name_of(self, path_id: int) -> str:
        """The file name numbered ``path_id``."""
        found = self._names.get(path_id)
        if found is None:
            row = self._conn.execute("SELECT name FROM path WHERE id = ?", (path_id,)).fetchone()
            if len(self._names) >= _CACHED_PATHS:
                self._names.clear()
            self._names[path_id] = found = str(row[0])
        return found

    def origin(self, path_id: int, line: int) -> Origin:
        return Origin(self.name_of(path_id), line)


def _when(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _moment(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def _messages(messages: list[SentMessage]) -> list[tuple[str | None, str]]:
    return [(_when(m.date), m.subject) for m in messages]


def _sent(rows: list[tuple[str | None, str]]) -> list[SentMessage]:
    return [SentMessage(_moment(date), subject) for date, subject in rows]


def pack_entry(entry: Entry, preferred: Address | None = None) -> bytes:
    """One entry, and the address it prefers when it has one, as bytes (not its origin)."""
    e = entry
    return marshal.dumps(
        (
            e.emails,
            e.preferred,
            (e.name, e.given_name, e.family_name, e.civility, e.title),
            (e.organization, e.language),
            e.groups,
            e.phones,
            e.postal,
            (e.sent_count, _when(e.first_sent), _when(e.last_sent))
            if e.from_sent_folder or e.sent_count
            else None,
            _messages(e.window_messages) if e.window_messages else None,
            e.from_sent_folder,
            _address(preferred),
        )
    )


def unpack_entry(origin: Origin, data: bytes) -> tuple[Entry, Address | None]:
    """The entry :func:`pack_entry` wrote, and its preferred address."""
    values: tuple[Any, ...] = marshal.loads(data)  # noqa: S302 - written by this process
    emails, preferred, names, (organization, language), groups, phones, postal, *rest = values
    counts, messages, from_sent, address = rest
    sent_count, first, last = counts or (0, None, None)
    name, given_name, family_name, civility, title = names
    entry = Entry(
        origin,
        emails,
        preferred,
        name,
        given_name,
        family_name,
        civility,
        title,
        organization,
        language,
        groups,
        phones,
        postal,
        sent_count,
        _moment(first),
        _moment(last),
        _sent(messages) if messages else [],
        from_sent,
    )
    return entry, _unpacked_address(address)


def _address(address: Address | None) -> str | tuple[str, str, str] | None:
    """An address in few bytes: its key alone when it is written as its key."""
    if address is None:
        return None
    email, ascii_email, key = address.email, address.ascii_email, address.key
    return key if email == key and ascii_email == key else (email, ascii_email, key)


def _unpacked_address(value: str | tuple[str, str, str] | None) -> Address | None:
    if value is None:
        return None
    return Address(value, value, value) if isinstance(value, str) else Address(*value)


def pack_addresses(addresses: list[Address]) -> bytes:
    """Addresses as bytes."""
    return marshal.dumps([_address(a) for a in addresses])


def unpack_addresses(data: bytes) -> list[Address]:
    """The addresses :func:`pack_addresses` wrote."""
    values: list[str | tuple[str, str, str]] = marshal.loads(data)  # noqa: S302 - ours
    return [Address(v, v, v) if isinstance(v, str) else Address(*v) for v in values]


def keys_of(data: bytes) -> list[str]:
    """The keys of the addresses :func:`pack_addresses` wrote."""
    values: list[str | tuple[str, str, str]] = marshal.loads(data)  # noqa: S302 - ours
    return [v if isinstance(v, str) else v[2] for v in values]


def pack_recipient(r: Recipient, paths: Paths) -> bytes:
    """One recipient as bytes."""
    exposure = None
    if r.sent_count or r.first_sent or r.last_sent or r.window_messages:
        when = (_when(r.first_sent), _when(r.last_sent))
        exposure = (r.sent_count, *when, _messages(r.window_messages))
    key = r.key
    return marshal.dumps(
        (
            key if r.email == key and r.ascii_email == key else (r.email, r.ascii_email, key),
            (r.name, r.given_name, r.family_name, r.civility, r.title),
            (r.organization, r.language),
            r.groups,
            r.other_emails,
            r.phones,
            r.postal,
            [(paths.id_of(o.path), o.line) for o in r.sources],
            r.secure_network,
            exposure,
        )
    )


def unpack_recipient(data: bytes, paths: Paths) -> Recipient:
    """The recipient :func:`pack_recipient` wrote."""
    values: tuple[Any, ...] = marshal.loads(data)  # noqa: S302 - written by this process
    address, names, (organization, language), *rest = values
    groups, other_emails, phones, postal, sources, secure, exposure = rest
    email, ascii_email, key = (address, address, address) if isinstance(address, str) else address
    name, given_name, family_name, civility, title = names
    recipient = Recipient(
        email,
        ascii_email,
        key,
        name,
        given_name,
        family_name,
        civility,
        title,
        organization,
        language,
        groups,
        other_emails,
        phones,
        postal,
        [paths.origin(path, line) for path, line in sources],
        secure,
    )
    if exposure is not None:
        sent_count, first, last, messages = exposure
        recipient.sent_count = sent_count
        recipient.first_sent, recipient.last_sent = _moment(first), _moment(last)
        recipient.window_messages = _sent(messages)
    return recipient


def problem_row(problem: Problem, paths: Paths) -> tuple[str, int, int, str]:
    """The columns of one problem: kind, file number, line, message."""
    origin = problem.origin
    return (problem.kind, paths.id_of(origin.path), origin.line, problem.message)


def problem_of(row: tuple[Any, ...], paths: Paths) -> Problem:
    """The problem :func:`problem_row` described (``row`` may start with other columns)."""
    kind, path, line, message = row[-4:]
    return Problem(paths.origin(path, line), kind, message)
