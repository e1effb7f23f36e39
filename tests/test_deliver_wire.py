"""The fast paths of what goes on the wire give exactly what the slow, general code gives.

``wire_content`` skips aiosmtplib's line-ending normalisation and dot-stuffing when a
message needs neither; ``quoted`` skips aiosmtplib's address parser for a plain
address; ``xtext`` leaves a value with nothing to encode as it is. Each is checked
against the general code on random input and on the cases that must take the slow path.
"""

from __future__ import annotations

import string

from aiosmtplib.email import quote_address
from aiosmtplib.protocol import PERIOD_REGEX, normalize_message_line_endings
from hypothesis import given
from hypothesis import strategies as st

from notify.deliver.session import quoted, wire_content, xtext


def _reference_content(data: bytes) -> bytes:
    return PERIOD_REGEX.sub(b"..", normalize_message_line_endings(data)) + b".\r\n"


def _reference_xtext(value: str) -> str:
    out = []
    for byte in value.encode("utf-8"):
        if 33 <= byte <= 126 and byte not in (0x2B, 0x3D):
            out.append(chr(byte))
        else:
            out.append(f"+{byte:02X}")
    return "".join(out)


_LINE_BYTES = st.binary(max_size=40).map(lambda b: b.replace(b"\r", b"").replace(b"\n", b""))


@given(st.lists(_LINE_BYTES, max_size=8), st.sampled_from([b"\r\n", b"\n", b"\r", b""]))
def test_wire_content_equals_normalised_and_dot_stuffed(lines: list[bytes], end: bytes) -> None:
    """CRLF messages (the fast path), and any other line ends (the slow path)."""
    for data in (b"\r\n".join(lines) + end, b"\n".join(lines) + end, b"\r".join(lines) + end):
        assert wire_content(data) == _reference_content(data)


@given(st.binary(max_size=200))
def test_wire_content_equals_the_reference_on_any_bytes(data: bytes) -> None:
    """Bare CR, bare LF, leading dots, NUL: always what aiosmtplib would send."""
    assert wire_content(data) == _reference_content(data)


def test_wire_content_stuffs_dots_and_fixes_line_ends() -> None:
    """The cases the fast path must leave to the general code."""
    assert wire_content(b".a\r\nb\r\n") == b"..a\r\nb\r\n.\r\n"
    assert wire_content(b"a\r\n.b\r\n") == b"a\r\n..b\r\n.\r\n"
    assert wire_content(b"a\nb") == b"a\r\nb\r\n.\r\n"
    assert wire_content(b"a\rb\r\n") == b"a\r\nb\r\n.\r\n"
    assert wire_content(b"a\r\r\nb\r\n") == b"a\r\n\r\nb\r\n.\r\n"
    assert wire_content(b"a\r\nb\r\n") == b"a\r\nb\r\n.\r\n"


_LOCAL = string.ascii_letters + string.digits + "._+-!#$%&'*/=?^`{|}~\"(),:;<>@[\\] é"


@given(st.text(alphabet=_LOCAL, min_size=1, max_size=20), st.from_regex(r"[a-z0-9.-]{1,20}"))
def test_quoted_equals_aiosmtplib_quote_address(local: str, domain: str) -> None:
    """Same result, or the same refusal, as aiosmtplib's parser."""
    address = f"{local}@{domain}"
    try:
        expected = quote_address(address)
    except ValueError:
        try:
            quoted(address)
        except ValueError:
            return
        raise AssertionError(f"{address!r} should be refused") from None
    assert quoted(address) == expected


def test_quoted_plain_and_unusual_addresses() -> None:
    """A plain address is bracketed; a display name or a newline goes to the parser."""
    assert quoted("emilie.lefevre.0@exemple-sante.fr") == "<emilie.lefevre.0@exemple-sante.fr>"
    assert quoted("Dr X <x@exemple.fr>") == quote_address("Dr X <x@exemple.fr>") == "<x@exemple.fr>"
    for bad in ("a\r\nRCPT TO:<b@c.d>@e.fr", "a@b.fr\n"):
        try:
            quote_address(bad)
        except ValueError:
            refused = True
        else:
            refused = False
        if refused:
            try:
                quoted(bad)
            except ValueError:
                continue
            raise AssertionError(f"{bad!r} should be refused")
        assert quoted(bad) == quote_address(bad)


@given(st.text(alphabet=st.characters(exclude_categories=["Cs"]), max_size=30))
def test_xtext_equals_the_byte_by_byte_encoding(value: str) -> None:
    """The plain-value shortcut changes nothing."""
    assert xtext(value) == _reference_xtext(value)


def test_xtext_plain_values_stay_as_they_are() -> None:
    assert xtext("notify-3-12") == "notify-3-12"
    assert xtext("a+b=c d") == "a+2Bb+3Dc+20d"
