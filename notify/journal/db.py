"""Opening the journal file: owner-only permissions, SQLite settings, error translation.

Every ``sqlite3`` or ``OSError`` raised while the journal is used goes through
:func:`translate`, which turns it into a :class:`~notify.errors.JournalError` naming
the file and saying what to do: callers never see a raw sqlite3 traceback.
"""

from __future__ import annotations

import errno
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, suppress
from pathlib import Path
from types import TracebackType

from notify.errors import JournalError

#: How long a write waits for another process's transaction (``notify mark``,
#: ``notify bounces``) before giving up, in milliseconds.
BUSY_TIMEOUT_MS = 10_000
#: Pages (4 KiB) written to the WAL between two automatic checkpoints (see configure).
WAL_AUTOCHECKPOINT_PAGES = 1000
#: The size a WAL that grew larger is cut back to after a checkpoint, in bytes: four
#: times its size between two checkpoints (1,000 frames of 4 KiB + 24 bytes).
WAL_SIZE_LIMIT = 16 * 1024 * 1024

_umask_lock = threading.Lock()

_SQLITE_ADVICE: dict[str, tuple[str, str]] = {
    "SQLITE_CANTOPEN": (
        "cannot be opened: its folder is missing or not writable",
        "Check that the folder exists and that you may write in it: the journal also "
        "creates '{name}-wal' and '{name}-shm' beside it.",
    ),
    "SQLITE_NOTADB": (
        "is not a notify journal (not an SQLite database)",
        "Pass --journal with this incident's journal. Do not overwrite this file.",
    ),
    "SQLITE_CORRUPT": (
        "is damaged (the SQLite file is corrupted)",
        "Keep a copy of it for the incident file, then try "
        "'sqlite3 {path} .recover | sqlite3 recovered.db', or start a new journal "
        "with --journal NEW.db.",
    ),
    "SQLITE_FULL": (
        "cannot be written: the disk is full",
        "Free some disk space and run the same command again: what was recorded is kept.",
    ),
    "SQLITE_READONLY": (
        "cannot be written: the file or its folder is read-only",
        "Run notify where you may write, or copy the journal to a writable folder "
        "with its '-wal' file and pass --journal.",
    ),
    "SQLITE_PERM": (
        "cannot be opened: permission denied",
        "Run notify as the user who owns the journal, or pass --journal.",
    ),
    "SQLITE_BUSY": (
        "is busy: another program kept it locked for too long",
        "Wait until the other notify command ends, then run this one again.",
    ),
    "SQLITE_LOCKED": (
        "is busy: another program kept it locked for too long",
        "Wait until the other notify command ends, then run this one again.",
    ),
    "SQLITE_IOERR": (
        "could not be read or written (input/output error)",
        "Check the disk (space, cable, network share), then run the same command again.",
    ),
}

_OS_ADVICE: dict[int, tuple[str, str]] = {
    errno.ENOENT: ("cannot be created: its folder does not exist", "Create the folder first."),
    errno.ENOTDIR: (
        "cannot be created: a part of its path is a file, not a folder",
        "Pass --journal with a path inside a folder.",
    ),
    errno.EACCES: (
        "cannot be opened or created: permission denied",
        "Run notify where you may write, or pass --journal with another path.",
    ),
    errno.EPERM: (
        "cannot be opened or created: permission denied",
        "Run notify where you may write, or pass --journal with another path.",
    ),
    errno.EROFS: (
        "cannot be written: the disk is read-only",
        "Run notify where you may write, or pass --journal with another path.",
    ),
    errno.ENOSPC: (
        "cannot be written: the disk is full",
        "Free some disk space and run the same command again: what was recorded is kept.",
    ),
}


