"""Parameters and values of vCard properties: transfer encodings, charsets, escapes.

Order matters and follows the vCard layers: the value is unfolded, then its
transfer encoding undone (QUOTED-PRINTABLE or BASE64) to bytes, then those
bytes are decoded (the property's ``CHARSET``, else the file's encoding), and
only then are backslash escapes and ``;`` separators read. Decoding before
unescaping matters: in Shift_JIS the second byte of 能 is a backslash.
"""

from __future__ import annotations

import base64
import binascii
import codecs
import re
from dataclasses import dataclass, field
from functools import lru_cache

from notify.addressbook._vcardlines import RawProperty

_ENCODINGS = {
    "QUOTED-PRINTABLE": "QP",
    "QP": "QP",
    "BASE64": "B",
    "B": "B",
    "8BIT": "",
    "7BIT": "",
}
_CHARSET_LIKE = re.compile(
    r"(utf-?8|us-ascii|ascii|iso-?8859-\d{1,2}|windows-\d{3,4}|cp\d{3,4}|shift[_-]?jis|"
    r"sjis|euc-jp|euc-kr|iso-2022-jp|gb2312|gbk|gb18030|big5|koi8-[ru]|latin-?1)",
    re.IGNORECASE,
)
_ESCAPES = {"n": "\n", "N": "\n", "\\": "\\", ";": ";", ",": ",", ":": ":"}
_ESCAPE = re.compile(r"\\(.)", re.DOTALL)
_MAX_B64 = 64 * 1024
# Text codecs that are not character sets: they can fail or warn on any bytes.
_NOT_CHARSETS = frozenset(
    {"idna", "punycode", "unicode-escape", "raw-unicode-escape", "undefined", "mbcs", "oem"}
)


@dataclass(frozen=True, slots=True)
class Params:
    """The parameters of one property that the reader uses."""

    encoding: str = ""  # "QP", "B" or "" (none)
    charset: str = ""  # a Python codec name, validated
    bad_charset: str = ""  # a CHARSET value that names no usable codec
    types: frozenset[str] = frozenset()  # lower-cased TYPE values, bare 2.1 ones too
    pref: int | None = None  # PREF=n (vCard 4.0)


@dataclass(slots=True)
class _ParamsBuilder:
    encoding: str = ""
    charset: str = ""
    bad_charset: str = ""
    types: set[str] = field(default_factory=set)
    pref: int | None = None


@dataclass(frozen=True, slots=True)
class FileCodec:
    """How the file's text reached the reader.

    ``encoding`` is the file's (detected or declared) encoding; ``byte_transport``
    says each transport character stands for one byte (Latin-1), so values still
    need decoding; ``guessed`` says the encoding was inferred, not known.
    """

    encoding: str
    byte_transport: bool
    guessed: bool = False


@dataclass(slots=True)
class Decoded:
    """A decoded value and, when its bytes needed a guess, a note for the user."""

    text: str
    note: str = ""
    used_file_encoding: bool = False


