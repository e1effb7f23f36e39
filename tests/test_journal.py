"""The incident journal: opening, migrations, permissions, errors, campaigns, recipients."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import SecretStr

from notify.addressbook.model import Recipient, SentMessage
from notify.errors import JournalError
from notify.journal import STATES, AttemptEnd, AttemptStart, Journal, chain, db, queries, schema
from notify.journal.schema import MIGRATIONS, Migration, sql_migration
from notify.settings import IncidentSettings

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


def person(i: int, *, window: bool = False, sent: int = 0) -> Recipient:
    """A recipient numbered ``i``."""
    email = f"p{i}@exemple.fr"
    messages = [SentMessage(T0, "Facture")] if window else []
    return Recipient(email, email, email, name=f"P {i}", sent_count=sent, window_messages=messages)


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    """A new journal in a temporary folder."""
    with Journal.open(tmp_path / "incident.db", clock=lambda: T0) as opened:
        yield opened


def new_campaign(journal: Journal, template: str = "alerte", text: str = "Bonjour") -> int:
    """Open a campaign with a one-file template; return its id."""
    campaign = journal.open_campaign(
        template, languages=["fr"], settings={}, templates={"body.txt": text}, variables={}
    )
    return campaign.id


def mode(path: Path) -> int:
    """The permission bits of ``path``."""
    return os.stat(path).st_mode & 0o777


# -- migrations -------------------------------------------------------------------


def test_a_new_journal_records_every_migration(tmp_path: Path) -> None:
    """A fresh journal has each known migration applied once."""
    path = tmp_path / "incident.db"
    Journal.open(path).close()
    with sqlite3.connect(path) as conn:
        names = [row[0] for row in conn.execute("SELECT name FROM migrations")]
    assert names == [m.name for m in schema.MIGRATIONS]


def test_reopening_applies_nothing_again(tmp_path: Path) -> None:
    """Opening an up-to-date journal applies no migration and keeps its content."""
    path = tmp_path / "incident.db"
    with Journal.open(path) as first:
        new_campaign(first)
    conn = sqlite3.connect(path)
    try:
        assert schema.migrate(conn, path) == []
    finally:
        conn.close()
    with Journal.open(path) as again:
        assert [c.template for c in again.campaigns()] == ["alerte"]


def test_an_older_journal_gets_the_missing_migrations_in_order(tmp_path: Path) -> None:
    """A journal migrated by an older version gets only the new migrations, in order."""
    path = tmp_path / "old.db"
    first = sql_migration("0001-a", "CREATE TABLE a (x)")
    second = sql_migration("0002-b", "CREATE TABLE b (x)")
    third = sql_migration("0003-c", "INSERT INTO b VALUES (1)")
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        assert schema.migrate(conn, path, [first]) == ["0001-a"]
        assert schema.migrate(conn, path, [first, second, third]) == ["0002-b", "0003-c"]
        assert conn.execute("SELECT x FROM b").fetchall() == [(1,)]
    finally:
        conn.close()


def test_a_failing_migration_is_rolled_back_and_not_recorded(tmp_path: Path) -> None:
    """A migration that fails leaves neither its changes nor its name."""
    path = tmp_path / "old.db"

    def broken(conn: sqlite3.Connection) -> None:
        conn.execute("CREATE TABLE half (x)")
        conn.execute("INSERT INTO nowhere VALUES (1)")

    conn = sqlite3.connect(path, isolation_level=None)
    try:
        with pytest.raises(sqlite3.OperationalError):
            schema.migrate(conn, path, [Migration("0001-broken", broken)])
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        assert "half" not in tables
        assert schema.migrate(conn, path, [first_ok := sql_migration("0001-ok")]) == [first_ok.name]
    finally:
        conn.close()


def test_a_journal_from_a_newer_notify_is_refused(tmp_path: Path) -> None:
    """An unknown migration name means a newer notify wrote the journal: upgrade."""
    path = tmp_path / "incident.db"
    Journal.open(path).close()
    with sqlite3.connect(path) as conn:
        conn.execute("INSERT INTO migrations VALUES ('2099-future', '2099-01-01')")
    with pytest.raises(JournalError, match=r"newer notify.*2099-future") as info:
        Journal.open(path)
    assert "Upgrade notify" in str(info.value)


# -- 0005-message-id-index and 0006-state-check (cheaper state changes) --------------

SHA = "ab" * 32


def reference_json(value: object) -> str:
    """The canonical JSON of notify before the prebuilt encoder: json.dumps itself."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def table_sql(conn: sqlite3.Connection, name: str) -> str:
    """The CREATE statement SQLite keeps for ``name``."""
    return str(conn.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()[0])


