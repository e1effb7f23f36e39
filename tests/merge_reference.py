"""The merge as it was before its store: everything in memory. A reference for the tests.

notify 0.x merged in Python objects (2.3 KB a contact). The store-backed merge must
give exactly what this gives; ``tests/test_merge_store.py`` compares the two on
generated address books. Kept as it was: do not "fix" it without fixing both.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from notify.addressbook.addresses import Address, InvalidAddress, clean, matches_domain
from notify.addressbook.merge import MergeOptions
from notify.addressbook.model import Entry, Origin, Problem, Recipient


@dataclass(slots=True)
class ContactList:
    """What the in-memory merge returned: plain lists."""

    recipients: list[Recipient] = field(default_factory=list)
    secure: list[Recipient] = field(default_factory=list)
    unreachable: list[Entry] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    entries_read: int = 0
    duplicates: int = 0
    excluded: int = 0


@dataclass(slots=True)
class _Person:
    entries: list[Entry] = field(default_factory=list)
    addresses: list[Address] = field(default_factory=list)
    preferred: Address | None = None
    preferred_rank: int = -1
    merged_into: _Person | None = None

    def root(self) -> _Person:
        person = self
        while person.merged_into is not None:
            person = person.merged_into
        return person


def _valid_addresses(entry: Entry, problems: list[Problem]) -> tuple[list[Address], int]:
    """The entry's valid addresses and the index of its preferred one among them."""
    found: list[Address] = []
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
    return found, preferred


def _rank(entry: Entry) -> int:
    """How much an entry's name and details are worth: address books beat Sent folders."""
    base = 0 if entry.from_sent_folder else 4
    if entry.given_name and entry.family_name:
        return base + 3
    return base + (2 if entry.name else 1)


class _Merger:
    def __init__(self, options: MergeOptions) -> None:
        self.options = options
        self.by_key: dict[str, _Person] = {}
        self.people: list[_Person] = []
        self.result = ContactList()

    def add(self, item: Entry | Problem) -> None:
        if isinstance(item, Problem):
            self.result.problems.append(item)
            return
        self.result.entries_read += 1
        addresses, preferred = _valid_addresses(item, self.result.problems)
        if not addresses:
            self._unreachable(item)
            return
        person = self._person_for(item, addresses)
        person.entries.append(item)
        for address in addresses:
            if address.key not in self.by_key:
                person.addresses.append(address)
                self.by_key[address.key] = person
        rank = _rank(item)
        if rank > person.preferred_rank:
            person.preferred, person.preferred_rank = addresses[preferred], rank

    def _unreachable(self, entry: Entry) -> None:
        if self.options.groups and not _in_groups(entry.groups, self.options.groups):
            return
        self.result.unreachable.append(entry)
        what = entry.name or "a contact"
        self.result.problems.append(
            Problem(
                entry.origin,
                "no-address",
                f"{what} has no usable e-mail address: reach them by other means",
            )
        )

    def _person_for(self, entry: Entry, addresses: list[Address]) -> _Person:
        known = [self.by_key[a.key].root() for a in addresses if a.key in self.by_key]
        if not known:
            person = _Person()
            self.people.append(person)
            return person
        person = known[0]
        first = person.entries[0].origin if person.entries else entry.origin
        self.result.duplicates += 1
        shared = next(a.email for a in addresses if a.key in self.by_key)
        self.result.problems.append(
            Problem(entry.origin, "duplicate", f"{shared} also read at {first}: merged")
        )
        for other in known[1:]:
            if other is not person:
                self._absorb(person, other)
        return person

    def _absorb(self, person: _Person, other: _Person) -> None:
        person.entries.extend(other.entries)
        for address in other.addresses:
            person.addresses.append(address)
            self.by_key[address.key] = person
        if other.preferred_rank > person.preferred_rank:
            person.preferred, person.preferred_rank = other.preferred, other.preferred_rank
        other.entries, other.addresses = [], []
        other.merged_into = person


def _in_groups(have: list[str], wanted: tuple[str, ...]) -> bool:
    folded = {g.casefold() for g in have}
    return any(w.casefold() in folded for w in wanted)


