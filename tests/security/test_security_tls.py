"""TLS is required and verified, except to a loopback address; no silent downgrade.

- Plain SMTP or IMAP to a non-loopback address (192.0.2.1, TEST-NET-1) is refused
  before any connection: every way to open a socket is guarded and must stay unused.
- A certificate the client does not trust (trustme, no ca_file) is refused with
  exit 3 and a message about the certificate, for STARTTLS and implicit TLS; the
  same server works once its CA is given.
- A server that does not offer STARTTLS, with security = "starttls": exit 3, no
  login attempted, nothing sent. The same for IMAP.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
from pathlib import Path
from typing import Any

import pytest
import trustme
from imapserver import DOVECOT, SKIP_REASON, DovecotFactory, dovecot  # noqa: F401
from seckit import SENDER, cli_in_process, write_config, write_rows

from notify.journal import Journal
from notify.localserver import LocalServer, MaildirHandler

pytestmark = [pytest.mark.security, pytest.mark.integration]
PASSWORD = "canary-TLS-31f0"


class LoginWatcher(MaildirHandler):
    """Records every AUTH attempt the server receives."""

    def __init__(self, maildir: Path) -> None:
        super().__init__(maildir, credentials={SENDER: PASSWORD})
        self.logins = 0

    def authenticate(self, *args: Any) -> Any:
        """Count, then check as usual."""
        self.logins += 1
        return super().authenticate(*args)


@pytest.fixture
def guard_sockets(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Record (and refuse) every attempt to connect a socket or resolve a name."""
    attempts: list[object] = []

    def refuse(*args: Any, **kwargs: Any) -> Any:
        attempts.append(args)
        raise AssertionError(f"a connection was attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)
    monkeypatch.setattr(asyncio.BaseEventLoop, "create_connection", refuse)
    monkeypatch.setattr(asyncio.BaseEventLoop, "sock_connect", refuse)
    return attempts


@pytest.fixture
def work(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The test's folder as the current directory, with an address book."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NOTIFY_SMTP__PASSWORD", PASSWORD)
    write_rows(tmp_path / "contacts.csv", [["jean@exemple.fr", "Jean", "Dupont", "", ""]])
    return tmp_path


SEND = ("send", "--template", "colleague-warning", "contacts.csv", "--yes")


@pytest.mark.parametrize("command", ["send", "bounces"])
def test_plain_text_to_a_non_loopback_address_is_refused_without_connecting(
    work: Path, guard_sockets: list[object], monkeypatch: pytest.MonkeyPatch, command: str
) -> None:
    """security = none towards 192.0.2.1: exit 3 saying why, and no socket opened."""
    write_config(work, host="192.0.2.1", port=25, security="none", username=SENDER)
    Journal.open(work / "incident.db").close()
    for key, value in {"HOST": "192.0.2.1", "PORT": "143", "SECURITY": "none",
                       "USERNAME": SENDER, "PASSWORD": PASSWORD}.items():  # fmt: skip
        monkeypatch.setenv(f"NOTIFY_IMAP__{key}", value)
    args = SEND if command == "send" else ("bounces",)
    code, output = cli_in_process(*args)
    assert code == 3, output
    assert "'none' is" in output
    assert "192.0.2.1" in output
    assert guard_sockets == []


def _tls_server(
    folder: Path, security: str, ca: trustme.CA
) -> tuple[LocalServer, LoginWatcher, Path]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    handler = LoginWatcher(folder / "received")
    server = LocalServer(handler.maildir, security=security, ssl_context=context, handler=handler)  # type: ignore[arg-type]
    ca_file = folder / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    return server, handler, ca_file


@pytest.mark.parametrize("security", ["starttls", "tls"])
def test_an_untrusted_certificate_is_refused_unless_its_ca_is_given(
    work: Path, security: str
) -> None:
    """A self-made CA the client does not know: exit 3, 'certificate', no login, nothing
    sent; with smtp.ca_file naming that CA the same server is used."""
    server, handler, ca_file = _tls_server(work, security, trustme.CA())
    with server:
        write_config(work, port=server.port, security=security, username=SENDER)
        code, output = cli_in_process(*SEND)
        assert code == 3, output
        assert "certificate" in output.lower()
        assert "No recipient was marked as failed" in output
        assert (handler.logins, len(server.received)) == (0, 0)
        write_config(work, port=server.port, security=security, username=SENDER,
                     smtp_more=f'ca_file = "{ca_file}"')  # fmt: skip
        code, output = cli_in_process(*SEND)
        assert code == 0, output
        assert (handler.logins, len(server.received)) == (1, 1)


def test_a_server_without_starttls_is_refused_no_login_no_downgrade(work: Path) -> None:
    """security = starttls, server offering no STARTTLS (on 127.0.0.1): exit 3, the
    password never sent, nothing sent."""
    handler = LoginWatcher(work / "received")
    with LocalServer(handler.maildir, handler=handler) as server:
        write_config(work, port=server.port, security="starttls", username=SENDER)
        code, output = cli_in_process(*SEND)
        assert code == 3, output
        assert "does not offer STARTTLS" in output
        assert (handler.logins, len(server.received)) == (0, 0)


@pytest.mark.skipif(DOVECOT is None, reason=SKIP_REASON)
def test_imap_without_starttls_or_with_an_untrusted_certificate_is_refused(
    work: Path,
    dovecot: DovecotFactory,  # noqa: F811
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """`notify bounces`: a plain IMAP server asked for STARTTLS, and a TLS server whose
    CA is not given: exit 3 each, no login in the server's log."""
    write_config(work)
    Journal.open(work / "incident.db").close()
    plain = dovecot()
    for key, value in {**plain.env(), "NOTIFY_IMAP__SECURITY": "starttls"}.items():
        monkeypatch.setenv(key, value)
    code, output = cli_in_process("bounces")
    assert code == 3, output
    assert "STARTTLS" in output
    tls = dovecot(tls=True)
    for key, value in tls.env().items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("NOTIFY_IMAP__CA_FILE")
    code, output = cli_in_process("bounces")
    assert code == 3, output
    assert "certificate" in output.lower()
    for server in (plain, tls):
        assert "Login: user=" not in server.log.read_text(errors="replace")
