"""The last step of the merge: each merged person becomes recipients, or is left out.

The people are read back from the store one at a time (:func:`people`) and the
recipients written to it a chunk at a time, so nothing here grows with the number
of contacts. The rules: the owner's own addresses and ``--exclude`` leave a person
out, ``--group`` keeps members only, one message at the preferred address unless
``all_addresses``, and secure-network addresses are kept apart.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from notify.addressbook._people import Person, people
from notify.addressbook._records import pack_recipient
from notify.addressbook.addresses import Address, InvalidAddress, clean, matches_domain
from notify.addressbook.model import Entry, Problem, Recipient
from notify.addressbook.store import Store

if TYPE_CHECKING:
    from notify.addressbook.merge import MergeOptions

_BATCH = 4000  # recipients written together
_CACHED_DOMAINS = 4096


def in_groups(have: Iterable[str], wanted: tuple[str, ...]) -> bool:
    """True when one of ``have`` is one of ``wanted``, ignoring case."""
    folded = {g.casefold() for g in have}
    return any(w.casefold() in folded for w in wanted)


class _Domains:
    """``domains`` and their sub-domains, with the answers for recent domains kept."""

    def __init__(self, domains: Iterable[str]) -> None:
        self.domains = tuple(domains)
        self.known: dict[str, bool] = {}

    def __call__(self, address: Address) -> bool:
        domain = address.domain
        found = self.known.get(domain)
        if found is None:
            if len(self.known) >= _CACHED_DOMAINS:
                self.known.clear()
            found = self.known[domain] = matches_domain(domain, self.domains)
        return found


class _Exclusion:
    """Addresses and ``@domains`` to leave out, parsed once."""

    def __init__(self, patterns: tuple[str, ...]) -> None:
        texts = [p.strip() for p in patterns if p.strip()]
        self.keys = {_key_of(t) for t in texts if not t.startswith("@")}
        self.domains = _Domains(t[1:].lower() for t in texts if t.startswith("@"))
        self.any = bool(texts)

    def __call__(self, address: Address) -> bool:
        return address.key in self.keys or self.domains(address)


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


def _recipient(person: Person, address: Address, secure: bool) -> Recipient:
    found = person.entries
    others = [a.email for a in person.addresses if a.key != address.key]
    if len(found) == 1:  # the usual case, quicker: the same result as below
        entry = found[0]
        recipient = Recipient(
            address.email,
            address.ascii_email,
            address.key,
            entry.name,
            entry.given_name,
            entry.family_name,
            entry.civility,
            entry.title,
            entry.organization,
            entry.language,
            _union([entry.groups]),
            others,
            _union([entry.phones]),
            _union([entry.postal]),
            [entry.origin],
            secure,
        )
        _exposure(recipient, found)
        return recipient
    # Best first; sorted() is stable, so file order decides ties.
    ranks = person.ranks
    entries = [found[i] for i in sorted(range(len(found)), key=ranks.__getitem__, reverse=True)]
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
        groups=_union([e.groups for e in found]),
        other_emails=others,
        phones=_union([e.phones for e in found]),
        postal=_union([e.postal for e in found]),
        sources=[e.origin for e in found],
        secure_network=secure,
    )
    _exposure(recipient, found)
    return recipient


def _union(lists: list[list[str]]) -> list[str]:
    """The non-empty values of ``lists``, each once, in the order first seen."""
    if len(lists) == 1:
        values = lists[0]
        return list(dict.fromkeys(v for v in values if v)) if values else []
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


class Placer:
    """Writes each person's recipients to the store, and a problem for each left out."""

    def __init__(
        self,
        store: Store,
        options: MergeOptions,
        problem: Callable[[Problem], None],
        flush: Callable[[], None],
    ) -> None:
        self.store, self.options = store, options
        self.problem, self.flush = problem, flush
        self.is_owner = _Exclusion(options.owner_addresses)
        self.is_excluded = _Exclusion(options.exclude)
        self.is_secure = _Domains(options.secure_domains)
        self.recipients: list[tuple[int, int, bytes]] = []
        self.secure: list[tuple[bytes]] = []
        self.recipient_count = self.secure_count = self.excluded = 0

    def run(self) -> None:
        """Place every person, in the order first read."""
        groups, is_owner, is_excluded = self.options.groups, self.is_owner, self.is_excluded
        for number, person in enumerate(people(self.store), start=1):
            addresses = person.addresses
            if is_owner.any and any(is_owner(a) for a in addresses):
                self._drop(person, "is the owner's own address")
            elif not groups or in_groups((g for e in person.entries for g in e.groups), groups):
                kept = (
                    [a for a in addresses if not is_excluded(a)] if is_excluded.any else addresses
                )
                if kept:
                    self._place(person, kept)
                else:
                    self._drop(person, "excluded by --exclude")
            if number % _BATCH == 0:  # recipients and problems alike
                self._write()
        self._write()

    def _drop(self, person: Person, why: str) -> None:
        self.excluded += 1
        origin = person.entries[0].origin
        self.problem(Problem(origin, "excluded", f"{person.addresses[0].email} {why}"))

    def _place(self, person: Person, kept: list[Address]) -> None:
        options, is_secure = self.options, self.is_secure
        if options.all_addresses:
            targets = kept
        else:
            preferred = person.preferred if person.preferred in kept else kept[0]
            if is_secure(preferred):  # an ordinary address reaches them from an ordinary account
                preferred = next((a for a in kept if not is_secure(a)), preferred)
            targets = [preferred]
        paths = self.store.paths
        for address in targets:
            secure = is_secure(address)
            recipient = _recipient(person, address, secure)
            if secure and not options.include_secure:
                self.secure.append((pack_recipient(recipient, paths),))
                self.problem(
                    Problem(
                        person.entries[0].origin,
                        "secure-network",
                        f"{address.email} is on a secure health-messaging network: "
                        "send from your secure messaging client (or pass --include-secure)",
                    )
                )
            else:
                exposed = 0 if recipient.in_window else 1
                row = (exposed, -recipient.sent_count, pack_recipient(recipient, paths))
                self.recipients.append(row)

    def _write(self) -> None:
        conn = self.store.conn
        conn.executemany(
            "INSERT INTO recipient (exposed, sent, data) VALUES (?, ?, ?)", self.recipients
        )
        conn.executemany("INSERT INTO secure (data) VALUES (?)", self.secure)
        self.recipient_count += len(self.recipients)
        self.secure_count += len(self.secure)
        self.recipients.clear()
        self.secure.clear()
        self.flush()
