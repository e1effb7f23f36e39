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
from notify.addressbook.model import (
    Entry,
    Origin,
    Problem,
    Recipient,
    SentMessage,
    make_origin,
)

_CACHED_PATHS = 4096  # file names remembered in memory; more are looked up in the store
# marshal's format 2: without the back-references of later formats, whose bookkeeping
# costs more than it saves on these small rows (packing and unpacking are both faster).
_FORMAT = 2
_QUIET = 1 << 40  # the urgency of whom the mailbox did not write to during the window


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
        return make_origin(self.name_of(path_id), line)


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
        ),
        _FORMAT,
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
    return marshal.dumps([_address(a) for a in addresses], _FORMAT)


def unpack_addresses(data: bytes) -> list[Address]:
    """The addresses :func:`pack_addresses` wrote."""
    return _addresses(marshal.loads(data))  # noqa: S302 - written by this process


def _addresses(values: list[str | tuple[str, str, str]]) -> list[Address]:
    return [Address(v, v, v) if isinstance(v, str) else Address(*v) for v in values]


def keys_of(data: bytes) -> list[str]:
    """The keys of the addresses :func:`pack_addresses` wrote."""
    values: list[str | tuple[str, str, str]] = marshal.loads(data)  # noqa: S302 - ours
    return [v if isinstance(v, str) else v[2] for v in values]


def pack_recipient(r: Recipient, paths: Paths) -> bytes:
    """One recipient as bytes.

    One flat tuple, with few objects to pack and unpack: an empty list is ``None``, the
    sources are file numbers and lines one after the other.
    """
    exposure = None
    if r.sent_count or r.first_sent or r.last_sent or r.window_messages:
        when = (_when(r.first_sent), _when(r.last_sent))
        exposure = (r.sent_count, *when, _messages(r.window_messages))
    key = r.key
    sources: list[int] = []
    for origin in r.sources:
        sources += (paths.id_of(origin.path), origin.line)
    return marshal.dumps(
        (
            key if r.email == key and r.ascii_email == key else (r.email, r.ascii_email, key),
            r.name,
            r.given_name,
            r.family_name,
            r.civility,
            r.title,
            r.organization,
            r.language,
            r.groups or None,
            r.other_emails or None,
            r.phones or None,
            r.postal or None,
            sources,
            r.secure_network,
            exposure,
        ),
        _FORMAT,
    )


def unpack_recipient(data: bytes, paths: Paths) -> Recipient:
    """The recipient :func:`pack_recipient` (or :func:`pack_alone`) wrote."""
    values: tuple[Any, ...] = marshal.loads(data)  # noqa: S302 - written by this process
    address, name, given_name, family_name, civility, title, organization, language = values[:8]
    groups, other_emails, phones, postal, sources, secure, exposure = values[8:15]
    email, ascii_email, key = (address, address, address) if isinstance(address, str) else address
    origin = paths.origin
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
        groups or [],
        other_emails or [],
        phones or [],
        postal or [],
        [origin(sources[i], sources[i + 1]) for i in range(0, len(sources), 2)],
        secure,
    )
    if exposure is not None:
        sent_count, first, last, messages = exposure
        recipient.sent_count = sent_count
        recipient.first_sent, recipient.last_sent = _moment(first), _moment(last)
        recipient.window_messages = _sent(messages)
    return recipient


def urgency(in_window: bool, sent_count: int) -> int:
    """A recipient's place in the exposure order, lower first: those written to during
    the window, then the most written to (one number: one column to sort by)."""
    return (0 if in_window else _QUIET) - min(sent_count, _QUIET - 1)


