"""JSON encodings of the journal: Recipient round-trip, variables, secret stripping."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

from hypothesis import given
from hypothesis import strategies as st
from pydantic import SecretStr

from notify.addressbook.model import Origin, Recipient, SentMessage
from notify.journal import recipient_from_json, recipient_to_json
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
