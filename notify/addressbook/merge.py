"""Validate, de-duplicate and filter what the readers produced.

Entries that share an address (ignoring case) are one person, across every
source; an entry with several addresses links them. By default each person gets
one message, at their preferred address; ``all_addresses`` writes to every
address. Every decision that drops or merges something leaves a :class:`Problem`
naming the file and line, so that nobody disappears silently.

Memory stays flat however many contacts there are: the working state (address ->
person, each person's entries and addresses) lives in a private temporary database
(:mod:`notify.addressbook.store`), entries are merged a chunk at a time (one query
looks up a chunk's addresses), and the :class:`ContactList` reads its recipients
and problems back from that database page by page. Close it when done.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from types import TracebackType
from typing import Any

from notify.addressbook._recipients import Placer, in_groups
from notify.addressbook._records import (
    keys_of,
    pack_addresses,
    pack_entry,
    problem_of,
    problem_row,
    unpack_entry,
    unpack_recipient,
)
from notify.addressbook.addresses import Address, InvalidAddress, clean
from notify.addressbook.model import Entry, Origin, Problem, Recipient
from notify.addressbook.store import RecipientRows, Rows, Store

_CHUNK = 4000  # entries merged together: their addresses are looked up in one go
_KEYS_PER_QUERY = 900  # below SQLite's oldest limit on parameters
_OWNERS = "SELECT key, person, path, line FROM address"


@dataclass(frozen=True, slots=True)
class MergeOptions:
    """How to turn entries into recipients."""

    all_addresses: bool = False
    exclude: tuple[str, ...] = ()  # addresses, or domains written "@domain"
    owner_addresses: tuple[str, ...] = ()  # compromised and sender: always excluded
    groups: tuple[str, ...] = ()  # keep only people in one of these groups
    secure_domains: tuple[str, ...] = ()
    include_secure: bool = False  # send to secure-network addresses anyway


@dataclass(slots=True)
class ContactList:
    """The outcome of an import: who gets a message, who is kept apart, and why.

    From :func:`merge`, the lists are read from the import's temporary database
    (in import order, as often as needed); :meth:`close` deletes it. Plain lists
    work too.
    """

    recipients: Sequence[Recipient] = ()
    secure: Sequence[Recipient] = ()  # send from the secure client
    unreachable: Sequence[Entry] = ()  # no address: other means
    problems: Sequence[Problem] = ()
    entries_read: int = 0
    duplicates: int = 0
    excluded: int = 0
    kinds: Mapping[str, int] | None = field(default=None, repr=False)  # problems by kind
    store: Store | None = field(default=None, repr=False, compare=False)

    def count(self, kind: str) -> int:
        """How many problems of one kind were recorded."""
        if self.kinds is not None:
            return self.kinds.get(kind, 0)
        return sum(1 for p in self.problems if p.kind == kind)

    def problems_of(self, kind: str) -> Sequence[Problem]:
        """The problems of one kind, in the order recorded."""
        if isinstance(self.problems, Rows):
            rows = self.problems
            if not rows.store.closed:  # else reading says the list was closed
                rows.store.conn.execute("CREATE INDEX IF NOT EXISTS problem_kind ON problem (kind)")
            return Rows(
                rows.store,
                rows.source,
                rows.columns,
                rows.decode,
                where="kind = ?",
                params=(kind,),
                length=self.count(kind),
            )
        return [p for p in self.problems if p.kind == kind]

    def close(self) -> None:
        """Delete the temporary database the lists are read from; safe to call twice."""
        if self.store is not None:
            self.store.close()

    def __enter__(self) -> ContactList:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _valid_addresses(entry: Entry) -> tuple[list[Address], int, list[Problem]]:
    """The entry's valid addresses, the index of its preferred one, and what was wrong."""
    found: list[Address] = []
    problems: list[Problem] = []
    preferred = 0
    for index, raw in enumerate(entry.emails):
        try:
            address = clean(raw)
        except InvalidAddress as exc:
            if raw.strip():
                problems.append(Problem(entry.origin, "invalid-address", str(exc)))
            continue
        if any(a.key == address.key for a in found):
            continue
        if index == entry.preferred:
            preferred = len(found)
        found.append(address)
    return found, preferred, problems


