"""The sending lock: one ``notify send`` per journal at a time.

An exclusive ``flock`` on a sidecar file (``<journal>.lock``, 0600) held for the
whole sending run. The operating system drops it when the process ends, however
it ends (SIGKILL included), so a stale lock never blocks the next run. The file
keeps the holder's pid, host and start time, for the message a second sender gets;
it is not deleted on release (deleting a lock file races with the next taker).
"""

from __future__ import annotations

import fcntl
import os
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from notify.errors import JournalError
from notify.journal.db import private_umask, tighten, translate


def lock_path(journal: Path) -> Path:
    """The sidecar lock file of the journal at ``journal``."""
    return journal.with_name(journal.name + ".lock")


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 200, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""
    return text


@contextmanager
def exclusive_lock(journal: Path) -> Iterator[None]:
    """Hold the sending lock of ``journal``; :class:`JournalError` when another holds it."""
    path = lock_path(journal)
    with translate(path), private_umask():
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        with translate(path):
            tighten(path)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _holder(fd)
                who = f" ({holder})" if holder else ""
                raise JournalError(
                    f"another notify is sending on journal {journal}{who}",
                    hint="Wait for it to finish, or stop it (Ctrl-C) and run again; "
                    "two runs at once could send twice to the same person.",
                ) from None
            started = datetime.now(UTC).isoformat(timespec="seconds")
            os.ftruncate(fd, 0)
            os.pwrite(
                fd, f"pid {os.getpid()} on {socket.gethostname()} since {started}\n".encode(), 0
            )
        yield
    finally:
        os.close(fd)
