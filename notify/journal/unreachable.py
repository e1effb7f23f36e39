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

Identifier
----------
Each person is shown as ``U`` + the row id (``U3``): :func:`label` / :func:`parse_label`.
Rows are never updated nor deleted (triggers, migration 0003), so the identifier a
report prints stays valid in every later report, and ``notify mark U3`` finds them.

Outcome: events only, projected when read
-----------------------------------------
What was done about a person (:data:`UNREACHABLE_STATES`) is recorded only as
hash-chained ``unreachable-marked`` events (:func:`mark`), never as a column::

    to-reach (no event yet) ──mark──> notified-other | skipped | to-reach

``notified-other``: informed by phone, letter, in person or from the secure
messaging client; ``skipped``: a decision not to inform (the note says why);
``to-reach``: undo. Every mark needs a note and names who made it (``by``). The
event's data holds ``unreachable_id``, ``key``, ``name``, ``email``, ``reason``,
``from``, ``to``, ``note`` and ``by``; the record's ``state``, ``note``, ``marked_by`` and
``marked_at`` are those of its last mark (:func:`page`, :func:`by_id`, :func:`by_key`
fold them in). Recording the same people again (a rerun of ``notify send``) inserts
nothing, so it cannot reset an outcome.

Integrity (:func:`verify`, part of :meth:`Journal.verify`)
-----------------------------------------------------------
An outcome can only be forged by forging an event, which the hash chain shows. The
rows are sealed too: the rows added by one ``unreachable-recorded`` event (same
campaign, ``added_at`` = the event's time, in id order) must hash to the event's
SHA-256, their ``name`` / ``email`` columns must match their data, no row may lack
its event, and each mark must name a row of its campaign with the same key. A row
edited, deleted or slipped in with sqlite3 (triggers dropped) is therefore reported
as a :class:`~notify.journal.model.ChainBreak`.
"""

from __future__ import annotations

import hashlib
import json
import re
import sqlite3
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Final, Literal

from notify.addressbook.model import Entry, Recipient
from notify.errors import JournalError
from notify.journal.chain import NewEvent, append_events
from notify.journal.codec import canonical_json, parse_optional_ts, parse_ts, recipient_to_dict
from notify.journal.model import ChainBreak, EventKind

Reason = Literal["no-address", "secure-network"]
UnreachableState = Literal["to-reach", "notified-other", "skipped"]

#: What may be recorded about a person to reach by other means (``notify mark``).
UNREACHABLE_STATES: Final[tuple[UnreachableState, ...]] = ("notified-other", "skipped", "to-reach")

#: The event kind appended when people are added to the ``unreachable`` table.
EVENT_KIND: EventKind = "unreachable-recorded"
#: The event kind that records what was done about one person.
MARK_KIND: EventKind = "unreachable-marked"

_PAGE = 1000
_COLUMNS = "id, campaign_id, key, reason, name, email, data, added_at"
_LABEL = re.compile(r"[Uu]0*([1-9][0-9]{0,17})")


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
    state: UnreachableState = "to-reach"
    note: str = ""
    marked_by: str = ""
    marked_at: datetime | None = None

    @property
    def label(self) -> str:
        """The identifier reports print and ``notify mark`` takes: ``U3``."""
        return label(self.id)


def label(person_id: int) -> str:
    """``U3`` for the person with row id 3."""
    return f"U{person_id}"


def parse_label(text: str) -> int | None:
    """The row id of an identifier such as ``U3`` (case ignored), or None."""
    found = _LABEL.fullmatch(text.strip())
    return None if found is None else int(found.group(1))


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


def _state(value: object) -> UnreachableState:
    for state in UNREACHABLE_STATES:
        if value == state:
            return state
    return "to-reach"


def _with_outcomes(
    conn: sqlite3.Connection, people: list[UnreachableRecord]
) -> list[UnreachableRecord]:
    """``people`` with the state, note, author and time of their last mark."""
    last: dict[int, tuple[str, dict[str, Any]]] = {}
    for campaign_id in sorted({p.campaign_id for p in people}):
        rows = conn.execute(
            "SELECT ts, data FROM events WHERE kind = ? AND campaign_id = ? ORDER BY seq",
            (MARK_KIND, campaign_id),
        )
        for ts, text in rows:
            data = json.loads(text)
            last[int(data.get("unreachable_id", 0))] = (ts, data)
    result = []
    for person in people:
        if person.id not in last:
            result.append(person)
            continue
        ts, data = last[person.id]
        result.append(
            replace(
                person,
                state=_state(data.get("to")),
                note=str(data.get("note") or ""),
                marked_by=str(data.get("by") or ""),
                marked_at=parse_optional_ts(ts),
            )
        )
    return result


def page(conn: sqlite3.Connection, campaign_id: int, after: int) -> list[UnreachableRecord]:
    """The next page of a campaign's unreachable people by id (after id ``after``)."""
    rows = conn.execute(
        f"SELECT {_COLUMNS} FROM unreachable "  # noqa: S608
        "WHERE campaign_id = ? AND id > ? ORDER BY id LIMIT ?",
        (campaign_id, after, _PAGE),
    )
    return _with_outcomes(conn, [_from_row(row) for row in rows])


def by_key(
    conn: sqlite3.Connection, key: str, campaign_id: int | None = None
) -> list[UnreachableRecord]:
    """The unreachable people with this key, in one campaign or every one."""
    if campaign_id is None:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM unreachable WHERE key = ? ORDER BY id",  # noqa: S608
            (key,),
        )
    else:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM unreachable WHERE key = ? AND campaign_id = ? ORDER BY id",  # noqa: S608
            (key, campaign_id),
        )
    return _with_outcomes(conn, [_from_row(row) for row in rows])


