"""Reading text files whose encoding nobody wrote down.

Address books arrive as UTF-8 (with or without BOM), UTF-16 (Outlook, some
vCard exporters) or a Windows code page (French Outlook: Windows-1252). The
encoding is *detected*: a byte-order mark wins; otherwise a file that decodes as
UTF-8 from end to end is UTF-8; otherwise UTF-16 without BOM is recognised by
its NUL bytes; otherwise the Windows code page is chosen from evidence (see
:mod:`notify.addressbook._codepages`): the words holding bytes above 0x7F, and
any code page the file names itself (``CHARSET=`` in a vCard). Windows-1252
wins for Western European text and is the answer when nothing contradicts it.
The whole file is read in chunks, so memory stays flat however large it is.

:class:`Lines` then cuts the decoded text into physical lines a block at a time
(``str.splitlines`` at C speed, not one ``readline`` call per line), numbers them
and never holds a line longer than a limit.
"""

from __future__ import annotations

import codecs
import io
import re
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from notify.addressbook import _codepages
from notify.errors import SourceError

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_CHUNK = 256 * 1024
_SAMPLE = 256 * 1024
_MAX_EVIDENCE = 4000  # words holding non-ASCII bytes: plenty to decide, bounded memory
_CHARSET_PARAM = re.compile(rb"CHARSET=\"?([A-Za-z0-9_.:-]{1,40})", re.IGNORECASE)
_NOT_HINTS = frozenset({"utf-8", "ascii", "utf-16", "utf-16-le", "utf-16-be", "utf-32"})


@dataclass(frozen=True, slots=True)
class Detected:
    """The outcome of detection: the codec, how many BOM bytes to skip, and how sure."""

    encoding: str
    bom_length: int = 0
    guessed: bool = False


def _is_utf8(path: Path) -> bool:
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    try:
        with path.open("rb") as stream:
            while chunk := stream.read(_CHUNK):
                decoder.decode(chunk)
            decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def _utf16_without_bom(sample: bytes) -> str | None:
    if len(sample) < 4:
        return None
    even_nuls = sample[0::2].count(0)
    odd_nuls = sample[1::2].count(0)
    half = len(sample) // 2
    if odd_nuls > half * 0.3 and even_nuls < half * 0.05:
        return "utf-16-le"
    if even_nuls > half * 0.3 and odd_nuls < half * 0.05:
        return "utf-16-be"
    return None


def _charset_hints(sample: bytes) -> list[str]:
    """Single-byte code pages the file names itself (vCard ``CHARSET=`` parameters)."""
    hints: list[str] = []
    for match in _CHARSET_PARAM.finditer(sample):
        try:
            name = codecs.lookup(match.group(1).decode("ascii")).name
        except LookupError:
            continue
        if name not in _NOT_HINTS and name not in hints:
            hints.append(name)
    return hints


def _evidence(path: Path) -> tuple[list[bytes], bool]:
    """Words with non-ASCII bytes from lines whose encoding is not declared on the line.

    A vCard line with a ``CHARSET=`` parameter says how its own bytes read: it is
    no evidence for the rest of the file. Returns the words, and whether the
    whole file was looked at (the number of words is bounded).
    """
    words: list[bytes] = []
    with path.open("rb") as stream:
        while line := stream.readline(_CHUNK):
            if line.isascii():
                continue
            head = line.split(b":", 1)[0]
            if len(head) < len(line) and b"CHARSET=" in head.upper():
                continue
            words.extend(_codepages.evidence_words(line))
            if len(words) >= _MAX_EVIDENCE:
                return words[:_MAX_EVIDENCE], False
    return words, True


def _guess_single_byte(path: Path, sample: bytes) -> str:
    try:
        words, complete = _evidence(path)
    except OSError as exc:
        raise SourceError(f"cannot be read: {exc.strerror or exc}", path=path) from None
    return _codepages.choose(words, _charset_hints(sample), utf8=complete)


def is_ascii_compatible(encoding: str) -> bool:
    """True when ``encoding`` writes ASCII text byte for byte (UTF-8, code pages, Shift_JIS).

    Readers may then split lines and fields on ASCII bytes before decoding values.
    """
    try:
        probe = "BEGIN:VCARD;=,\\\r\n".encode(encoding)
    except (LookupError, UnicodeError):
        return False
    return probe == b"BEGIN:VCARD;=,\\\r\n"


def _declared_bom(path: Path, codec: str) -> int:
    """Length of a UTF-8 BOM to skip when the user declared UTF-8 (other codecs skip theirs)."""
    if codec != "utf-8":
        return 0
    try:
        with path.open("rb") as stream:
            head = stream.read(3)
    except OSError as exc:
        raise SourceError(f"cannot be read: {exc.strerror or exc}", path=path) from None
    return 3 if head == codecs.BOM_UTF8 else 0


def detect_encoding(path: Path, declared: str | None = None) -> Detected:
    """Detect the encoding of ``path``; ``declared`` (``--encoding``) skips detection."""
    if declared:
        try:
            info = codecs.lookup(declared)
            if not getattr(info, "_is_text_encoding", True):
                raise LookupError(declared)
        except LookupError:
            raise SourceError(
                f"unknown encoding {declared!r}", path=path, hint="Try utf-8, cp1252 or utf-16."
            ) from None
        return Detected(declared, _declared_bom(path, info.name))
    try:
        with path.open("rb") as stream:
            sample = stream.read(_SAMPLE)
    except OSError as exc:
        raise SourceError(f"cannot be read: {exc.strerror or exc}", path=path) from None
    for bom, name in _BOMS:
        if sample.startswith(bom):
            return Detected(name, len(bom))
    utf16 = _utf16_without_bom(sample)
    if utf16:
        return Detected(utf16, guessed=True)
    try:
        utf8 = _is_utf8(path)
    except OSError as exc:
        raise SourceError(f"cannot be read: {exc.strerror or exc}", path=path) from None
    if utf8:
        return Detected("utf-8")
    return Detected(_guess_single_byte(path, sample), guessed=True)