def sqlite_problem(path: Path, exc: sqlite3.Error) -> JournalError:
    """The :class:`JournalError` that explains ``exc`` for the journal at ``path``."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    base = "_".join(name.split("_")[:2])
    if base in _SQLITE_ADVICE:
        what, hint = _SQLITE_ADVICE[base]
        return JournalError(f"journal {path} {what} ({exc})", hint=_fill(hint, path))
    if "closed database" in str(exc):
        return JournalError(f"journal {path} is closed", hint="Open it again (a bug in notify).")
    return JournalError(
        f"journal {path}: {exc}",
        hint="Run the same command again; if it fails again, keep the journal and report it.",
    )


def os_problem(path: Path, exc: OSError) -> JournalError:
    """The :class:`JournalError` that explains ``exc`` for the journal at ``path``."""
    what, hint = _OS_ADVICE.get(
        exc.errno or 0,
        ("cannot be opened or created", "Check the path given with --journal."),
    )
    return JournalError(f"journal {path} {what} ({exc.strerror or exc})", hint=hint)


def _fill(hint: str, path: Path) -> str:
    return hint.replace("{name}", path.name).replace("{path}", str(path))


class _Translate:
    """What :func:`translate` returns: a class, cheaper than a generator on the hot path."""

    __slots__ = ("_path",)

    def __init__(self, path: Path) -> None:
        self._path = path

    def __enter__(self) -> None:
        return None

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if isinstance(exc, sqlite3.Error):
            raise sqlite_problem(self._path, exc) from exc
        if isinstance(exc, OSError):
            raise os_problem(self._path, exc) from exc


def translate(path: Path) -> AbstractContextManager[None]:
    """Turn ``sqlite3.Error`` and ``OSError`` raised inside into :class:`JournalError`."""
    return _Translate(path)


@contextmanager
def private_umask() -> Iterator[None]:
    """Set a 0o077 umask while files are created (the umask is per process)."""
    with _umask_lock:
        old = os.umask(0o077)
        try:
            yield
        finally:
            os.umask(old)


def make_private_folders(folder: Path) -> None:
    """Create ``folder`` and its missing parents, each owner-only (0700)."""
    missing: list[Path] = []
    current = folder
    while not current.exists():
        missing.append(current)
        if current.parent == current:
            break
        current = current.parent
    for new in reversed(missing):
        with suppress(FileExistsError):
            os.mkdir(new, 0o700)
            os.chmod(new, 0o700)


def create_private_file(path: Path) -> None:
    """Create ``path`` empty and owner-only (0600) unless it exists."""
    with suppress(FileExistsError):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        os.close(fd)


def tighten(path: Path) -> None:
    """Make an existing file of ours owner-only (0600); leave others' files alone."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        return
    if info.st_uid == os.getuid() and info.st_mode & 0o077:
        os.chmod(path, 0o600)


def sidecars(path: Path) -> tuple[Path, Path]:
    """The ``-wal`` and ``-shm`` files SQLite keeps beside the journal."""
    return path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")


def connect(
    path: Path, *, create: bool, setup: Callable[[sqlite3.Connection], object]
) -> sqlite3.Connection:
    """Open the journal at ``path`` (creating it when ``create``) and run ``setup``.

    ``setup`` runs under a 0o077 umask, so that the ``-wal`` and ``-shm`` files SQLite
    creates are owner-only. Raises :class:`JournalError` on any failure.
    """
    with translate(path):
        if path.is_dir():
            raise JournalError(
                f"journal {path} is a folder", hint="Pass --journal with a file name."
            )
        if create:
            make_private_folders(path.parent)
            create_private_file(path)
        elif not path.exists():
            raise JournalError(
                f"no journal at {path}",
                hint="Check --journal, or run 'notify send' to start the journal.",
            )
        tighten(path)
        with private_umask():
            conn = sqlite3.connect(
                str(path),
                isolation_level=None,
                check_same_thread=False,
                timeout=BUSY_TIMEOUT_MS / 1000,
            )
            try:
                configure(conn, path)
                setup(conn)
            except BaseException:
                conn.close()
                raise
        for sidecar in sidecars(path):
            tighten(sidecar)
        return conn


def connect_read_only(
    path: Path, *, setup: Callable[[sqlite3.Connection], object]
) -> sqlite3.Connection:
    """Open the existing journal at ``path`` for reading only, and run ``setup``.

    Nothing is created, migrated or made owner-only, and the connection refuses
    writes (``mode=ro``, then ``PRAGMA query_only``; ``setup`` runs before that).
    In a writable folder SQLite may still create the ``-wal`` and ``-shm`` files
    (owner-only); in a read-only folder (an archived copy) where ``-shm`` is missing
    and cannot be created, the journal is opened ``immutable=1`` -- but only when no
    ``-wal`` file with content is beside it: that content would be silently ignored,
    so :class:`JournalError` says to copy the journal with its ``-wal`` file to a
    writable folder (or checkpoint it first). Raises :class:`JournalError` on any failure.
    """
    with translate(path):
        if path.is_dir():
            raise JournalError(
                f"journal {path} is a folder", hint="Pass --journal with a file name."
            )
        if not path.exists():
            raise JournalError(
                f"no journal at {path}",
                hint="Check --journal, or run 'notify send' to start the journal.",
            )
        try:
            return _open_uri(path, "mode=ro", setup)
        except sqlite3.Error as exc:
            if not _shm_impossible(path, exc):
                raise
        _refuse_unsaved_wal(path)
        return _open_uri(path, "mode=ro&immutable=1", setup)


