"""What preview and send share: the campaign's identity, limits, and pre-flight checks."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from notify.addressbook.model import Recipient
from notify.addressbook.store import RecipientRows
from notify.settings import Settings


def campaign_token(settings: Settings, template_name: str) -> str:
    """A stable identity for one campaign: the same in preview and in every send run.

    Message-IDs are derived from it and the recipient's key, so that what the preview
    shows is what is sent, and a rerun keeps each recipient's Message-ID.
    """
    incident = settings.incident
    return "|".join(
        (incident.kind, incident.compromised_address.casefold(), template_name.casefold())
    )


@dataclass(frozen=True, slots=True)
class Limits:
    """The sending limits in force: from the settings, else from the provider preset."""

    per_minute: int | None
    per_day: int | None


def effective_limits(settings: Settings) -> Limits:
    """The sending limits in force for this account."""
    from notify.deliver.providers import preset_for  # noqa: PLC0415 - avoids an import cycle

    preset = preset_for(settings.smtp.provider)
    per_minute = settings.sending.per_minute or (preset.per_minute if preset else None)
    per_day = settings.sending.per_day or (preset.per_day if preset else None)
    return Limits(per_minute, per_day)


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" + ("" if count == 1 else "s")


def describe_duration(count: int, limits: Limits) -> str:
    """How long sending ``count`` messages takes under ``limits``, in words."""
    if count == 0:
        return "nothing to send"
    if limits.per_day and count > limits.per_day:
        days = math.ceil(count / limits.per_day)
        return f"{count} messages at {limits.per_day} a day: {_plural(days, 'day')}"
    if limits.per_minute:
        minutes = math.ceil(count / limits.per_minute)
        took = _plural(minutes, "minute")
        if minutes >= 60:
            took = f"{minutes // 60} h {minutes % 60:02d} min"
        return f"{count} messages at {limits.per_minute} a minute: about {took}"
    return f"{count} messages, no rate limit configured: a few minutes at most"


def dmarc_warning(settings: Settings) -> str | None:
    """A warning when the From address does not belong to the sending account."""
    sender = settings.sender.address.strip().lower()
    account = (settings.smtp.username or "").strip().lower()
    if not sender or "@" not in account:
        return None
    if sender.rpartition("@")[2] != account.rpartition("@")[2]:
        return (
            f"the From address {settings.sender.address} is not on the sending account's "
            f"domain ({account.rpartition('@')[2]}): receiving servers will reject or file "
            "the messages as spam (DMARC). Send from an address of that account."
        )
    return None


def exposure_order(recipients: Sequence[Recipient]) -> Sequence[Recipient]:
    """The most exposed first: written to during the window, then most written to.

    Stable: within a level, the import order is kept. An import's own list is read
    back from its store in that order (nothing loaded at once); a plain list is sorted.
    """
    if isinstance(recipients, RecipientRows):
        return recipients.by_exposure()
    return sorted(recipients, key=lambda r: (not r.in_window, -r.sent_count))
