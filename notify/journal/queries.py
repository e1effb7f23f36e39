"""Read queries: what to send next, counts, look-ups, the quota window, the event log.

Every query that can meet a million rows walks an index with keyset pagination
(``rank > ?`` / ``seq > ?`` ... ``LIMIT``): no call scans the whole table.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import datetime, timedelta
from typing import Any, cast

from notify.journal.codec import format_ts, parse_optional_ts, parse_ts
from notify.journal.model import (
    SENDABLE,
    STATES,
    Event,
    EventKind,
    QuotaUsage,
    RecipientRecord,
    State,
)

COLUMNS = (
    "id, campaign_id, key, email, ascii_email, name, sources, rank, state, attempts, "
    "message_id, date_header, sha256, revision_id, last_code, last_text, queue_id, "
    "next_retry_at, note, added_at, updated_at, data"
)
_PAGE = 1000
# Must read exactly as the WHERE of the partial index events_quota (schema.py).
_QUOTA_WHERE = "kind IN ('attempt-end', 'recovered') AND state_to IN ('sent', 'uncertain')"


def record(row: Any) -> RecipientRecord:
    """A :class:`RecipientRecord` from a row selected with :data:`COLUMNS`."""
    return RecipientRecord(
        id=row[0],
        campaign_id=row[1],
        key=row[2],
        email=row[3],
        ascii_email=row[4],
        name=row[5],
        sources=json.loads(row[6]),
        rank=row[7],
        state=row[8],
        attempts=row[9],
        message_id=row[10],
        date_header=row[11],
        sha256=row[12],
        revision_id=row[13],
        last_code=row[14],
        last_text=row[15],
        queue_id=row[16],
        next_retry_at=parse_optional_ts(row[17]),
        note=row[18],
        added_at=parse_ts(row[19]),
        updated_at=parse_ts(row[20]),
        data=row[21],
    )


_IN_ROSTER = (
    " AND EXISTS (SELECT 1 FROM roster WHERE roster.campaign_id = recipients.campaign_id"
    " AND roster.recipient_id = recipients.id)"
)


def to_send_sql(state: State, *, roster: bool) -> str:
    """The query of :func:`to_send` for one state (parameters: campaign, state, rank
    floor, then the current time for ``deferred``, then the limit)."""
    due = " AND (next_retry_at IS NULL OR next_retry_at <= ?)" if state == "deferred" else ""
    # The roster is probed per row of the index range (a primary-key look-up): the
    # scan stays on recipients_queue, in rank order, LIMIT rows at a time.
    only = _IN_ROSTER
    return (
        f"SELECT {COLUMNS} FROM recipients INDEXED BY recipients_queue "  # noqa: S608
        f"WHERE campaign_id = ? AND state = ? AND rank > ?{due}{only if roster else ''} "
        "ORDER BY rank LIMIT ?"
    )


def to_send(
    conn: sqlite3.Connection,
    campaign_id: int,
    *,
    limit: int,
    after: int | None,
    now: str,
    roster: bool = False,
) -> list[RecipientRecord]:
    """Up to ``limit`` sendable recipients with a rank above ``after``, by rank.

    One index range scan per sendable state over ``(campaign_id, state, rank)``;
    deferred ones only when their retry time has come. ``roster``: only the
    recipients of the campaign's roster (its last run's sources).
    """
    floor = -1 if after is None else after
    found: list[RecipientRecord] = []
    for state in SENDABLE:
        params: tuple[object, ...] = (campaign_id, state, floor)
        params += (now, limit) if state == "deferred" else (limit,)
        rows = conn.execute(to_send_sql(state, roster=roster), params)
        found.extend(record(row) for row in rows)
    found.sort(key=lambda r: r.rank)
    return found[:limit]


def due_sql(*, roster: bool) -> str:
    """The query of :func:`due`: a count over recipients_queue (parameter: campaign)."""
    states = ", ".join(f"'{s}'" for s in SENDABLE)
    only = _IN_ROSTER
    return (
        "SELECT count(*) FROM recipients INDEXED BY recipients_queue "  # noqa: S608
        f"WHERE campaign_id = ? AND state IN ({states}){only if roster else ''}"
    )


def due(conn: sqlite3.Connection, campaign_id: int, *, roster: bool = False) -> int:
    """How many recipients of the campaign are due (every sendable state, deferred ones
    included whatever their retry time); ``roster``: only those of the roster."""
    return int(conn.execute(due_sql(roster=roster), (campaign_id,)).fetchone()[0])


def next_retry_at(conn: sqlite3.Connection, campaign_id: int) -> datetime | None:
    """The earliest retry time of the campaign's deferred recipients, or None."""
    row = conn.execute(
        "SELECT min(next_retry_at) FROM recipients WHERE campaign_id = ? AND state = 'deferred'",
        (campaign_id,),
    ).fetchone()
    return parse_optional_ts(row[0])


