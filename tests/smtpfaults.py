"""A fault-injecting SMTP server for the delivery tests, and its pytest fixtures.

The server is notify's own :class:`notify.localserver.LocalServer` (aiosmtpd, on
127.0.0.1, port 0, in the test's event loop) with :class:`FaultHandler`, which can:
refuse connections at the greeting (421), answer chosen replies to MAIL, to RCPT
for chosen recipients (the first k times) and after the DATA content, drop the
connection after the content before replying, and reply slower than the client's
timeout. It counts what it saw so tests can assert the number of attempts.
"""

from __future__ import annotations

import asyncio
import ssl
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import trustme
from pydantic import SecretStr

from notify.deliver import Account, Attempt, Outgoing, Policy
from notify.localserver import LocalServer, MaildirHandler, ServerSecurity

USER = "secours.martin@exemple.org"
PASSWORD = "correct horse battery staple"
TOKEN = "ya29.test-access-token"
FAST = Policy(max_attempts=3, retry_min=0.01, retry_max=0.05, cancel_grace=2.0)


class FaultHandler(MaildirHandler):
    """MaildirHandler whose replies can be scripted per recipient."""

    def __init__(self, maildir: Path, *, pipelining: bool = False, **kwargs: Any) -> None:
        # Without PIPELINING by default: these faults test the one-command-per-round-trip
        # path message by message (tests/test_deliver_pipeline.py covers the other).
        super().__init__(maildir, pipelining=pipelining, **kwargs)
        self.refuse_connections = 0
        self.greeting_reply = "421 4.3.2 Service not available, closing channel"
        self.mail_replies: list[str] = []
        self.rcpt_replies: dict[str, list[str]] = {}
        self.data_replies: dict[str, list[str]] = {}
        self.drop_after_data: Counter[str] = Counter()
        self.store_before_drop = True
        self.rcpt_delay: dict[str, float] = {}  # used once per recipient
        self.data_delay: dict[str, float] = {}  # used once per recipient
        self.rcpt_seen: Counter[str] = Counter()
        self.data_seen: Counter[str] = Counter()
        self.refused = 0
        self.quits = 0

    def refuse_connection(self, session: Any) -> str | None:
        """Refuse the next ``refuse_connections`` connections at the greeting."""
        if self.refuse_connections > 0:
            self.refuse_connections -= 1
            self.refused += 1
            return self.greeting_reply
        return None

    async def handle_QUIT(self, server: Any, session: Any, envelope: Any) -> str:
        """Count the clients that said goodbye properly."""
        self.quits += 1
        return "221 2.0.0 Bye"

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        """Scripted MAIL replies first, then the normal behaviour."""
        if self.mail_replies:
            return _closing(server, self.mail_replies.pop(0))
        return await super().handle_MAIL(server, session, envelope, address, options)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        """Count, delay or answer a scripted reply for this recipient."""
        self.rcpt_seen[address] += 1
        delay = self.rcpt_delay.pop(address, None)
        if delay:
            await asyncio.sleep(delay)
        scripted = self.rcpt_replies.get(address)
        if scripted:
            return _closing(server, scripted.pop(0))
        envelope.rcpt_tos.append(address)
        envelope.rcpt_options.extend(options)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Count, then drop, delay, answer a scripted reply, or store."""
        rcpt = envelope.rcpt_tos[0]
        self.data_seen[rcpt] += 1
        if self.drop_after_data[rcpt] > 0:
            self.drop_after_data[rcpt] -= 1
            if self.store_before_drop:
                self.store(session, envelope)
            server.transport.close()
            await asyncio.Event().wait()  # cancelled when the connection is lost
        delay = self.data_delay.pop(rcpt, None)
        if delay:
            await asyncio.sleep(delay)
        scripted = self.data_replies.get(rcpt)
        if scripted:
            return _closing(server, scripted.pop(0))
        return await super().handle_DATA(server, session, envelope)


def _closing(server: Any, reply: str) -> str:
    """A 421 reply closes the connection after it is sent, as real servers do."""
    if reply.startswith("421"):
        asyncio.get_running_loop().call_soon(server.transport.close)
    return reply


@dataclass
class RecordingRecorder:
    """A Recorder that keeps every call, in order."""

    calls: list[tuple[str, tuple[Any, ...]]] = field(default_factory=list)
    open_batches: int = 0

    def starting(self, batch: Sequence[Outgoing]) -> None:
        """Remember the refs of the batch about to be sent."""
        self.open_batches += 1
        self.calls.append(("starting", tuple(m.ref for m in batch)))

    def finished(self, attempts: Sequence[Attempt]) -> None:
        """Remember the attempts."""
        self.open_batches -= 1
        self.calls.append(("finished", tuple(attempts)))

    @property
    def attempts(self) -> list[Attempt]:
        """Every attempt reported, in order."""
        return [a for kind, items in self.calls if kind == "finished" for a in items]

    def for_ref(self, ref: int) -> list[Attempt]:
        """The attempts of one message."""
        return [a for a in self.attempts if a.ref == ref]

    def outcomes(self, ref: int) -> list[str]:
        """The outcomes of one message, in order."""
        return [a.outcome for a in self.for_ref(ref)]


def message(ref: int, rcpt: str | None = None, *, envid: str | None = None) -> Outgoing:
    """A small ready message for ``rcpt`` (default ``patient<ref>@exemple.net``)."""
    to = rcpt or f"patient{ref}@exemple.net"
    data = (
        f"From: Dr Martin <{USER}>\r\nTo: <{to}>\r\nSubject: Alerte\r\n"
        f"Message-ID: <{ref}@notify.test>\r\n\r\nBonjour,\r\n.ligne avec point\r\n"
    ).encode()
    return Outgoing(ref=ref, mail_from=USER, rcpt=to, data=data, envid=envid)


def account_for(server: LocalServer, ca_file: Path | None = None, **overrides: Any) -> Account:
    """An Account pointing at ``server``, with the test password unless overridden."""
    values: dict[str, Any] = {
        "host": server.host,
        "port": server.port,
        "security": server.security,
        "ca_file": ca_file if server.security != "none" else None,
        "timeout": 2.0,
        "username": USER,
        "password": _secret(PASSWORD),
    }
    values.update(overrides)
    return Account(**values)


def _secret(value: str) -> SecretStr:
    return SecretStr(value)


ServerFactory = Callable[..., Awaitable[LocalServer]]


@pytest.fixture(scope="session")
def tls_ca() -> trustme.CA:
    """The certificate authority the client trusts (through ca_file)."""
    return trustme.CA()


@pytest.fixture(scope="session")
def ca_file(tls_ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The trusted CA as a PEM file, for Account.ca_file."""
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    tls_ca.cert_pem.write_to_path(str(path))
    return path