def older_journal(path: Path, count: int) -> Journal:
    """A journal that only has the first ``count`` migrations, opened on them."""
    conn = db.connect(
        path, create=True, setup=lambda c: schema.migrate(c, path, MIGRATIONS[:count])
    )
    return Journal(path, conn, lambda: T0)


def stored_hashes(path: Path) -> list[str]:
    """The hash column of the event log, in order."""
    conn = sqlite3.connect(path)
    try:
        return [row[0] for row in conn.execute("SELECT hash FROM events ORDER BY seq")]
    finally:
        conn.close()


def reference_hashes(path: Path) -> list[str]:
    """The chain recomputed from the raw rows the way notify always hashed them."""
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT seq, ts, kind, campaign_id, recipient_id, state_from, state_to, data "
            "FROM events ORDER BY seq"
        ).fetchall()
    finally:
        conn.close()
    hashes, prev = [], schema.GENESIS
    for row in rows:
        assert reference_json(json.loads(row[7])) == row[7]  # the data text too
        prev = hashlib.sha256((prev + reference_json(list(row))).encode("utf-8")).hexdigest()
        hashes.append(prev)
    return hashes


def schema_of(path: Path) -> list[tuple[str, str, str]]:
    """Every table, index and trigger SQLite keeps for the journal at ``path``."""
    conn = sqlite3.connect(path)
    try:
        return conn.execute(
            "SELECT type, name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name"
        ).fetchall()
    finally:
        conn.close()


