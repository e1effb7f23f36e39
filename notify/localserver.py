"""A loopback-only SMTP server (aiosmtpd) for ``notify demo`` and for the tests.

Every message it receives is written to a Maildir folder (created 0700, files 0600),
with ``Return-Path`` and ``X-Envelope-To`` headers added in front, and is kept in
memory as a :class:`Received` record. It can offer STARTTLS or implicit TLS from a
given ``ssl.SSLContext``, AUTH PLAIN/LOGIN with given credentials, XOAUTH2 with given
tokens, DSN (RFC 3461) and SMTPUTF8. It binds 127.0.0.1 (or another loopback address)
on port 0 by default and refuses any other address.

Two ways to run it::

    with LocalServer(path) as server:          # on its own thread (sync callers)
        ...server.port...
    async with LocalServer(path) as server:    # in the running event loop (tests)
        ...

Handlers derive from :class:`MaildirHandler` and may override aiosmtpd's
``handle_MAIL``/``handle_RCPT``/``handle_DATA`` hooks, plus ``refuse_connection``
(a reply sent instead of the 220 greeting, then the connection is closed).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import itertools
import json
import os
import ssl
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, AnyStr, Literal

from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from notify.deliver.account import is_loopback
from notify.errors import ConfigError

ServerSecurity = Literal["none", "starttls", "tls"]
_DSN_PARAMS = frozenset({"RET", "ENVID", "NOTIFY", "ORCPT"})
_counter = itertools.count(1)


@dataclass(frozen=True)
class Received:
    """One accepted SMTP transaction, as the server saw it."""

    mail_from: str
    rcpt_tos: tuple[str, ...]
    mail_options: tuple[str, ...]
    rcpt_options: tuple[str, ...]
    data: bytes
    auth_user: str | None
    path: Path


def make_maildir(root: Path) -> Path:
    """Create ``root`` as a Maildir (cur, new, tmp), owner-only (0700); return it."""
    for sub in ("", "cur", "new", "tmp"):
        folder = root / sub
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        folder.chmod(0o700)
    return root


def write_maildir_message(root: Path, data: bytes) -> Path:
    """Write ``data`` into ``root/new`` the Maildir way (tmp, then rename), mode 0600."""
    now = time.time()
    name = f"{int(now)}.M{int(now % 1 * 1e6)}P{os.getpid()}Q{next(_counter)}.notify"
    tmp = root / "tmp" / name
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
    finally:
        os.close(fd)
    final = root / "new" / name
    os.rename(tmp, final)
    return final


class MaildirHandler:
    """aiosmtpd handler: checks AUTH, stores each message, records what it received."""

    def __init__(
        self,
        maildir: Path,
        *,
        credentials: Mapping[str, str] | None = None,
        oauth2_tokens: Mapping[str, str] | None = None,
        dsn: bool = True,
        pipelining: bool = True,
    ) -> None:
        self.maildir = make_maildir(maildir)
        self.dsn = dsn
        self.pipelining = pipelining
        self._credentials = dict(credentials or {})
        self._tokens = dict(oauth2_tokens or {})
        self._lock = threading.Lock()
        self._received: list[Received] = []
        self.connections = 0

    @property
    def requires_auth(self) -> bool:
        """True when credentials or tokens were given: MAIL needs AUTH first."""
        return bool(self._credentials or self._tokens)

    def mechanisms_to_hide(self) -> list[str]:
        """AUTH mechanisms this server must not offer, given its configuration."""
        hidden = [] if self._credentials else ["PLAIN", "LOGIN"]
        return hidden + ([] if self._tokens else ["XOAUTH2"])

    @property
    def received(self) -> list[Received]:
        """A snapshot of the transactions accepted so far."""
        with self._lock:
            return list(self._received)

    def refuse_connection(self, session: Session) -> str | None:
        """Return a reply to send instead of the greeting (then close), or None."""
        return None

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        """aiosmtpd authenticator for PLAIN and LOGIN."""
        if isinstance(data, LoginPassword):
            user = data.login.decode("utf-8", "replace")
            expected = self._credentials.get(user)
            if expected is not None and hmac.compare_digest(
                expected.encode("utf-8"), data.password
            ):
                return AuthResult(success=True, auth_data=user)
        return AuthResult(success=False, handled=False)

    async def auth_XOAUTH2(self, server: SMTP, args: list[str]) -> AuthResult:
        """The XOAUTH2 SASL mechanism (Google's and Microsoft's OAuth2 for SMTP)."""
        if len(args) > 1:
            blob = args[1].encode("ascii")
        else:
            answer = await server.challenge_auth(b"", encode_to_b64=False)
            if not isinstance(answer, bytes):
                return AuthResult(success=False, handled=True)
            blob = base64.b64encode(answer)
        user, token = _parse_xoauth2(blob)
        expected = self._tokens.get(user or "")
        if user and token and expected and hmac.compare_digest(expected, token):
            return AuthResult(success=True, auth_data=user)
        error = json.dumps({"status": "401", "schemes": "bearer", "scope": "smtp"})
        await server.challenge_auth(error)  # the client answers with an empty line
        return AuthResult(
            success=False, handled=False, message="535 5.7.8 Username and token not accepted"
        )

    async def handle_EHLO(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        hostname: str,
        responses: list[str],
    ) -> list[str]:
        """Offer DSN and PIPELINING when configured, and no AUTH line when no mechanism
        is left. aiosmtpd reads commands one line at a time from its input buffer, so
        it serves pipelined commands (RFC 2920) in order; it just does not say so."""
        session.host_name = hostname
        lines = [r for r in responses if r.strip() not in ("250-AUTH", "250-AUTH ")]
        if self.dsn:
            lines.insert(len(lines) - 1, "250-DSN")
        if self.pipelining:
            lines.insert(len(lines) - 1, "250-PIPELINING")
        return lines

    async def handle_MAIL(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        """Refuse MAIL before AUTH when this server requires authentication."""
        if self.requires_auth and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(options)
        return "250 2.1.0 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Store the message in the Maildir and remember it; reply with a queue id."""
        record = self.store(session, envelope)
        return f"250 2.0.0 OK: queued as {record.path.name.split('.')[1]}"

    def store(self, session: Session, envelope: Envelope) -> Received:
        """Write one accepted transaction to the Maildir and to :attr:`received`."""
        data = envelope.original_content or b""
        mail_from = envelope.mail_from or ""
        head = f"Return-Path: <{mail_from}>\r\nX-Envelope-To: {', '.join(envelope.rcpt_tos)}\r\n"
        path = write_maildir_message(self.maildir, head.encode("utf-8") + data)
        record = Received(
            mail_from=mail_from,
            rcpt_tos=tuple(envelope.rcpt_tos),
            mail_options=tuple(envelope.mail_options),
            rcpt_options=tuple(envelope.rcpt_options),
            data=data,
            auth_user=session.auth_data if isinstance(session.auth_data, str) else None,
            path=path,
        )
        with self._lock:
            self._received.append(record)
        return record