def server_context(ca: trustme.CA) -> ssl.SSLContext:
    """A server TLS context with a certificate for 127.0.0.1 issued by ``ca``."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


@pytest.fixture(scope="session")
def server_tls(tls_ca: trustme.CA) -> ssl.SSLContext:
    """The server's TLS context (certificate trusted by the client)."""
    return server_context(tls_ca)


@pytest.fixture
async def smtp_factory(tmp_path: Path, server_tls: ssl.SSLContext) -> AsyncIterator[ServerFactory]:
    """Start FaultHandler servers in the test's loop; all are stopped at the end.

    ``await smtp_factory(security="starttls", credentials={...}, ssl_context=...)``.
    By default: STARTTLS, AUTH with USER/PASSWORD, DSN and SMTPUTF8 offered.
    """
    servers: list[LocalServer] = []

    async def make(
        *,
        security: ServerSecurity = "starttls",
        credentials: dict[str, str] | None = None,
        oauth2_tokens: dict[str, str] | None = None,
        dsn: bool = True,
        smtputf8: bool = True,
        ssl_context: ssl.SSLContext | None = None,
    ) -> LocalServer:
        handler = FaultHandler(
            tmp_path / f"maildir{len(servers)}",
            credentials={USER: PASSWORD} if credentials is None else credentials,
            oauth2_tokens=oauth2_tokens,
            dsn=dsn,
        )
        context = ssl_context or (server_tls if security != "none" else None)
        server = LocalServer(
            handler.maildir,
            security=security,
            ssl_context=context,
            smtputf8=smtputf8,
            handler=handler,
        )
        await server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        await server.stop()


def faults(server: LocalServer) -> FaultHandler:
    """The FaultHandler of a server made by smtp_factory."""
    assert isinstance(server.handler, FaultHandler)
    return server.handler