def test_a_journal_from_before_0005_opens_verifies_and_goes_on_sending(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A journal written by the notify before (migrations 0001-0004, every hash computed
    with json.dumps) is upgraded on open: the chain verifies, the digest is kept, a
    message left sending is recovered and sent again, a bounce still finds its
    Message-ID, and the states are still checked."""
    path = tmp_path / "old.db"
    monkeypatch.setattr(chain, "canonical_json", reference_json)
    with older_journal(path, 4) as old, old.sending_lock():
        campaign = new_campaign(old)
        old.add_recipients(campaign, [person(i) for i in range(4)])
        starts = [AttemptStart(r, f"<{r}@notify>", "Fri, 27 Nov 2026", SHA) for r in (1, 2)]
        assert old.begin_attempts(starts) == [1, 2]
        old.end_attempts([AttemptEnd(1, "sent", 250, "2.0.0 Ok", "Q1")])
        old.mark("p2@exemple.fr", "skipped", "phoned")  # recipient 3
        digest = old.digest()
    monkeypatch.undo()
    with Journal.open(path, clock=lambda: T0) as journal:
        conn = journal._conn
        applied = [row[0] for row in conn.execute("SELECT name FROM migrations")]
        assert applied[-2:] == ["0005-message-id-index", "0006-state-check"]
        assert journal.verify() is None
        assert journal.digest() == digest
        with journal.sending_lock():
            assert journal.recover() == 1
            again = [AttemptStart(2, "<2@notify>", "Fri, 27 Nov 2026", SHA)]
            again.append(AttemptStart(4, "<4@notify>", "Fri, 27 Nov 2026", SHA))
            assert journal.begin_attempts(again) == [2, 4]
            journal.end_attempts([AttemptEnd(r, "sent", 250, "2.0.0 Ok", f"Q{r}") for r in (2, 4)])
        assert journal.verify() is None
        assert [r.id for r in journal.find_by_message_id("<1@notify>")] == [1]
        assert journal.counts(campaign)["sent"] == 3
        with pytest.raises(sqlite3.IntegrityError, match="CHECK"):
            conn.execute("UPDATE recipients SET state = 'lost' WHERE id = 1")
    assert reference_hashes(path) == stored_hashes(path)


def test_an_upgraded_journal_has_the_schema_of_a_new_one(tmp_path: Path) -> None:
    """0005 and 0006 bring a journal from 0004 to the very schema a new journal gets."""
    older_journal(tmp_path / "old.db", 4).close()
    Journal.open(tmp_path / "old.db").close()
    Journal.open(tmp_path / "new.db").close()
    assert schema_of(tmp_path / "old.db") == schema_of(tmp_path / "new.db")


def test_a_state_change_checks_the_state_without_a_temporary_btree(journal: Journal) -> None:
    """The CHECK on recipients.state reads as comparisons (0006): SQLite no longer
    builds a temporary b-tree of the states per row changed, and it still allows
    exactly the known states."""
    conn = journal._conn
    definition = table_sql(conn, "recipients")
    assert "state IN (" not in definition
    assert "CHECK (state = 'pending' OR state = 'sending' OR " in definition
    program = conn.execute("EXPLAIN UPDATE recipients SET state = 'sent' WHERE id = 1")
    assert "OpenEphemeral" not in [row[1] for row in program]
    campaign = new_campaign(journal)
    journal.add_recipients(campaign, [person(1)])
    conn.execute("SAVEPOINT states")
    for state in STATES:
        conn.execute("UPDATE recipients SET state = ? WHERE id = 1", (state,))
    for wrong in ("lost", "Sent", "sent ", ""):
        with pytest.raises(sqlite3.IntegrityError, match="CHECK constraint failed"):
            conn.execute("UPDATE recipients SET state = ? WHERE id = 1", (wrong,))
    conn.execute("ROLLBACK TO states")
    conn.execute("RELEASE states")
    assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]


def test_where_sqlite_refuses_the_schema_edit_the_state_list_stays(tmp_path: Path) -> None:
    """A SQLite that refuses to edit the schema (defensive mode, here an authorizer)
    keeps the IN list, which allows the same states: 0006 is recorded all the same
    and the journal works."""
    path = tmp_path / "old.db"
    older_journal(path, 5).close()
    conn = sqlite3.connect(path, isolation_level=None)

    def refuse_schema_edits(action: int, table: str | None, *_: str | None) -> int:
        editing = action == sqlite3.SQLITE_UPDATE and table in ("sqlite_master", "sqlite_schema")
        return sqlite3.SQLITE_DENY if editing else sqlite3.SQLITE_OK

    try:
        conn.set_authorizer(refuse_schema_edits)
        assert schema.migrate(conn, path) == ["0006-state-check"]
        conn.set_authorizer(None)
        assert "CHECK (state IN ('pending', " in table_sql(conn, "recipients")
        assert conn.execute("PRAGMA writable_schema").fetchone()[0] == 0
        assert not conn.in_transaction
    finally:
        conn.close()
    with Journal.open(path, clock=lambda: T0) as journal, journal.sending_lock():
        campaign = new_campaign(journal)
        journal.add_recipients(campaign, [person(1)])
        assert journal.begin_attempts([AttemptStart(1, "<1@n>", "Fri", SHA)]) == [1]
        journal.end_attempts([AttemptEnd(1, "sent", 250, "2.0.0 Ok", "Q1")])
        assert journal.verify() is None


def test_bounces_find_a_message_id_through_the_partial_index(journal: Journal) -> None:
    """recipients_message_id leaves out the recipients never sent (0005), and the
    look-up by Message-ID still searches it."""
    assert "WHERE message_id IS NOT NULL" in table_sql(journal._conn, "recipients_message_id")
    plan = journal._conn.execute(
        f"EXPLAIN QUERY PLAN SELECT {queries.COLUMNS} FROM recipients WHERE message_id = ?",  # noqa: S608
        ("<1@notify>",),
    ).fetchall()
    text = " ".join(str(row[-1]) for row in plan)
    assert "SEARCH recipients USING INDEX recipients_message_id (message_id=?)" in text


def test_a_write_transaction_commits_all_or_nothing(tmp_path: Path) -> None:
    """write_transaction commits the block, and rolls it back when the block raises or
    when the COMMIT itself fails (here a deferred foreign key)."""
    conn = sqlite3.connect(tmp_path / "t.db", isolation_level=None)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("CREATE TABLE parent (id INTEGER PRIMARY KEY)")
        conn.execute(
            "CREATE TABLE child (id INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED)"
        )
        with db.write_transaction(conn) as same:
            assert same is conn
            conn.execute("INSERT INTO parent VALUES (1)")

        def insert_then_fail() -> None:
            with db.write_transaction(conn):
                conn.execute("INSERT INTO parent VALUES (2)")
                raise KeyError(2)

        with pytest.raises(KeyError):
            insert_then_fail()
        with pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY"), db.write_transaction(conn):
            conn.execute("INSERT INTO child VALUES (3)")
        assert not conn.in_transaction
        assert conn.execute("SELECT id FROM parent").fetchall() == [(1,)]
        assert conn.execute("SELECT count(*) FROM child").fetchone() == (0,)
    finally:
        conn.close()


def test_translate_names_the_journal_and_keeps_the_cause(tmp_path: Path) -> None:
    """sqlite3 and OS errors raised inside translate() become JournalErrors naming the
    file, with the original as their cause; other exceptions pass as they are."""
    path = tmp_path / "incident.db"
    cause = sqlite3.OperationalError("disk I/O error")
    with pytest.raises(JournalError, match=r"incident\.db") as info, db.translate(path):
        raise cause
    assert info.value.__cause__ is cause
    with pytest.raises(JournalError, match="disk is full"), db.translate(path):
        raise OSError(errno.ENOSPC, "No space left on device")
    with pytest.raises(KeyError), db.translate(path):
        raise KeyError(1)


def send_all(journal: Journal, campaign: int, each: Callable[[], object] = lambda: None) -> int:
    """Begin and end every due recipient of ``campaign`` by batches of 5, calling
    ``each`` after every batch; return how many were sent."""
    count, after = 0, None
    while page := journal.to_send(campaign, limit=5, after=after):
        after = page[-1].rank
        journal.begin_attempts([AttemptStart(r.id, f"<{r.id}@n>", "Fri", SHA) for r in page])
        journal.end_attempts([AttemptEnd(r.id, "sent", 250, "2.0.0 Ok", "Q") for r in page])
        count += len(page)
        each()
    return count


def test_the_wal_stays_near_its_checkpoint_size_while_sending(tmp_path: Path) -> None:
    """Checkpoints keep the -wal file bounded during a run: the thread's, and the
    writer's own at SAFETY_NET_PAGES, which restarts the log (a few commits more when
    it meets the thread's), always under WAL_SIZE_LIMIT."""
    path = tmp_path / "incident.db"
    wal = path.with_name(path.name + "-wal")
    frame = 4096 + 24
    sizes: list[int] = []
    with Journal.open(path, clock=lambda: T0) as journal, journal.sending_lock():
        campaign = new_campaign(journal)
        journal.add_recipients(campaign, [person(i) for i in range(1500)])
        assert send_all(journal, campaign, lambda: sizes.append(wal.stat().st_size)) == 1500
    assert 2 * frame < max(sizes) < db.WAL_SIZE_LIMIT


def test_a_closed_journal_is_one_file_that_can_be_copied_alone(tmp_path: Path) -> None:
    """Closing the journal folds the WAL into the file and removes it: the .db file
    copied alone holds every event and verifies."""
    path = tmp_path / "incident.db"
    with Journal.open(path, clock=lambda: T0) as journal, journal.sending_lock():
        campaign = new_campaign(journal)
        journal.add_recipients(campaign, [person(i) for i in range(40)])
        assert send_all(journal, campaign) == 40
        digest = journal.digest()
    assert not path.with_name(path.name + "-wal").exists()
    copy = tmp_path / "archive" / "incident.db"
    copy.parent.mkdir()
    shutil.copyfile(path, copy)
    with Journal.open(copy, read_only=True) as archived:
        assert archived.verify() is None
        assert archived.digest() == digest
        assert archived.counts(campaign)["sent"] == 40


# -- files and permissions -----------------------------------------------------------


def test_journal_files_are_owner_only_even_with_a_loose_umask(tmp_path: Path) -> None:
    """The database, -wal, -shm and lock files are 0600 and new folders 0700."""
    path = tmp_path / "new" / "folder" / "incident.db"
    old = os.umask(0o002)
    try:
        with Journal.open(path) as journal, journal.sending_lock():
            new_campaign(journal)
            files = [path, Path(f"{path}-wal"), Path(f"{path}-shm"), Path(f"{path}.lock")]
            assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    finally:
        os.umask(old)
    assert mode(tmp_path / "new") == 0o700
    assert mode(tmp_path / "new" / "folder") == 0o700


def test_an_existing_journal_with_loose_permissions_is_tightened(tmp_path: Path) -> None:
    """Opening a journal of ours readable by others makes it owner-only."""
    path = tmp_path / "incident.db"
    Journal.open(path).close()
    path.chmod(0o644)
    Journal.open(path).close()
    assert mode(path) == 0o600


def test_the_journal_runs_in_wal_mode_with_normal_sync(journal: Journal) -> None:
    """WAL mode, synchronous=NORMAL (1) and a busy timeout are set."""
    conn = journal._conn
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1
    assert conn.execute("PRAGMA busy_timeout").fetchone()[0] >= 1000


# -- errors --------------------------------------------------------------------------


def test_opening_a_missing_journal_without_create_names_the_file(tmp_path: Path) -> None:
    """create=False on a missing file raises JournalError naming it."""
    path = tmp_path / "missing" / "incident.db"
    with pytest.raises(JournalError, match=r"no journal at .*incident\.db"):
        Journal.open(path, create=False)


def test_a_folder_that_is_a_file_is_a_journal_error(tmp_path: Path) -> None:
    """A parent path that is a file cannot hold the journal: JournalError, no traceback."""
    (tmp_path / "file").write_text("x")
    with pytest.raises(JournalError, match=r"incident\.db"):
        Journal.open(tmp_path / "file" / "incident.db")


def test_a_file_that_is_not_sqlite_is_refused(tmp_path: Path) -> None:
    """A non-SQLite file is reported as not a journal, and left unchanged."""
    path = tmp_path / "incident.db"
    path.write_bytes(b"Nom;Prenom;Courriel\n" * 200)
    with pytest.raises(JournalError, match="not a notify journal") as info:
        Journal.open(path)
    assert str(path) in str(info.value)
    assert path.read_bytes() == b"Nom;Prenom;Courriel\n" * 200


def test_another_sqlite_database_is_refused(tmp_path: Path) -> None:
    """An SQLite database written by another program is not taken for a journal."""
    path = tmp_path / "other.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE contacts (x)")
    with pytest.raises(JournalError, match="not a notify journal"):
        Journal.open(path)


