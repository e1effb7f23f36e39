"""MIME building: header encoding and folding, bodies, Message-ID, boundary."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from email import policy
from email.parser import BytesParser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from notify.compose import make_message_id, mime
from notify.errors import UsageError

PARSER = BytesParser(policy=policy.default)
NASTY = st.text(
    alphabet=st.one_of(
        st.sampled_from(list('\r\n\x00\t\u2028\u2029\u202e\x0b\x0c:;,<>@"\\=?_ ')),
        st.characters(codec="utf-8", exclude_categories=["Cs"]),
    ),
    max_size=200,
)


def _parse_headers(raw: str) -> dict[str, list[str]]:
    message = PARSER.parsebytes((raw + "\r\n").encode("utf-8"))
    return {key.lower(): [str(v) for v in message.get_all(key, [])] for key in message}


def _expected(value: str) -> str:
    return mime.clean_header_text(value)


def test_clean_header_text_removes_every_line_break() -> None:
    """CR, LF, NUL, tabs, U+2028 and bidi overrides become single spaces."""
    assert mime.clean_header_text("a\r\nBcc: x@y\x00\tb\u2028c\u202ed  e") == "a Bcc: x@y b c d e"


def test_ascii_subject_is_written_as_itself() -> None:
    """A plain ASCII subject needs no encoding."""
    assert mime.unstructured_header("Subject", "Hello there") == "Subject: Hello there\r\n"


def test_non_ascii_subject_is_encoded_and_decodes_back() -> None:
    """A French subject becomes RFC 2047 encoded-words that decode to the same text."""
    header = mime.unstructured_header("Subject", "Attention : ma messagerie a été piratée")
    assert header.isascii()
    assert "=?utf-8?q?" in header
    assert _parse_headers(header)["subject"] == ["Attention : ma messagerie a été piratée"]


def test_long_subject_is_folded_within_78_characters() -> None:
    """A long subject, ASCII or not, is folded so that no line exceeds 78 characters."""
    for text in ("word " * 40, "é" * 120, "x" * 150):
        header = mime.unstructured_header("Subject", text)
        assert all(len(line) <= 78 for line in header.split("\r\n"))
        assert _parse_headers(header)["subject"] == [_expected(text)]


def test_subject_looking_like_an_encoded_word_is_encoded() -> None:
    """Text that looks like an encoded-word is encoded, so it reads back literally."""
    text = "=?utf-8?q?Bcc:_x@y?="
    assert _parse_headers(mime.unstructured_header("Subject", text))["subject"] == [text]


def test_address_header_quotes_an_ascii_name() -> None:
    """A plain name is quoted, so commas and dots cannot split the address."""
    header = mime.address_header("To", "Dupont, Jean", "jean@exemple.fr")
    assert header == 'To: "Dupont, Jean" <jean@exemple.fr>\r\n'
    parsed = PARSER.parsebytes(header.encode() + b"\r\n")
    assert [a.addr_spec for a in parsed["to"].addresses] == ["jean@exemple.fr"]


def test_address_header_without_name_is_the_bare_address() -> None:
    """No name, no phrase."""
    assert mime.address_header("To", " \r\n ", "a@b.fr") == "To: a@b.fr\r\n"


@pytest.mark.parametrize(
    "name",
    [
        "Jean\r\nBcc: victim@evil.example",
        "Jean\nCc: a@b.c, d@e.f",
        'Evil" <attacker@evil.example>, "x',
        "Jean\x00Dupont",
        "Jean\u2028Bcc: x@y.z",
        "<attacker@evil.example>",
        "=?utf-8?q?attacker=40evil.example?= <attacker@evil.example>",
        'Ève Müller, Dr. (Cabinet; Lyon) \\ "quoted"',
    ],
)
def test_no_name_can_add_a_recipient_or_a_header(name: str) -> None:
    """Whatever the name holds, the header has one address and no Cc or Bcc appears."""
    header = mime.address_header("To", name, "jean@exemple.fr")
    parsed = PARSER.parsebytes(header.encode("utf-8") + b"\r\n")
    assert list(parsed.keys()) == ["To"]
    assert [a.addr_spec for a in parsed["to"].addresses] == ["jean@exemple.fr"]
    assert not parsed.defects


@settings(max_examples=150, deadline=None)
@given(name=NASTY, subject=NASTY)
def test_random_names_and_subjects_round_trip(name: str, subject: str) -> None:
    """Random names and subjects parse back to the cleaned value, with no extra header."""
    raw = mime.address_header("To", name, "jean@exemple.fr") + mime.unstructured_header(
        "Subject", subject
    )
    assert all(len(line) <= 78 for line in raw.split("\r\n"))
    message = PARSER.parsebytes(raw.encode("utf-8") + b"\r\n")
    assert sorted(message.keys()) == ["Subject", "To"]
    assert [a.addr_spec for a in message["to"].addresses] == ["jean@exemple.fr"]
    display = _expected(name).replace("<", " ").replace(">", " ")
    shown = message["to"].addresses[0].display_name
    # CPython's phrase parser adds a space between adjacent encoded-words (RFC 2047
    # says to ignore it), so display names are compared without their whitespace.
    assert "".join(shown.split()) == "".join(display.split())
    assert str(message["subject"]) == _expected(subject)


def test_make_message_id_is_deterministic_and_hides_the_address() -> None:
    """Same campaign and recipient, same Message-ID; the address is not in it."""
    first = make_message_id("campaign-1", "jean.dupont@exemple.fr", "exemple.org")
    assert first == make_message_id("campaign-1", "jean.dupont@exemple.fr", "exemple.org")
    assert first != make_message_id("campaign-2", "jean.dupont@exemple.fr", "exemple.org")
    assert re.fullmatch(r"<[a-z2-7]{26}@exemple\.org>", first)
    assert "dupont" not in first


def test_make_message_id_encodes_an_international_domain() -> None:
    """The domain is written in IDNA form."""
    assert make_message_id("c", "k", "médecins.fr").endswith("@xn--mdecins-bya.fr>")


def test_make_message_id_refuses_a_domain_that_could_break_the_header() -> None:
    """A domain with spaces or brackets is refused with a clear error."""
    with pytest.raises(UsageError, match="Message-ID domain"):
        make_message_id("c", "k", "exemple.org>\r\nBcc: x")


def test_check_message_id_rejects_line_breaks() -> None:
    """A Message-ID with a line break cannot reach the header."""
    with pytest.raises(UsageError, match="not a valid Message-ID"):
        mime.check_message_id("<a@b>\r\nBcc: x@y")


def test_check_message_id_adds_angle_brackets() -> None:
    """A bare id gets its angle brackets."""
    assert mime.check_message_id("abc@exemple.org") == "<abc@exemple.org>"


def test_format_date_needs_a_time_zone() -> None:
    """A naive datetime is refused: a Date header must carry its zone."""
    with pytest.raises(UsageError, match="time zone"):
        mime.format_date(datetime(2026, 11, 28, 10, 0))


def test_format_date_is_rfc_5322() -> None:
    """The date is written as RFC 5322 requires."""
    date = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)
    assert mime.format_date(date) == "Sat, 28 Nov 2026 10:00:00 +0000"


def test_ascii_body_with_short_lines_is_7bit() -> None:
    """Plain ASCII with short lines needs no encoding."""
    body = mime.encode_body("Hello\nworld\n")
    assert (body.encoding, body.data) == ("7bit", b"Hello\r\nworld\r\n")


def test_body_with_long_or_non_ascii_lines_is_quoted_printable() -> None:
    """Accents or long lines use QP, whose lines stay within 76 characters."""
    for text in ("é\n", "x" * 300 + "\n"):
        body = mime.encode_body(text)
        assert body.encoding == "quoted-printable"
        assert all(len(line) <= 76 for line in body.data.split(b"\r\n"))


def test_body_never_holds_a_bare_cr_or_nul() -> None:
    """Bare CR becomes a line break; NUL is encoded."""
    body = mime.encode_body("a\rb\x00c\n")
    assert b"\x00" not in body.data
    assert re.search(rb"\r(?!\n)", body.data) is None


def test_boundary_is_derived_from_the_message_id() -> None:
    """Same Message-ID, same boundary; another Message-ID, another boundary."""
    assert mime.boundary_for("<a@b>") == mime.boundary_for("<a@b>")
    assert mime.boundary_for("<a@b>") != mime.boundary_for("<c@b>")


def test_boundary_changes_when_the_body_holds_it() -> None:
    """A body that holds the boundary line makes the boundary change, deterministically."""
    boundary = mime.boundary_for("<a@b>")
    text = mime.Body("7bit", f"--{boundary}\r\n".encode())
    data = mime.assemble("", text, mime.Body("7bit", b"x\r\n"), "<a@b>")
    message = PARSER.parsebytes(data)
    assert [p.get_content() for p in message.iter_parts()] == [f"--{boundary}\r\n", "x\r\n"]


def test_same_instant_in_two_time_zones_keeps_its_own_offset() -> None:
    """The Date header keeps the offset it was given, even for an instant seen before."""
    paris = datetime(2026, 11, 27, 10, 0, tzinfo=timezone(timedelta(hours=1)))
    utc = paris.astimezone(UTC)
    assert mime.format_date(paris).endswith("+0100")
    assert mime.format_date(utc).endswith("+0000")
