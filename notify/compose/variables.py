"""The variables a template sees, and the date formats of each language.

Given to every template:

- ``recipient``: the :class:`~notify.addressbook.model.Recipient` (text fields on one line);
- ``incident``: the ``[incident]`` settings; ``sender``: the ``[sender]`` settings;
- ``language``: the language of this message (``"fr"``, ``"en"``);
- ``salutation``: for a correspondent, "Chère consœur" / "Cher confrère" between members
  of one profession, else "Madame, Monsieur" (no final comma);
- ``patient_salutation``: "Madame Dupont" when civility and surname are known, else
  "Madame, Monsieur";
- ``same_profession``: whether ``salutation`` is the colleague's one;
- ``window_start``, ``window_end``, ``discovered_at``, ``aware_at``: the incident's
  dates written in the language ("26 novembre 2026 à 08 h 00", no-break spaces around
  the "h"); undefined when not set;
- ``window_messages``: the fraudulent messages this recipient received during the
  window, each with ``subject`` and ``date`` (formatted, or empty when unknown).

Filters: ``required`` (``{{ sender.phone | required("sender.phone") }}`` stops with an
error when the value is empty) and ``when`` (formats a datetime in the language).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from notify.addressbook.model import Recipient
from notify.compose.mime import clean_header_text
from notify.compose.salutation import colleague_salutation, patient_salutation, same_profession
from notify.settings import IncidentSettings, SenderSettings

MONTHS = {
    "fr": (
        "janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
        "septembre", "octobre", "novembre", "décembre",
    ),
    "en": (
        "January", "February", "March", "April", "May", "June", "July", "August",
        "September", "October", "November", "December",
    ),
}  # fmt: skip

INCIDENT_DATES = ("window_start", "window_end", "discovered_at", "aware_at")

#: Names computed for every message, beside recipient, incident and sender.
COMPUTED = frozenset(
    {"language", "salutation", "patient_salutation", "same_profession", "window_messages"}
    | set(INCIDENT_DATES)
)
ROOTS = frozenset({"recipient", "incident", "sender"})
_UNSAFE_TEXT = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
_TEXT_FIELDS = ("name", "given_name", "family_name", "civility", "title", "organization")


@dataclass(frozen=True, slots=True)
class QuotedMessage:
    """A fraudulent message quoted to its recipient: subject on one line, date written out."""

    subject: str
    date: str


def format_when(value: datetime, language: str) -> str:
    """Write a date and time in ``language``: "26 novembre 2026 à 08 h 00" (its own zone)."""
    months = MONTHS.get(language, MONTHS["en"])
    month = months[value.month - 1]
    if language == "fr":
        day = "1er" if value.day == 1 else str(value.day)
        return f"{day} {month} {value.year} à {value.hour:02d}\u00a0h\u00a0{value.minute:02d}"
    return f"{value.day} {month} {value.year} at {value.hour:02d}:{value.minute:02d}"


def format_day(value: datetime, language: str) -> str:
    """Write a date without the time: "26 novembre 2026", "26 November 2026"."""
    months = MONTHS.get(language, MONTHS["en"])
    day = "1er" if language == "fr" and value.day == 1 else str(value.day)
    return f"{day} {months[value.month - 1]} {value.year}"


def shared_variables(
    incident: IncidentSettings, sender: SenderSettings, language: str
) -> dict[str, Any]:
    """Return what every recipient of one language shares (computed once)."""
    shared: dict[str, Any] = {"incident": incident, "sender": sender, "language": language}
    for name in INCIDENT_DATES:
        value = getattr(incident, name)
        if value is not None:
            shared[name] = format_when(value, language)
    return shared


def one_line(recipient: Recipient) -> Recipient:
    """Return the recipient with its text fields on one line (a copy only when needed)."""
    dirty: dict[str, Any] = {
        name: clean_header_text(getattr(recipient, name))
        for name in _TEXT_FIELDS
        if _UNSAFE_TEXT.search(getattr(recipient, name))
    }
    return replace(recipient, **dirty) if dirty else recipient


def one_line_settings(sender: SenderSettings) -> SenderSettings:
    """Return the sender settings with every text on one line (a copy only when needed)."""
    dirty = {
        name: clean_header_text(value)
        for name, value in sender.model_dump().items()
        if isinstance(value, str) and _UNSAFE_TEXT.search(value)
    }
    return sender.model_copy(update=dirty) if dirty else sender


def recipient_variables(
    recipient: Recipient, sender: SenderSettings, language: str
) -> dict[str, Any]:
    """Return the variables that depend on the recipient."""
    safe = one_line(recipient)
    peer = same_profession(sender.profession, [safe.title, *safe.groups])
    messages = tuple(
        QuotedMessage(clean_header_text(m.subject), format_when(m.date, language) if m.date else "")
        for m in safe.window_messages
    )
    return {
        "recipient": safe,
        "salutation": colleague_salutation(language, peer=peer, civility=safe.civility),
        "patient_salutation": patient_salutation(
            language, civility=safe.civility, family_name=safe.family_name
        ),
        "same_profession": peer,
        "window_messages": messages,
    }