class _Exclusion:
    """Addresses and ``@domains`` to leave out, parsed once."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        texts = [p.strip() for p in patterns if p.strip()]
        self.domains = tuple(t[1:].lower() for t in texts if t.startswith("@"))
        self.keys = {_key_of(t) for t in texts if not t.startswith("@")}

    def __call__(self, address: Address) -> bool:
        return address.key in self.keys or matches_domain(address.domain, self.domains)


def _key_of(text: str) -> str:
    try:
        return clean(text).key
    except InvalidAddress:
        return text.casefold()


def _first(entries: list[Entry], attribute: str) -> str:
    for entry in entries:
        value = getattr(entry, attribute)
        if value:
            return str(value)
    return ""


def _recipient(person: _Person, address: Address, secure: bool) -> Recipient:
    found = person.entries
    # Best first; sorted() is stable, so file order decides ties.
    entries = found if len(found) == 1 else sorted(found, key=_rank, reverse=True)
    best = entries[0]
    recipient = Recipient(
        email=address.email,
        ascii_email=address.ascii_email,
        key=address.key,
        name=best.name or _first(entries, "name"),
        given_name=best.given_name,
        family_name=best.family_name,
        civility=_first(entries, "civility"),
        title=_first(entries, "title"),
        organization=_first(entries, "organization"),
        language=_first(entries, "language"),
        groups=_union(e.groups for e in found),
        other_emails=[a.email for a in person.addresses if a.key != address.key],
        phones=_union(e.phones for e in found),
        postal=_union(e.postal for e in found),
        sources=[e.origin for e in found],
        secure_network=secure,
    )
    _exposure(recipient, found)
    return recipient


def _union(lists: Iterable[list[str]]) -> list[str]:
    """The non-empty values of ``lists``, each once, in the order first seen."""
    return list(dict.fromkeys(v for values in lists for v in values if v))


def _exposure(recipient: Recipient, entries: list[Entry]) -> None:
    """What the Sent folders say: how often, when, and what during the window."""
    for entry in entries:
        if not entry.from_sent_folder and not entry.sent_count:
            continue
        recipient.sent_count += entry.sent_count
        first, last = recipient.first_sent, recipient.last_sent
        if entry.first_sent and (first is None or entry.first_sent < first):
            recipient.first_sent = entry.first_sent
        if entry.last_sent and (last is None or entry.last_sent > last):
            recipient.last_sent = entry.last_sent
        for message in entry.window_messages:
            if message not in recipient.window_messages:
                recipient.window_messages.append(message)


def _finish(merger: _Merger) -> ContactList:
    options, result = merger.options, merger.result
    is_owner, is_excluded = _Exclusion(options.owner_addresses), _Exclusion(options.exclude)
    for person in merger.people:
        if person.merged_into is not None or not person.entries:
            continue
        origin = person.entries[0].origin
        if any(is_owner(a) for a in person.addresses):
            _drop(result, origin, f"{person.addresses[0].email} is the owner's own address")
            continue
        if options.groups and not _in_groups(
            [g for e in person.entries for g in e.groups], options.groups
        ):
            continue
        kept = [a for a in person.addresses if not is_excluded(a)]
        if not kept:
            _drop(result, origin, f"{person.addresses[0].email} excluded by --exclude")
            continue
        _place(result, person, kept, options)
    return result


def _drop(result: ContactList, origin: Origin, why: str) -> None:
    result.excluded += 1
    result.problems.append(Problem(origin, "excluded", why))


def _place(
    result: ContactList, person: _Person, kept: list[Address], options: MergeOptions
) -> None:
    def is_secure(address: Address) -> bool:
        return matches_domain(address.domain, options.secure_domains)

    if options.all_addresses:
        targets = kept
    else:
        preferred = person.preferred if person.preferred in kept else kept[0]
        if is_secure(preferred):  # an ordinary address reaches them from an ordinary account
            preferred = next((a for a in kept if not is_secure(a)), preferred)
        targets = [preferred]
    for address in targets:
        secure = is_secure(address)
        recipient = _recipient(person, address, secure)
        if secure and not options.include_secure:
            result.secure.append(recipient)
            result.problems.append(
                Problem(
                    person.entries[0].origin,
                    "secure-network",
                    f"{address.email} is on a secure health-messaging network: "
                    "send from your secure messaging client (or pass --include-secure)",
                )
            )
        else:
            result.recipients.append(recipient)


def merge(items: Iterable[Entry | Problem], options: MergeOptions | None = None) -> ContactList:
    """The in-memory merge."""
    merger = _Merger(options or MergeOptions())
    for item in items:
        merger.add(item)
    return _finish(merger)