def _parse_xoauth2(blob: bytes) -> tuple[str | None, str | None]:
    try:
        text = base64.b64decode(blob, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None, None
    fields = dict(part.split("=", 1) for part in text.split("\x01") if "=" in part)
    auth = fields.get("auth", "")
    token = auth[7:] if auth[:7].lower() == "bearer " else None
    return fields.get("user"), token


class _Smtp(SMTP):
    """aiosmtpd's SMTP, accepting the DSN parameters and able to refuse at greeting."""

    def __init__(self, handler: MaildirHandler, **kwargs: Any) -> None:
        super().__init__(handler, **kwargs)
        self._greeted = False

    def _getparams(self, params: Sequence[str]) -> dict[str, str | bool] | None:
        result: dict[str, str | bool] | None = super()._getparams(params)
        if result is not None and self.event_handler.dsn:
            for key in _DSN_PARAMS:
                result.pop(key, None)
        return result

    async def push(self, status: AnyStr) -> None:
        if not self._greeted:
            self._greeted = True
            reply = self.event_handler.refuse_connection(self.session)
            if reply is not None:
                await super().push(reply)
                if self.transport is not None:
                    self.transport.close()
                return
        await super().push(status)


class LocalServer:
    """A loopback SMTP server storing into a Maildir; see the module docstring."""

    def __init__(
        self,
        maildir: Path,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        security: ServerSecurity = "none",
        ssl_context: ssl.SSLContext | None = None,
        credentials: Mapping[str, str] | None = None,
        oauth2_tokens: Mapping[str, str] | None = None,
        dsn: bool = True,
        smtputf8: bool = True,
        pipelining: bool = True,
        handler: MaildirHandler | None = None,
        idle_timeout: float = 60.0,
    ) -> None:
        if not is_loopback(host):
            raise ConfigError(
                f"the local SMTP server only listens on this machine, not on {host!r}",
                hint="Use 127.0.0.1 (the default) or ::1.",
            )
        if security != "none" and ssl_context is None:
            raise ConfigError(
                f"security {security!r} needs an ssl_context with the server certificate",
                hint="Pass ssl_context, or use security='none'.",
            )
        self.host = "127.0.0.1" if host.strip().lower() == "localhost" else host
        self.port = port
        self.security = security
        self.ssl_context = ssl_context
        self.smtputf8 = smtputf8
        self.idle_timeout = idle_timeout
        self.handler = handler or MaildirHandler(
            maildir,
            credentials=credentials,
            oauth2_tokens=oauth2_tokens,
            dsn=dsn,
            pipelining=pipelining,
        )
        self._server: asyncio.AbstractServer | None = None
        self._sessions: set[_Smtp] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def maildir(self) -> Path:
        """The Maildir folder messages are written to."""
        return self.handler.maildir

    @property
    def received(self) -> list[Received]:
        """The transactions accepted so far (a snapshot)."""
        return self.handler.received

    def _factory(self) -> _Smtp:
        self.handler.connections += 1
        session = _Smtp(
            self.handler,
            loop=self._loop,
            hostname="localhost",
            enable_SMTPUTF8=self.smtputf8,
            tls_context=self.ssl_context if self.security == "starttls" else None,
            require_starttls=self.security == "starttls",
            auth_require_tls=self.security == "starttls",
            authenticator=self.handler.authenticate,
            auth_exclude_mechanism=self.handler.mechanisms_to_hide(),
            timeout=self.idle_timeout,
        )
        self._sessions.add(session)
        return session

    async def start(self) -> None:
        """Bind and listen in the running event loop; :attr:`port` becomes the real port."""
        self._loop = asyncio.get_running_loop()
        self._server = await self._loop.create_server(
            self._factory,
            host=self.host,
            port=self.port,
            ssl=self.ssl_context if self.security == "tls" else None,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Stop listening and close every open session."""
        if self._server is None:
            return
        self._server.close()
        tasks = []
        for session in list(self._sessions):
            if session.transport is not None:
                session.transport.close()
            task = getattr(session, "_handler_coroutine", None)
            if task is not None:
                tasks.append(task)
        await asyncio.sleep(0)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._server.wait_closed()
        self._sessions.clear()
        self._server = None

    async def __aenter__(self) -> LocalServer:
        await self.start()
        return self

    async def __aexit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()

    def __enter__(self) -> LocalServer:
        ready = threading.Event()
        failure: list[BaseException] = []
        self._thread = threading.Thread(
            target=self._run_thread, args=(ready, failure), name="notify-smtp", daemon=True
        )
        self._thread.start()
        if not ready.wait(10):
            raise ConfigError("the local SMTP server did not start within 10 s")
        if failure:
            self._thread.join()
            raise ConfigError(f"the local SMTP server cannot start: {failure[0]}") from failure[0]
        return self

    def __exit__(
        self, t: type[BaseException] | None, e: BaseException | None, tb: TracebackType | None
    ) -> None:
        loop, thread = self._loop, self._thread
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            thread.join(10)
        self._thread = None

    def _run_thread(self, ready: threading.Event, failure: list[BaseException]) -> None:
        loop = asyncio.new_event_loop()
        try:
            try:
                loop.run_until_complete(self.start())
            except OSError as exc:
                failure.append(exc)
                return
            finally:
                ready.set()
            loop.run_forever()
            loop.run_until_complete(self.stop())
        finally:
            loop.close()
