"""JSON encodings of the journal: Recipient round-trip, variables, secret stripping."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from notify.addressbook.model import Origin, Recipient, SentMessage
from notify.journal import codec, recipient_from_json, recipient_to_json
from notify.journal.codec import canonical_json, format_ts, strip_secrets

text = st.text(max_size=20)
moments = st.one_of(
    st.none(),
    st.datetimes(),
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=1))])),
)
recipients = st.builds(
    Recipient,
    email=text,
    ascii_email=text,
    key=text,
    name=text,
    civility=text,
    groups=st.lists(text, max_size=3),
    other_emails=st.lists(text, max_size=3),
    sources=st.lists(st.builds(Origin, path=text, line=st.integers(0, 10**6)), max_size=3),
    secure_network=st.booleans(),
    sent_count=st.integers(0, 10**6),
    first_sent=moments,
    last_sent=moments,
    window_messages=st.lists(st.builds(SentMessage, date=moments, subject=text), max_size=3),
)


@given(recipients)
def test_a_recipient_survives_a_json_round_trip(recipient: Recipient) -> None:
    """recipient_from_json(recipient_to_json(r)) == r, datetimes naive or aware alike."""
    assert recipient_from_json(recipient_to_json(recipient)) == recipient


def test_recipient_json_keeps_datetimes_as_iso_strings() -> None:
    """Datetimes are ISO 8601 strings with their offset in the stored JSON."""
    sent = datetime(2026, 11, 26, 9, 30, tzinfo=timezone(timedelta(hours=1)))
    stored = recipient_to_json(Recipient("a@b.fr", "a@b.fr", "a@b.fr", first_sent=sent))
    assert '"first_sent":"2026-11-26T09:30:00+01:00"' in stored


def test_canonical_json_is_stable() -> None:
    """Key order and spacing do not change the canonical form."""
    assert canonical_json({"b": 1, "a": [1, "é"]}) == '{"a":[1,"é"],"b":1}'


def test_timestamps_are_fixed_width_utc() -> None:
    """Stored times are UTC with microseconds, so text order is time order."""
    moment = datetime(2026, 11, 27, 10, 0, tzinfo=timezone(timedelta(hours=1)))
    assert format_ts(moment) == "2026-11-27T09:00:00.000000+00:00"


def test_strip_secrets_reports_paths_not_values() -> None:
    """Secret-looking keys and SecretStr values are removed; only their paths are reported."""
    cleaned, removed = strip_secrets(
        {"smtp": {"Password": "x", "host": "h"}, "list": [SecretStr("y"), 1], "TOKEN": "z"}
    )
    assert cleaned == {"smtp": {"host": "h"}, "list": [1]}
    assert removed == ["smtp.Password", "list[0]", "TOKEN"]


def reference_json(value: object) -> str:
    """The canonical form every event hash was computed from (json.dumps, as notify 1.0)."""
    return json.dumps(
        value, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


# Any code point, lone surrogates and control characters included (json escapes the
# controls and passes surrogates through as they are, with ensure_ascii=False).
any_text = st.text(st.characters(exclude_categories=()), max_size=12)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | any_text,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.tuples(inner, inner)
        | st.dictionaries(any_text, inner, max_size=4)
    ),
    max_leaves=25,
)


def test_canonical_json_uses_the_prebuilt_encoder() -> None:
    """On CPython the fast path is taken (else the comparisons below would be moot)."""
    assert codec._ENCODE is not None


@given(json_values)
def test_canonical_json_is_byte_identical_to_json_dumps(value: object) -> None:
    """For any nested text, number, boolean, null, list and dict: the same text."""
    assert canonical_json(value) == reference_json(value)


@given(st.dictionaries(st.integers(), st.integers(), max_size=4))
def test_canonical_json_sorts_numeric_keys_as_json_dumps_does(value: dict[int, int]) -> None:
    """Keys that are numbers are sorted as numbers, then written as text, as json does."""
    assert canonical_json(value) == reference_json(value)


def refusal(encode: Callable[[object], str], value: object) -> tuple[type[Exception], str]:
    """The type and message of the error ``encode`` raises for ``value``."""
    try:
        encode(value)
    except (TypeError, ValueError) as exc:
        return type(exc), str(exc)
    raise AssertionError(f"{value!r} was encoded")


def circular() -> list[object]:
    """A list that contains itself."""
    loop: list[object] = [1]
    loop.append(loop)
    return loop


@pytest.mark.parametrize(
    "value",
    [
        float("nan"),
        {"a": [float("inf")]},
        {"a": object()},
        {"b": {1, 2}},
        {1: "a", "b": 2},
        circular(),
    ],
    ids=["nan", "infinity", "object", "set", "mixed-keys", "circular"],
)
def test_canonical_json_refuses_what_json_dumps_refuses_with_its_error(value: object) -> None:
    """NaN, objects, mixed keys, a circular list: the same exception and message."""
    assert refusal(canonical_json, value) == refusal(reference_json, value)
