"""Encodings the journal stores: canonical JSON, timestamps, recipients, variables.

- :func:`canonical_json`: sorted keys, no spaces, UTF-8 text; the form hashed.
- :func:`format_ts` / :func:`parse_ts`: UTC ISO 8601 with microseconds, fixed width,
  so that text order is time order (SQLite compares them as text).
- :func:`recipient_to_json` / :func:`recipient_from_json`: an exact round-trip of
  :class:`~notify.addressbook.model.Recipient` (datetimes as ISO strings, kept naive
  or aware as they were).
- :func:`encode_variables` / :func:`decode_variables`: template variables with
  their types (datetime, date, tuple are tagged) so that re-rendering is exact.
- :func:`strip_secrets`: removes every key named like a password, token or secret.
"""

from __future__ import annotations

import json
import json.encoder
import math
import re
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, date, datetime
from typing import Any

from pydantic import SecretBytes, SecretStr

from notify.addressbook.model import Origin, Recipient, SentMessage
from notify.errors import JournalError

_SECRET_KEY = re.compile(
    r"passw|passphrase|pwd|token|secret|credential|api.?key|private.?key|cookie|bearer",
    re.IGNORECASE,
)


_CANONICAL: dict[str, Any] = {
    "sort_keys": True,
    "separators": (",", ":"),
    "ensure_ascii": False,
    "allow_nan": False,
}


def _prebuilt_encoder() -> Callable[[Any, int], Sequence[str]] | None:
    """The C encoder ``json.dumps(value, **_CANONICAL)`` builds at each call, built once.

    Without the circular-reference check (``markers=None``): it then keeps no state
    between calls, so threads may share it. None where the C accelerator is missing
    or has another signature.
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return None
    spec = json.JSONEncoder(**_CANONICAL)
    try:
        encoder: Callable[[Any, int], Sequence[str]] = make(
            None,  # markers: no circular-reference check (see canonical_json)
            spec.default,
            json.encoder.encode_basestring,  # what JSONEncoder uses when not ensure_ascii
            None,  # indent
            spec.key_separator,
            spec.item_separator,
            spec.sort_keys,
            spec.skipkeys,
            spec.allow_nan,
        )
    except TypeError:
        return None
    return encoder


_ENCODE = _prebuilt_encoder()


def canonical_json(value: Any) -> str:
    """``value`` as canonical JSON text: sorted keys, no whitespace, no NaN.

    Exactly ``json.dumps(value, sort_keys=True, separators=(",", ":"),
    ensure_ascii=False, allow_nan=False)``, the form every event hash was computed
    from: the same C encoder, built once instead of at each call (for the small dicts
    of an event, building it was most of the cost). A value it refuses (NaN, an
    object that is not JSON, a list that contains itself: no circular check here,
    hence a RecursionError) goes through ``json.dumps``, which raises the error it
    always raised.
    """
    if _ENCODE is not None:
        try:
            return "".join(_ENCODE(value, 0))
        except Exception:  # noqa: S110 -- json.dumps below raises the real error
            pass
    return json.dumps(value, **_CANONICAL)


def format_ts(moment: datetime) -> str:
    """An aware datetime as fixed-width UTC ISO 8601 text (microseconds)."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"the journal needs aware datetimes (with a time zone), got {moment!r}")
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def parse_ts(text: str) -> datetime:
    """The aware datetime :func:`format_ts` wrote."""
    return datetime.fromisoformat(text)


def parse_optional_ts(text: str | None) -> datetime | None:
    """:func:`parse_ts`, passing ``None`` through."""
    return None if text is None else parse_ts(text)


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat()