def counts(conn: sqlite3.Connection, campaign_id: int) -> dict[State, int]:
    """The number of recipients in each state (every state present, zeros included)."""
    result: dict[State, int] = dict.fromkeys(STATES, 0)
    rows = conn.execute(
        "SELECT state, count(*) FROM recipients WHERE campaign_id = ? GROUP BY state",
        (campaign_id,),
    )
    for state, number in rows:
        result[cast(State, state)] = int(number)
    return result


def by_key(conn: sqlite3.Connection, key: str, campaign_id: int | None) -> list[RecipientRecord]:
    """The recipients with identity ``key`` (in one campaign or all), oldest first."""
    if campaign_id is None:
        rows = conn.execute(f"SELECT {COLUMNS} FROM recipients WHERE key = ? ORDER BY id", (key,))  # noqa: S608
    else:
        rows = conn.execute(
            f"SELECT {COLUMNS} FROM recipients WHERE key = ? AND campaign_id = ?",  # noqa: S608
            (key, campaign_id),
        )
    return [record(row) for row in rows]


def by_message_id(conn: sqlite3.Connection, message_id: str) -> list[RecipientRecord]:
    """The recipients whose last message had this Message-ID."""
    rows = conn.execute(f"SELECT {COLUMNS} FROM recipients WHERE message_id = ?", (message_id,))  # noqa: S608
    return [record(row) for row in rows]


def by_id(conn: sqlite3.Connection, recipient_id: int) -> RecipientRecord | None:
    """The recipient ``recipient_id``, or None."""
    row = conn.execute(f"SELECT {COLUMNS} FROM recipients WHERE id = ?", (recipient_id,)).fetchone()  # noqa: S608
    return None if row is None else record(row)


def page_of_recipients(
    conn: sqlite3.Connection, campaign_id: int, after: int
) -> list[RecipientRecord]:
    """The next page of a campaign's recipients by rank (index ``(campaign_id, rank)``)."""
    rows = conn.execute(
        f"SELECT {COLUMNS} FROM recipients WHERE campaign_id = ? AND rank > ? "  # noqa: S608
        "ORDER BY rank LIMIT ?",
        (campaign_id, after, _PAGE),
    )
    return [record(row) for row in rows]


def sent_in_window(conn: sqlite3.Connection, since: datetime) -> int:
    """Messages accepted (or whose fate is unknown) since ``since``, across campaigns."""
    row = conn.execute(
        f"SELECT count(*) FROM events WHERE {_QUOTA_WHERE} AND ts >= ?",  # noqa: S608
        (format_ts(since),),
    ).fetchone()
    return int(row[0])


def quota_usage(conn: sqlite3.Connection, now: datetime, window: timedelta) -> QuotaUsage:
    """The messages counted in the rolling ``window`` ending ``now``."""
    since = now - window
    row = conn.execute(
        f"SELECT count(*), min(ts) FROM events WHERE {_QUOTA_WHERE} AND ts >= ?",  # noqa: S608
        (format_ts(since),),
    ).fetchone()
    oldest = parse_optional_ts(row[1])
    return QuotaUsage(since, int(row[0]), None if oldest is None else oldest + window)


def page_of_events(conn: sqlite3.Connection, recipient_id: int | None, after: int) -> list[Event]:
    """The next page of events after ``seq`` ``after`` (for one recipient or all)."""
    where = "seq > ?" if recipient_id is None else "recipient_id = ? AND seq > ?"
    params = (after, _PAGE) if recipient_id is None else (recipient_id, after, _PAGE)
    rows = conn.execute(
        "SELECT seq, ts, kind, campaign_id, recipient_id, state_from, state_to, data, hash "  # noqa: S608
        f"FROM events WHERE {where} ORDER BY seq LIMIT ?",
        params,
    )
    return [
        Event(
            seq=row[0],
            ts=parse_ts(row[1]),
            kind=cast(EventKind, row[2]),
            campaign_id=row[3],
            recipient_id=row[4],
            state_from=row[5],
            state_to=row[6],
            data=json.loads(row[7]),
            hash=row[8],
        )
        for row in rows
    ]
