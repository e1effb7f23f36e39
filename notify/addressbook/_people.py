"""The merged people, read back from the merge's store one at a time."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

from notify.addressbook._records import unpack_addresses, unpack_entry
from notify.addressbook.addresses import Address
from notify.addressbook.model import Entry
from notify.addressbook.store import Store


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


def people(store: Store) -> Iterator[Person]:
    """Every person in the order first read, with their entries and addresses in order.

    One pass over the ``entry`` table, in the order of its key ``(person, ord)``:
    a person is numbered when first read, and each entry holds the addresses it
    brought to its person.
    """
    paths = store.paths
    person, current = Person(), None
    for number, path, line, added, data in store.conn.execute(
        "SELECT person, path, line, added, data FROM entry ORDER BY person, ord"
    ):
        if number != current:
            if current is not None:
                yield person
            person, current = Person(), number
        if added is not None:
            person.addresses += unpack_addresses(added)
        entry, preferred = unpack_entry(paths.origin(path, line), data)
        worth = rank(entry)
        if worth > person.best:
            person.preferred, person.best = preferred, worth
        person.entries.append(entry)
        person.ranks.append(worth)
    if current is not None:
        yield person
