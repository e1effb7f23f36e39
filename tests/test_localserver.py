"""The loopback SMTP server used by `notify demo` and by the tests."""

from __future__ import annotations

import asyncio
import base64
import stat
from pathlib import Path

import aiosmtplib
import pytest
from smtpfaults import PASSWORD, TOKEN, USER, ServerFactory

from notify.errors import ConfigError
from notify.localserver import LocalServer

pytestmark = pytest.mark.integration

MESSAGE = b"From: a@exemple.org\r\nTo: b@exemple.net\r\nSubject: t\r\n\r\nbody\r\n"


@pytest.mark.parametrize(
    "host",
    ["0.0.0.0", "192.0.2.1", "::", "smtp.exemple.org"],  # noqa: S104
)
def test_a_non_loopback_address_is_refused(tmp_path: Path, host: str) -> None:
    """Binding anything but a loopback address is refused before binding."""
    with pytest.raises(ConfigError, match="only listens on this machine"):
        LocalServer(tmp_path / "mail", host=host)


def test_tls_modes_need_a_context(tmp_path: Path) -> None:
    """security='starttls' without an ssl_context is a clear error."""
    with pytest.raises(ConfigError, match="ssl_context"):
        LocalServer(tmp_path / "mail", security="starttls")


async def test_messages_are_stored_owner_only(tmp_path: Path) -> None:
    """The Maildir folders are 0700 and each message file 0600, with the envelope added."""
    async with LocalServer(tmp_path / "mail") as server:
        assert server.host == "127.0.0.1"
        assert server.port > 0
        async with aiosmtplib.SMTP(hostname=server.host, port=server.port, start_tls=False) as c:
            await c.sendmail("a@exemple.org", ["b@exemple.net"], MESSAGE)
    [received] = server.received
    for folder in ("", "new", "cur", "tmp"):
        assert stat.S_IMODE((tmp_path / "mail" / folder).stat().st_mode) == 0o700
    assert stat.S_IMODE(received.path.stat().st_mode) == 0o600
    assert received.path.parent.name == "new"
    stored = received.path.read_bytes()
    assert stored.startswith(b"Return-Path: <a@exemple.org>\r\nX-Envelope-To: b@exemple.net\r\n")
    assert stored.endswith(MESSAGE)


async def test_starttls_is_required_before_mail(smtp_factory: ServerFactory) -> None:
    """A STARTTLS server refuses MAIL on a plain connection (530)."""
    server = await smtp_factory(security="starttls", credentials={})
    async with aiosmtplib.SMTP(hostname=server.host, port=server.port, start_tls=False) as c:
        with pytest.raises(aiosmtplib.SMTPSenderRefused) as caught:
            await c.mail("a@exemple.org")
    assert caught.value.code == 530


async def test_auth_is_required_when_credentials_are_set(
    smtp_factory: ServerFactory, ca_file: Path
) -> None:
    """With credentials, MAIL before AUTH is refused; after AUTH PLAIN it is accepted."""
    server = await smtp_factory(security="starttls")
    client = aiosmtplib.SMTP(
        hostname=server.host, port=server.port, start_tls=True, cert_bundle=str(ca_file)
    )
    async with client:
        with pytest.raises(aiosmtplib.SMTPSenderRefused):
            await client.mail("a@exemple.org")
        await client.auth_plain(USER, PASSWORD)
        response = await client.mail("a@exemple.org")
    assert response.code == 250


async def test_auth_login_is_offered_and_works(smtp_factory: ServerFactory, ca_file: Path) -> None:
    """AUTH LOGIN with the right password succeeds."""
    server = await smtp_factory(security="tls")
    client = aiosmtplib.SMTP(
        hostname=server.host, port=server.port, use_tls=True, cert_bundle=str(ca_file)
    )
    async with client:
        await client.ehlo()
        assert {"login", "plain"} <= set(client.server_auth_methods)
        response = await client.auth_login(USER, PASSWORD)
    assert response.code == 235


async def test_xoauth2_is_offered_only_with_tokens(
    smtp_factory: ServerFactory, ca_file: Path
) -> None:
    """XOAUTH2 appears in EHLO only when tokens are configured, and checks the token."""
    plain = await smtp_factory(security="tls")
    oauth = await smtp_factory(security="tls", credentials={}, oauth2_tokens={USER: TOKEN})
    for server, offered in ((plain, False), (oauth, True)):
        client = aiosmtplib.SMTP(
            hostname=server.host, port=server.port, use_tls=True, cert_bundle=str(ca_file)
        )
        async with client:
            await client.ehlo()
            assert ("xoauth2" in client.server_auth_methods) is offered
            if offered:
                with pytest.raises(aiosmtplib.SMTPAuthenticationError):
                    await client.auth_xoauth2(USER, "wrong-token")
                assert (await client.auth_xoauth2(USER, TOKEN)).code == 235


async def test_xoauth2_without_an_initial_response(
    smtp_factory: ServerFactory, ca_file: Path
) -> None:
    """'AUTH XOAUTH2' alone gets a 334 challenge and accepts the answer on the next line."""
    server = await smtp_factory(security="tls", credentials={}, oauth2_tokens={USER: TOKEN})
    client = aiosmtplib.SMTP(
        hostname=server.host, port=server.port, use_tls=True, cert_bundle=str(ca_file)
    )
    blob = base64.b64encode(f"user={USER}\x01auth=Bearer {TOKEN}\x01\x01".encode())
    async with client:
        await client.ehlo()
        first = await client.execute_command(b"AUTH", b"XOAUTH2")
        second = await client.execute_command(blob)
    assert (first.code, second.code) == (334, 235)


def test_the_threaded_server_stops_and_frees_its_port(tmp_path: Path) -> None:
    """Used as a plain context manager, the server runs on a thread and stops cleanly."""
    with LocalServer(tmp_path / "mail") as server:
        port = server.port
        assert port > 0

    async def connect() -> None:
        await asyncio.open_connection("127.0.0.1", port)

    with pytest.raises(ConnectionRefusedError):
        asyncio.run(connect())