_Read = tuple[Entry, list[Address], int, list[Problem]]


class _Merger:
    """Merges entries a chunk at a time; the chunk's rows are written at its end.

    A person is numbered after their first entry; entries and addresses carry an
    order number, renewed when two people merge so that the absorbed person's come
    after the other's. Only the chunk's addresses and people are held in memory.
    """

    def __init__(self, store: Store, options: MergeOptions) -> None:
        self.store, self.options = store, options
        self.conn, self.paths = store.conn, store.paths
        self.entries_read = self.duplicates = self.unreachable_count = 0
        self.kinds: Counter[str] = Counter()
        self.last = 0  # the last entry number or order number given
        # The chunk's view: who owns its addresses, where they were first read, who merged.
        self.by_key: dict[str, int] = {}
        self.first: dict[int, Origin] = {}
        self.merged: dict[int, int] = {}
        # Rows not written yet.
        self.entries: list[tuple[int, int, int, int, bytes | None, bytes]] = []
        self.addresses: list[tuple[str, int, int, int]] = []
        self.problems: list[tuple[str, int, int, str]] = []
        self.unreachable: list[tuple[int, int, bytes]] = []

    def _next(self) -> int:
        self.last += 1
        return self.last

    def add_chunk(self, items: Iterable[Entry | Problem]) -> None:
        read: list[Problem | _Read] = []
        keys: dict[str, None] = {}
        for item in items:
            if isinstance(item, Problem):
                read.append(item)
                continue
            self.entries_read += 1
            addresses, preferred, problems = _valid_addresses(item)
            read.append((item, addresses, preferred, problems))
            for address in addresses:
                keys[address.key] = None
        self._look_up(list(keys))
        for one in read:
            if isinstance(one, Problem):
                self.problem(one)
            else:
                self._add(*one)
        self.flush()
        self.by_key.clear()
        self.first.clear()
        self.merged.clear()

    def _look_up(self, keys: list[str]) -> None:
        """Load who owns each of ``keys`` already, and where they were first read."""
        for start in range(0, len(keys), _KEYS_PER_QUERY):
            batch = keys[start : start + _KEYS_PER_QUERY]
            marks = ", ".join("?" * len(batch))
            rows = self.conn.execute(f"{_OWNERS} WHERE key IN ({marks})", batch)
            for key, person, path, line in rows:
                self.by_key[key] = person
                if person not in self.first:
                    self.first[person] = self.paths.origin(path, line)

    def problem(self, problem: Problem) -> None:
        self.kinds[problem.kind] += 1
        self.problems.append(problem_row(problem, self.paths))

    def _add(
        self, entry: Entry, addresses: list[Address], preferred: int, bad: list[Problem]
    ) -> None:
        for problem in bad:
            self.problem(problem)
        if not addresses:
            self._unreachable(entry)
            return
        number = self._next()
        person = self._person_for(entry, addresses, number)
        by_key, added = self.by_key, []
        for address in addresses:
            if address.key not in by_key:
                by_key[address.key] = person
                added.append(address)
        paths, origin = self.paths, entry.origin
        if added:
            first = self.first[person]
            where = (person, paths.id_of(first.path), first.line)
            self.addresses += [(a.key, *where) for a in added]
        self.entries.append(
            (
                person,
                self._next(),
                paths.id_of(origin.path),
                origin.line,
                pack_addresses(added) if added else None,
                pack_entry(entry, addresses[preferred]),
            )
        )

    def _unreachable(self, entry: Entry) -> None:
        if self.options.groups and not in_groups(entry.groups, self.options.groups):
            return
        origin = entry.origin
        self.unreachable.append((self.paths.id_of(origin.path), origin.line, pack_entry(entry)))
        self.unreachable_count += 1
        what = entry.name or "a contact"
        self.problem(
            Problem(
                entry.origin,
                "no-address",
                f"{what} has no usable e-mail address: reach them by other means",
            )
        )

    def _root(self, person: int) -> int:
        while person in self.merged:
            person = self.merged[person]
        return person

    def _person_for(self, entry: Entry, addresses: list[Address], number: int) -> int:
        """The person ``entry`` belongs to: a known one, or a new one numbered ``number``."""
        by_key = self.by_key
        known = [self._root(by_key[a.key]) for a in addresses if a.key in by_key]
        if not known:
            self.first[number] = entry.origin
            return number
        person = known[0]
        self.duplicates += 1
        shared = next(a.email for a in addresses if a.key in by_key)
        first = self.first[person]
        self.problem(Problem(entry.origin, "duplicate", f"{shared} also read at {first}: merged"))
        for other in dict.fromkeys(known[1:]):
            if other != person:
                self._absorb(person, other)
        return person

    def _absorb(self, person: int, other: int) -> None:
        """Move ``other``'s entries (and their addresses) after ``person``'s, in order."""
        self.flush()
        conn, first = self.conn, self.first[person]
        moved = conn.execute(
            "SELECT ord, added FROM entry WHERE person = ? ORDER BY ord", (other,)
        ).fetchall()
        conn.executemany(
            "UPDATE entry SET person = ?, ord = ? WHERE person = ? AND ord = ?",
            [(person, self._next(), other, order) for order, _ in moved],
        )
        where = (person, self.paths.id_of(first.path), first.line)
        conn.executemany(
            "UPDATE address SET person = ?, path = ?, line = ? WHERE key = ?",
            [(*where, key) for _, added in moved if added for key in keys_of(added)],
        )
        self.merged[other] = person

    def flush(self) -> None:
        """Write what is waiting: entries, addresses, problems, people without address."""
        conn = self.conn
        conn.executemany(
            "INSERT INTO entry (person, ord, path, line, added, data) VALUES (?, ?, ?, ?, ?, ?)",
            self.entries,
        )
        conn.executemany(
            "INSERT INTO address (key, person, path, line) VALUES (?, ?, ?, ?)", self.addresses
        )
        conn.executemany(
            "INSERT INTO problem (kind, path, line, message) VALUES (?, ?, ?, ?)", self.problems
        )
        conn.executemany(
            "INSERT INTO unreachable (path, line, data) VALUES (?, ?, ?)", self.unreachable
        )
        for pending in (self.entries, self.addresses, self.problems, self.unreachable):
            pending.clear()


