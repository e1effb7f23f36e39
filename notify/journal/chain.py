"""The append-only event log and its SHA-256 hash chain.

Each event row stores ``hash = sha256(prev_hash + payload)`` in hex, where
``prev_hash`` is the previous row's hash (64 zeros for the first row) and
``payload`` is the canonical JSON array::

    [seq, ts, kind, campaign_id, recipient_id, state_from, state_to, data]

(``data`` being the row's stored JSON text). The ``chain_head`` table holds the
last ``seq`` and hash, written in the same transaction as the rows, so that rows
deleted from or added at the end are noticed too. Triggers refuse UPDATE and
DELETE on ``events``.

What this proves: a row edited, removed or slipped in by hand (sqlite3, a hex
editor) breaks the chain, and :func:`verify` names the first such row. What it
cannot prove: someone who rewrites the whole chain from the altered row onwards
(hashes are not keyed). Printing :func:`digest` in the incident report, which is
sent to the CNIL or the insurer, fixes the chain up to that point.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from notify.journal.codec import canonical_json
from notify.journal.model import ChainBreak, EventKind, State
from notify.journal.schema import GENESIS

_PAGE = 5000
_Row = tuple[int, str, str, int | None, int | None, str | None, str | None, str, str]


@dataclass(frozen=True, slots=True)
class NewEvent:
    """An event to append (``seq``, ``ts`` and ``hash`` are given when appended)."""

    kind: EventKind
    campaign_id: int | None
    recipient_id: int | None
    state_from: State | None
    state_to: State | None
    data: dict[str, Any]


def event_hash(prev: str, fields: Sequence[Any]) -> str:
    """The chained hash of one row whose fields (without the hash) are ``fields``."""
    # A tuple is encoded as the JSON array its list would be: no copy needed.
    payload = canonical_json(fields if isinstance(fields, tuple | list) else list(fields))
    return hashlib.sha256((prev + payload).encode("utf-8")).hexdigest()


#: The head this process last moved the chain to, as (seq, hash): a guess that spares
#: reading ``chain_head`` when it is still the head, which :func:`append_events` checks
#: in the UPDATE that moves the head. Another process may have appended since, or the
#: transaction may have been rolled back: then the UPDATE changes nothing and the head
#: is read as before. (One slot: a process writes one journal at a time.)
_last_head: tuple[int, str] | None = None


def _chained(
    head: tuple[int, str], ts: str, events: Sequence[NewEvent]
) -> tuple[list[tuple[Any, ...]], tuple[int, str]]:
    """The rows of ``events`` chained after ``head``, and the new head."""
    seq, prev = head
    rows = []
    for event in events:
        seq += 1
        fields = (
            seq,
            ts,
            event.kind,
            event.campaign_id,
            event.recipient_id,
            event.state_from,
            event.state_to,
            canonical_json(event.data),
        )
        prev = event_hash(prev, fields)
        rows.append((*fields, prev))
    return rows, (seq, prev)


def append_events(conn: sqlite3.Connection, ts: str, events: Sequence[NewEvent]) -> None:
    """Append ``events`` (all stamped ``ts``); call inside a write transaction."""
    global _last_head  # noqa: PLW0603 -- a guess checked by the UPDATE, see _last_head
    if not events:
        return
    guess = _last_head
    moved = False
    if guess is not None:
        rows, head = _chained(guess, ts, events)
        moved = (
            conn.execute(
                "UPDATE chain_head SET seq = ?, hash = ? WHERE id = 1 AND seq = ? AND hash = ?",
                (*head, *guess),
            ).rowcount
            == 1
        )
    if not moved:
        start = conn.execute("SELECT seq, hash FROM chain_head WHERE id = 1").fetchone()
        rows, head = _chained((start[0], start[1]), ts, events)
        conn.execute("UPDATE chain_head SET seq = ?, hash = ? WHERE id = 1", head)
    conn.executemany(
        "INSERT INTO events (seq, ts, kind, campaign_id, recipient_id, state_from, "
        "state_to, data, hash) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        rows,
    )
    _last_head = head


def digest(conn: sqlite3.Connection) -> str:
    """The hash of the last event (64 zeros for an empty log)."""
    row = conn.execute("SELECT hash FROM events ORDER BY seq DESC LIMIT 1").fetchone()
    return GENESIS if row is None else str(row[0])


def _rows(conn: sqlite3.Connection) -> Iterator[_Row]:
    after = -1
    while True:
        page = conn.execute(
            "SELECT seq, ts, kind, campaign_id, recipient_id, state_from, state_to, data, "
            "hash FROM events WHERE seq > ? ORDER BY seq LIMIT ?",
            (after, _PAGE),
        ).fetchall()
        yield from page
        if len(page) < _PAGE:
            return
        after = page[-1][0]


def _fits(prev: str, row: _Row) -> bool:
    return event_hash(prev, row[:8]) == row[8]


def _check(
    prev_seq: int, prev: str, row: _Row, nxt: _Row | None, head_seq: int
) -> ChainBreak | None:
    seq = row[0]
    if seq <= head_seq and seq == prev_seq + 1 and _fits(prev, row):
        return None
    if seq > head_seq or (nxt is not None and _fits(prev, nxt)):
        return ChainBreak(seq, "inserted", f"event {seq} was not written by notify")
    if seq != prev_seq + 1:
        return ChainBreak(
            seq, "deleted", f"events {prev_seq + 1} to {seq - 1} were deleted before event {seq}"
        )
    return ChainBreak(seq, "altered", f"event {seq} was changed after it was written")


def verify(conn: sqlite3.Connection) -> ChainBreak | None:
    """Recompute the chain; return the first altered, inserted or deleted row, or None."""
    head_seq, head_hash = conn.execute("SELECT seq, hash FROM chain_head WHERE id = 1").fetchone()
    prev_seq, prev = 0, GENESIS
    rows = _rows(conn)
    row = next(rows, None)
    while row is not None:
        nxt = next(rows, None)
        problem = _check(prev_seq, prev, row, nxt, head_seq)
        if problem is not None:
            return problem
        prev_seq, prev = row[0], row[8]
        row = nxt
    if head_seq > prev_seq:
        return ChainBreak(
            prev_seq + 1,
            "deleted",
            f"events {prev_seq + 1} to {head_seq} (the last ones) were deleted",
        )
    if head_hash != prev:
        return ChainBreak(prev_seq, "altered", f"event {prev_seq} was changed after it was written")
    return None
