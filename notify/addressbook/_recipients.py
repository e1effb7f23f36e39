"""The last step of the merge: each merged person becomes recipients, or is left out.

An entry that shares no address is a person of its own: it is placed as it is read
(:meth:`Placer.alone`), most often as one recipient that its ``entry`` row already
holds. The people of several entries are placed once joined (:meth:`Placer.place_linked`),
read back from the store one at a time; then :meth:`Placer.finish` writes the lists in
the order the people were first read. Nothing here grows with the number of contacts.
The rules: the owner's own addresses and ``--exclude`` leave a person out, ``--group``
keeps members only, one message at the preferred address unless ``all_addresses``,
and secure-network addresses are kept apart.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from typing import TYPE_CHECKING

from notify.addressbook._people import Person, people
from notify.addressbook._records import pack_recipient, urgency
from notify.addressbook.addresses import Address, InvalidAddress, clean
from notify.addressbook.model import Entry, Problem, Recipient
from notify.addressbook.store import Store

if TYPE_CHECKING:
    from notify.addressbook.merge import MergeOptions

_BATCH = 4000  # recipients written together


def in_groups(have: Iterable[str], wanted: tuple[str, ...]) -> bool:
    """True when one of ``have`` is one of ``wanted``, ignoring case."""
    folded = {g.casefold() for g in have}
    return any(w.casefold() in folded for w in wanted)


class _Domains:
    """``domains`` and their sub-domains (``addresses.matches_domain``), told by the end of
    an address: one look, for every address of the import.

    An address from :func:`clean` holds one ``@`` and its domain in lower case: it ends
    with ``@domain`` or ``.domain`` exactly when its domain is one of ``domains`` or
    under one. A "domain" holding an ``@`` is no domain, and never matched.
    """

    def __init__(self, domains: Iterable[str]) -> None:
        kept = [d for d in domains if "@" not in d]
        self.ends = tuple(f"@{d}" for d in kept) + tuple(f".{d}" for d in kept)

    def __call__(self, address: Address) -> bool:
        return address.email.endswith(self.ends)


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


_MERGED = """
INSERT INTO recipient (urgency, data) SELECT urgency, data FROM (
    SELECT n AS person, 0 AS j, urgency, data FROM entry WHERE urgency IS NOT NULL
    UNION ALL SELECT person, j, urgency, data FROM placed WHERE secure = 0
    ORDER BY 1, 2
)
"""


class Placer:
    """Places each person: their recipients and a problem for each left out.

    What is not the recipient an entry makes alone (``entry.urgency`` set) waits in the
    ``placed`` and ``placed_problem`` tables, under the person's number and in order.
    """

    def __init__(self, store: Store, options: MergeOptions) -> None:
        self.store, self.options = store, options
        self.is_owner = _Exclusion(options.owner_addresses)
        self.is_excluded = _Exclusion(options.exclude)
        self.is_secure = _Domains(options.secure_domains).__call__  # bound: quicker to call
        # An entry alone is one recipient at its preferred address, unless these say else.
        self.plain = not (self.is_owner.any or self.is_excluded.any or options.groups)
        self.any_secure = bool(options.secure_domains)
        self.recipients: list[tuple[int, int, int, int, bytes]] = []
        self.problems: list[tuple[int, int, str, int, int, str]] = []
        self.recipient_count = self.secure_count = self.excluded = 0
        self.kinds: Counter[str] = Counter()
        self.alone_count = 0  # entries placed as their own recipient (``entry.urgency``)
        # Where the recipients are read from, after :meth:`finish`: table, key, filter.
        self.source = ("recipient", "seq", "")

    def alone(
        self,
        entry: Entry,
        addresses: list[Address],
        preferred: Address,
        number: int,
        worth: int,
        member: int,
    ) -> tuple[bool, bool]:
        """Place ``entry`` as a person of its own, numbered ``number``.

        ``(True, secure)`` when that is one recipient at ``preferred`` (on a secure
        network or not), which the caller writes; else ``(False, False)``, and what it
        gives waits in the store. ``member``: 1 when ``entry`` is in a group asked for.
        """
        if self.plain and (len(addresses) == 1 or not self.options.all_addresses):
            secure = self.any_secure and self.is_secure(preferred)
            if not secure or (self.options.include_secure and len(addresses) == 1):
                self.alone_count += 1
                return True, secure
        self.place(Person([entry], [worth], addresses, preferred, worth), number, bool(member))
        if len(self.recipients) + len(self.problems) >= _BATCH:
            self.write()
        return False, False

    def place_linked(self) -> None:
        """Place the people of several entries, once they are joined (``_people``).

        Their entries were placed alone as they were read: that is undone first.
        """
        conn = self.store.conn
        undone = conn.execute(
            "UPDATE entry SET urgency = NULL WHERE urgency IS NOT NULL AND n IN shared"
        )
        self.alone_count -= undone.rowcount
        conn.execute("DELETE FROM placed WHERE person IN shared")
        conn.execute("DELETE FROM placed_problem WHERE person IN shared")
        for count, (number, member, person) in enumerate(people(self.store), start=1):
            self.place(person, number, member)
            if count % _BATCH == 0:  # recipients and problems alike
                self.write()
        self.write()

    def place(self, person: Person, number: int, member: bool) -> None:
        """Place one person; ``member`` when one of their entries is in a group asked for."""
        groups, is_owner, is_excluded = self.options.groups, self.is_owner, self.is_excluded
        addresses = person.addresses
        if is_owner.any and any(is_owner(a) for a in addresses):
            self._drop(person, number, "is the owner's own address")
        elif not groups or member:
            kept = [a for a in addresses if not is_excluded(a)] if is_excluded.any else addresses
            if kept:
                self._place(person, number, kept)
            else:
                self._drop(person, number, "excluded by --exclude")

    def _problem(self, number: int, problem: Problem) -> None:
        origin = problem.origin
        path = self.store.paths.id_of(origin.path)
        j = len(self.recipients) + len(self.problems)  # in order within the person
        self.problems.append((number, j, problem.kind, path, origin.line, problem.message))

    def _drop(self, person: Person, number: int, why: str) -> None:
        origin = person.entries[0].origin
        self._problem(number, Problem(origin, "excluded", f"{person.addresses[0].email} {why}"))

    def _place(self, person: Person, number: int, kept: list[Address]) -> None:
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
            j = len(self.recipients) + len(self.problems)
            if secure and not options.include_secure:
                self.recipients.append((number, j, 1, 0, pack_recipient(recipient, paths)))
                self._problem(
                    number,
                    Problem(
                        person.entries[0].origin,
                        "secure-network",
                        f"{address.email} is on a secure health-messaging network: "
                        "send from your secure messaging client (or pass --include-secure)",
                    ),
                )
            else:
                order = urgency(recipient.in_window, recipient.sent_count)
                self.recipients.append((number, j, 0, order, pack_recipient(recipient, paths)))

    def write(self) -> None:
        """Write the recipients and problems waiting."""
        conn = self.store.conn
        conn.executemany(
            "INSERT INTO placed (person, j, secure, urgency, data) VALUES (?, ?, ?, ?, ?)",
            self.recipients,
        )
        conn.executemany(
            "INSERT INTO placed_problem (person, j, kind, path, line, message) "
            "VALUES (?, ?, ?, ?, ?, ?)",
            self.problems,
        )
        self.recipients.clear()
        self.problems.clear()

    def finish(self) -> None:
        """Write the lists: recipients, secure-network ones and problems, in order."""
        self.write()
        conn = self.store.conn
        others = conn.execute("SELECT EXISTS (SELECT 1 FROM placed WHERE secure = 0)").fetchone()
        if others[0]:
            self.recipient_count = conn.execute(_MERGED).rowcount
        else:  # every recipient is an entry's own: read them where they are
            self.source = ("entry", "n", "urgency IS NOT NULL")
            self.recipient_count = self.alone_count
        self.secure_count = conn.execute(
            "INSERT INTO secure (data) SELECT data FROM placed WHERE secure = 1 ORDER BY person, j"
        ).rowcount
        conn.execute(
            "INSERT INTO problem (kind, path, line, message) "
            "SELECT kind, path, line, message FROM placed_problem ORDER BY person, j"
        )
        self.kinds.update(
            dict(conn.execute("SELECT kind, count(*) FROM placed_problem GROUP BY kind"))
        )
        self.excluded = self.kinds["excluded"]