def _contact_list(merger: _Merger, placer: Placer) -> ContactList:
    store, paths = merger.store, merger.paths

    def recipient(row: tuple[Any, ...]) -> Recipient:
        return unpack_recipient(row[0], paths)

    def entry(row: tuple[Any, ...]) -> Entry:
        return unpack_entry(paths.origin(row[0], row[1]), row[2])[0]

    length = placer.recipient_count
    recipients = RecipientRows(store, "recipient", "data", recipient, length=length)
    secure = Rows(store, "secure", "data", recipient, length=placer.secure_count)
    unreachable = Rows(
        store, "unreachable", "path, line, data", entry, length=merger.unreachable_count
    )
    problems = Rows(
        store,
        "problem",
        "kind, path, line, message",
        lambda row: problem_of(row, paths),
        length=sum(merger.kinds.values()),
    )
    return ContactList(
        recipients=recipients,
        secure=secure,
        unreachable=unreachable,
        problems=problems,
        entries_read=merger.entries_read,
        duplicates=merger.duplicates,
        excluded=placer.excluded,
        kinds=dict(merger.kinds),
        store=store,
    )


def _chunks(items: Iterable[Entry | Problem]) -> Iterator[list[Entry | Problem]]:
    iterator = iter(items)
    while chunk := list(islice(iterator, _CHUNK)):
        yield chunk


def merge(items: Iterable[Entry | Problem], options: MergeOptions | None = None) -> ContactList:
    """Validate and merge entries from any number of sources into a :class:`ContactList`.

    The result holds a temporary database: close it (or use it as a context manager).
    """
    store = Store()
    try:
        merger = _Merger(store, options or MergeOptions())
        for chunk in _chunks(items):
            merger.add_chunk(chunk)
        merger.flush()
        placer = Placer(store, merger.options, merger.problem, merger.flush)
        placer.run()
        return _contact_list(merger, placer)
    except BaseException:
        store.close()
        raise
