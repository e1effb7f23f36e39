"""The entries that share an address, joined into people; read back one person at a time.

Most entries share no address with any other: each is a person of its own, placed as
it is read. The others are found once every entry is in the store (:meth:`Linker.find`)
and joined in reading order (:meth:`Linker.run`), as if the whole import went through
this: an entry whose address is known joins the person who has it, and an entry
bridging two people merges them. Only a chunk of them is held in memory at a time.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from notify.addressbook._records import (
    keys_of,
    origin_of,
    pack_addresses,
    unpack_addresses,
    unpack_alone,
)
from notify.addressbook.addresses import Address
from notify.addressbook.model import Entry, Origin
from notify.addressbook.store import Store

_KEYS_PER_QUERY = 900  # below SQLite's oldest limit on parameters
_OWNERS = "SELECT key, person, path, line FROM address"
_SHARED = """
SELECT e.n, e.data FROM shared s JOIN entry e ON e.n = s.n
WHERE s.n > ? ORDER BY s.n LIMIT ?
"""
_TWINS = """
INSERT INTO twin SELECT hash FROM (SELECT hash FROM entry UNION ALL SELECT hash FROM more_hash)
GROUP BY hash HAVING count(*) > 1
"""


@dataclass(slots=True)
class Person:
    """One person's entries and addresses, in the order the merge gave them."""

    entries: list[Entry] = field(default_factory=list)
    ranks: list[int] = field(default_factory=list)  # of each entry
    addresses: list[Address] = field(default_factory=list)
    preferred: Address | None = None  # of the first entry with the highest rank
    best: int = -1  # that rank


def rank(entry: Entry) -> int:
    """How much an entry's name and details are worth: address books beat Sent folders."""
    base = 0 if entry.from_sent_folder else 4
    if entry.given_name and entry.family_name:
        return base + 3
    return base + (2 if entry.name else 1)


