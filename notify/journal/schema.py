"""The journal's schema and its named migrations.

The ``migrations`` table lists the names of the migrations applied. Each migration
is applied once, in the order of :data:`MIGRATIONS`, in its own transaction
(``BEGIN IMMEDIATE``: two processes opening a new journal at once apply it once).
A journal whose ``migrations`` table names a migration this notify does not know
was written by a newer notify: opening it raises :class:`JournalError`.

To change the schema, append a new :class:`Migration` with a new name; never edit
or reorder one that has shipped.

A journal opened read-only (``Journal.open(..., read_only=True)``: reports, status,
an archived copy on read-only media) is never migrated. :func:`check_readable`
accepts it when every migration it lacks is ``read_compatible`` (it only adds what
readers do not need: triggers, indexes), so a journal written by a slightly older
notify still reads as it is; otherwise it is refused with a :class:`JournalError`
saying to upgrade a writable copy first. A journal written by a newer notify is
refused as when opening it read-write.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from notify.errors import JournalError
from notify.journal.codec import format_ts
from notify.journal.db import write_transaction

#: SQLite ``application_id`` of a notify journal ("NJRN").
APPLICATION_ID = 0x4E4A524E

#: The ``prev`` hash of the first event of the chain.
GENESIS = "0" * 64

_STATE_NAMES = (
    "pending",
    "sending",
    "sent",
    "deferred",
    "failed",
    "bounced",
    "uncertain",
    "skipped",
    "notified-other",
)
_STATE_CHECK = (
    "state IN ('pending', 'sending', 'sent', 'deferred', 'failed', 'bounced', "
    "'uncertain', 'skipped', 'notified-other')"
)
#: The same states as :data:`_STATE_CHECK`, as comparisons (see 0006-state-check).
_STATE_COMPARISONS = " OR ".join(f"state = '{name}'" for name in _STATE_NAMES)

_INITIAL = (
    """CREATE TABLE incident_versions (
        id INTEGER PRIMARY KEY,
        recorded_at TEXT NOT NULL,
        data TEXT NOT NULL)""",
    """CREATE TABLE campaigns (
        id INTEGER PRIMARY KEY,
        template TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        revision_id INTEGER)""",
    """CREATE TABLE revisions (
        id INTEGER PRIMARY KEY,
        campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
        created_at TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        languages TEXT NOT NULL,
        settings TEXT NOT NULL,
        templates TEXT NOT NULL,
        variables TEXT NOT NULL,
        notify_version TEXT NOT NULL,
        UNIQUE (campaign_id, fingerprint))""",
    f"""CREATE TABLE recipients (
        id INTEGER PRIMARY KEY,
        campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
        key TEXT NOT NULL,
        email TEXT NOT NULL,
        ascii_email TEXT NOT NULL,
        name TEXT NOT NULL,
        data TEXT NOT NULL,
        sources TEXT NOT NULL,
        rank INTEGER NOT NULL,
        state TEXT NOT NULL CHECK ({_STATE_CHECK}),
        attempts INTEGER NOT NULL DEFAULT 0,
        message_id TEXT,
        date_header TEXT,
        sha256 TEXT,
        revision_id INTEGER,
        last_code INTEGER,
        last_text TEXT,
        queue_id TEXT,
        next_retry_at TEXT,
        note TEXT,
        added_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        UNIQUE (campaign_id, key))""",
    "CREATE INDEX recipients_queue ON recipients (campaign_id, state, rank)",
    "CREATE INDEX recipients_rank ON recipients (campaign_id, rank)",
    "CREATE INDEX recipients_key ON recipients (key)",
    "CREATE INDEX recipients_message_id ON recipients (message_id)",
    """CREATE INDEX recipients_retry ON recipients (campaign_id, next_retry_at)
        WHERE state = 'deferred'""",
    """CREATE TABLE events (
        seq INTEGER PRIMARY KEY,
        ts TEXT NOT NULL,
        kind TEXT NOT NULL,
        campaign_id INTEGER,
        recipient_id INTEGER,
        state_from TEXT,
        state_to TEXT,
        data TEXT NOT NULL,
        hash TEXT NOT NULL)""",
    "CREATE INDEX events_recipient ON events (recipient_id, seq) WHERE recipient_id IS NOT NULL",
    """CREATE INDEX events_quota ON events (ts)
        WHERE kind IN ('attempt-end', 'recovered') AND state_to IN ('sent', 'uncertain')""",
    """CREATE TABLE chain_head (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        seq INTEGER NOT NULL,
        hash TEXT NOT NULL)""",
    f"INSERT INTO chain_head (id, seq, hash) VALUES (1, 0, '{GENESIS}')",  # noqa: S608
    """CREATE TRIGGER events_append_only_update BEFORE UPDATE ON events
        BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END""",
    """CREATE TRIGGER events_append_only_delete BEFORE DELETE ON events
        BEGIN SELECT RAISE(ABORT, 'the event log is append-only'); END""",
)


@dataclass(frozen=True, slots=True)
class Migration:
    """One named schema change, applied once.

    ``read_compatible``: this notify reads a journal that lacks it as it is (the
    change adds nothing readers use, such as triggers or indexes).
    """

    name: str
    apply: Callable[[sqlite3.Connection], None]
    read_compatible: bool = False


def sql_migration(name: str, *statements: str, read_compatible: bool = False) -> Migration:
    """A migration that runs ``statements`` in order (inside its transaction)."""

    def apply(conn: sqlite3.Connection) -> None:
        for statement in statements:
            conn.execute(statement)

    return Migration(name, apply, read_compatible)


_INTAKE = (
    # People who get no message from this account: no usable address, or only an
    # address on a secure health-messaging network. Kept for the report's
    # "reach by other means" list. ``key`` is stable across runs (the e-mail key,
    # or the first source plus the name when there is no address).
    """CREATE TABLE unreachable (
        id INTEGER PRIMARY KEY,
        campaign_id INTEGER NOT NULL REFERENCES campaigns(id),
        key TEXT NOT NULL,
        reason TEXT NOT NULL CHECK (reason IN ('no-address', 'secure-network')),
        name TEXT NOT NULL,
        email TEXT,
        data TEXT NOT NULL,
        added_at TEXT NOT NULL,
        UNIQUE (campaign_id, key))""",
    # Bounces and replies already read, so that reading a mailbox twice changes
    # nothing; ``fingerprint`` is the SHA-256 of the message's bytes.
    """CREATE TABLE inbound (
        id INTEGER PRIMARY KEY,
        fingerprint TEXT NOT NULL UNIQUE,
        source TEXT NOT NULL,
        kind TEXT NOT NULL,
        read_at TEXT NOT NULL,
        data TEXT NOT NULL)""",
)

_UNREACHABLE_OUTCOME = (
    # What was done about each unreachable person (informed by other means, a
    # decision not to inform, back to "to reach") lives only in hash-chained
    # "unreachable-marked" events: there is no state column to edit. The rows
    # themselves become append-only (each is sealed by the SHA-256 of the
    # "unreachable-recorded" event that added it: see notify.journal.unreachable).
    """CREATE TRIGGER unreachable_append_only_update BEFORE UPDATE ON unreachable
        BEGIN SELECT RAISE(ABORT, 'the people to reach by other means are append-only'); END""",
    """CREATE TRIGGER unreachable_append_only_delete BEFORE DELETE ON unreachable
        BEGIN SELECT RAISE(ABORT, 'the people to reach by other means are append-only'); END""",
    """CREATE INDEX events_unreachable_marked ON events (campaign_id, seq)
        WHERE kind = 'unreachable-marked'""",
    """CREATE INDEX events_unreachable_recorded ON events (seq)
        WHERE kind = 'unreachable-recorded'""",
)

_ROSTER = (
    # The recipients of the last run given address books, per campaign (row ids, no
    # personal data): a run sends only them, and so does a resume without address
    # books, so that a contact removed or excluded since an earlier run stays
    # pending. A journal from before is given every recipient of its campaigns,
    # which is what a run of that notify could send.
    """CREATE TABLE roster (
        campaign_id INTEGER NOT NULL,
        recipient_id INTEGER NOT NULL,
        PRIMARY KEY (campaign_id, recipient_id)) WITHOUT ROWID""",
    "INSERT INTO roster (campaign_id, recipient_id) SELECT campaign_id, id FROM recipients",
)

_MESSAGE_ID_INDEX = (
    # Only recipients sent at least once have a Message-ID, and it is only looked up
    # by value (bounces: message_id = ?, which a partial index WHERE message_id IS
    # NOT NULL serves). Leaving the NULLs out spares begin_attempts one index page per
    # commit (the NULL entry it used to delete), and the index the unsent millions.
    "DROP INDEX recipients_message_id",
    "CREATE INDEX recipients_message_id ON recipients (message_id) WHERE message_id IS NOT NULL",
)


def _compare_states(conn: sqlite3.Connection) -> None:
    """Rewrite the CHECK on ``recipients.state`` from an IN list into comparisons.

    The same states are allowed, but SQLite evaluates ``state IN (9 names)`` by
    building a temporary b-tree of the 9 names for every row whose state changes:
    about a sixth of the instructions of begin_attempts + end_attempts (batches of
    5). ``state = 'pending' OR ...`` is plain comparisons. A CHECK cannot be altered,
    and rebuilding the table would copy every recipient; a CHECK does not change what
    is stored, so the table's definition is edited in place by SQLite's documented
    procedure for such changes (https://www.sqlite.org/lang_altertable.html, "Making
    Other Kinds Of Table Schema Changes"), inside the migration's transaction:
    ``writable_schema``, the new text, ``schema_version`` + 1. Where SQLite refuses it
    (a build in defensive mode), or the table does not read as 0001-initial made it,
    the IN list stays: it allows the same states, only slower.
    """
    found = conn.execute(
        "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = 'recipients'"
    ).fetchone()
    old = f"CHECK ({_STATE_CHECK})"
    if found is None or str(found[0]).count(old) != 1:
        return
    new = str(found[0]).replace(old, f"CHECK ({_STATE_COMPARISONS})")
    version = int(conn.execute("PRAGMA schema_version").fetchone()[0])
    conn.execute("SAVEPOINT compare_states")
    try:
        conn.execute("PRAGMA writable_schema = ON")
        conn.execute(
            "UPDATE sqlite_master SET sql = ? WHERE type = 'table' AND name = 'recipients'",
            (new,),
        )
        conn.execute(f"PRAGMA schema_version = {version + 1}")
    except sqlite3.Error:
        conn.execute("ROLLBACK TO compare_states")
    finally:
        conn.execute("PRAGMA writable_schema = OFF")
        conn.execute("RELEASE compare_states")
    # Read the new definition back now: a table SQLite could not parse would fail
    # here, and the migration's transaction would be rolled back with it.
    conn.execute("SELECT state FROM recipients LIMIT 0").fetchall()


#: Every migration, in order. Append only.
MIGRATIONS: tuple[Migration, ...] = (
    sql_migration("0001-initial", *_INITIAL),
    sql_migration("0002-unreachable-and-inbound", *_INTAKE),
    # Triggers and indexes only: a journal without them is read as it is.
    sql_migration("0003-unreachable-outcome", *_UNREACHABLE_OUTCOME, read_compatible=True),
    # Only sending reads the roster: reports and status read a journal without it.
    sql_migration("0004-roster", *_ROSTER, read_compatible=True),
    # An index and a CHECK: readers need neither.
    sql_migration("0005-message-id-index", *_MESSAGE_ID_INDEX, read_compatible=True),
    Migration("0006-state-check", _compare_states, read_compatible=True),
)


def check_identity(conn: sqlite3.Connection, path: Path) -> None:
    """Refuse an SQLite file that is not a notify journal (and is not empty)."""
    app_id = conn.execute("PRAGMA application_id").fetchone()[0]
    if app_id == APPLICATION_ID:
        return
    if conn.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
        raise JournalError(
            f"{path} is an SQLite database but not a notify journal",
            hint="Pass --journal with this incident's journal (by default ./incident.db).",
        )


def migrate(
    conn: sqlite3.Connection, path: Path, migrations: Sequence[Migration] = MIGRATIONS
) -> list[str]:
    """Apply the migrations ``conn`` lacks, in order; return the names applied.

    Raises :class:`JournalError` when the journal has a migration not in
    ``migrations`` (written by a newer notify).
    """
    check_identity(conn, path)
    known = {m.name for m in migrations}
    applied = _applied(conn, path, known)
    applied_now: list[str] = []
    for migration in migrations:
        if migration.name in applied:
            continue
        with write_transaction(conn):
            conn.execute(f"PRAGMA application_id = {APPLICATION_ID}")
            conn.execute(
                "CREATE TABLE IF NOT EXISTS migrations "
                "(name TEXT PRIMARY KEY, applied_at TEXT NOT NULL)"
            )
            applied = _applied(conn, path, known)  # another process may have applied it
            if migration.name in applied:
                continue
            migration.apply(conn)
            conn.execute(
                "INSERT INTO migrations (name, applied_at) VALUES (?, ?)",
                (migration.name, format_ts(datetime.now(UTC))),
            )
            applied_now.append(migration.name)
    return applied_now


def check_readable(
    conn: sqlite3.Connection, path: Path, migrations: Sequence[Migration] = MIGRATIONS
) -> None:
    """Refuse, without writing anything, a journal this notify cannot read as it is.

    Raises :class:`JournalError` when ``conn`` is not a notify journal, is empty,
    was written by a newer notify, or lacks a migration that is not ``read_compatible``.
    """
    check_identity(conn, path)
    applied = _applied(conn, path, {m.name for m in migrations})
    if not applied:
        raise JournalError(
            f"journal {path} is empty: nothing was ever recorded in it",
            hint="Pass --journal with this incident's journal, or run 'notify send' to start it.",
        )
    missing = [m.name for m in migrations if m.name not in applied and not m.read_compatible]
    if missing:
        raise JournalError(
            f"journal {path} was written by an older notify and must be upgraded "
            f"({', '.join(missing)}) before it can be read, but it is opened read-only",
            hint="Copy it (with its '-wal' file, if any) to a writable folder and run "
            "'notify report' on the copy once: notify upgrades the copy; keep the original.",
        )


def _applied(conn: sqlite3.Connection, path: Path, known: set[str]) -> set[str]:
    exists = conn.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'migrations'"
    ).fetchone()
    if not exists:
        return set()
    applied = {row[0] for row in conn.execute("SELECT name FROM migrations")}
    unknown = sorted(applied - known)
    if unknown:
        raise JournalError(
            f"journal {path} was written by a newer notify "
            f"(unknown schema changes: {', '.join(unknown)})",
            hint="Upgrade notify (pip install -U notify-incident), then run the command again.",
        )
    return applied
