"""The merge's private working database, and the lists read back from it page by page.

An import of a million contacts does not fit comfortably in memory as Python objects,
so the merge keeps its working state (every entry, as the recipient it makes alone;
the people of several entries) and its results (recipients, problems) in a temporary
SQLite file: a new owner-only (0700) folder from :mod:`tempfile`, a 0600 file in it,
both deleted by :meth:`Store.close` (or, as a last resort, when the store is
garbage-collected or the interpreter exits). A process killed outright cannot clean
up: the next import deletes what it left (its folder is no longer locked). It is
scratch space, not a record: no journal, no fsync.

:class:`Rows` is the read side: a sequence (``len``, indexing, repeated iteration)
whose items are decoded from one table a page at a time, in a fixed order.
"""

from __future__ import annotations

import fcntl
import os
import shutil
import sqlite3
import tempfile
import weakref
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar, overload

from notify.addressbook._records import Paths
from notify.addressbook.model import Recipient

T = TypeVar("T")

_CACHE_KIB = 8 * 1024  # SQLite's page cache: what the store may hold in memory
_PAGE_SIZE = 16384
_PAGE = 500  # rows read per query
_ROWS_PER_INSERT = 256  # rows written by one statement (fewer when parameters run short)

_SCHEMA = """
CREATE TABLE path (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE entry (
    n INTEGER PRIMARY KEY, hash INTEGER, urgency INTEGER, data BLOB
);
CREATE TABLE more_hash (hash INTEGER, n INTEGER);
CREATE TABLE twin (hash INTEGER PRIMARY KEY);
CREATE TABLE shared (n INTEGER PRIMARY KEY);
CREATE TABLE member (
    person INTEGER, ord INTEGER, n INTEGER, added BLOB, PRIMARY KEY (person, ord)
) WITHOUT ROWID;
CREATE TABLE address (
    key TEXT PRIMARY KEY, person INTEGER, path INTEGER, line INTEGER
) WITHOUT ROWID;
CREATE TABLE placed (
    person INTEGER, j INTEGER, secure INTEGER, urgency INTEGER, data BLOB,
    PRIMARY KEY (person, j)
) WITHOUT ROWID;
CREATE TABLE placed_problem (
    person INTEGER, j INTEGER, kind TEXT, path INTEGER, line INTEGER, message TEXT,
    PRIMARY KEY (person, j)
) WITHOUT ROWID;
CREATE TABLE recipient (seq INTEGER PRIMARY KEY, urgency INTEGER, data BLOB);
CREATE TABLE secure (seq INTEGER PRIMARY KEY, data BLOB);
CREATE TABLE unreachable (seq INTEGER PRIMARY KEY, path INTEGER, line INTEGER, data BLOB);
CREATE TABLE problem (
    seq INTEGER PRIMARY KEY, kind TEXT, path INTEGER, line INTEGER, message TEXT
);
"""
# The working tables, for the record (the merge's modules say how they are used):
# entry: each entry with an address, numbered in reading order (``n``, also the number
#   of the person it starts), with the recipient it makes alone (``data``: always at its
#   preferred address; also the entry's origin, rank, groups and addresses) and, when
#   that is all it gives, its ``urgency`` (else NULL); ``hash`` is its first address's,
#   ``more_hash`` holds the others' (an entry of several). Few columns: each costs more
#   than the record.
# recipient: ``urgency`` orders the recipients most exposed first (_records.urgency).
# twin, shared: the hashes met more than once, and the entries whose address another
#   entry has too (or its hash: a collision costs time, never a wrong result);
#   member and address: the people they make (``member.added``: see _people._brought).
# placed, placed_problem: what placing a person gave, when it is not an entry's own
#   recipient (``entry.urgency``), under the person's number.


_PREFIX = "notify-merge-"
_HELD = "held"  # locked (flock) by the process using the folder, for as long as it does


def _remove(conn: sqlite3.Connection, held: int, folder: str) -> None:
    conn.close()
    shutil.rmtree(folder, ignore_errors=True)
    os.close(held)