def by_id(conn: sqlite3.Connection, person_id: int) -> UnreachableRecord | None:
    """The unreachable person with row id ``person_id`` (``U`` + id), or None."""
    row = conn.execute(
        f"SELECT {_COLUMNS} FROM unreachable WHERE id = ?",  # noqa: S608
        (person_id,),
    ).fetchone()
    return None if row is None else _with_outcomes(conn, [_from_row(row)])[0]


def mark(
    conn: sqlite3.Connection,
    person_ids: Sequence[int],
    state: str,
    *,
    note: str,
    by: str,
    now: str,
) -> None:
    """Record what was done about each person: one chained event each.

    ``state`` is one of :data:`UNREACHABLE_STATES`; ``note`` is required. Call
    inside a write transaction.
    """
    if state not in UNREACHABLE_STATES:
        raise JournalError(
            f"{state!r} cannot be recorded for a person to reach by other means",
            hint=f"Use one of: {', '.join(UNREACHABLE_STATES)}.",
        )
    if not note.strip():
        raise JournalError(
            "a mark needs a note saying what was done and when (or why not)",
            hint="Pass --note, for example --note 'phoned on 27/11, warned in person'.",
        )
    events = []
    for person_id in dict.fromkeys(person_ids):
        person = by_id(conn, person_id)
        if person is None:
            raise JournalError(f"no person {label(person_id)} to reach by other means")
        data = {
            "unreachable_id": person.id,
            "key": person.key,
            "name": person.name,
            "email": person.email,
            "reason": person.reason,
            "from": person.state,
            "to": state,
            "note": note.strip(),
            "by": by,
        }
        events.append(NewEvent(MARK_KIND, person.campaign_id, None, None, None, data))
    append_events(conn, now, events)


# -- integrity -------------------------------------------------------------------

_Row = tuple[int, int, str, str, str, str | None, str, str]


def _span(rows: Sequence[_Row]) -> str:
    if not rows:
        return "(none)"
    first, last = label(rows[0][0]), label(rows[-1][0])
    return first if first == last else f"{first} to {last}"


def _columns_fit(row: _Row) -> bool:
    """The name and email columns say what the sealed data says."""
    data = json.loads(row[4])
    return bool(row[5] == data.get("name") and row[6] == data.get("email"))


def _check_recorded(seq: int, data: dict[str, Any], group: deque[_Row]) -> ChainBreak | None:
    count = int(data.get("count", 0))
    taken = [group.popleft() for _ in range(min(count, len(group)))]
    if len(taken) < count:
        return ChainBreak(
            seq,
            "deleted",
            f"{count - len(taken)} of the {count} people to reach by other means "
            f"recorded by event {seq} were deleted",
        )
    digest = hashlib.sha256()
    for row in taken:
        digest.update(canonical_json([row[2], row[3], row[4]]).encode("utf-8"))
    if digest.hexdigest() != data.get("sha256") or not all(_columns_fit(r) for r in taken):
        return ChainBreak(
            seq,
            "altered",
            f"the people to reach by other means {_span(taken)} (recorded by event {seq}) "
            "were changed after they were written",
        )
    return None


def _sealed_rows(
    conn: sqlite3.Connection,
) -> tuple[dict[tuple[int, str], deque[_Row]], dict[int, tuple[int, str]]]:
    """The rows grouped by (campaign, added_at) in id order; id -> (campaign, key)."""
    groups: dict[tuple[int, str], deque[_Row]] = {}
    keys: dict[int, tuple[int, str]] = {}
    for uid, campaign_id, key, reason, text, name, email, added in conn.execute(
        "SELECT id, campaign_id, key, reason, data, name, email, added_at "
        "FROM unreachable ORDER BY id"
    ):
        row: _Row = (uid, campaign_id, key, reason, text, name, email, added)
        groups.setdefault((campaign_id, added), deque()).append(row)
        keys[uid] = (campaign_id, key)
    return groups, keys


def _check_marks(conn: sqlite3.Connection, keys: dict[int, tuple[int, str]]) -> ChainBreak | None:
    """Each mark names a row of its campaign with the key it was recorded for."""
    marks = conn.execute(
        "SELECT seq, campaign_id, data FROM events WHERE kind = ? ORDER BY seq", (MARK_KIND,)
    )
    for seq, campaign_id, text in marks:
        data = json.loads(text)
        uid = int(data.get("unreachable_id", 0))
        if keys.get(uid) != (campaign_id, data.get("key")):
            return ChainBreak(
                seq,
                "altered",
                f"event {seq} records what was done about {label(uid)}, "
                "who is no longer the person it was recorded for",
            )
    return None


def verify(conn: sqlite3.Connection) -> ChainBreak | None:
    """Check the rows against their events and each mark against its row (see above).

    Call in a read transaction, after the chain itself was verified.
    """
    groups, keys = _sealed_rows(conn)
    recorded = conn.execute(
        "SELECT seq, ts, campaign_id, data FROM events WHERE kind = ? ORDER BY seq", (EVENT_KIND,)
    )
    for seq, ts, campaign_id, text in recorded:
        problem = _check_recorded(seq, json.loads(text), groups.get((campaign_id, ts), deque()))
        if problem is not None:
            return problem
    left = sorted(r[0] for group in groups.values() for r in group)
    if left:
        head = int(conn.execute("SELECT seq FROM chain_head WHERE id = 1").fetchone()[0])
        return ChainBreak(
            head,
            "inserted",
            f"the person to reach by other means {label(left[0])} was not recorded by notify",
        )
    return _check_marks(conn, keys)
