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
"""

from __future__ import annotations

import codecs
import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

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
