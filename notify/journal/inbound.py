"""Messages read back from the sending account (bounces, auto-replies, receipts).

:func:`record` stores one message read by ``notify bounces`` and its effects on the
recipients it was matched to, in the caller's write transaction, so that a message
is either fully recorded or not at all: a crash never leaves it half-read.

The ``inbound`` table keeps the fingerprint (SHA-256) of every message read, so that
reading a mailbox twice changes nothing. Each effect appends one chained event and
may change the recipient's state::

    hard       "bounced" event, permanent  sent -> bounced (uncertain -> bounced when exact)
    soft       "bounced" event, transient  no state change (a delay, a 4.x.x failure)
    delivered  "delivered" event           no state change (uncertain -> sent when exact)
    complained "complained" event          no state change (an abuse report: it arrived)

``exact`` means the message was matched by its Message-ID or DSN envelope id, so it
is about the very message recorded; a match by address alone never moves an
``uncertain`` recipient. Delivery is an event rather than a state: the states say
what the SMTP server did with the message, and proof of delivery adds to ``sent``
without replacing it; reports show it from the ``delivered`` events
(``data["evidence"]``: ``auto-reply``, ``receipt`` or ``dsn``). A state set by hand
(``skipped``, ``notified-other``) is never changed by a bounce. One ``inbound``
event (no recipient) records each message read, with what could not be matched.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, cast

from notify.errors import JournalError
from notify.journal.chain import NewEvent, append_events
from notify.journal.codec import canonical_json
from notify.journal.model import EventKind, State

Effect = Literal["hard", "soft", "delivered", "complained"]
Recorded = Literal["recorded", "already-read", "busy"]

EFFECTS: Final[tuple[Effect, ...]] = ("hard", "soft", "delivered", "complained")

# Event kinds of bounce intake.
_INBOUND: EventKind = "inbound"
_DELIVERED: EventKind = "delivered"
_COMPLAINED: EventKind = "complained"
_KINDS: Final[dict[Effect, EventKind]] = {
    "hard": "bounced",
    "soft": "bounced",
    "delivered": _DELIVERED,
    "complained": _COMPLAINED,
}
# (effect, state, exact) -> new state; anything else keeps the state.
_MOVES: Final[dict[tuple[Effect, State, bool], State]] = {
    ("hard", "sent", True): "bounced",
    ("hard", "sent", False): "bounced",
    ("hard", "uncertain", True): "bounced",
    ("delivered", "uncertain", True): "sent",
}


@dataclass(frozen=True, slots=True)
class InboundEffect:
    """What one message says about one journal recipient.

    ``details`` is recorded in the event as is (status, reason, diagnostic, how it
    was matched, ...); keep it to plain JSON values.
    """

    recipient_id: int
    effect: Effect
    exact: bool
    details: Mapping[str, Any] = field(default_factory=dict)


def find(conn: sqlite3.Connection, fingerprint: str) -> dict[str, Any] | None:
    """What was stored when the message with ``fingerprint`` was read, or None."""
    row = conn.execute(
        "SELECT source, kind, read_at, data FROM inbound WHERE fingerprint = ?", (fingerprint,)
    ).fetchone()
    if row is None:
        return None
    data: dict[str, Any] = json.loads(row[3])
    return {**data, "source": row[0], "kind": row[1], "read_at": row[2]}


def record(
    conn: sqlite3.Connection,
    fingerprint: str,
    *,
    source: str,
    kind: str,
    data: Mapping[str, Any],
    effects: Sequence[InboundEffect],
    now: str,
) -> Recorded:
    """Store the message and apply its effects; call inside a write transaction.

    Returns ``already-read`` (nothing written) when the fingerprint is known, and
    ``busy`` (nothing written) when a recipient is being sent right now: read the
    message again once ``notify send`` has finished.
    """
    if find(conn, fingerprint) is not None:
        return "already-read"
    current = _states(conn, [e.recipient_id for e in effects])
    if any(state == "sending" for state, _ in current.values()):
        return "busy"
    events: list[NewEvent] = []
    for effect in effects:
        if effect.effect not in EFFECTS:
            raise JournalError(f"unknown bounce effect {effect.effect!r} (a bug in notify)")
        state, campaign_id = current[effect.recipient_id]
        target = _MOVES.get((effect.effect, state, effect.exact), state)
        if target != state:
            conn.execute(
                "UPDATE recipients SET state = ?, next_retry_at = NULL, updated_at = ? "
                "WHERE id = ?",
                (target, now, effect.recipient_id),
            )
            current[effect.recipient_id] = (target, campaign_id)
        details = {**effect.details, "fingerprint": fingerprint, "exact": effect.exact}
        kind_of = _KINDS[effect.effect]
        events.append(NewEvent(kind_of, campaign_id, effect.recipient_id, state, target, details))
    stored = canonical_json(dict(data))
    conn.execute(
        "INSERT INTO inbound (fingerprint, source, kind, read_at, data) VALUES (?, ?, ?, ?, ?)",
        (fingerprint, source, kind, now, stored),
    )
    summary = {"fingerprint": fingerprint, "source": source, "kind": kind, **json.loads(stored)}
    events.append(NewEvent(_INBOUND, None, None, None, None, summary))
    append_events(conn, now, events)
    return "recorded"


def _states(conn: sqlite3.Connection, ids: Sequence[int]) -> dict[int, tuple[State, int]]:
    found: dict[int, tuple[State, int]] = {}
    for recipient_id in dict.fromkeys(ids):
        row = conn.execute(
            "SELECT state, campaign_id FROM recipients WHERE id = ?", (recipient_id,)
        ).fetchone()
        if row is None:
            raise JournalError(f"no recipient #{recipient_id} in this journal (a bug in notify)")
        found[recipient_id] = (cast(State, row[0]), int(row[1]))
    return found
