"""Checkpoints from a thread while the sending lock is held (notify.journal.checkpoint)."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from notify.addressbook.model import Recipient
from notify.journal import AttemptEnd, AttemptStart, Journal
from notify.journal import checkpoint as checkpoint_module
from notify.journal.checkpoint import SAFETY_NET_PAGES, THREAD_NAME, Checkpointer
from notify.journal.db import WAL_AUTOCHECKPOINT_PAGES

SHA = "cd" * 32


def people(n: int) -> list[Recipient]:
    """``n`` recipients with a little data each, so that their rows fill pages."""
    return [
        Recipient(f"p{i}@exemple.fr", f"p{i}@exemple.fr", f"p{i}@exemple.fr", name="x" * 300)
        for i in range(n)
    ]


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    """A journal with one campaign of 400 recipients (not locked)."""
    with Journal.open(tmp_path / "incident.db") as opened:
        campaign = opened.open_campaign(
            "alerte", languages=["fr"], settings={}, templates={}, variables={}
        )
        opened.add_recipients(campaign.id, people(400))
        yield opened


def checkpointers() -> list[threading.Thread]:
    """The checkpointing threads alive now."""
    return [t for t in threading.enumerate() if t.name == THREAD_NAME]


def send_all(journal: Journal, batch: int = 5) -> None:
    """Begin and end every recipient of the first campaign, ``batch`` at a time."""
    [campaign] = journal.campaigns()
    after = None
    while page := journal.to_send(campaign.id, limit=batch, after=after):
        after = page[-1].rank
        journal.begin_attempts([AttemptStart(r.id, f"<{r.id}@t>", "Fri", SHA) for r in page])
        journal.end_attempts([AttemptEnd(r.id, "sent", 250, "2.0.0 Ok", "Q") for r in page])


def wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    """Poll ``condition`` (a callable) until it holds or ``seconds`` pass."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return False


def test_the_thread_runs_only_while_the_lock_is_held(journal: Journal) -> None:
    assert checkpointers() == []
    with journal.sending_lock():
        assert len(checkpointers()) == 1
    assert checkpointers() == []


def test_the_writer_checkpoints_itself_rarely_while_the_thread_runs(journal: Journal) -> None:
    conn = journal._conn  # the setting belongs to the writer's connection
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == WAL_AUTOCHECKPOINT_PAGES
    with journal.sending_lock():
        assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == SAFETY_NET_PAGES
    assert conn.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == WAL_AUTOCHECKPOINT_PAGES


def test_the_thread_copies_the_log_into_the_journal_file(
    journal: Journal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "incident.db"
    monkeypatch.setattr(checkpoint_module, "SAFETY_NET_PAGES", 1_000_000)  # writer: never
    with journal.sending_lock():
        journal._conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # start from an empty log
        size = path.stat().st_size
        send_all(journal)
        # Only a checkpoint writes the journal file in WAL mode: the thread did it.
        assert wait_until(lambda: path.stat().st_size > size)
    assert journal.verify() is None
    reader = sqlite3.connect(path)
    try:
        sent = reader.execute("SELECT count(*) FROM recipients WHERE state = 'sent'").fetchone()
    finally:
        reader.close()
    assert sent[0] == 400


def test_the_log_stays_bounded_when_the_thread_cannot_run(
    journal: Journal, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(self: Checkpointer) -> sqlite3.Connection:
        raise sqlite3.OperationalError("unable to open database file")

    monkeypatch.setattr(Checkpointer, "_connect", refuse)
    monkeypatch.setattr(checkpoint_module, "SAFETY_NET_PAGES", 100)
    errors: list[object] = []
    monkeypatch.setattr(threading, "excepthook", errors.append)
    wal = tmp_path / "incident.db-wal"
    with journal.sending_lock():
        assert wait_until(lambda: checkpointers() == [])  # it ended, quietly
        largest = 0
        for batch in (1, 2):  # about 9,000 pages to the log in all, one small commit at a time
            send_all(journal, batch)
            largest = max(largest, (wal.stat().st_size - 32) // (4096 + 24))
            journal._conn.execute("UPDATE recipients SET state = 'pending'")
    assert errors == []
    # The writer's own checkpoint, at the safety net, let the log restart from its
    # beginning: its file's high-water mark stays near 100 pages, not 9,000.
    assert 0 < largest <= 300
    assert journal.verify() is None
