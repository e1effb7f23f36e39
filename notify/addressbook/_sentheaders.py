"""Header layer of the Sent-folder reader: one header block in, the facts notify needs out.

Bytes are decoded as UTF-8 (RFC 6532) or, line by line, as Windows-1252 (8-bit
headers from old mailers). The block is split into raw headers by the standard
library's compat32 parser; each wanted header is then parsed on its own, so a
hostile Cc cannot cost the rest of the message.

Address lists use the standard library's RFC 5322 parser (``email.headerregistry``),
which is exact but slow (about 0.1 ms per address). Since the same correspondents
come back message after message, a list without quotes, comments, groups or
domain literals is split on commas and each item's parse is cached.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.headerregistry import AddressHeader, HeaderRegistry
from email.parser import Parser
from email.utils import parsedate_to_datetime
from functools import lru_cache

from notify.addressbook.addresses import strip_wrappers

MAX_SUBJECT = 200  # characters kept of a subject
MAX_NAME = 120  # characters kept of a display name
_WANTED = frozenset({"from", "to", "cc", "bcc", "date", "subject"})
_LINE_BREAK = re.compile(r"\r\n|\r|\n")
_SURROGATE = re.compile("[\ud800-\udfff]")
_ESCAPED_BYTES = re.compile("[\udc80-\udcff]+")  # bytes the email package could not decode
# C0 and C1 controls, and the bidirectional overrides that can disguise a subject.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")
# Characters after which a comma may not separate two addresses.
_NOT_SPLITTABLE = re.compile(r'["(\\:;\[]|=\?[^?\s]*\?[bBqQ]\?[^?\s]*,')

_PARSER = Parser()  # compat32: raw header values only
_REGISTRY = HeaderRegistry()


@dataclass(slots=True)
class Headers:
    """What notify needs from one message's headers."""

    senders: list[str] = field(default_factory=list)  # From addresses, case-folded
    recipients: list[tuple[str, str]] = field(default_factory=list)  # (address, name)
    date: datetime | None = None  # time-zone aware
    date_given: bool = False  # a Date header was there, readable or not
    raw_subject: str = ""  # decoded on demand (only window messages are quoted)
    unreadable: list[str] = field(default_factory=list)  # headers that could not be parsed

    @property
    def subject(self) -> str:
        """The subject, RFC 2047 decoded, on one line of at most MAX_SUBJECT characters."""
        return _decode_subject(self.raw_subject)


@lru_cache(maxsize=1024)
def _decode_subject(raw: str) -> str:
    try:
        text = str(_REGISTRY("subject", raw))
    except Exception:  # the stdlib parser on hostile input: show the raw text
        text = raw
    return clean_text(text, MAX_SUBJECT)


def _decode_block(data: bytes) -> str:
    """Headers as text: UTF-8 when it is, else each line as UTF-8 or cp1252."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    lines = []
    for line in data.splitlines(keepends=True):
        try:
            lines.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            lines.append(line.decode("cp1252", errors="replace"))
    return "".join(lines)


def _unescape(match: re.Match[str]) -> str:
    """Undecodable bytes (an unknown charset, say) read as UTF-8, else as cp1252."""
    raw = bytes(ord(char) - 0xDC00 for char in match.group())
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def clean_text(text: str, limit: int) -> str:
    """One line of printable text: no surrogates, controls or runs of spaces."""
    if _SURROGATE.search(text):
        text = _SURROGATE.sub("\ufffd", _ESCAPED_BYTES.sub(_unescape, text))
    text = " ".join(_CONTROL.sub(" ", text).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


@lru_cache(maxsize=8192)
def _parse_addresses(value: str) -> tuple[tuple[str, str], ...]:
    """(address, display name) pairs of an address list; values without @ are skipped."""
    header = _REGISTRY("to", value)
    if not isinstance(header, AddressHeader):  # pragma: no cover - "to" is an address header
        return ()
    pairs = []
    for address in header.addresses:
        spec = clean_text(address.addr_spec, 320)
        local, _, domain = spec.rpartition("@")
        if not local or not domain:
            continue
        name = clean_text(address.display_name, MAX_NAME).strip("'\" ")
        if strip_wrappers(name).casefold() == spec.casefold():
            name = ""
        pairs.append((spec, name))
    return tuple(pairs)


def _split_items(value: str) -> list[str]:
    """Split an address list on the commas outside quotes, comments and angle brackets."""
    items: list[str] = []
    start, depth, quoted, escaped = 0, 0, False, False
    for index, char in enumerate(value):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == '"':
            quoted = not quoted
        elif quoted:
            continue
        elif char in "(<":
            depth += 1
        elif char in ")>":
            depth = max(0, depth - 1)
        elif char == "," and depth == 0:
            items.append(value[start:index])
            start = index + 1
    items.append(value[start:])
    return [item.strip() for item in items if item.strip()]


def address_list(value: str) -> tuple[list[tuple[str, str]], bool]:
    """The (address, display name) pairs of an unfolded To, Cc, Bcc or From value.

    The second value is True when part of the list could not be read: the standard
    library's parser fails on some lists as a whole (a stray quote, a local part
    starting with a dot); they are then read item by item and only the bad item is lost.
    """
    value = value.strip()
    if _NOT_SPLITTABLE.search(value):
        try:
            return list(_parse_addresses(value)), False
        except Exception:  # the stdlib parser on hostile input: read item by item
            items = _split_items(value)
    else:
        items = [item.strip() for item in value.split(",") if item.strip()]
    pairs: list[tuple[str, str]] = []
    lost = False
    for item in items:
        try:
            pairs.extend(_parse_addresses(item))
        except Exception:  # this item only
            lost = True
    return pairs, lost


def _date(value: str) -> datetime | None:
    try:
        moment = parsedate_to_datetime(value)
    except (ValueError, TypeError, IndexError, OverflowError):
        return None
    # No zone in the header: RFC 5322 reads "-0000" as UTC with no local offset known.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _take(headers: Headers, name: str, value: str) -> None:
    value = _LINE_BREAK.sub("", value)
    if name == "date":
        headers.date_given = True
        headers.date = _date(value.strip())
    elif name == "subject":
        headers.raw_subject = value
    else:
        pairs, lost = address_list(value)
        if lost:
            headers.unreadable.append(name.capitalize())
        if name == "from":
            headers.senders.extend(spec.casefold() for spec, _ in pairs)
        else:
            headers.recipients.extend(pairs)


def parse_headers(data: bytes) -> Headers:
    """Read From, To, Cc, Bcc, Date and Subject; a header that fails is noted, not fatal."""
    message = _PARSER.parsestr(_decode_block(data), headersonly=True)
    headers = Headers()
    for raw_name, value in message.raw_items():
        name = raw_name.strip().lower()
        if name not in _WANTED or not isinstance(value, str):
            continue
        try:
            _take(headers, name, value)
        except Exception:  # the stdlib header parser on hostile input: keep going
            headers.unreadable.append(raw_name.strip())
    return headers
