"""The event log's hash chain: verify() finds edited, deleted and inserted rows."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from notify.addressbook.model import Recipient
from notify.journal import Journal, chain

DROP_GUARDS = "DROP TRIGGER events_append_only_update; DROP TRIGGER events_append_only_delete;"


@pytest.fixture
def path(tmp_path: Path) -> Path:
    """A closed journal with six events."""
    where = tmp_path / "incident.db"
    with Journal.open(where) as journal:
        for name in ("a", "b", "c"):
            campaign = journal.open_campaign(
                name, languages=["fr"], settings={}, templates={}, variables={}
            )
            email = f"{name}@exemple.fr"
            journal.add_recipients(campaign.id, [Recipient(email, email, email)])
        assert len(list(journal.events())) == 6
    return where


def tamper(path: Path, sql: str) -> None:
    """Edit the journal with plain sqlite3, as someone covering their tracks would."""
    conn = sqlite3.connect(path)
    try:
        conn.executescript(DROP_GUARDS + sql)
    finally:
        conn.close()


def check(path: Path) -> tuple[int, str] | None:
    """(seq, problem) of the first break, or None."""
    with Journal.open(path) as journal:
        found = journal.verify()
    return None if found is None else (found.seq, found.problem)


def test_an_untouched_journal_verifies(path: Path) -> None:
    """verify() returns None for a journal written only by notify."""
    assert check(path) is None


def test_the_digest_is_the_last_events_hash_and_moves_on(path: Path) -> None:
    """digest() is the last row's hash and changes with every new event."""
    with Journal.open(path) as journal:
        before = journal.digest()
        assert before == list(journal.events())[-1].hash
        journal.mark("a@exemple.fr", "skipped", "test")
        assert journal.digest() not in (before, "0" * 64)


def test_an_edited_row_is_found(path: Path) -> None:
    """Changing an event's data is reported as altered, at that row."""
    tamper(
        path, "UPDATE events SET data = replace(data, '\"count\":1', '\"count\":2') WHERE seq = 4;"
    )
    assert check(path) == (4, "altered")


def test_an_edited_state_is_found(path: Path) -> None:
    """Changing an event's target state is reported as altered."""
    tamper(path, "UPDATE events SET state_to = 'sent' WHERE seq = 2;")
    assert check(path) == (2, "altered")


def test_a_deleted_row_is_found(path: Path) -> None:
    """Deleting an event in the middle is reported at the next row, as deleted."""
    tamper(path, "DELETE FROM events WHERE seq = 3;")
    assert check(path) == (4, "deleted")


def test_a_deleted_last_row_is_found(path: Path) -> None:
    """Deleting the last event is noticed through the chain head."""
    tamper(path, "DELETE FROM events WHERE seq = 6;")
    assert check(path) == (6, "deleted")


def test_an_inserted_row_is_found(path: Path) -> None:
    """A row added by hand after the last one is reported as inserted."""
    tamper(
        path,
        "INSERT INTO events (seq, ts, kind, campaign_id, recipient_id, state_from, state_to, "
        "data, hash) SELECT 7, ts, 'marked', 1, 1, 'pending', 'notified-other', "
        '\'{"note":"phoned"}\', hash FROM events WHERE seq = 6;',
    )
    assert check(path) == (7, "inserted")


def test_the_event_log_refuses_updates_and_deletes(path: Path) -> None:
    """Triggers make the event log append-only for ordinary SQL."""
    conn = sqlite3.connect(path)
    try:
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("UPDATE events SET kind = 'x' WHERE seq = 1")
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            conn.execute("DELETE FROM events")
    finally:
        conn.close()


def seqs(journal: Journal) -> list[int]:
    """The sequence numbers of the event log, in order."""
    return [event.seq for event in journal.events()]


def test_appending_after_another_writer_reads_the_head_again(
    path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The head this process wrote last is only a guess: when another process appended
    since (here: the guess is put back one event), the next append reads the real
    head, and the chain goes on without a gap or a fork."""
    with Journal.open(path) as journal:
        journal.mark("a@exemple.fr", "skipped", "phoned")
        before = chain._last_head
        assert before is not None
        assert before[0] == 7
        journal.mark("b@exemple.fr", "skipped", "phoned")
        monkeypatch.setattr(chain, "_last_head", before)
        journal.mark("c@exemple.fr", "skipped", "phoned")
        assert seqs(journal) == list(range(1, 10))
        assert journal.verify() is None


def test_an_append_rolled_back_leaves_no_trace_in_the_chain(path: Path) -> None:
    """Events appended in a transaction that is rolled back are gone, head included:
    the next append continues from the head that was committed."""
    lost = chain.NewEvent("marked", 1, 1, "pending", "skipped", {"note": "rolled back"})
    with Journal.open(path) as journal:

        def append_then_fail() -> None:
            with journal._write() as (conn, now):
                chain.append_events(conn, now, [lost])
                raise KeyError(lost.kind)

        with pytest.raises(KeyError):
            append_then_fail()
        journal.mark("a@exemple.fr", "skipped", "phoned")
        assert seqs(journal) == list(range(1, 8))
        assert [e.data for e in journal.events() if e.kind == "marked"] == [
            {"note": "phoned", "by": ""}
        ]
        assert journal.verify() is None
