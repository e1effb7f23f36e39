"""Adding recipients to a campaign, in bulk, with their exposure rank.

The rank is one integer, smaller sent first::

    rank = tier * 10**18 + (10**9 - 1 - sent_count) * 10**9 + id

``tier`` is 0 for people the compromised mailbox wrote to during the compromise
window (the people phished in the owner's name), 1 for everyone else; within a
tier, the usual correspondents (higher ``sent_count``) come first, then import
order (the row id, which grows with each addition). Contacts added by a later run
therefore come after earlier ones of the same tier and count.

The *roster* of a campaign is the recipients of its last run given address books:
while :func:`add_recipients` streams them in, it also writes their row ids (integers,
no personal data) to the ``roster`` table, in the same transaction, so that "due and
in the sources" is an SQL join, not a set held in Python. It stays in the journal:
a resume without address books sends the same people the last run would have.
"""

from __future__ import annotations

import hashlib
import itertools
import sqlite3
from collections.abc import Iterable, Iterator

from notify.addressbook.model import Recipient
from notify.errors import JournalError
from notify.journal.chain import NewEvent, append_events
from notify.journal.codec import canonical_json, recipient_to_json

_CHUNK = 500
_MAX_ID = 10**9 - 1
_MAX_COUNT = 10**9 - 1


def exposure_rank(recipient: Recipient, row_id: int) -> int:
    """The rank of ``recipient`` stored with row id ``row_id`` (smaller: sent first)."""
    if not 0 < row_id <= _MAX_ID:
        raise JournalError(
            f"the journal holds too many recipients (row {row_id})",
            hint="Start a new journal with --journal NEW.db for the remaining recipients.",
        )
    tier = 0 if recipient.in_window else 1
    count = min(max(recipient.sent_count, 0), _MAX_COUNT)
    return tier * 10**18 + (_MAX_COUNT - count) * 10**9 + row_id


def _chunks(items: Iterable[Recipient]) -> Iterator[list[Recipient]]:
    iterator = iter(items)
    while chunk := list(itertools.islice(iterator, _CHUNK)):
        yield chunk


def _existing(conn: sqlite3.Connection, campaign_id: int, keys: list[str]) -> dict[str, int]:
    marks = ",".join("?" * len(keys))
    rows = conn.execute(
        f"SELECT key, id FROM recipients WHERE campaign_id = ? AND key IN ({marks})",  # noqa: S608
        (campaign_id, *keys),
    )
    return {row[0]: row[1] for row in rows}


def reset_roster(conn: sqlite3.Connection, campaign_id: int) -> None:
    """Empty the campaign's roster (inside the transaction that refills it)."""
    conn.execute("DELETE FROM roster WHERE campaign_id = ?", (campaign_id,))


def add_recipients(
    conn: sqlite3.Connection, campaign_id: int, recipients: Iterable[Recipient], now: str
) -> int:
    """Insert the recipients whose identity key is new to the campaign, as ``pending``.

    Call inside a write transaction. Existing identities (and later duplicates in
    ``recipients``) are left untouched. Appends one ``recipients-added`` event with
    the count, the id range and a SHA-256 over the added rows. Returns the count.
    The campaign's roster then holds the row id of every identity of ``recipients``,
    new or not, and nothing else.
    """
    if conn.execute("SELECT 1 FROM campaigns WHERE id = ?", (campaign_id,)).fetchone() is None:
        raise JournalError(f"no campaign #{campaign_id} in this journal")
    reset_roster(conn, campaign_id)
    next_id = int(conn.execute("SELECT coalesce(max(id), 0) + 1 FROM recipients").fetchone()[0])
    first_id, digest, added = next_id, hashlib.sha256(), 0
    for chunk in _chunks(recipients):
        seen = _existing(conn, campaign_id, [r.key for r in chunk])
        conn.executemany(_ROSTER_ADD, _ids(campaign_id, seen))
        rows = []
        for recipient in chunk:
            if recipient.key in seen:
                continue
            seen[recipient.key] = next_id
            data = recipient_to_json(recipient)
            sources = canonical_json([str(origin) for origin in recipient.sources])
            rank = exposure_rank(recipient, next_id)
            rows.append(
                (next_id, campaign_id, recipient.key, recipient.email, recipient.ascii_email,
                 recipient.name, data, sources, rank, now, now)
            )  # fmt: skip
            digest.update(canonical_json([next_id, recipient.key, data]).encode("utf-8"))
            next_id += 1
        conn.executemany(
            "INSERT INTO recipients (id, campaign_id, key, email, ascii_email, name, data, "
            "sources, rank, state, added_at, updated_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)",
            rows,
        )
        conn.executemany(_ROSTER_ADD, ((campaign_id, row[0]) for row in rows))
        added += len(rows)
    if added:
        event = {
            "count": added,
            "first_id": first_id,
            "last_id": next_id - 1,
            "sha256": digest.hexdigest(),
        }
        append_events(
            conn, now, [NewEvent("recipients-added", campaign_id, None, None, "pending", event)]
        )
    return added


_ROSTER_ADD = "INSERT OR IGNORE INTO roster (campaign_id, recipient_id) VALUES (?, ?)"


def _ids(campaign_id: int, found: dict[str, int]) -> Iterator[tuple[int, int]]:
    return ((campaign_id, row_id) for row_id in found.values())