def test_a_corrupted_journal_is_a_journal_error(tmp_path: Path) -> None:
    """A journal whose pages were overwritten raises JournalError saying it is damaged."""
    path = tmp_path / "incident.db"
    with Journal.open(path) as journal:
        journal.add_recipients(new_campaign(journal), [person(i) for i in range(300)])
    data = bytearray(path.read_bytes())
    data[4096:] = b"\xff" * (len(data) - 4096)
    path.write_bytes(bytes(data))
    with pytest.raises(JournalError, match=r"damaged|not a notify journal"):
        read_everything(path)


def read_everything(path: Path) -> None:
    """Open the journal and read every table."""
    with Journal.open(path) as journal:
        journal.counts(1)
        list(journal.iter_recipients(1))
        journal.verify()


@pytest.mark.skipif(os.getuid() == 0, reason="root writes in read-only folders")
def test_a_read_only_folder_is_a_journal_error(tmp_path: Path) -> None:
    """A journal that cannot be created in a read-only folder raises JournalError."""
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(JournalError, match=r"incident\.db"):
            Journal.open(folder / "incident.db")
    finally:
        folder.chmod(0o700)


def test_a_full_disk_is_a_journal_error_and_loses_nothing(journal: Journal) -> None:
    """SQLITE_FULL becomes JournalError saying the disk is full; earlier data is kept."""
    campaign = new_campaign(journal)
    journal.add_recipients(campaign, [person(i) for i in range(10)])
    pages = journal._conn.execute("PRAGMA page_count").fetchone()[0]
    journal._conn.execute(f"PRAGMA max_page_count = {pages + 2}")
    with pytest.raises(JournalError, match="disk is full"):
        journal.add_recipients(campaign, [person(i) for i in range(10, 5000)])
    assert journal.counts(campaign)["pending"] == 10
    assert journal.verify() is None


