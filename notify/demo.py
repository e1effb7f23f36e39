"""The embedded default behind ``notify demo``: fictional settings and example books.

Nothing here reaches the outside world: the demo sends to a server of its own on
127.0.0.1, whatever the recipients' domains.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from pydantic_settings import PydanticBaseSettingsSource

import notify
from notify.settings import (
    IncidentSettings,
    SenderSettings,
    SendingSettings,
    Settings,
    SmtpSettings,
)

TEMPLATE = "colleague-warning"
_SOURCES = ("correspondants.vcf", "outlook-fr.csv", "envoyes.mbox")


def example_contacts_dir() -> Path:
    """The example address books: ``notify/_contacts`` in a wheel, else ``contacts/``."""
    package = Path(notify.__file__).resolve().parent
    shipped = package / "_contacts"
    return shipped if shipped.is_dir() else package.parent / "contacts"


def example_sources() -> list[Path]:
    """A vCard file, a French Outlook CSV and the Sent folder of the hijacked mailbox."""
    folder = example_contacts_dir()
    return [folder / name for name in _SOURCES]


class _DemoSettings(Settings):
    """Settings from the values given only: no notify.toml, no environment, no .env."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[Settings],  # type: ignore[override]
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def demo_settings(port: int) -> Settings:
    """Dr Claire Martin's incident, sending through a local server on ``port``."""
    tz = datetime.fromisoformat("2026-11-26T08:00:00+01:00").tzinfo
    return _DemoSettings(
        incident=IncidentSettings(
            kind="mailbox-hijack",
            compromised_address="dr.martin@cabinet-martin.example.org",
            window_start=datetime(2026, 11, 26, 8, 0, tzinfo=tz),
            window_end=datetime(2026, 11, 27, 18, 0, tzinfo=tz),
            discovered_at=datetime(2026, 11, 27, 9, 0, tzinfo=tz),
            aware_at=datetime(2026, 11, 27, 9, 15, tzinfo=tz),
            nature="prise de contrôle de la messagerie du cabinet par un tiers",
            consequences="envoi de messages frauduleux au nom du Dr Martin",
            measures="mot de passe changé, sessions fermées, correspondants prévenus",
        ),
        sender=SenderSettings(
            address="secours.martin@example.net",
            name="Dr Claire Martin",
            profession="médecin",
            phone="+33 4 00 00 00 00",
            organization="Cabinet du Dr Martin",
            dpo="dpo@example.net",
        ),
        smtp=SmtpSettings(provider="custom", host="127.0.0.1", port=port, security="none"),
        sending=SendingSettings(connections=2, max_attempts=3),
    )
