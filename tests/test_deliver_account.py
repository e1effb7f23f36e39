"""The sending account: presets, settings checks, secret commands, secrets never shown."""

from __future__ import annotations

import logging
import shlex
import socket
import sys
from pathlib import Path

import pytest
from pydantic import SecretStr
from smtpfaults import FAST, USER, RecordingRecorder, ServerFactory, account_for, message

from notify.deliver import (
    PROVIDERS,
    Account,
    account_from_settings,
    deliver,
    get_provider,
    is_loopback,
    run_secret_command,
)
from notify.errors import AccountError, ConfigError, NotifyError
from notify.settings import SmtpSettings

CANARY = "Canary-Pw-7f3e9b2c-NE-PAS-DIVULGUER"


def _python(code: str) -> str:
    return shlex.join([sys.executable, "-c", code])


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("localhost", True),
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("[::1]", True),
        ("192.0.2.10", False),
        ("smtp.exemple.org", False),
        ("localhost.exemple.org", False),
    ],
)
def test_is_loopback(host: str, expected: bool) -> None:
    """Only localhost, 127.0.0.0/8 and ::1 count as loopback, without DNS."""
    assert is_loopback(host) is expected


def test_security_none_is_refused_for_a_remote_host(monkeypatch: pytest.MonkeyPatch) -> None:
    """security='none' to 192.0.2.x: ConfigError before any connection is attempted."""
    attempts: list[object] = []
    monkeypatch.setattr(socket.socket, "connect", lambda *a: attempts.append(a))
    settings = SmtpSettings(host="192.0.2.25", port=25, security="none", username="")
    with pytest.raises(ConfigError, match=r"'none' is refused for 192\.0\.2\.25"):
        account_from_settings(settings)
    assert attempts == []


def test_security_none_is_allowed_for_loopback() -> None:
    """security='none' to 127.0.0.1 is accepted (the demo's local server)."""
    account = account_from_settings(SmtpSettings(host="127.0.0.1", port=2525, security="none"))
    assert (account.security, account.auth_method) == ("none", "none")


def test_a_preset_fills_host_port_and_security() -> None:
    """provider='outlook' gives smtp.office365.com, 587, STARTTLS."""
    account = account_from_settings(
        SmtpSettings(provider="outlook", username=USER, password=SecretStr("x"))
    )
    assert (account.host, account.port, account.security) == ("smtp.office365.com", 587, "starttls")


def test_explicit_settings_win_over_the_preset() -> None:
    """A port and security set by the user override the preset's."""
    settings = SmtpSettings(
        provider="gmail", security="starttls", username=USER, password=SecretStr("x")
    )
    account = account_from_settings(settings)
    assert (account.host, account.port, account.security) == ("smtp.gmail.com", 587, "starttls")


def test_every_preset_is_complete() -> None:
    """Each preset (but custom) names a host, a secure mode and positive limits."""
    for name, preset in PROVIDERS.items():
        assert preset.name == name
        assert preset.security in ("tls", "starttls")
        if name != "custom":
            assert preset.host
            assert preset.per_day is not None
            assert preset.per_day > 0
            assert preset.per_minute is not None
            assert preset.per_minute > 0


def test_an_unknown_provider_lists_the_known_ones() -> None:
    """A typo in smtp.provider says which names exist."""
    with pytest.raises(ConfigError, match="gmail"):
        get_provider("gmial")


def test_a_username_without_any_secret_is_refused() -> None:
    """A username but no password, command or token: ConfigError naming the variable."""
    with pytest.raises(ConfigError, match="no password") as caught:
        account_from_settings(SmtpSettings(provider="gmail", username=USER))
    assert "NOTIFY_SMTP__PASSWORD" in str(caught.value)


def test_two_secrets_at_once_are_refused() -> None:
    """A password and a password_command together are ambiguous: ConfigError."""
    settings = SmtpSettings(
        provider="gmail", username=USER, password=SecretStr("x"), password_command="pass x"
    )
    with pytest.raises(ConfigError, match="more than one way"):
        account_from_settings(settings)


def test_the_password_is_hidden_in_repr() -> None:
    """repr(Account) never shows the password."""
    account = Account(
        host="127.0.0.1", port=25, security="none", username=USER, password=SecretStr(CANARY)
    )
    assert CANARY not in repr(account)
    assert CANARY not in str(account)


def test_secret_command_output_without_the_trailing_newline() -> None:
    """The command's stdout, minus one trailing newline, is the secret."""
    secret = run_secret_command(_python("print('s3cret pass ')"), setting="smtp.password_command")
    assert secret.get_secret_value() == "s3cret pass "


def test_a_failing_secret_command_never_echoes_its_output() -> None:
    """Exit status 1 gives ConfigError with the status, never the printed text."""
    code = f"import sys; print({CANARY!r}); print({CANARY!r}, file=sys.stderr); sys.exit(1)"
    with pytest.raises(ConfigError) as caught:
        run_secret_command(_python(code), setting="smtp.password_command")
    assert "exit status 1" in str(caught.value)
    assert CANARY not in str(caught.value)
    assert CANARY not in repr(caught.value)


def test_a_missing_secret_program_is_named() -> None:
    """A command whose program does not exist: ConfigError naming it."""
    with pytest.raises(ConfigError, match="not found"):
        run_secret_command("/nonexistent/pass show smtp", setting="smtp.password_command")


def test_a_secret_command_printing_nothing_is_refused() -> None:
    """Empty output is an error, not an empty password."""
    with pytest.raises(ConfigError, match="printed nothing"):
        run_secret_command(_python("pass"), setting="smtp.password_command")


def _all_text(error: BaseException) -> str:
    parts = []
    current: BaseException | None = error
    while current is not None:
        parts += [str(current), repr(current), repr(current.args)]
        current = current.__cause__ or current.__context__
    return "\n".join(parts)


async def test_a_canary_password_never_appears_in_logs_or_errors(
    smtp_factory: ServerFactory, ca_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A refused canary password is nowhere in the logs or in any raised error's text."""
    caplog.set_level(logging.DEBUG)
    server = await smtp_factory(credentials={USER: "the real one"})
    account = account_for(server, ca_file, password=SecretStr(CANARY))
    with pytest.raises(NotifyError) as caught:
        await deliver([message(1)], account, FAST, RecordingRecorder())
    assert isinstance(caught.value, AccountError)
    assert CANARY not in _all_text(caught.value)
    assert CANARY not in caplog.text
    assert caplog.records  # the server did log the session: the check is not vacuous


async def test_a_canary_from_a_failing_command_is_not_in_the_error(
    smtp_factory: ServerFactory, ca_file: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A password_command that prints the canary and fails: ConfigError without it."""
    caplog.set_level(logging.DEBUG)
    server = await smtp_factory()
    command = _python(f"import sys; print({CANARY!r}); sys.exit(3)")
    account = account_for(server, ca_file, password=None, password_command=command)
    with pytest.raises(ConfigError) as caught:
        await deliver([message(1)], account, FAST, RecordingRecorder())
    assert CANARY not in _all_text(caught.value)
    assert CANARY not in caplog.text
