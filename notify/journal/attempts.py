"""State changes: each appends its event and updates the projection in one transaction.

The state machine (any other change is refused)::

    pending ──begin──> sending ──end──> sent | deferred | failed | uncertain | pending
    deferred, uncertain ──begin──> sending
    sending ──recover (the process died)──> uncertain
    sent ──bounce (permanent)──> bounced
    any state but sending ──mark──> pending | sent | failed | bounced | skipped | notified-other

Each function here runs inside the caller's write transaction.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator, Sequence
from typing import Any, cast

from notify.errors import JournalError
from notify.journal.chain import NewEvent, append_events
from notify.journal.codec import format_ts
from notify.journal.model import (
    MARK_STATES,
    OUTCOMES,
    SENDABLE,
    AttemptEnd,
    AttemptStart,
    State,
)

#: The explanation recorded when :func:`recover` finds a message left ``sending``.
RECOVERY_REASON = (
    "the process stopped during the SMTP transaction: the message may or may not have "
    "been accepted; it will be sent again with the same Message-ID"
)
RESEND_NOTE = "sent again with the same Message-ID: the fate of the previous attempt is unknown"

_SHA256 = re.compile(r"[0-9a-f]{64}")
_CHUNK = 500
_TEXT_MAX = 2000
_Current = dict[int, tuple[State, int, int, str | None]]
#: id -> (state, campaign_id, attempts, message_id, the campaign's revision_id).
_Sendable = dict[int, tuple[State, int, int, str | None, int | None]]


def _by_ids(conn: sqlite3.Connection, select: str, ids: Sequence[int]) -> Iterator[Any]:
    """The rows of ``select`` (ending in ``WHERE ... IN``) for ``ids``, a chunk at a time."""
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start : start + _CHUNK]
        marks = ",".join("?" * len(chunk))
        yield from conn.execute(f"{select} ({marks})", tuple(chunk))


def _current(conn: sqlite3.Connection, ids: Sequence[int]) -> _Current:
    """id -> (state, campaign_id, attempts, message_id) for the ids that exist."""
    rows = _by_ids(
        conn,
        "SELECT id, state, campaign_id, attempts, message_id FROM recipients WHERE id IN",
        ids,
    )
    return {row[0]: (cast(State, row[1]), row[2], row[3], row[4]) for row in rows}


def _current_with_revision(conn: sqlite3.Connection, ids: Sequence[int]) -> _Sendable:
    """:func:`_current` plus the current revision of each one's campaign (one SELECT)."""
    rows = _by_ids(
        conn,
        "SELECT r.id, r.state, r.campaign_id, r.attempts, r.message_id, c.revision_id "
        "FROM recipients AS r JOIN campaigns AS c ON c.id = r.campaign_id WHERE r.id IN",
        ids,
    )
    return {row[0]: (cast(State, row[1]), row[2], row[3], row[4], row[5]) for row in rows}


def _check_start(start: AttemptStart, seen: set[int]) -> None:
    if start.recipient_id in seen:
        raise JournalError(f"recipient #{start.recipient_id} appears twice in one batch")
    seen.add(start.recipient_id)
    if not _SHA256.fullmatch(start.sha256):
        raise JournalError(f"recipient #{start.recipient_id}: sha256 must be 64 hex digits")
    if not start.message_id or "\n" in start.message_id or "\r" in start.message_id:
        raise JournalError(f"recipient #{start.recipient_id}: invalid Message-ID")


def begin(conn: sqlite3.Connection, starts: Sequence[AttemptStart], now: str) -> list[int]:
    """Move sendable recipients to ``sending``; return the ids begun, in batch order."""
    seen: set[int] = set()
    for start in starts:
        _check_start(start, seen)
    current = _current_with_revision(conn, [s.recipient_id for s in starts])
    missing = [s.recipient_id for s in starts if s.recipient_id not in current]
    if missing:
        raise JournalError(f"no recipient #{missing[0]} in this journal (a bug in notify)")
    updates, events, begun = [], [], []
    for s in starts:
        state, campaign_id, attempts, old_id, revision = current[s.recipient_id]
        if state not in SENDABLE:
            continue  # marked by hand meanwhile: not ours to send any more
        if state == "uncertain" and old_id and s.message_id != old_id:
            raise JournalError(
                f"recipient #{s.recipient_id} is uncertain: send it again with its recorded "
                f"Message-ID {old_id}, not {s.message_id} (a bug in notify)"
            )
        updates.append(
            (attempts + 1, s.message_id, s.date, s.sha256, revision, now, s.recipient_id)
        )
        data: dict[str, Any] = {
            "attempt": attempts + 1,
            "message_id": s.message_id,
            "date": s.date,
            "sha256": s.sha256,
            "revision_id": revision,
        }
        if state == "uncertain":
            data["note"] = RESEND_NOTE
        events.append(
            NewEvent("attempt-start", campaign_id, s.recipient_id, state, "sending", data)
        )
        begun.append(s.recipient_id)
    conn.executemany(
        "UPDATE recipients SET state = 'sending', attempts = ?, message_id = ?, "
        "date_header = ?, sha256 = ?, revision_id = ?, next_retry_at = NULL, updated_at = ? "
        "WHERE id = ?",
        updates,
    )
    append_events(conn, now, events)
    return begun


