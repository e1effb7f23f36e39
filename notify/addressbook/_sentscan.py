"""Streaming layer of the Sent-folder reader: mbox or Maildir in, header blocks out.

Only header blocks are kept. An mbox is read in 1 MiB chunks; a message body is
skipped with ``bytes.find`` (C speed) looking for the next ``\\nFrom `` separator,
so attachments are never decoded or held, and a 2 GB mbox streams in constant
memory. The standard library's ``mailbox.mbox`` was not used: it scans the whole
file for a table of contents first, then reads each message whole.

mbox rule (mboxo/mboxrd, as written by Thunderbird, Gmail Takeout, Python's
``mailbox``): every line starting with ``From `` starts a message; writers escape
such lines in bodies as ``>From ``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from notify.addressbook.model import Origin
from notify.errors import SourceError

MAX_HEADER = 1 << 20  # a header block longer than this is not a mail message
_CHUNK = 1 << 20  # bytes read at a time from an mbox
_SEPARATOR = b"\nFrom "
_MBOX_HEADER_END = re.compile(rb"\n\r?\n|\nFrom ")
_BLANK_LINE = re.compile(rb"\n\r?\n")


@dataclass(frozen=True, slots=True)
class RawHeader:
    """The header block of one message, where the message starts, and what went wrong."""

    origin: Origin
    data: bytes = b""
    truncated: bool = False  # longer than MAX_HEADER: only the start was kept
    error: str = ""  # the message file could not be read (Maildir)


class _MboxScanner:
    """Split an mbox byte stream into header blocks, reading it in chunks.

    A virtual newline is put before the first byte so that every separator is
    found as ``\\nFrom ``; ``_line`` counts the newlines before ``_pos``, so it is
    the 1-based number of the line ``_pos`` is on.
    """

    def __init__(self, stream: BinaryIO) -> None:
        self._stream = stream
        self._buf = b"\n"
        self._pos = 0
        self._line = 0
        self._eof = False

    def blocks(self) -> Iterator[tuple[int, bytes, bool]]:
        """Yield (line of the separator, header bytes, truncated) for each message."""
        while self._to_separator():
            line = self._line
            data, truncated = self._header_block()
            yield line, data, truncated

    def _more(self) -> bool:
        """Read one more chunk, dropping what was consumed; False at end of file."""
        if self._eof:
            return False
        chunk = self._stream.read(_CHUNK)
        if not chunk:
            self._eof = True
            return False
        self._buf = self._buf[self._pos :] + chunk
        self._pos = 0
        return True

    def _advance(self, to: int) -> None:
        self._line += self._buf.count(b"\n", self._pos, to)
        self._pos = to

    def _to_separator(self) -> bool:
        """Move to the next ``From `` line; False when there is none."""
        while True:
            found = self._buf.find(_SEPARATOR, self._pos)
            if found >= 0:
                self._advance(found + 1)
                return True
            # Keep the last bytes: a separator may straddle two chunks.
            self._advance(max(self._pos, len(self._buf) - len(_SEPARATOR) + 1))
            if not self._more():
                return False

    def _header_block(self) -> tuple[bytes, bool]:
        """Read from the separator line to the first blank line (or next separator)."""
        while True:
            limit = self._pos + MAX_HEADER
            match = _MBOX_HEADER_END.search(self._buf, self._pos, limit)
            if match:
                block = self._buf[self._pos : match.start() + 1]
                self._advance(match.start())
                return _after_first_line(block), False
            if len(self._buf) >= limit:
                block = self._buf[self._pos : limit]
                self._advance(limit - len(_SEPARATOR))
                return _after_first_line(block), True
            if not self._more():
                block = self._buf[self._pos :]
                self._advance(len(self._buf))
                return _after_first_line(block), False


def _after_first_line(block: bytes) -> bytes:
    newline = block.find(b"\n")
    return b"" if newline < 0 else block[newline + 1 :]


def mbox_headers(path: Path) -> Iterator[RawHeader]:
    """The header block of every message of the mbox ``path``, at its ``From `` line."""
    where = str(path)
    try:
        with path.open("rb") as stream:
            for line, data, truncated in _MboxScanner(stream).blocks():
                yield RawHeader(Origin(where, line), data, truncated)
    except OSError as exc:
        raise SourceError(f"cannot be read: {exc.strerror or exc}", path=path) from None


def maildir_files(path: Path) -> list[Path]:
    """The message files of a Maildir (cur/ and new/), oldest first by name."""
    try:
        files = [
            entry
            for sub in ("cur", "new")
            for entry in (path / sub).iterdir()
            if not entry.name.startswith(".") and entry.is_file()
        ]
    except OSError as exc:
        raise SourceError(f"cannot be read: {exc.strerror or exc}", path=path) from None
    # Maildir names start with the delivery time, so name order is roughly time order.
    return sorted(files, key=lambda file: (file.name, file.parent.name))


def _read_message_header(file: Path) -> tuple[bytes, bool]:
    data = b"\n"
    scanned = 0
    with file.open("rb") as stream:
        while True:
            match = _BLANK_LINE.search(data, scanned)
            if match:
                return data[1 : match.start() + 1], False
            if len(data) > MAX_HEADER:
                return data[1 : MAX_HEADER + 1], True
            chunk = stream.read(64 * 1024)
            if not chunk:
                return data[1:], False
            scanned = max(0, len(data) - 2)
            data += chunk


def maildir_headers(files: list[Path]) -> Iterator[RawHeader]:
    """The header block of each Maildir message file, at line 1."""
    for file in files:
        origin = Origin(str(file), 1)
        try:
            data, truncated = _read_message_header(file)
        except OSError as exc:
            yield RawHeader(origin, error=exc.strerror or str(exc))
            continue
        yield RawHeader(origin, data, truncated)