class Linker:
    """Joins the entries that share an address into people, in the order they were read.

    A person is numbered after their first entry; entries carry an order number,
    renewed when two people merge so that the absorbed person's come after the
    other's. A duplicate problem takes the place of its entry in the list of problems
    (the entry's number, which the merge kept for it).
    """

    def __init__(self, store: Store, chunk: int) -> None:
        self.store, self.chunk = store, chunk
        self.conn, self.paths = store.conn, store.paths
        self.duplicates = 0
        self.last = 0  # the last order number given
        # The chunk's view: who owns its addresses, where they were first read, who merged.
        self.by_key: dict[str, int] = {}
        self.first: dict[int, Origin] = {}
        self.merged: dict[int, int] = {}
        # Rows not written yet.
        self.members: list[tuple[int, int, int, int | bytes | None]] = []
        self.addresses: list[tuple[str, int, int, int]] = []
        self.problems: list[tuple[int, int, int, str]] = []

    def find(self) -> bool:
        """Note the entries whose address another entry has too; False when there is none.

        An address is known here by its key's hash: entries whose hashes meet by chance
        are joined as the others, and stay apart as their addresses differ.
        """
        conn = self.conn
        if conn.execute(_TWINS).rowcount == 0:
            return False
        conn.execute(
            "INSERT OR IGNORE INTO shared SELECT n FROM entry WHERE hash IN twin "
            "UNION ALL SELECT n FROM more_hash WHERE hash IN twin"
        )
        return True

    def run(self) -> None:
        """Join the noted entries, a chunk at a time, in the order read."""
        after = 0
        while rows := self.conn.execute(_SHARED, (after, self.chunk)).fetchall():
            read = []
            keys: dict[str, None] = {}
            for n, data in rows:
                origin, addresses = origin_of(data, self.paths)
                read.append((n, origin, addresses))
                for address in addresses:
                    keys[address.key] = None
            self._look_up(list(keys))
            for n, origin, addresses in read:
                self._add(n, origin, addresses)
            self.flush()
            self.by_key.clear()
            self.first.clear()
            self.merged.clear()
            after = rows[-1][0]

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

    def _add(self, n: int, origin: Origin, addresses: list[Address]) -> None:
        person = self._person_for(n, origin, addresses)
        by_key, added = self.by_key, []
        for address in addresses:
            if address.key not in by_key:
                by_key[address.key] = person
                added.append(address)
        if added:
            first = self.first[person]
            where = (person, self.paths.id_of(first.path), first.line)
            self.addresses += [(a.key, *where) for a in added]
        self.last += 1
        self.members.append((person, self.last, n, _brought(added, addresses)))

    def _root(self, person: int) -> int:
        while person in self.merged:
            person = self.merged[person]
        return person

    def _person_for(self, n: int, origin: Origin, addresses: list[Address]) -> int:
        """The person entry ``n`` belongs to: a known one, or a new one numbered ``n``."""
        by_key = self.by_key
        known = [self._root(by_key[a.key]) for a in addresses if a.key in by_key]
        if not known:
            self.first[n] = origin
            return n
        person = known[0]
        self.duplicates += 1
        shared = next(a.email for a in addresses if a.key in by_key)
        first = self.first[person]
        message = f"{shared} also read at {first}: merged"
        self.problems.append((n, self.paths.id_of(origin.path), origin.line, message))
        for other in dict.fromkeys(known[1:]):
            if other != person:
                self._absorb(person, other)
        return person

    def _absorb(self, person: int, other: int) -> None:
        """Move ``other``'s entries (and their addresses) after ``person``'s, in order."""
        self.flush()
        conn, first = self.conn, self.first[person]
        moved = conn.execute(
            "SELECT m.ord, m.added, e.data FROM member m JOIN entry e ON e.n = m.n "
            "WHERE m.person = ? ORDER BY m.ord",
            (other,),
        ).fetchall()
        renumbered, keys = [], []
        for order, added, data in moved:
            self.last += 1
            renumbered.append((person, self.last, other, order))
            if added == 1:
                keys += [a.key for a in origin_of(data, self.paths)[1]]
            elif added is not None:
                keys += keys_of(added)
        conn.executemany(
            "UPDATE member SET person = ?, ord = ? WHERE person = ? AND ord = ?", renumbered
        )
        where = (person, self.paths.id_of(first.path), first.line)
        conn.executemany(
            "UPDATE address SET person = ?, path = ?, line = ? WHERE key = ?",
            [(*where, key) for key in keys],
        )
        self.merged[other] = person

    def flush(self) -> None:
        """Write what is waiting: the people's entries and addresses, duplicate problems."""
        conn = self.conn
        conn.executemany(
            "INSERT INTO problem (seq, kind, path, line, message) VALUES (?, 'duplicate', ?, ?, ?)",
            self.problems,
        )
        self.problems.clear()
        conn.executemany(
            "INSERT INTO member (person, ord, n, added) VALUES (?, ?, ?, ?)", self.members
        )
        conn.executemany(
            "INSERT INTO address (key, person, path, line) VALUES (?, ?, ?, ?)", self.addresses
        )
        self.members.clear()
        self.addresses.clear()


def _brought(added: list[Address], addresses: list[Address]) -> int | bytes | None:
    """The addresses an entry brought to its person (the ``added`` column): none, all its
    own (1: the usual, read from the entry itself), or those packed."""
    if not added:
        return None
    return 1 if len(added) == len(addresses) else pack_addresses(added)


def people(store: Store) -> Iterator[tuple[int, bool, Person]]:
    """The people :class:`Linker` made, in the order first read: each one's number,
    whether one of its entries is in the groups asked for, and the person.

    One pass over the ``member`` table, in the order of its key ``(person, ord)``;
    each entry holds the addresses it brought to its person.
    """
    paths = store.paths
    person, current, member = Person(), None, False
    for number, added, data in store.conn.execute(
        "SELECT m.person, m.added, e.data FROM member m "
        "JOIN entry e ON e.n = m.n ORDER BY m.person, m.ord"
    ):
        if number != current:
            if current is not None:
                yield current, member, person
            person, current, member = Person(), number, False
        entry, addresses, preferred, worth, in_group = unpack_alone(data, paths)
        if added == 1:
            person.addresses += addresses
        elif added is not None:
            person.addresses += unpack_addresses(added)
        if worth > person.best:
            person.preferred, person.best = preferred, worth
        person.entries.append(entry)
        person.ranks.append(worth)
        member = member or in_group
    if current is not None:
        yield current, member, person