def _from_iso(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def recipient_to_dict(recipient: Recipient) -> dict[str, Any]:
    """A JSON-ready dict of every field of ``recipient``."""
    return {
        "email": recipient.email,
        "ascii_email": recipient.ascii_email,
        "key": recipient.key,
        "name": recipient.name,
        "given_name": recipient.given_name,
        "family_name": recipient.family_name,
        "civility": recipient.civility,
        "title": recipient.title,
        "organization": recipient.organization,
        "language": recipient.language,
        "groups": list(recipient.groups),
        "other_emails": list(recipient.other_emails),
        "phones": list(recipient.phones),
        "postal": list(recipient.postal),
        "sources": [{"path": o.path, "line": o.line} for o in recipient.sources],
        "secure_network": recipient.secure_network,
        "sent_count": recipient.sent_count,
        "first_sent": _iso(recipient.first_sent),
        "last_sent": _iso(recipient.last_sent),
        "window_messages": [
            {"date": _iso(m.date), "subject": m.subject} for m in recipient.window_messages
        ],
    }


def recipient_from_dict(data: Mapping[str, Any]) -> Recipient:
    """The :class:`Recipient` :func:`recipient_to_dict` described (missing keys: defaults)."""
    return Recipient(
        email=data["email"],
        ascii_email=data["ascii_email"],
        key=data["key"],
        name=data.get("name", ""),
        given_name=data.get("given_name", ""),
        family_name=data.get("family_name", ""),
        civility=data.get("civility", ""),
        title=data.get("title", ""),
        organization=data.get("organization", ""),
        language=data.get("language", ""),
        groups=list(data.get("groups", [])),
        other_emails=list(data.get("other_emails", [])),
        phones=list(data.get("phones", [])),
        postal=list(data.get("postal", [])),
        sources=[Origin(o["path"], o["line"]) for o in data.get("sources", [])],
        secure_network=data.get("secure_network", False),
        sent_count=data.get("sent_count", 0),
        first_sent=_from_iso(data.get("first_sent")),
        last_sent=_from_iso(data.get("last_sent")),
        window_messages=[
            SentMessage(_from_iso(m.get("date")), m.get("subject", ""))
            for m in data.get("window_messages", [])
        ],
    )


def recipient_to_json(recipient: Recipient) -> str:
    """``recipient`` as canonical JSON text."""
    return canonical_json(recipient_to_dict(recipient))


def recipient_from_json(text: str) -> Recipient:
    """The :class:`Recipient` :func:`recipient_to_json` wrote."""
    return recipient_from_dict(json.loads(text))


def encode_variables(value: Any, path: str = "variables") -> Any:
    """``value`` as JSON-ready data, tagging datetimes, dates and tuples.

    Raises :class:`JournalError` for a secret (``SecretStr``) or a type that cannot be
    stored exactly.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if not math.isfinite(value):
            raise JournalError(f"{path}: {value} cannot be recorded in the journal")
        return value
    if isinstance(value, datetime):
        return {"$datetime": value.isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, tuple):
        return {"$tuple": [encode_variables(v, f"{path}[{i}]") for i, v in enumerate(value)]}
    if isinstance(value, list):
        return [encode_variables(v, f"{path}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Mapping):
        return _encode_mapping(value, path)
    if isinstance(value, SecretStr | SecretBytes):
        raise JournalError(
            f"{path} is a secret: secrets are never written to the journal",
            hint="Remove it from the values given to the journal (a bug in notify).",
        )
    raise JournalError(
        f"{path}: a value of type {type(value).__name__} cannot be recorded in the journal",
        hint="Give the journal plain values: text, numbers, dates, lists and dicts.",
    )


def _encode_mapping(value: Mapping[Any, Any], path: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, item in value.items():
        if not isinstance(key, str):
            raise JournalError(f"{path}: the key {key!r} is not text and cannot be recorded")
        # A key starting with "$" is escaped so that it is never read back as a tag.
        stored = "$" + key if key.startswith("$") else key
        out[stored] = encode_variables(item, f"{path}.{key}")
    return out


def decode_variables(value: Any) -> Any:
    """The values :func:`encode_variables` encoded, with their types."""
    if isinstance(value, list):
        return [decode_variables(v) for v in value]
    if not isinstance(value, dict):
        return value
    if len(value) == 1:
        ((tag, inner),) = value.items()
        if tag == "$datetime":
            return datetime.fromisoformat(inner)
        if tag == "$date":
            return date.fromisoformat(inner)
        if tag == "$tuple":
            return tuple(decode_variables(v) for v in inner)
    return {(k[1:] if k.startswith("$") else k): decode_variables(v) for k, v in value.items()}


def is_secret_key(key: str) -> bool:
    """True for a key named like a password, token, secret or credential."""
    return bool(_SECRET_KEY.search(key))


def strip_secrets(value: Any, path: str = "") -> tuple[Any, list[str]]:
    """``value`` without any key named like a secret nor any ``SecretStr`` value.

    Returns the cleaned copy and the dotted paths of what was removed (names only,
    never values).
    """
    removed: list[str] = []
    if isinstance(value, Mapping):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if (isinstance(key, str) and is_secret_key(key)) or isinstance(
                item, SecretStr | SecretBytes
            ):
                removed.append(where)
                continue
            out[key], inner = strip_secrets(item, where)
            removed.extend(inner)
        return out, removed
    if isinstance(value, list | tuple):
        items = []
        for i, item in enumerate(value):
            if isinstance(item, SecretStr | SecretBytes):
                removed.append(f"{path}[{i}]")
                continue
            cleaned, inner = strip_secrets(item, f"{path}[{i}]")
            items.append(cleaned)
            removed.extend(inner)
        return (tuple(items) if isinstance(value, tuple) else items), removed
    return value, removed