def test_a_closed_journal_raises_journal_error(tmp_path: Path) -> None:
    """Using a closed journal is a JournalError, not a raw sqlite3 error."""
    journal = Journal.open(tmp_path / "incident.db")
    journal.close()
    with pytest.raises(JournalError, match="closed"):
        journal.campaigns()


# -- reading only (reports, status, archived copies) ----------------------------------


@contextmanager
def read_only_folder(folder: Path) -> Iterator[Path]:
    """``folder`` made read-only: a read-only bind mount for root (file modes do not
    stop root), else mode 0555. Skips when root may not mount here."""
    if os.getuid() != 0:
        folder.chmod(0o555)
        try:
            yield folder
        finally:
            folder.chmod(0o700)
        return
    done = subprocess.run(
        ["mount", "--bind", str(folder), str(folder)], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount here ({done.stderr.strip()}): needs root in a VM or container")
    try:
        subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], check=True)
        yield folder
    finally:
        subprocess.run(["umount", str(folder)], check=True, timeout=30)


def archived_journal(tmp_path: Path) -> Path:
    """A journal with a campaign of 3 recipients, closed cleanly in its own folder."""
    folder = tmp_path / "archive"
    folder.mkdir()
    with Journal.open(folder / "incident.db", clock=lambda: T0) as journal:
        journal.add_recipients(new_campaign(journal), [person(i) for i in range(3)])
    return folder / "incident.db"


