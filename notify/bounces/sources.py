"""Where bounces are read from: an mbox file, a Maildir, an .eml file, a folder of .eml.

:func:`iter_messages` streams ``(where, raw bytes)`` pairs, ``where`` being the
file path, or ``path:line`` for a message inside an mbox file (the line of its
``From `` separator), so that any problem can be pointed at.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from email.parser import BytesHeaderParser
from email.policy import compat32
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import BinaryIO, Final

from notify.errors import SourceError

_HEADER_LINE_RE: Final = re.compile(rb"^[\x21-\x39\x3b-\x7e]+:")
# "From sender Thu Jul  2 12:05:05 2020": a separator even without a blank line before it.
_FROM_LINE_RE: Final = re.compile(rb"^From \S+ +[A-Z][a-z]{2},? +[A-Z][a-z]{2} +\d{1,2} \d\d?:\d\d")
_HINT: Final = (
    "Give an mbox file, a Maildir folder (with cur/ and new/), an .eml file "
    "or a folder of .eml files."
)


def iter_messages(path: Path, since: datetime | None = None) -> Iterator[tuple[str, bytes]]:
    """Yield ``(where, raw message)`` for each message at ``path``.

    ``path`` is an mbox file, a Maildir folder, an ``.eml`` file or a folder of
    ``.eml`` files (searched recursively, in name order). With ``since``, messages
    whose Date header is earlier are skipped; a message without a readable date
    is kept (a naive ``since`` or Date is taken as UTC). Raises
    :class:`~notify.errors.SourceError` when the path is none of these or cannot
    be read.
    """
    path = Path(path)
    try:
        if path.is_dir():
            found = _iter_folder(path)
        elif path.is_file():
            found = _iter_file(path)
        else:
            raise SourceError("no such file or folder", path=path, hint=_HINT)
        for where, data in found:
            if since is None or _is_since(data, since):
                yield where, data
    except OSError as exc:
        raise SourceError(
            f"cannot read: {exc.strerror or exc}",
            path=path,
            hint="Check the path and its permissions.",
        ) from exc


def _iter_folder(path: Path) -> Iterator[tuple[str, bytes]]:
    if (path / "cur").is_dir() or (path / "new").is_dir():
        for sub in ("new", "cur"):
            folder = path / sub
            if folder.is_dir():
                for item in sorted(folder.iterdir()):
                    if item.is_file() and not item.name.startswith("."):
                        yield str(item), item.read_bytes()
        return
    files = sorted(item for item in path.rglob("*") if item.is_file() and _is_eml(item))
    if not files:
        raise SourceError(
            "this folder is neither a Maildir nor holds .eml files", path=path, hint=_HINT
        )
    for item in files:
        yield str(item), item.read_bytes()


def _is_eml(path: Path) -> bool:
    return path.suffix.lower() in (".eml", ".msg822") and not path.name.startswith(".")


def _iter_file(path: Path) -> Iterator[tuple[str, bytes]]:
    with path.open("rb") as stream:
        start = stream.read(5)
        stream.seek(0)
        if start == b"From ":
            yield from _iter_mbox(path, stream)
            return
        if _is_eml(path) or _HEADER_LINE_RE.match(stream.readline()):
            stream.seek(0)
            yield str(path), stream.read()
            return
    raise SourceError("not an mbox file nor an e-mail message (.eml)", path=path, hint=_HINT)


def _iter_mbox(path: Path, stream: BinaryIO) -> Iterator[tuple[str, bytes]]:
    """Split an mbox file at ``From `` lines.

    A ``From `` line is a separator after a blank line (or at the start), or
    anywhere when it has the full ``From sender date`` shape.
    """
    lines: list[bytes] = []
    start = 0
    previous_blank = True
    for number, line in enumerate(stream, start=1):
        if line.startswith(b"From ") and (previous_blank or _FROM_LINE_RE.match(line)):
            if lines:
                yield f"{path}:{start}", _strip_trailing_blank(b"".join(lines))
            lines, start = [], number
        else:
            lines.append(line)
        previous_blank = line in (b"\n", b"\r\n")
    if start:
        yield f"{path}:{start}", _strip_trailing_blank(b"".join(lines))


def _strip_trailing_blank(data: bytes) -> bytes:
    """Drop the blank line mbox puts between messages (it is not part of the message)."""
    if data.endswith(b"\r\n\r\n"):
        return data[:-2]
    if data.endswith(b"\n\n"):
        return data[:-1]
    return data


def _is_since(data: bytes, since: datetime) -> bool:
    try:
        headers = BytesHeaderParser(policy=compat32).parsebytes(data)
        value = headers.get("Date")
        if value is None:
            return True
        date = parsedate_to_datetime(str(value))
    except (TypeError, ValueError, IndexError):
        return True
    return _aware(date) >= _aware(since)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
