"""Settings: ``notify.toml``, ``NOTIFY_SECTION__KEY`` environment variables and ``.env``.

Precedence, highest first: environment variables, ``.env``, ``notify.toml``, defaults.
The library receives these typed objects; secrets are ``SecretStr`` so that their
``repr`` never shows them.

Environment variables (each overrides the key of the same name in ``notify.toml``):

- ``NOTIFY_SMTP__PASSWORD``: the sending account's password (never put it in the file).
- ``NOTIFY_SMTP__PASSWORD_COMMAND``: a command that prints the password.
- ``NOTIFY_SMTP__OAUTH2_TOKEN_COMMAND``: a command that prints an OAuth2 access token.
- ``NOTIFY_IMAP__PASSWORD``: the password of the inbox ``notify bounces`` reads (by
  default the sending account's: ``NOTIFY_SMTP__PASSWORD`` or its password command).
- ``NOTIFY_<SECTION>__<KEY>``: any other key, for example ``NOTIFY_SENDING__PER_DAY=200``.
"""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from notify.errors import ConfigError

DEFAULT_CONFIG = Path("notify.toml")

#: Closed secure health-messaging networks: an ordinary account usually cannot reach them.
DEFAULT_SECURE_DOMAINS = ("mssante.fr", "apicrypt.org", "apicrypt.fr")


class _Section(BaseModel):
    """A section of notify.toml: unknown keys are typos, and typos are errors."""

    model_config = ConfigDict(extra="forbid")


class IncidentSettings(_Section):
    """What happened: goes into every message and into the record."""

    kind: Literal["mailbox-hijack", "data-breach"] = "mailbox-hijack"
    compromised_address: str = ""
    window_start: datetime | None = None
    window_end: datetime | None = None
    discovered_at: datetime | None = None
    aware_at: datetime | None = None
    nature: str = ""
    consequences: str = ""
    measures: str = ""
    data_categories: str = ""
    persons_concerned: int | None = None
    records_concerned: int | None = None
    cnil_reference: str = ""
    ars_reference: str = ""


class SenderSettings(_Section):
    """The alternative, trusted account the messages are sent from."""

    address: str = ""
    name: str = ""
    profession: str = ""
    phone: str = ""
    organization: str = ""
    dpo: str = ""
    reply_to: str = ""
    language: Literal["fr", "en"] = "fr"


class SmtpSettings(_Section):
    """How to reach the sending account."""

    provider: str = "custom"
    host: str = ""
    port: int | None = None
    security: Literal["tls", "starttls", "none"] | None = None
    username: str = ""
    password: SecretStr | None = None
    password_command: str = ""
    oauth2_token_command: str = ""
    ca_file: Path | None = None
    timeout: float = 60.0


class ImapSettings(_Section):
    """The inbox ``notify bounces`` reads: by default the sending account's own.

    Empty values come from the sending account: ``host``, ``port`` and ``security``
    from the provider preset of ``[smtp]``, ``username`` and the password from
    ``[smtp]``. ``move_to`` names a folder to move settled bounces and auto-replies
    to; without it the inbox is only read (never changed).
    """

    host: str = ""
    port: int | None = None
    security: Literal["tls", "starttls", "none"] | None = None
    username: str = ""
    password: SecretStr | None = None
    folder: str = "INBOX"
    move_to: str = ""
    ca_file: Path | None = None
    timeout: float = 60.0


class SendingSettings(_Section):
    """Limits and retry policy."""

    per_minute: int | None = Field(default=None, ge=1)
    per_day: int | None = Field(default=None, ge=1)
    connections: int = Field(default=1, ge=1, le=32)
    max_attempts: int = Field(default=5, ge=1)
    retry_min_seconds: float = Field(default=2.0, ge=0)
    retry_max_seconds: float = Field(default=300.0, ge=0)
    # SMTP PIPELINING (RFC 2920) when the server offers it; a batch of messages on one
    # connection is begun in the journal together, so after a crash at most this many
    # per connection are "uncertain" (resent with the same Message-ID).
    pipelining: bool = True
    pipeline_batch: int = Field(default=5, ge=1, le=50)
    # Compose the messages in a child process, on another core, while this one sends
    # and journals: "auto" for 2,000 messages or more on two cores or more, "on"
    # always, "off" never. The same bytes either way.
    compose_process: Literal["auto", "on", "off"] = "auto"


class ContactsSettings(_Section):
    """How address books are read."""

    secure_domains: list[str] = Field(default_factory=lambda: list(DEFAULT_SECURE_DOMAINS))
    default_language: Literal["fr", "en"] = "fr"

    @field_validator("secure_domains")
    @classmethod
    def _lower(cls, value: list[str]) -> list[str]:
        return [d.strip().lower().lstrip("@.") for d in value if d.strip()]


class Settings(BaseSettings):
    """All settings of one incident."""

    model_config = SettingsConfigDict(
        env_prefix="NOTIFY_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="forbid",
        toml_file=None,
    )

    incident: IncidentSettings = Field(default_factory=IncidentSettings)
    sender: SenderSettings = Field(default_factory=SenderSettings)
    smtp: SmtpSettings = Field(default_factory=SmtpSettings)
    imap: ImapSettings = Field(default_factory=ImapSettings)
    sending: SendingSettings = Field(default_factory=SendingSettings)
    contacts: ContactsSettings = Field(default_factory=ContactsSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (
            init_settings,
            env_settings,
            dotenv_settings,
            TomlConfigSettingsSource(settings_cls),
        )


@lru_cache(maxsize=16)
def _settings_class(toml_path: Path | None) -> type[Settings]:
    """The Settings class reading ``toml_path``: made once per path, not per call."""

    class _FileSettings(Settings):
        model_config = SettingsConfigDict(toml_file=toml_path)

    return _FileSettings


def load_settings(path: Path | None = None, **overrides: Any) -> Settings:
    """Read the settings from ``path`` (default ``./notify.toml`` when it exists).

    A missing default file is not an error: every value has a default. A missing
    file that was named explicitly, or an invalid one, raises :class:`ConfigError`.
    """
    if path is not None and not path.is_file():
        raise ConfigError(
            f"{path}: no such configuration file",
            hint="Run 'notify init' to write one, or pass --config with the right path.",
        )
    toml_path = path if path is not None else (DEFAULT_CONFIG if DEFAULT_CONFIG.is_file() else None)

    try:
        return _settings_class(toml_path)(**overrides)
    except ValidationError as exc:
        where = str(toml_path) if toml_path else "settings"
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(
            f"{where}: invalid settings: {problems}",
            hint="Fix these keys in notify.toml or the NOTIFY_* environment variables.",
        ) from None
    except (OSError, ValueError) as exc:  # tomllib.TOMLDecodeError is a ValueError
        where = str(toml_path) if toml_path else "settings"
        raise ConfigError(
            f"{where}: cannot be read: {exc}",
            hint="Check the TOML syntax (strings in double quotes, one key per line).",
        ) from None
