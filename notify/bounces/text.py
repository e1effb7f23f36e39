"""Reading a message safely: headers, decoded text parts, addresses, message ids.

Everything here tolerates broken MIME, unknown or lying charsets and truncated
parts: it returns what it can and never raises on the content of a message.
"""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from email.header import decode_header, make_header
from email.message import Message
from email.parser import HeaderParser
from email.utils import getaddresses
from typing import Final

ADDRESS_RE: Final = re.compile(
    r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z][A-Za-z0-9-]{1,62}"
)
_MESSAGE_ID_RE: Final = re.compile(r"^[ \t>]*Message-ID:[ \t]*(<[^<>\s]+>)", re.I | re.M)
_ANY_ID_RE: Final = re.compile(r"<[^<>\s]+@[^<>\s]+>")
_SPACES_RE: Final = re.compile(r"\s+")

ORIGINAL_TYPES: Final = ("message/rfc822", "message/global", "text/rfc822-headers")
ORIGINAL_HEADERS_TYPES: Final = ("text/rfc822-headers", "message/global-headers")


def header(message: Message, name: str) -> str | None:
    """Return a header decoded from RFC 2047 and unfolded, or None if absent."""
    try:
        raw = message.get(name)
        if raw is None:
            return None
        text = _decode_words(str(raw))
    except Exception:
        return None
    return _SPACES_RE.sub(" ", text).strip()


def _decode_words(value: str) -> str:
    try:
        return str(make_header(decode_header(value)))
    except Exception:
        return value


def first_address(value: str | None) -> str | None:
    """Return the first e-mail address in a header value or a DSN field, or None."""
    if not value:
        return None
    try:
        pairs = getaddresses([value])
    except Exception:
        pairs = []
    for _, address in pairs:
        match = ADDRESS_RE.fullmatch(address.strip())
        if match:
            return match.group(0)
    match = ADDRESS_RE.search(value)
    return match.group(0) if match else None


def content_type(part: Message) -> str:
    """Return the part's lower-case content type, ``text/plain`` when unreadable."""
    try:
        return part.get_content_type().lower()
    except Exception:
        return "text/plain"


def param(part: Message, name: str) -> str:
    """Return a Content-Type parameter, lower-case, or an empty string."""
    try:
        value = part.get_param(name)
    except Exception:
        return ""
    if isinstance(value, tuple):
        value = value[2]
    return str(value or "").lower()


def decoded_text(part: Message) -> str:
    """Return a part's payload as text: transfer-decoded, then charset-decoded."""
    try:
        payload = part.get_payload(decode=True)
    except Exception:
        payload = None
    if payload is None:
        raw = part.get_payload()
        return raw if isinstance(raw, str) else ""
    if not isinstance(payload, bytes):
        return str(payload)
    return decode_bytes(payload, _charset(part))


def _charset(part: Message) -> str | None:
    try:
        charset = part.get_content_charset()
    except Exception:
        return None
    return charset or None


def decode_bytes(data: bytes, charset: str | None) -> str:
    """Decode ``data`` with the declared charset, else UTF-8, else Windows-1252."""
    for candidate in (charset, "utf-8"):
        if not candidate:
            continue
        try:
            return data.decode(candidate)
        except (LookupError, UnicodeDecodeError, ValueError):
            continue
    return data.decode("cp1252", errors="replace")


def walk(message: Message) -> Iterator[tuple[Message, bool]]:
    """Yield every part with a flag telling whether it sits inside a returned message."""
    yield from _walk(message, inside=False, depth=0)


def _walk(part: Message, *, inside: bool, depth: int) -> Iterator[tuple[Message, bool]]:
    yield part, inside
    if depth > 20:
        return
    payload = part.get_payload()
    if not isinstance(payload, list):
        return
    kind = content_type(part)
    child_inside = inside or kind in ORIGINAL_TYPES
    for child in payload:
        if isinstance(child, Message):
            yield from _walk(child, inside=child_inside, depth=depth + 1)


def notice_text(message: Message) -> str:
    """Return the human-readable text of a notice: its text parts outside returned mail."""
    texts = []
    for part, inside in walk(message):
        if inside or part.is_multipart():
            continue
        kind = content_type(part)
        if kind.startswith("multipart/"):  # broken: no boundary, read as text
            texts.append(decoded_text(part))
        elif kind == "text/html":
            texts.append(_strip_html(decoded_text(part)))
        elif kind.startswith("text/") and kind not in ORIGINAL_HEADERS_TYPES:
            texts.append(decoded_text(part))
    return "\n".join(texts)


_TAG_RE: Final = re.compile(r"<(br|p|div|tr|li)\b[^>]*>|<[a-z/!][^>]*>", re.IGNORECASE)


def _strip_html(text: str) -> str:
    def replace(match: re.Match[str]) -> str:
        return "\n" if match.group(1) else ""

    return html.unescape(_TAG_RE.sub(replace, text))


def original_headers(message: Message) -> Message | None:
    """Return the headers of the returned original message, if the report carries it."""
    for part, _ in walk(message):
        kind = content_type(part)
        if kind in ("message/rfc822", "message/global"):
            payload = part.get_payload()
            if isinstance(payload, list) and payload and isinstance(payload[0], Message):
                return payload[0]
        elif kind in ORIGINAL_HEADERS_TYPES:
            headers = _parse_headers(decoded_text(part))
            if headers is not None:
                return headers
    return None


def _parse_headers(text: str) -> Message | None:
    try:
        return HeaderParser().parsestr(text.lstrip())
    except Exception:  # broken headers are only missing ones
        return None


def original_message_id(message: Message, returned_text: str = "") -> str | None:
    """Return the Message-ID of the message that bounced.

    From the returned message or its headers; failing that, In-Reply-To /
    References of the report; failing that, a ``Message-ID:`` line in the text.
    """
    original = original_headers(message)
    if original is not None:
        found = _ANY_ID_RE.search(header(original, "Message-ID") or "")
        if found:
            return found.group(0)
    for name in ("In-Reply-To", "References"):
        found = _ANY_ID_RE.search(header(message, name) or "")
        if found:
            return found.group(0)
    match = _MESSAGE_ID_RE.search(returned_text)
    return match.group(1) if match else None


def clean_diagnostic(text: str | None, limit: int = 500) -> str | None:
    """Return a diagnostic on one line, shortened to ``limit`` characters."""
    if not text:
        return None
    flat = _SPACES_RE.sub(" ", text).strip()
    if len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    return flat or None