def test_a_journal_in_a_read_only_folder_opens_read_only_and_verifies(tmp_path: Path) -> None:
    """read_only=True reads and verifies a journal whose folder is read-only (no -shm
    can be created), and leaves the folder as it was."""
    path = archived_journal(tmp_path)
    with Journal.open(path) as journal:
        digest = journal.digest()
    before = sorted(os.listdir(path.parent))
    with read_only_folder(path.parent), Journal.open(path, read_only=True) as journal:
        assert journal.read_only
        assert journal.counts(1)["pending"] == 3
        assert journal.verify() is None
        assert journal.digest() == digest
    assert sorted(os.listdir(path.parent)) == before


def test_a_read_only_copy_with_its_wal_and_shm_files_shows_their_changes(
    tmp_path: Path,
) -> None:
    """A copy taken while the journal was open (changes still in -wal, with -shm)
    opens read-only in a read-only folder and includes the changes of the -wal file."""
    source = tmp_path / "incident.db"
    copy = tmp_path / "copy"
    copy.mkdir()
    with Journal.open(source, clock=lambda: T0) as journal:
        journal.add_recipients(new_campaign(journal), [person(i) for i in range(3)])
        for name in ("incident.db", "incident.db-wal", "incident.db-shm"):
            shutil.copy(tmp_path / name, copy / name)
    with read_only_folder(copy), Journal.open(copy / "incident.db", read_only=True) as journal:
        assert journal.counts(1)["pending"] == 3
        assert journal.verify() is None


def test_a_read_only_copy_with_unsaved_wal_content_and_no_shm_is_refused(
    tmp_path: Path,
) -> None:
    """Changes still in -wal cannot be read in a read-only folder without -shm: a
    JournalError says so instead of silently reading the journal without them."""
    source = tmp_path / "incident.db"
    copy = tmp_path / "copy"
    copy.mkdir()
    with Journal.open(source, clock=lambda: T0) as journal:
        journal.add_recipients(new_campaign(journal), [person(i) for i in range(3)])
        for name in ("incident.db", "incident.db-wal"):
            shutil.copy(tmp_path / name, copy / name)
    with read_only_folder(copy), pytest.raises(JournalError, match=r"incident\.db-wal") as info:
        Journal.open(copy / "incident.db", read_only=True)
    assert "writable folder" in str(info.value)


def test_every_write_on_a_read_only_journal_is_a_journal_error(tmp_path: Path) -> None:
    """A journal opened read_only refuses every write with JournalError (even in a
    writable folder) and records nothing."""
    path = archived_journal(tmp_path)
    with Journal.open(path, read_only=True) as journal:
        digest = journal.digest()
        writes = [
            lambda: journal.record_incident(IncidentSettings(cnil_reference="CNIL-1")),
            lambda: journal.add_recipients(1, [person(9)]),
            lambda: journal.mark("p1@exemple.fr", "skipped", "phoned"),
            lambda: new_campaign(journal, "autre"),
            lambda: journal.sending_lock().__enter__(),
        ]
        for write in writes:
            with pytest.raises(JournalError, match="read-only"):
                write()
        assert journal.digest() == digest
        assert journal.counts(1)["pending"] == 3


def test_a_read_only_open_never_migrates(tmp_path: Path) -> None:
    """A journal lacking only read-compatible migrations (triggers, indexes) is read
    as it is; one lacking a migration readers need is refused, saying to upgrade a
    writable copy; neither is changed."""
    older = tmp_path / "older.db"
    oldest = tmp_path / "oldest.db"
    for path, count in ((older, 2), (oldest, 1)):
        with sqlite3.connect(path) as conn:
            schema.migrate(conn, path, schema.MIGRATIONS[:count])
        conn.close()
    assert [m.read_compatible for m in schema.MIGRATIONS[1:]] == [False, True, True, True, True]
    with Journal.open(older, read_only=True) as journal:
        assert journal.campaigns() == []
        assert journal.verify() is None
    with pytest.raises(JournalError, match=r"older notify.*0002") as info:
        Journal.open(oldest, read_only=True)
    assert "writable folder" in str(info.value)
    for path, count in ((older, 2), (oldest, 1)):
        with sqlite3.connect(path) as conn:
            assert conn.execute("SELECT count(*) FROM migrations").fetchone()[0] == count
        conn.close()