@contextmanager
def open_text(
    path: Path, declared: str | None = None, *, newline: str | None = ""
) -> Iterator[tuple[io.TextIOWrapper, Detected]]:
    """Open ``path`` as text in its detected encoding; undecodable bytes become U+FFFD.

    ``newline=""`` (the default) keeps line endings as they are, as the csv module wants.
    """
    detected = detect_encoding(path, declared)
    try:
        raw = path.open("rb")
    except OSError as exc:
        raise SourceError(f"cannot be read: {exc.strerror or exc}", path=path) from None
    raw.seek(detected.bom_length)
    text = io.TextIOWrapper(raw, encoding=detected.encoding, errors="replace", newline=newline)
    try:
        yield text, detected
    finally:
        text.close()


BLOCK = 32 * 1024  # characters decoded and cut into lines at a time
# Characters str.splitlines() also takes for line ends, unlike csv and readline():
# a block holding one of them is cut by _LINE instead.
_OTHER_BREAKS = "\v\f\x1c\x1d\x1e\x85\u2028\u2029"
_LINE = re.compile(r"[^\r\n]*(?:\r\n?|\n)|[^\r\n]+")


def _cut(text: str) -> list[str]:
    """``text`` cut after each ``\\n``, ``\\r\\n`` or ``\\r``, the ends kept."""
    for char in _OTHER_BREAKS:
        if char in text:
            return _LINE.findall(text)
    return text.splitlines(True)


class Lines:
    """The physical lines of a text stream, numbered from 1, ends kept (``newline=""``).

    The stream is read :data:`BLOCK` characters at a time and each block cut into
    lines at C speed; iterating over :meth:`blocks` (flattened by the caller)
    costs nothing per line. A line of ``limit`` characters or more (its end not
    counted) is never held whole: it comes out as ``""`` and its number is added
    to :attr:`skipped`, for the caller to report. :attr:`nul` is non-empty once
    a NUL character has been read.

    The blocks holding line :attr:`keep_from` and after are kept, so that
    :meth:`since` can give lines again: the caller moves ``keep_from`` forward as
    it reads (to the first line it may want again), or every block is kept.
    """

    def __init__(self, stream: TextIO, limit: int, block: int | None = None) -> None:
        self._read = stream.read
        self._limit = limit
        self._block = min(block or BLOCK, limit - 1)  # a line never spans three blocks
        self.count = 0  # lines produced so far: the number of the last one
        self.skipped: list[int] = []  # numbers of overlong lines, in order
        self.nul: list[bool] = []  # non-empty once a NUL character was read
        self.keep_from = 1
        self._kept: deque[tuple[int, list[str]]] = deque()  # (number of the first line, lines)
        self._given: list[str] | None = None

    @classmethod
    def given(cls, lines: list[str], limit: int) -> Lines:
        """Lines already cut (a sample of another Lines): ``""`` is a skipped line."""
        made = cls(io.StringIO(), limit)
        made._given = lines
        return made

    def blocks(self) -> Iterator[list[str]]:
        """The lines, a block at a time (each list is kept: do not change it)."""
        if self._given is not None:
            self.skipped.extend(i for i, line in enumerate(self._given, 1) if not line)
            if any("\x00" in line for line in self._given):
                self.nul.append(True)
            if self._given:
                yield self._keep(list(self._given))
            return
        read, size, limit = self._read, self._block, self._limit
        carry = ""  # the start of a line whose end is not read yet
        skipping = False  # carry belongs to an overlong line: dropped
        while True:
            self._trim()  # before the next block is cut: only one is held
            block = read(size)
            if not block:
                break
            if "\x00" in block:
                self.nul.append(True)
            lines = _cut(carry + block if carry else block)
            del block
            carry = lines.pop()
            if carry[-1] == "\n":  # complete ("\r" may be half of "\r\n": held)
                lines.append(carry)
                carry = ""
            if lines:
                first = lines[0]
                if skipping or (len(first) > limit and len(first.rstrip("\r\n")) >= limit):
                    lines[0] = ""
                    self.skipped.append(self.count + 1)
                    skipping = False
            if len(carry) > limit or (len(carry) == limit and carry[-1] != "\r"):
                skipping = True  # the line goes on: no need to hold it
            if skipping:
                carry = "\r" if carry.endswith("\r") else ""
            if lines:
                yield self._keep(lines)
            del lines
        if carry or skipping:
            if skipping:
                self.skipped.append(self.count + 1)
            yield self._keep(["" if skipping else carry])

    def _trim(self) -> None:
        """Forget the blocks that end before line :attr:`keep_from`."""
        kept, keep_from = self._kept, self.keep_from
        while kept and kept[0][0] + len(kept[0][1]) <= keep_from:
            kept.popleft()

    def _keep(self, lines: list[str]) -> list[str]:
        self._trim()
        self._kept.append((self.count + 1, lines))
        self.count += len(lines)
        return lines

    def since(self, first: int) -> list[str]:
        """The lines read from number ``first`` on (it must not be before ``keep_from``)."""
        out: list[str] = []
        for number, lines in self._kept:
            if number + len(lines) > first:
                out.extend(lines[max(first - number, 0) :])
        return out