def pack_alone(
    entry: Entry,
    addresses: list[Address],
    target: Address,
    secure: bool,
    path: int,
    worth: int,
    member: int,
) -> tuple[int, bytes]:
    """The recipient ``entry`` makes alone, at ``target``, and its :func:`urgency`; packed
    as :func:`pack_recipient` packs it. ``path`` is the number of the entry's file.

    The same as building the recipient of a person of one entry (``_recipients``) and
    packing it, without the objects: the import does it for every entry. Three more
    values follow, which only the merge reads (:func:`unpack_alone`, :func:`origin_of`):
    the entry's rank, whether it is in a group asked for, and its addresses when it has
    several.
    """
    e = entry
    order, exposure = _QUIET, None
    if e.from_sent_folder or e.sent_count:  # what the Sent folder says, as _exposure takes it
        window: list[SentMessage] = []
        for message in e.window_messages:
            if message not in window:
                window.append(message)
        if e.sent_count or e.first_sent or e.last_sent or window:
            exposure = (e.sent_count, _when(e.first_sent), _when(e.last_sent), _messages(window))
        order = urgency(bool(window), e.sent_count)
    key, email, ascii_email = target.key, target.email, target.ascii_email
    groups, phones, postal = e.groups, e.phones, e.postal
    data = marshal.dumps(
        (
            key if email == key and ascii_email == key else (email, ascii_email, key),
            e.name,
            e.given_name,
            e.family_name,
            e.civility,
            e.title,
            e.organization,
            e.language,
            (list(dict.fromkeys(v for v in groups if v)) or None) if groups else None,
            ([a.email for a in addresses if a.key != key] or None) if len(addresses) > 1 else None,
            (list(dict.fromkeys(v for v in phones if v)) or None) if phones else None,
            (list(dict.fromkeys(v for v in postal if v)) or None) if postal else None,
            [path, e.origin.line],
            secure,
            exposure,
            worth,
            member,
            [_address(a) for a in addresses] if len(addresses) > 1 else None,
        ),
        _FORMAT,
    )
    return order, data


def unpack_alone(data: bytes, paths: Paths) -> tuple[Entry, list[Address], Address, int, bool]:
    """What the merge needs of an entry, from what :func:`pack_alone` wrote: the entry,
    its valid addresses, its preferred one, its rank, and whether it is in a group asked
    for.

    The values are those of the recipient: lists without repeats nor empty values, the
    Sent folder's facts as they count. They add up to what the entry's own would.
    """
    values: tuple[Any, ...] = marshal.loads(data)  # noqa: S302 - written by this process
    address, name, given_name, family_name, civility, title, organization, language = values[:8]
    groups, _, phones, postal, (path, line), _, exposure, worth, member = values[8:17]
    sent_count, first, last, messages = exposure or (0, None, None, None)
    entry = Entry(
        paths.origin(path, line),
        [],
        0,
        name,
        given_name,
        family_name,
        civility,
        title,
        organization,
        language,
        groups or [],
        phones or [],
        postal or [],
        sent_count,
        _moment(first),
        _moment(last),
        _sent(messages) if messages else [],
        exposure is not None,  # its Sent folder facts count
    )
    email, ascii_email, key = (address, address, address) if isinstance(address, str) else address
    preferred = Address(email, ascii_email, key)
    found = values[17]
    addresses = _addresses(found) if found else [preferred]
    return entry, addresses, preferred, worth, bool(member)


def origin_of(data: bytes, paths: Paths) -> tuple[Origin, list[Address]]:
    """Where the entry :func:`pack_alone` wrote was read, and its valid addresses."""
    values: tuple[Any, ...] = marshal.loads(data)  # noqa: S302 - written by this process
    path, line = values[12]
    return paths.origin(path, line), _addresses(values[17] or [values[0]])


def problem_row(problem: Problem, paths: Paths) -> tuple[str, int, int, str]:
    """The columns of one problem: kind, file number, line, message."""
    origin = problem.origin
    return (problem.kind, paths.id_of(origin.path), origin.line, problem.message)


def problem_of(row: tuple[Any, ...], paths: Paths) -> Problem:
    """The problem :func:`problem_row` described (``row`` may start with other columns)."""
    kind, path, line, message = row[-4:]
    return Problem(paths.origin(path, line), kind, message)