def test_an_empty_file_opened_read_only_is_a_journal_error(tmp_path: Path) -> None:
    """An empty file is not a journal to read: JournalError, and it stays empty."""
    path = tmp_path / "incident.db"
    path.touch()
    with pytest.raises(JournalError, match="empty"):
        Journal.open(path, read_only=True)
    assert path.stat().st_size == 0


# -- incident and campaigns ----------------------------------------------------------


def test_the_incident_is_stored_once_per_change(journal: Journal) -> None:
    """record_incident stores a new version only when the incident changed."""
    incident = IncidentSettings(compromised_address="dr.martin@exemple.fr", window_start=T0)
    assert journal.record_incident(incident) is True
    assert journal.record_incident(incident) is False
    changed = incident.model_copy(update={"cnil_reference": "CNIL-123"})
    assert journal.record_incident(changed) is True
    assert journal.incident() == changed


def test_a_campaign_is_found_again_by_its_template_name(journal: Journal) -> None:
    """Opening the same template twice continues the same campaign."""
    assert new_campaign(journal, "alerte") == new_campaign(journal, "alerte")
    assert new_campaign(journal, "patients") != new_campaign(journal, "alerte")
    assert [c.template for c in journal.campaigns()] == ["alerte", "patients"]


def test_a_changed_template_makes_a_new_revision_and_keeps_the_old(journal: Journal) -> None:
    """Correcting a template records a revision; the old text stays for re-rendering."""
    first = journal.open_campaign(
        "alerte", languages=["fr"], settings={}, templates={"b.txt": "v1"}, variables={}
    )
    second = journal.open_campaign(
        "alerte", languages=["fr"], settings={}, templates={"b.txt": "v2"}, variables={}
    )
    back = journal.open_campaign(
        "alerte", languages=["fr"], settings={}, templates={"b.txt": "v1"}, variables={}
    )
    assert first.id == second.id
    assert second.revision.id != first.revision.id
    assert back.revision.id == first.revision.id
    assert journal.revision(first.revision.id).templates == {"b.txt": "v1"}
    kinds = [e.kind for e in journal.events()]
    assert kinds == ["campaign-created", "campaign-revised", "campaign-revised"]


def test_variables_come_back_with_their_types(journal: Journal) -> None:
    """Campaign variables round-trip exactly: datetimes, dates, tuples, '$' keys."""
    variables = {
        "window_start": datetime(2026, 11, 26, 8, 0, tzinfo=timezone(timedelta(hours=1))),
        "day": date(2026, 11, 27),
        "pair": (1, "deux"),
        "$odd": {"$datetime": "not a tag"},
        "nested": [{"n": 1.5, "ok": True, "none": None}],
    }
    campaign = journal.open_campaign(
        "alerte", languages=["fr", "en"], settings={}, templates={}, variables=variables
    )
    assert journal.revision(campaign.revision.id).variables == variables
    assert campaign.revision.languages == ["fr", "en"]


def test_no_secret_from_the_snapshot_reaches_the_file(tmp_path: Path) -> None:
    """Keys named like a password/token/secret and SecretStr values are never stored."""
    path = tmp_path / "incident.db"
    snapshot = {
        "smtp": {
            "host": "smtp.exemple.org",
            "password": "hunter2-pw",
            "password_command": "pass show hunter2-cmd",
            "oauth2_token_command": "get hunter2-oauth",
            "api_key": "hunter2-api",
            "other": SecretStr("hunter2-secretstr"),
        },
        "client_secret": "hunter2-client",
        "sending": {"per_day": 500},
    }
    with Journal.open(path) as journal:
        campaign = journal.open_campaign(
            "alerte", languages=["fr"], settings=snapshot, templates={}, variables={}
        )
        stored = journal.revision(campaign.revision.id).settings
        event = next(journal.events())
    assert stored == {"smtp": {"host": "smtp.exemple.org"}, "sending": {"per_day": 500}}
    assert "smtp.password" in event.data["stripped_keys"]
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())
    assert b"hunter2" not in raw


def test_a_secret_in_the_variables_is_refused(journal: Journal) -> None:
    """A SecretStr among the template variables raises JournalError; nothing is stored."""
    with pytest.raises(JournalError, match="secret"):
        journal.open_campaign(
            "alerte", languages=["fr"], settings={}, templates={}, variables={"x": SecretStr("s")}
        )
    assert journal.campaigns() == []


