"""Reading text files whose encoding nobody wrote down.

Address books arrive as UTF-8 (with or without BOM), UTF-16 (Outlook, some
vCard exporters) or a Windows code page (French Outlook: Windows-1252). The
encoding is *detected*: a byte-order mark wins; otherwise a file that decodes as
UTF-8 from end to end is UTF-8; otherwise UTF-16 without BOM is recognised by
its NUL bytes; otherwise charset-normalizer chooses among the single-byte code
pages, and Windows-1252 is the fallback. The whole file is checked in chunks,
so memory stays flat however large it is.
"""

from __future__ import annotations

import codecs
import io
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from charset_normalizer import from_bytes

from notify.errors import SourceError

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32-le"),
    (codecs.BOM_UTF32_BE, "utf-32-be"),
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
_CHUNK = 1 << 20
_SAMPLE = 256 * 1024
# Single-byte code pages a European address book is likely to use, most likely first.
_CANDIDATES = ["cp1252", "iso-8859-15", "cp1250", "cp1251", "cp1253", "iso-8859-7", "cp1255"]


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


def _guess_single_byte(sample: bytes) -> str:
    best = from_bytes(sample, cp_isolation=_CANDIDATES).best()
    if best is None:
        return "cp1252"
    return str(best.encoding)


def detect_encoding(path: Path, declared: str | None = None) -> Detected:
    """Detect the encoding of ``path``; ``declared`` (``--encoding``) skips detection."""
    if declared:
        try:
            codecs.lookup(declared)
        except LookupError:
            raise SourceError(
                f"unknown encoding {declared!r}", path=path, hint="Try utf-8, cp1252 or utf-16."
            ) from None
        return Detected(declared)
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
    if _is_utf8(path):
        return Detected("utf-8")
    return Detected(_guess_single_byte(sample), guessed=True)


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