def _open_uri(
    path: Path, options: str, setup: Callable[[sqlite3.Connection], object]
) -> sqlite3.Connection:
    with private_umask():
        conn = sqlite3.connect(
            f"{path.absolute().as_uri()}?{options}",
            uri=True,
            isolation_level=None,
            check_same_thread=False,
            timeout=BUSY_TIMEOUT_MS / 1000,
        )
        try:
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA schema_version").fetchone()  # opens the file for real
            setup(conn)
            conn.execute("PRAGMA query_only = ON")
        except BaseException:
            conn.close()
            raise
    return conn


def _shm_impossible(path: Path, exc: sqlite3.Error) -> bool:
    """Whether ``exc`` may come from a read-only folder where ``-shm`` cannot be created."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if not name.startswith(("SQLITE_CANTOPEN", "SQLITE_READONLY")):
        return False
    return not os.access(path.parent, os.W_OK)


def _refuse_unsaved_wal(path: Path) -> None:
    wal, shm = sidecars(path)
    if wal.exists() and wal.stat().st_size > 0:
        raise JournalError(
            f"journal {path} has recorded changes still in '{wal.name}' that cannot be "
            f"read here: its folder is read-only and SQLite cannot create '{shm.name}'",
            hint=f"Copy the journal with its '{wal.name}' file to a writable folder and pass "
            "--journal with the copy. Before archiving a journal, fold the '-wal' file into "
            f"it where it is writable: sqlite3 {path.name} 'PRAGMA wal_checkpoint(TRUNCATE)'.",
        )


def writable(path: Path) -> bool:
    """Whether the journal at ``path`` and its folder may be written (no write tried)."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)


def configure(conn: sqlite3.Connection, path: Path) -> None:
    """WAL mode, synchronous=NORMAL, checkpoints, busy timeout, foreign keys."""
    conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
    if str(mode).lower() != "wal":
        raise JournalError(
            f"journal {path} cannot use SQLite's WAL mode (it stays in {mode!r} mode)",
            hint="Put the journal on a local disk (not a network share) and run again.",
        )
    conn.execute("PRAGMA synchronous = NORMAL")
    # With synchronous=NORMAL the WAL is only synced to disk by a checkpoint: what was
    # committed since the last one survives the process (SIGKILL included) but not a
    # power cut. Rarer checkpoints save CPU and fsyncs (at 4,000 pages, measured: 6 %
    # of the CPU and 20 % of the time of begin_attempts + end_attempts), at the price
    # of more attempts a power cut may forget, whose messages are then sent again:
    # about 180 with batches of 5 at 1,000 pages, 720 at 4,000. So 1,000: SQLite's
    # default, set here so that a build with another default does not change it.
    conn.execute(f"PRAGMA wal_autocheckpoint = {WAL_AUTOCHECKPOINT_PAGES}")
    # A WAL that grew past that while a long read kept checkpoints from finishing is
    # cut back to this size once one completes (else it keeps its size until closed).
    conn.execute(f"PRAGMA journal_size_limit = {WAL_SIZE_LIMIT}")
    conn.execute("PRAGMA foreign_keys = ON")


class _WriteTransaction:
    """What :func:`write_transaction` returns (a class, like :class:`_Translate`)."""

    __slots__ = ("_conn",)

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __enter__(self) -> sqlite3.Connection:
        self._conn.execute("BEGIN IMMEDIATE")
        return self._conn

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if kind is None:
            try:
                self._conn.execute("COMMIT")
            except BaseException:
                self._roll_back()
                raise
            return
        self._roll_back()

    def _roll_back(self) -> None:
        if self._conn.in_transaction:
            with suppress(sqlite3.Error):
                self._conn.execute("ROLLBACK")


def write_transaction(conn: sqlite3.Connection) -> AbstractContextManager[sqlite3.Connection]:
    """One ``BEGIN IMMEDIATE`` ... ``COMMIT``; rolled back on any exception."""
    return _WriteTransaction(conn)


@contextmanager
def read_transaction(conn: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One consistent snapshot for several SELECTs (WAL readers never block writers)."""
    conn.execute("BEGIN")
    try:
        yield conn
    finally:
        if conn.in_transaction:
            with suppress(sqlite3.Error):
                conn.execute("ROLLBACK")