# -- recipients ----------------------------------------------------------------------


def test_adding_the_same_recipients_twice_adds_them_once(journal: Journal) -> None:
    """add_recipients is idempotent and picks up only new identities on a rerun."""
    campaign = new_campaign(journal)
    assert journal.add_recipients(campaign, [person(i) for i in range(5)]) == 5
    assert journal.add_recipients(campaign, [person(i) for i in range(5)]) == 0
    assert journal.add_recipients(campaign, [person(i) for i in range(7)]) == 2
    assert journal.counts(campaign)["pending"] == 7


def test_identities_differing_in_case_are_one_recipient(journal: Journal) -> None:
    """Two entries with the same identity key in one call are added once (the first)."""
    campaign = new_campaign(journal)
    upper = Recipient("P1@exemple.fr", "P1@exemple.fr", "p1@exemple.fr", name="first")
    lower = Recipient("p1@exemple.fr", "p1@exemple.fr", "p1@exemple.fr", name="second")
    assert journal.add_recipients(campaign, [upper, lower]) == 1
    (found,) = journal.find_recipient("<P1@Exemple.FR>")
    assert found.name == "first"
    assert found.recipient == upper


def test_existing_recipients_are_left_untouched(journal: Journal) -> None:
    """A rerun with changed contact data does not change an existing recipient."""
    campaign = new_campaign(journal)
    journal.add_recipients(campaign, [person(1)])
    renamed = person(1)
    renamed.name = "Renamed"
    journal.add_recipients(campaign, [renamed])
    assert journal.find_recipient("p1@exemple.fr")[0].name == "P 1"


def test_recipients_are_ordered_by_exposure(journal: Journal) -> None:
    """Window recipients first, then by sent_count descending, then import order."""
    campaign = new_campaign(journal)
    journal.add_recipients(
        campaign,
        [person(1), person(2, sent=3), person(3, window=True, sent=1), person(4, sent=9)],
    )
    journal.add_recipients(campaign, [person(5, window=True, sent=5), person(6), person(7, sent=3)])
    order = [r.email for r in journal.iter_recipients(campaign)]
    assert order == [f"p{i}@exemple.fr" for i in (5, 3, 4, 2, 7, 1, 6)]
    assert [r.email for r in journal.to_send(campaign, limit=3)] == order[:3]


def test_to_send_pages_with_a_keyset_cursor(journal: Journal) -> None:
    """Passing the last rank returns the next page; the pages cover everyone once."""
    campaign = new_campaign(journal)
    journal.add_recipients(campaign, [person(i) for i in range(25)])
    seen: list[str] = []
    after = None
    while page := journal.to_send(campaign, limit=10, after=after):
        seen.extend(r.email for r in page)
        after = page[-1].rank
    assert seen == [f"p{i}@exemple.fr" for i in range(25)]


def test_the_send_queue_query_uses_the_index(journal: Journal) -> None:
    """The what-to-send-next query searches the (campaign_id, state, rank) index."""
    plan = journal._conn.execute(
        "EXPLAIN QUERY PLAN SELECT * FROM recipients WHERE campaign_id = 1 "
        "AND state = 'pending' AND rank > 0 ORDER BY rank LIMIT 10"
    ).fetchall()
    text = " ".join(str(row[-1]) for row in plan)
    assert (
        "SEARCH recipients USING INDEX recipients_queue (campaign_id=? AND state=? AND rank>?)"
        in text
    )
    assert "TEMP B-TREE" not in text


def test_add_recipients_to_an_unknown_campaign_is_an_error(journal: Journal) -> None:
    """Adding to a campaign id that does not exist raises JournalError."""
    with pytest.raises(JournalError, match="no campaign #42"):
        journal.add_recipients(42, [person(1)])


def test_added_recipients_leave_one_event_per_batch(journal: Journal) -> None:
    """One recipients-added event records the count and id range of each addition."""
    campaign = new_campaign(journal)
    journal.add_recipients(campaign, [person(i) for i in range(3)])
    journal.add_recipients(campaign, [person(i) for i in range(3)])
    added = [e for e in journal.events() if e.kind == "recipients-added"]
    assert len(added) == 1
    assert (added[0].data["count"], added[0].data["first_id"], added[0].data["last_id"]) == (
        3,
        1,
        3,
    )
