"""People who get no message from the sending account, kept for the incident record.

Two reasons (the ``reason`` column of the ``unreachable`` table, migration 0002):

- ``no-address``: a contact read from an address book with no usable e-mail address
  (an :class:`~notify.addressbook.model.Entry`); reach them by phone or letter;
- ``secure-network``: a recipient whose address is on a closed secure
  health-messaging network (MSSanté, Apicrypt), kept apart by the merge step (a
  :class:`~notify.addressbook.model.Recipient`); write from the secure client.

Each person has a key that stays the same across runs, so recording the same
address books again adds nobody twice: the e-mail identity key for a secure-network
recipient; for a contact without address, ``no-address:`` + the source file + ``|``
+ the name (case and spacing folded), else the organization, else the first phone,
else the file and line. Each call that adds people appends one hash-chained
``unreachable-recorded`` event with the count and a SHA-256 over the rows added.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from notify.addressbook.model import Entry, Recipient
from notify.errors import JournalError
from notify.journal.chain import NewEvent, append_events
from notify.journal.codec import canonical_json, parse_ts, recipient_to_dict
from notify.journal.model import EventKind

Reason = Literal["no-address", "secure-network"]

#: The event kind appended when people are added to the ``unreachable`` table.
EVENT_KIND: EventKind = "unreachable-recorded"

_PAGE = 1000


@dataclass(frozen=True, slots=True)
class UnreachableRecord:
    """One person who got no e-mail from this account, with what is needed to reach them.

    ``email`` is ``None`` for a contact without a usable address; ``sources`` are the
    ``file:line`` places the person was read from.
    """

    id: int
    campaign_id: int
    key: str
    reason: Reason
    name: str
    email: str | None
    organization: str
    phones: list[str]
    postal: list[str]
    sources: list[str]
    added_at: datetime


def _fold(text: str) -> str:
    return " ".join(text.split()).casefold()


def entry_name(entry: Entry) -> str:
    """The name to show for a contact: its full name, else given + family name."""
    joined = " ".join(p for p in (entry.given_name, entry.family_name) if p.strip())
    return (entry.name or joined).strip()


def entry_key(entry: Entry) -> str:
    """The stable key of a contact without address (see the module docstring)."""
    name = entry_name(entry)
    for value in (name, entry.organization, *entry.phones):
        if value.strip():
            return f"no-address:{entry.origin.path}|{_fold(value)}"
    return f"no-address:{entry.origin}"


def _row_of(person: Entry | Recipient) -> tuple[str, Reason, str, str | None, dict[str, Any]]:
    """(key, reason, name, email, data) for one person."""
    if isinstance(person, Recipient):
        data = recipient_to_dict(person)
        data["sources"] = [str(o) for o in person.sources]
        return person.key, "secure-network", person.name, person.email, data
    if isinstance(person, Entry):
        data = {
            "name": entry_name(person),
            "civility": person.civility,
            "title": person.title,
            "organization": person.organization,
            "phones": list(person.phones),
            "postal": list(person.postal),
            "unusable_emails": list(person.emails),
            "sources": [str(person.origin)],
        }
        return entry_key(person), "no-address", entry_name(person), None, data
    raise JournalError(
        f"cannot record a {type(person).__name__} as unreachable (a bug in notify)",
        hint="Pass address-book entries without address, or secure-network recipients.",
    )


def record(
    conn: sqlite3.Connection, campaign_id: int, people: Iterable[Entry | Recipient], now: str
) -> int:
    """Insert the people whose key is new to the campaign; return how many were added.

    Call inside a write transaction. Appends one chained event when any was added.
    """
    if conn.execute("SELECT 1 FROM campaigns WHERE id = ?", (campaign_id,)).fetchone() is None:
        raise JournalError(f"no campaign #{campaign_id} in this journal")
    digest = hashlib.sha256()
    reasons = {"no-address": 0, "secure-network": 0}
    for person in people:
        key, reason, name, email, data = _row_of(person)
        text = canonical_json(data)
        cursor = conn.execute(
            "INSERT INTO unreachable (campaign_id, key, reason, name, email, data, added_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (campaign_id, key) DO NOTHING",
            (campaign_id, key, reason, name, email, text, now),
        )
        if cursor.rowcount:
            reasons[reason] += 1
            digest.update(canonical_json([key, reason, text]).encode("utf-8"))
    added = sum(reasons.values())
    if added:
        event = {"count": added, "reasons": reasons, "sha256": digest.hexdigest()}
        append_events(conn, now, [NewEvent(EVENT_KIND, campaign_id, None, None, None, event)])
    return added


def _from_row(row: Any) -> UnreachableRecord:
    data = json.loads(row[6])
    return UnreachableRecord(
        id=row[0],
        campaign_id=row[1],
        key=row[2],
        reason=row[3],
        name=row[4],
        email=row[5],
        organization=str(data.get("organization", "")),
        phones=[str(p) for p in data.get("phones", [])],
        postal=[str(p) for p in data.get("postal", [])],
        sources=[str(s) for s in data.get("sources", [])],
        added_at=parse_ts(row[7]),
    )


def page(conn: sqlite3.Connection, campaign_id: int, after: int) -> list[UnreachableRecord]:
    """The next page of a campaign's unreachable people by id (after id ``after``)."""
    rows = conn.execute(
        "SELECT id, campaign_id, key, reason, name, email, data, added_at FROM unreachable "
        "WHERE campaign_id = ? AND id > ? ORDER BY id LIMIT ?",
        (campaign_id, after, _PAGE),
    )
    return [_from_row(row) for row in rows]


def by_key(conn: sqlite3.Connection, key: str) -> list[UnreachableRecord]:
    """The unreachable people with this key, in every campaign."""
    rows = conn.execute(
        "SELECT id, campaign_id, key, reason, name, email, data, added_at FROM unreachable "
        "WHERE key = ? ORDER BY id",
        (key,),
    )
    return [_from_row(row) for row in rows]
