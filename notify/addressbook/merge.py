"""Validate, de-duplicate and filter what the readers produced.

Entries that share an address (ignoring case) are one person, across every
source; an entry with several addresses links them. By default each person gets
one message, at their preferred address; ``all_addresses`` writes to every
address. Every decision that drops or merges something leaves a :class:`Problem`
naming the file and line, so that nobody disappears silently.

Memory stays flat however many contacts there are: the working state lives in a
private temporary database (:mod:`notify.addressbook.store`), written a chunk at a
time, and the :class:`ContactList` reads its recipients and problems back from it
page by page. Close it when done.

Almost every entry shares no address with another: it is a person of its own. So
each entry is written as it is read, with the recipient it makes alone
(:meth:`Placer.alone`), and only afterwards are the entries that share an address
found (by SQLite, over every address at once), joined into people in reading order
(:class:`Linker`) and placed again. The result is the one of merging entry by entry;
the lists are put in order at the end: problems where they were met (a duplicate
where its entry was), then those of placing people, in the order people were first
read.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from itertools import islice
from types import TracebackType
from typing import Any

from notify.addressbook._people import Linker, rank
from notify.addressbook._recipients import Placer, in_groups
from notify.addressbook._records import (
    pack_alone,
    pack_entry,
    problem_of,
    unpack_entry,
    unpack_recipient,
)
from notify.addressbook.addresses import Address, InvalidAddress, clean
from notify.addressbook.model import Entry, Problem, Recipient
from notify.addressbook.store import RecipientRows, Rows, Store

_CHUNK = 4000  # entries written together; entries joined together
_ENTRY = "INSERT INTO entry (n, hash, urgency, data)"
_ENTRY_WIDTH = 4
# An address is found again by its key's hash (a number, quick for SQLite to group):
# keys whose hashes meet by chance are told apart afterwards (``_people``).
_hash = hash


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


class _Merger:
    """Writes every entry a chunk at a time, as the recipient it makes alone.

    Entries and problems are numbered in reading order from one count: the problems
    are listed by their number, and an entry's number is where a duplicate problem
    goes should it share an address; it also numbers the person the entry starts.
    """

    def __init__(self, store: Store, options: MergeOptions) -> None:
        self.store, self.options = store, options
        self.conn, self.paths = store.conn, store.paths
        self.placer = Placer(store, options)
        self.entries_read = self.unreachable_count = 0
        self.kinds: Counter[str] = Counter()
        self.last = 0  # the last entry or problem number given
        # Rows not written yet; the entries' columns one after the other.
        self.entries: list[Any] = []
        self.more_hashes: list[int] = []
        self.problems: list[tuple[int, str, int, int, str]] = []
        self.unreachable: list[tuple[int, int, bytes]] = []

    def add_chunk(self, items: Iterable[Entry | Problem]) -> None:
        """Write a chunk of entries and problems (once a row: names bound outside the loop)."""
        groups, alone, entries = self.options.groups, self.placer.alone, self.entries
        read, file, path = 0, None, 0
        for item in items:
            if isinstance(item, Problem):
                self.problem(item)
                continue
            read += 1
            emails = item.emails
            if len(emails) == 1:  # the usual: the same as _valid_addresses() for one address
                raw = emails[0]
                try:
                    preferred = clean(raw)
                except InvalidAddress as exc:
                    if raw.strip():
                        self.problem(Problem(item.origin, "invalid-address", str(exc)))
                    self._unreachable(item)
                    continue
                addresses = [preferred]
            else:
                addresses, index, problems = _valid_addresses(item)
                for problem in problems:
                    self.problem(problem)
                if not addresses:
                    self._unreachable(item)
                    continue
                preferred = addresses[index]
            self.last += 1
            number, worth, origin = self.last, rank(item), item.origin
            if origin.path is not file:  # a reader gives one string for its file
                file, path = origin.path, self.paths.id_of(origin.path)
            member = 1 if not groups or in_groups(item.groups, groups) else 0
            placed, secure = alone(item, addresses, preferred, number, worth, member)
            order, data = pack_alone(item, addresses, preferred, secure, path, worth, member)
            # bytearray: sqlite3 binds it as it is, bytes go through its adapters first
            entries += (number, _hash(addresses[0].key), order if placed else None, bytearray(data))
            if len(addresses) > 1:
                for address in addresses[1:]:
                    self.more_hashes += (_hash(address.key), number)
        self.entries_read += read
        self.flush()

    def problem(self, problem: Problem) -> None:
        """Record ``problem``, next in the list."""
        self.last += 1
        number = self.last
        self.kinds[problem.kind] += 1
        origin = problem.origin
        path = self.paths.id_of(origin.path)
        self.problems.append((number, problem.kind, path, origin.line, problem.message))

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

    def flush(self) -> None:
        """Write what is waiting: entries, problems, people without address."""
        conn = self.conn
        self.store.insert(_ENTRY, _ENTRY_WIDTH, self.entries)
        self.store.insert("INSERT INTO more_hash (hash, n)", 2, self.more_hashes)
        conn.executemany(
            "INSERT INTO problem (seq, kind, path, line, message) VALUES (?, ?, ?, ?, ?)",
            self.problems,
        )
        conn.executemany(
            "INSERT INTO unreachable (path, line, data) VALUES (?, ?, ?)", self.unreachable
        )
        for pending in (self.entries, self.more_hashes, self.problems):
            pending.clear()
        self.unreachable.clear()

    def finish(self) -> int:
        """Join the entries that share an address, place everyone; the duplicates merged."""
        self.flush()
        placer = self.placer
        placer.write()
        linker = Linker(self.store, _CHUNK)
        if linker.find():
            linker.run()
            placer.place_linked()
        placer.finish()
        if linker.duplicates:
            self.kinds["duplicate"] += linker.duplicates
        self.kinds.update(placer.kinds)
        return linker.duplicates


def _contact_list(merger: _Merger, duplicates: int) -> ContactList:
    store, paths, placer = merger.store, merger.paths, merger.placer

    def recipient(row: tuple[Any, ...]) -> Recipient:
        return unpack_recipient(row[0], paths)

    def entry(row: tuple[Any, ...]) -> Entry:
        return unpack_entry(paths.origin(row[0], row[1]), row[2])[0]

    table, key, where = placer.source
    recipients = RecipientRows(
        store, table, "data", recipient, key=key, where=where, length=placer.recipient_count
    )
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
        duplicates=duplicates,
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
        duplicates = merger.finish()
        return _contact_list(merger, duplicates)
    except BaseException:
        store.close()
        raise
