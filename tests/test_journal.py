"""The incident journal: opening, migrations, permissions, errors, campaigns, recipients."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import SecretStr

from notify.addressbook.model import Recipient, SentMessage
from notify.errors import JournalError
from notify.journal import Journal, schema
from notify.journal.schema import Migration, sql_migration
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
    assert [m.read_compatible for m in schema.MIGRATIONS[1:]] == [False, True, True]
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