def _sweep(parent: Path) -> None:
    """Delete the stores of processes that died without cleaning up (killed, power cut).

    A folder whose ``held`` file nobody locks any more is left over; one still
    locked belongs to a running import, and is left alone.
    """
    for folder in parent.glob(f"{_PREFIX}*"):
        try:
            fd = os.open(folder / _HELD, os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue  # not ours, being created, or already gone
        try:
            if os.fstat(fd).st_uid != os.getuid():
                continue
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            continue  # locked: in use
        finally:
            os.close(fd)
        shutil.rmtree(folder, ignore_errors=True)


class Store:
    """A temporary SQLite database, private to one import; :meth:`close` deletes it."""

    def __init__(self) -> None:
        _sweep(Path(tempfile.gettempdir()))
        folder = tempfile.mkdtemp(prefix=_PREFIX)  # 0700
        held = -1
        try:
            held = os.open(Path(folder) / _HELD, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
            fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
            path = Path(folder) / "merge.sqlite"
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            if held >= 0:
                os.close(held)
            raise
        self.folder = Path(folder)
        self.conn = conn
        self._finalizer = weakref.finalize(self, _remove, conn, held, folder)
        for pragma in (
            f"page_size = {_PAGE_SIZE}",
            "journal_mode = OFF",
            "synchronous = OFF",
            f"cache_size = -{_CACHE_KIB}",
            "temp_store = FILE",
            "locking_mode = EXCLUSIVE",
        ):
            conn.execute(f"PRAGMA {pragma}")
        conn.executescript(_SCHEMA)
        conn.execute("BEGIN")  # one transaction for the whole import: nothing to keep
        self._parameters = conn.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
        self.paths = Paths(conn)

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def close(self) -> None:
        """Close the database and delete its folder; safe to call twice."""
        self._finalizer()

    def insert(self, head: str, width: int, values: list[Any]) -> None:
        """Insert rows given flat: ``values`` holds ``width`` columns a row, row after row.

        ``head`` is ``INSERT INTO table (columns)``. Several rows go in one statement:
        one statement a row (``executemany``) costs more than the row itself.
        """
        rows = len(values) // width
        per = max(1, min(_ROWS_PER_INSERT, self._parameters // width))
        step, whole = per * width, rows - rows % per
        if whole:
            sql = self._values(head, width, per)
            for start in range(0, whole * width, step):
                self.conn.execute(sql, values[start : start + step])
        if whole < rows:
            self.conn.execute(self._values(head, width, rows - whole), values[whole * width :])

    def _values(self, head: str, width: int, rows: int) -> str:
        row = f"({', '.join('?' * width)})"
        return f"{head} VALUES {', '.join([row] * rows)}"

    def count(self, table: str, where: str = "", params: tuple[Any, ...] = ()) -> int:
        """How many rows of ``table`` match ``where``."""
        sql = f"SELECT count(*) FROM {table}" + (f" WHERE {where}" if where else "")  # noqa: S608
        return int(self.conn.execute(sql, params).fetchone()[0])


class Rows(Sequence[T]):
    """The rows of one store table, decoded one page at a time, in a fixed order.

    ``key`` is the unique integer column that orders the rows, ``where`` an optional
    filter (an index on its columns keeps it fast). ``source`` may be a join. The
    rows must no longer change once a ``Rows`` reads them.
    """

    def __init__(
        self,
        store: Store,
        source: str,
        columns: str,
        decode: Callable[[tuple[Any, ...]], T],
        *,
        key: str = "seq",
        where: str = "",
        params: tuple[Any, ...] = (),
        length: int | None = None,
    ) -> None:
        self.store, self.source, self.columns, self.decode = store, source, columns, decode
        self.key, self.where, self.params = key, where, params
        self._length = length
        self._select = f"SELECT {key}, {columns} FROM {source}"  # noqa: S608 - no user text
        self._after = f"{key} > ?"
        self._order = f" ORDER BY {key}"

    def _query(self, after: int | None, tail: str, *more: Any) -> list[Any]:
        if self.store.closed:
            raise ValueError("the contact list was closed: import the sources again")
        clauses = [self.where] if self.where else []
        if after is not None:
            clauses.append(self._after)
        sql = self._select + (f" WHERE {' AND '.join(clauses)}" if clauses else "")
        params = (*self.params, *more) if after is None else (*self.params, after, *more)
        return self.store.conn.execute(sql + self._order + tail, params).fetchall()

    def __iter__(self) -> Iterator[T]:
        decode, after = self.decode, None
        while True:
            rows = self._query(after, " LIMIT ?", _PAGE)
            for row in rows:
                yield decode(row[1:])
            if len(rows) < _PAGE:
                return
            after = rows[-1][0]

    def __len__(self) -> int:
        if self._length is None:
            self._length = self.store.count(self.source, self.where, self.params)
        return self._length

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            if step != 1:
                return list(self)[index]
            if stop <= start:
                return []
            rows = self._query(None, " LIMIT ? OFFSET ?", stop - start, start)
            return [self.decode(row[1:]) for row in rows]
        position = index + len(self) if index < 0 else index
        if not 0 <= position < len(self):
            raise IndexError("index out of range")
        (row,) = self._query(None, " LIMIT 1 OFFSET ?", position)
        return self.decode(row[1:])

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"<{len(self)} rows of {self.source}>"


class RecipientRows(Rows[Recipient]):
    """Recipients (a ``data`` column and its ``urgency``), which can also be read most
    exposed first."""

    def by_exposure(self) -> Rows[Recipient]:
        """Written to during the window first, then the most written to; then import order.

        The order is computed once, by SQLite, into the ``exposure`` table.
        """
        conn, source, key = self.store.conn, self.source, self.key
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'exposure'").fetchone() is None:
            conn.execute("CREATE TABLE exposure (rank INTEGER PRIMARY KEY, seq INTEGER)")
            where = f" WHERE {self.where}" if self.where else ""
            conn.execute(
                f"INSERT INTO exposure (seq) SELECT {key} FROM {source}{where} "  # noqa: S608
                f"ORDER BY urgency, {key}",
                self.params,
            )
        return Rows(
            self.store,
            f"exposure JOIN {source} ON {source}.{key} = exposure.seq",
            f"{source}.data",
            self.decode,
            key="exposure.rank",
            length=len(self),
        )
