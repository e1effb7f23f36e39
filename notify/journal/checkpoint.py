"""Checkpoints from a thread of their own while a sending run holds the journal.

In WAL mode, SQLite appends every commit to the ``-wal`` file; a *checkpoint*
copies those pages into the journal file itself. By default the connection that
commits runs it, once the log holds :data:`~notify.journal.db.WAL_AUTOCHECKPOINT_PAGES`
pages: that commit then also pays for the copy and two fsyncs, and a sending run
waits for it. Measured on a 10,000-message run (batches of 5): a third of the
journal's time per message.

While the sending lock is held, :class:`Checkpointer` runs PASSIVE checkpoints
every :data:`INTERVAL` seconds on a connection of its own, in a thread (SQLite
releases the GIL). A PASSIVE checkpoint never blocks the writer: it copies what is
committed and stops where the writer is. The writer keeps an automatic checkpoint
of its own at :data:`SAFETY_NET_PAGES`: it copies what the thread has not yet, and
lets SQLite start the log again from its beginning, so the log stays bounded.

A checkpoint only copies committed pages: what a crash of notify can lose is
unchanged. What a power cut can lose (commits since the log was last synced, which
each checkpoint does first) is smaller: about ``INTERVAL`` of commits, instead of up
to ``WAL_AUTOCHECKPOINT_PAGES`` pages.
If the thread's connection fails, the thread ends quietly and the writer's own
checkpoints go on as before.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path

from notify.journal.db import WAL_AUTOCHECKPOINT_PAGES

#: Seconds between two checkpoints of the thread.
INTERVAL = 0.025
#: The writer's own automatic checkpoint while the thread runs, in pages: twice the
#: usual. The thread copies pages but cannot make SQLite start the log again from
#: its beginning while the writer keeps committing (that needs the whole log copied
#: between two commits); the writer's own checkpoint, at this size, does, copying
#: only what the thread has not. A writer's checkpoint that meets the thread's is
#: skipped and tried again at the next commit: the log overshoots by a few commits,
#: well under ``WAL_SIZE_LIMIT`` (four times the usual).
SAFETY_NET_PAGES = 2 * WAL_AUTOCHECKPOINT_PAGES
#: The thread's name, for debugging (and the tests).
THREAD_NAME = "notify-journal-checkpoint"


class Checkpointer:
    """A thread that copies the WAL of the journal at ``path`` into it, every ``interval``."""

    def __init__(self, path: Path, *, interval: float = INTERVAL) -> None:
        self.path = path
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=THREAD_NAME, daemon=True)

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for it (at most one checkpoint)."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _connect(self) -> sqlite3.Connection:
        """The thread's own connection to the existing journal (nothing is created)."""
        return sqlite3.connect(
            f"{self.path.absolute().as_uri()}?mode=rw", uri=True, isolation_level=None
        )

    def _run(self) -> None:
        try:
            conn = self._connect()
        except sqlite3.Error:  # the writer's own checkpoints go on
            return
        try:
            while not self._stop.wait(self.interval):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        except sqlite3.Error:  # the writer's own checkpoints go on
            return
        finally:
            with suppress(sqlite3.Error):
                conn.close()


@contextmanager
def checkpointing(
    conn: sqlite3.Connection, path: Path, mutex: AbstractContextManager[object]
) -> Iterator[Checkpointer]:
    """Checkpoints of ``path`` from a thread for the block. ``conn`` (the writer, used
    under ``mutex``) checkpoints itself only at :data:`SAFETY_NET_PAGES`, then as before."""
    _autocheckpoint(conn, mutex, SAFETY_NET_PAGES)
    checkpointer = Checkpointer(path)
    checkpointer.start()
    try:
        yield checkpointer
    finally:
        checkpointer.stop()
        _autocheckpoint(conn, mutex, WAL_AUTOCHECKPOINT_PAGES)


def _autocheckpoint(
    conn: sqlite3.Connection, mutex: AbstractContextManager[object], pages: int
) -> None:
    with mutex, suppress(sqlite3.Error):  # at worst, the writer checkpoints as often
        conn.execute(f"PRAGMA wal_autocheckpoint = {pages}")
