"""Settings: notify.toml, NOTIFY_SECTION__KEY variables, .env, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from notify.errors import ConfigError
from notify.settings import load_settings

TOML = """
[incident]
kind = "mailbox-hijack"
compromised_address = "dr.martin@example.org"
window_start = 2026-11-26T08:00:00+01:00
window_end = 2026-11-27T18:00:00+01:00

[sender]
address = "secours.martin@example.net"
name = "Dr Claire Martin"

[smtp]
host = "smtp.example.net"
port = 587
security = "starttls"

[sending]
per_day = 500
"""


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("NOTIFY_SMTP__PASSWORD", "NOTIFY_SENDING__PER_DAY", "NOTIFY_SMTP__HOST"):
        monkeypatch.delenv(name, raising=False)


def test_values_are_read_from_the_toml_file(tmp_path: Path) -> None:
    """Every section of notify.toml reaches the typed settings."""
    path = tmp_path / "notify.toml"
    path.write_text(TOML, encoding="utf-8")
    settings = load_settings(path)
    assert settings.incident.compromised_address == "dr.martin@example.org"
    assert settings.incident.window_start is not None
    assert settings.incident.window_start.utcoffset() is not None
    assert settings.smtp.security == "starttls"
    assert settings.sending.per_day == 500


def test_environment_overrides_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """NOTIFY_SECTION__KEY wins over the file."""
    path = tmp_path / "notify.toml"
    path.write_text(TOML, encoding="utf-8")
    monkeypatch.setenv("NOTIFY_SENDING__PER_DAY", "42")
    assert load_settings(path).sending.per_day == 42


def test_password_from_dotenv_is_hidden_in_repr(tmp_path: Path) -> None:
    """A password read from .env is available but never shown by repr or str."""
    (tmp_path / ".env").write_text("NOTIFY_SMTP__PASSWORD=canary-Pw-7731\n", encoding="utf-8")
    settings = load_settings()
    assert settings.smtp.password is not None
    assert settings.smtp.password.get_secret_value() == "canary-Pw-7731"
    assert "canary-Pw-7731" not in repr(settings)
    assert "canary-Pw-7731" not in str(settings)


def test_default_file_is_optional() -> None:
    """Without notify.toml in the current folder, defaults apply."""
    settings = load_settings()
    assert settings.sending.connections == 1
    assert "mssante.fr" in settings.contacts.secure_domains


def test_named_file_that_does_not_exist_is_a_config_error(tmp_path: Path) -> None:
    """--config with a missing file says so and how to create one."""
    with pytest.raises(ConfigError, match="no such configuration file") as info:
        load_settings(tmp_path / "missing.toml")
    assert info.value.exit_code == 3
    assert "notify init" in str(info.value)


def test_invalid_value_names_the_key(tmp_path: Path) -> None:
    """A wrong type is reported with the key's dotted path."""
    path = tmp_path / "notify.toml"
    path.write_text('[sending]\nper_day = "lots"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"sending\.per_day"):
        load_settings(path)


def test_unknown_key_is_rejected(tmp_path: Path) -> None:
    """A typo in a key is an error, not silently ignored."""
    path = tmp_path / "notify.toml"
    path.write_text('[smtp]\nhots = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"smtp\.hots"):
        load_settings(path)


def test_broken_toml_is_a_clear_error(tmp_path: Path) -> None:
    """A syntax error in the file is reported with the file name."""
    path = tmp_path / "notify.toml"
    path.write_text("[smtp\nhost=", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"notify\.toml"):
        load_settings(path)