def _split_params(head: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    inside = False
    for char in head:
        if char == '"':
            inside = not inside
        elif char == ";" and not inside:
            parts.append("".join(current))
            current = []
            continue
        current.append(char)
    parts.append("".join(current))
    return parts[1:]


_NO_PARAMS = Params()


def parse_params(head: str) -> Params:
    """Read the parameters of a property head (``EMAIL;TYPE=work,pref;PREF=1``)."""
    if ";" not in head:
        return _NO_PARAMS
    if len(head) > 200:
        return _parse_params(head)
    return _parse_params_cached(head)


@lru_cache(maxsize=1024)
def _parse_params_cached(head: str) -> Params:
    return _parse_params(head)


def _parse_params(head: str) -> Params:
    params = _ParamsBuilder()
    for part in _split_params(head):
        key, sep, raw = part.partition("=")
        key = key.strip().upper()
        values = [v.strip().strip('"').strip() for v in raw.split(",")] if sep else []
        if not sep:
            _bare_param(params, key)
        elif key == "ENCODING":
            params.encoding = _ENCODINGS.get(raw.strip().strip('"').upper(), params.encoding)
        elif key == "CHARSET":
            _set_charset(params, raw.strip().strip('"'))
        elif key == "TYPE":
            params.types.update(v.lower() for v in values if v)
        elif key == "PREF":
            params.pref = _pref(raw)
    return Params(
        params.encoding, params.charset, params.bad_charset, frozenset(params.types), params.pref
    )


def _bare_param(params: _ParamsBuilder, word: str) -> None:
    """A vCard 2.1 parameter without a name: an encoding, a charset or a type."""
    if word in _ENCODINGS:
        params.encoding = _ENCODINGS[word]
    elif _CHARSET_LIKE.fullmatch(word):
        _set_charset(params, word)
    elif word:
        params.types.add(word.lower())


def _pref(raw: str) -> int | None:
    digits = raw.strip().strip('"')
    if digits.isdigit() and len(digits) <= 3:
        return int(digits)
    return None


def _set_charset(params: _ParamsBuilder, name: str) -> None:
    codec = text_codec(name)
    if codec:
        params.charset = codec
    elif name:
        params.bad_charset = name[:40]


@lru_cache(maxsize=256)
def text_codec(name: str) -> str:
    """The Python codec for a charset name, or ``""`` if it is unknown or not for text."""
    if not name or len(name) > 40:
        return ""
    try:
        info = codecs.lookup(name)
    except LookupError:
        return ""
    if not getattr(info, "_is_text_encoding", True) or info.name in _NOT_CHARSETS:
        return ""
    return info.name


def decode(prop: RawProperty, params: Params, version: str, codec: FileCodec) -> Decoded:
    """Unfold, undo the transfer encoding and decode the value of ``prop``."""
    raw = prop.value(version)
    if params.encoding == "QP":
        data = binascii.a2b_qp(_to_bytes(raw, codec))
    elif params.encoding == "B":
        data = _base64(raw, codec)
    elif not codec.byte_transport or raw.isascii():
        return Decoded(raw)
    else:
        data = raw.encode("latin-1")
    return _decode_bytes(data, params, codec)


def _to_bytes(raw: str, codec: FileCodec) -> bytes:
    return raw.encode("latin-1" if codec.byte_transport else "utf-8")


def _base64(raw: str, codec: FileCodec) -> bytes:
    compact = "".join(raw.split())[:_MAX_B64]
    try:
        return base64.b64decode(compact + "=" * (-len(compact) % 4))
    except (binascii.Error, ValueError):
        return _to_bytes(raw, codec)


def _decode_bytes(data: bytes, params: Params, codec: FileCodec) -> Decoded:
    if params.charset:
        try:
            return Decoded(data.decode(params.charset))
        except UnicodeError:
            text = data.decode(params.charset, errors="replace")
            return Decoded(text, f"bytes that are not {params.charset} were replaced")
    encoding = codec.encoding if codec.byte_transport else "utf-8"
    try:
        return Decoded(data.decode(encoding), used_file_encoding=not data.isascii())
    except UnicodeDecodeError:
        pass
    if encoding == "utf-8":
        try:
            return Decoded(data.decode("cp1252"), "not UTF-8: read as Windows-1252")
        except UnicodeDecodeError:
            pass
    text = data.decode(encoding, errors="replace")
    return Decoded(text, f"bytes that are not {encoding} were replaced")


def unescape(text: str) -> str:
    r"""Undo backslash escapes (``\n``, ``\,``, ``\;``, ``\\``, ``\:``); keep others."""
    if "\\" not in text:
        return text
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(0)), text)


def split_unescaped(text: str, separator: str) -> list[str]:
    r"""Split on ``separator`` where it is not escaped, then unescape each part."""
    if "\\" not in text:
        return text.split(separator)
    parts: list[str] = []
    current: list[str] = []
    index = 0
    while index < len(text):
        char = text[index]
        if char == "\\" and index + 1 < len(text):
            current.append(text[index : index + 2])
            index += 2
            continue
        if char == separator:
            parts.append(unescape("".join(current)))
            current = []
        else:
            current.append(char)
        index += 1
    parts.append(unescape("".join(current)))
    return parts
