"""The sending account: where to connect, how to secure it, how to authenticate.

The password or token never leaves this module except towards the SMTP server: it is
a ``SecretStr`` (hidden in ``repr``), never logged, never put in an exception
message, and the output of a failing ``password_command`` is never echoed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import re
import shlex
import socket
import ssl
import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from notify.deliver.providers import AuthHint, Security, get_provider
from notify.errors import ConfigError
from notify.settings import SmtpSettings

AuthMethod = Literal["none", "password", "oauth2"]


def is_loopback(host: str) -> bool:
    """True for ``localhost``, 127.0.0.0/8 and ::1 (no DNS lookup is made)."""
    name = host.strip().strip("[]").lower()
    if name == "localhost":
        return True
    try:
        return ipaddress.ip_address(name).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Account:
    """Everything needed to open an authenticated SMTP submission session.

    Building one checks the settings (and raises ConfigError), but runs no command
    and opens no connection.
    """

    host: str
    port: int
    security: Security
    username: str = ""
    password: SecretStr | None = field(default=None, repr=False)
    password_command: str = ""
    oauth2_token_command: str = ""
    ca_file: Path | None = None
    timeout: float = 60.0
    ehlo_name: str = ""
    auth_hints: tuple[AuthHint, ...] = ()

    def __post_init__(self) -> None:
        _check_account(self)

    @property
    def auth_method(self) -> AuthMethod:
        """How this account authenticates: ``none``, ``password`` or ``oauth2``."""
        if not self.username:
            return "none"
        return "oauth2" if self.oauth2_token_command else "password"

    def tls_context(self) -> ssl.SSLContext:
        """A client TLS context that always verifies the certificate and host name."""
        try:
            cafile = str(self.ca_file) if self.ca_file else None
            return ssl.create_default_context(cafile=cafile)
        except (OSError, ssl.SSLError) as exc:
            raise ConfigError(
                f"smtp.ca_file {self.ca_file}: cannot be read as a CA bundle ({exc})",
                hint="Give the path of a PEM file holding the certificate authority.",
            ) from None

    def local_hostname(self) -> str:
        """The name sent with EHLO (no DNS lookup)."""
        return self.ehlo_name or _default_ehlo_name()

    def describe(self) -> str:
        """``host:port (security)``, for messages; holds no secret."""
        return f"{self.host}:{self.port} ({self.security})"


def _check_account(account: Account) -> None:
    if not account.host.strip():
        raise ConfigError(
            "no SMTP server: smtp.host is empty",
            hint="Set smtp.provider to a known provider, or smtp.host for a custom server.",
        )
    if not 0 < account.port < 65536:
        raise ConfigError(f"smtp.port {account.port} is not a TCP port", hint="Use 465, 587 or 25.")
    if account.security not in ("tls", "starttls", "none"):
        raise ConfigError(
            f"smtp.security {account.security!r} is not one of tls, starttls, none",
            hint="Use tls (port 465) or starttls (port 587).",
        )
    if account.security == "none" and not is_loopback(account.host):
        raise ConfigError(
            f"smtp.security = 'none' is refused for {account.host}: the password and "
            "the messages would cross the network unencrypted",
            hint="Use security 'tls' (port 465) or 'starttls' (port 587); 'none' is "
            "only allowed for a server on this machine (localhost, 127.0.0.1, ::1).",
        )
    if account.timeout <= 0:
        raise ConfigError("smtp.timeout must be more than 0 seconds", hint="Try 60.")
    secrets = [
        account.password is not None,
        bool(account.password_command),
        bool(account.oauth2_token_command),
    ]
    if sum(secrets) > 1:
        raise ConfigError(
            "more than one way to authenticate is set (password, password_command, "
            "oauth2_token_command)",
            hint="Keep exactly one of NOTIFY_SMTP__PASSWORD, smtp.password_command "
            "and smtp.oauth2_token_command.",
        )
    if account.username and not any(secrets):
        raise ConfigError(
            f"no password for {account.username}",
            hint="Set NOTIFY_SMTP__PASSWORD (environment or .env), or "
            "smtp.password_command, or smtp.oauth2_token_command for OAuth2.",
        )


_HOSTNAME = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9-]{1,63})*")


def _default_ehlo_name() -> str:
    name = socket.gethostname()
    return name if _HOSTNAME.fullmatch(name) else "localhost"


def account_from_settings(smtp: SmtpSettings) -> Account:
    """Build the Account from ``[smtp]`` settings, filling gaps from the provider preset."""
    preset = get_provider(smtp.provider)
    host = smtp.host or preset.host
    on_preset_host = host == preset.host
    security: Security = smtp.security or (preset.security if on_preset_host else "starttls")
    if smtp.port is not None:
        port = smtp.port
    elif on_preset_host and security == preset.security:
        port = preset.port
    else:
        port = _port(security)
    password = smtp.password
    if password is not None and not password.get_secret_value():
        password = None
    return Account(
        host=host,
        port=port,
        security=security,
        username=smtp.username,
        password=password,
        password_command=smtp.password_command.strip(),
        oauth2_token_command=smtp.oauth2_token_command.strip(),
        ca_file=smtp.ca_file,
        timeout=smtp.timeout,
        auth_hints=preset.auth,
    )


def _port(security: Security) -> int:
    return {"tls": 465, "starttls": 587, "none": 25}[security]


def run_secret_command(command: str, *, setting: str, timeout: float = 60.0) -> SecretStr:
    """Run ``command`` without a shell and return what it prints, minus the newline.

    Raises ConfigError when it cannot run, fails, times out or prints nothing; the
    message names the setting and the exit status, never the command's output.
    """
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ConfigError(
            f"{setting} cannot be parsed ({exc})", hint="Check the quotes in the command."
        ) from None
    if not argv:
        raise ConfigError(f"{setting} is empty", hint="Give the command that prints it.")
    try:
        done = subprocess.run(
            argv,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except FileNotFoundError:
        raise ConfigError(
            f"{setting}: program {argv[0]!r} not found",
            hint="Give the full path of the program, or install it.",
        ) from None
    except subprocess.TimeoutExpired:
        raise ConfigError(
            f"{setting}: the command did not finish within {timeout:g} s",
            hint="Run it by hand: it may be waiting for input (a passphrase prompt?).",
        ) from None
    except OSError as exc:
        raise ConfigError(
            f"{setting}: the command cannot be started ({exc.strerror})",
            hint="Check that the program exists and is executable.",
        ) from None
    return _secret_from_output(done.returncode, done.stdout, setting)


def _secret_from_output(returncode: int, stdout: bytes, setting: str) -> SecretStr:
    if returncode != 0:
        raise ConfigError(
            f"{setting}: the command failed with exit status {returncode} "
            "(its output is not shown, it may hold a secret)",
            hint="Run the command by hand to see what is wrong.",
        )
    try:
        text = stdout.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(
            f"{setting}: the command printed something that is not UTF-8",
            hint="The command must print the secret alone, as text.",
        ) from None
    secret = text[:-1] if text.endswith("\n") else text
    secret = secret[:-1] if secret.endswith("\r") else secret
    if not secret or "\n" in secret:
        raise ConfigError(
            f"{setting}: the command printed "
            + ("nothing" if not secret else "more than one line"),
            hint="The command must print the secret alone, on one line.",
        )
    return SecretStr(secret)


async def resolve_password(account: Account) -> SecretStr | None:
    """The password to log in with (running ``password_command`` off the event loop)."""
    if account.auth_method != "password":
        return None
    if account.password is not None:
        return account.password
    return await asyncio.to_thread(
        run_secret_command,
        account.password_command,
        setting="smtp.password_command",
        timeout=account.timeout,
    )


async def fetch_oauth2_token(account: Account) -> SecretStr:
    """A fresh OAuth2 access token from ``oauth2_token_command`` (run off the loop)."""
    return await asyncio.to_thread(
        run_secret_command,
        account.oauth2_token_command,
        setting="smtp.oauth2_token_command",
        timeout=account.timeout,
    )