def end(conn: sqlite3.Connection, ends: Sequence[AttemptEnd], now: str) -> list[int]:
    """Record how each attempt ended; return the ids that were not ``sending`` (ignored)."""
    current = _current(conn, [e.recipient_id for e in ends])
    updates, events, refused = [], [], []
    seen: set[int] = set()
    for e in ends:
        if e.outcome not in OUTCOMES:
            raise JournalError(f"unknown outcome {e.outcome!r} (one of {', '.join(OUTCOMES)})")
        row = current.get(e.recipient_id)
        if row is None or row[0] != "sending" or e.recipient_id in seen:
            refused.append(e.recipient_id)
            continue
        seen.add(e.recipient_id)
        retry = format_ts(e.retry_at) if e.outcome == "deferred" and e.retry_at else None
        text = e.text[:_TEXT_MAX]
        # Back to pending: the message was never handed over, the attempt is given back.
        given_back = 1 if e.outcome == "pending" else 0
        updates.append(
            (e.outcome, e.code, text, e.queue_id, retry, now, given_back, e.recipient_id)
        )
        data = {
            "attempt": row[2],
            "outcome": e.outcome,
            "code": e.code,
            "text": text,
            "queue_id": e.queue_id,
            "retry_at": retry,
            "note": e.note[:_TEXT_MAX],
        }
        events.append(NewEvent("attempt-end", row[1], e.recipient_id, "sending", e.outcome, data))
    conn.executemany(
        "UPDATE recipients SET state = ?, last_code = ?, last_text = ?, queue_id = ?, "
        "next_retry_at = ?, updated_at = ?, attempts = attempts - ? WHERE id = ?",
        updates,
    )
    append_events(conn, now, events)
    return refused


def recover(conn: sqlite3.Connection, now: str) -> int:
    """Turn every ``sending`` left by a dead process into ``uncertain``; return how many."""
    rows: list[tuple[int, int, str | None, int]] = []
    for (campaign_id,) in conn.execute("SELECT id FROM campaigns").fetchall():
        found = conn.execute(
            "SELECT id, attempts, message_id FROM recipients "
            "WHERE campaign_id = ? AND state = 'sending'",
            (campaign_id,),
        )
        rows.extend((rid, attempts, message_id, campaign_id) for rid, attempts, message_id in found)
    conn.executemany(
        "UPDATE recipients SET state = 'uncertain', next_retry_at = NULL, updated_at = ? "
        "WHERE id = ?",
        [(now, r[0]) for r in rows],
    )
    events = [
        NewEvent(
            "recovered",
            r[3],
            r[0],
            "sending",
            "uncertain",
            {"attempt": r[1], "message_id": r[2], "reason": RECOVERY_REASON},
        )
        for r in rows
    ]
    append_events(conn, now, events)
    return len(rows)


def mark(
    conn: sqlite3.Connection,
    recipient_ids: Sequence[int],
    state: str,
    *,
    note: str,
    by: str,
    now: str,
) -> None:
    """Record a person's decision on each recipient (see :data:`MARK_STATES`)."""
    if state not in MARK_STATES:
        raise JournalError(
            f"{state!r} cannot be set by hand",
            hint=f"Use one of: {', '.join(MARK_STATES)}.",
        )
    current = _current(conn, list(recipient_ids))
    if any(row[0] == "sending" for row in current.values()):
        raise JournalError(
            "this recipient is being sent right now",
            hint="Wait for 'notify send' to finish (or stop it), then mark again.",
        )
    conn.executemany(
        "UPDATE recipients SET state = ?, note = ?, next_retry_at = NULL, updated_at = ? "
        "WHERE id = ?",
        [(state, note, now, rid) for rid in current],
    )
    events = [
        NewEvent("marked", row[1], rid, row[0], state, {"note": note, "by": by})
        for rid, row in current.items()
    ]
    append_events(conn, now, events)


def bounce(
    conn: sqlite3.Connection,
    recipient_id: int,
    *,
    permanent: bool,
    details: dict[str, Any],
    now: str,
) -> State:
    """Record a bounce or auto-reply; a permanent one makes the recipient ``bounced``."""
    current = _current(conn, [recipient_id]).get(recipient_id)
    if current is None:
        raise JournalError(f"no recipient #{recipient_id} in this journal")
    state = current[0]
    if state == "sending":
        raise JournalError(
            f"recipient #{recipient_id} is being sent right now",
            hint="Read bounces again once 'notify send' has finished.",
        )
    target: State = "bounced" if permanent else state
    if target != state:
        conn.execute(
            "UPDATE recipients SET state = ?, updated_at = ? WHERE id = ?",
            (target, now, recipient_id),
        )
    data = {**details, "permanent": permanent}
    append_events(conn, now, [NewEvent("bounced", current[1], recipient_id, state, target, data)])
    return target
