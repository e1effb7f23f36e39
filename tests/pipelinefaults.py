"""A PIPELINING server for the pipelining tests, its fixture, and a delay proxy.

aiosmtpd 1.4.6 reads commands one line at a time from its stream, so it takes
pipelined commands as they come; notify's MaildirHandler lists PIPELINING in its
EHLO reply. :class:`PipelineHandler` (a :class:`smtpfaults.FaultHandler`) records:

- ``events``: ``("MAIL",)`` and ``("RCPT", address)`` in the order the server saw
  them, in the same list as the :class:`OrderRecorder`'s ``("starting", refs)``;
- ``pipelined_mail`` / ``pipelined_next``: how many MAIL commands arrived with their
  RCPT already in the server's input buffer (written in the same group), and how
  many message contents arrived with the next MAIL behind them;
- ``rsets`` and ``lone_dots`` (an empty content after a refused RCPT).

``sloppy_rcpt`` makes RCPT refuse an address but keep it in the envelope, so
aiosmtpd answers 354 to DATA: the server RFC 2920 section 3.1 warns about.
"""

from __future__ import annotations

import asyncio
import importlib.util
import ssl
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest
from smtpfaults import PASSWORD, USER, FaultHandler, RecordingRecorder, ServerFactory

from notify.deliver import Outgoing
from notify.localserver import LocalServer, ServerSecurity

BENCH = Path(__file__).parents[1] / "bench"


class PipelineHandler(FaultHandler):
    """FaultHandler that offers PIPELINING and records what arrived together."""

    def __init__(self, maildir: Path, *, pipelining: bool = True, **kwargs: Any) -> None:
        super().__init__(maildir, pipelining=pipelining, **kwargs)
        self.events: list[tuple[Any, ...]] = []
        self.sloppy_rcpt: dict[str, str] = {}
        self.pipelined_mail = 0
        self.pipelined_next = 0
        self.rsets = 0
        self.lone_dots = 0

    async def handle_MAIL(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        """Log the MAIL; note whether its RCPT is already waiting behind it."""
        self.events.append(("MAIL",))
        if _buffered(server).startswith(b"RCPT"):
            self.pipelined_mail += 1
        return await super().handle_MAIL(server, session, envelope, address, options)

    async def handle_RCPT(
        self, server: Any, session: Any, envelope: Any, address: str, options: list[str]
    ) -> str:
        """Log the RCPT; a sloppy refusal keeps the address so DATA gets 354."""
        self.events.append(("RCPT", address))
        sloppy = self.sloppy_rcpt.pop(address, None)
        if sloppy is not None:
            self.rcpt_seen[address] += 1
            envelope.rcpt_tos.append(address)
            return sloppy
        return await super().handle_RCPT(server, session, envelope, address, options)

    async def handle_RSET(self, server: Any, session: Any, envelope: Any) -> str:
        """Count the RSETs."""
        self.rsets += 1
        return "250 OK"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Refuse an empty content (a lone dot); note a MAIL waiting behind the dot."""
        if _buffered(server).startswith(b"MAIL"):
            self.pipelined_next += 1
        if not envelope.original_content:
            self.lone_dots += 1
            return "554 5.5.1 Error: no valid recipients"
        return await super().handle_DATA(server, session, envelope)


def _buffered(server: Any) -> bytes:
    """What the server has received but not read yet (aiosmtpd's stream buffer)."""
    reader = getattr(server, "_reader", None)
    return bytes(getattr(reader, "_buffer", b""))


class OrderRecorder(RecordingRecorder):
    """A RecordingRecorder that also logs ``starting`` into the server's event list."""

    def __init__(self, events: list[tuple[Any, ...]]) -> None:
        super().__init__()
        self.events = events

    def starting(self, batch: Sequence[Outgoing]) -> None:
        """Log the batch (as the journal's commit would be) before anything is sent."""
        super().starting(batch)
        self.events.append(("starting", tuple(m.ref for m in batch)))


def pipe(server: LocalServer) -> PipelineHandler:
    """The PipelineHandler of a server made by pipe_factory."""
    assert isinstance(server.handler, PipelineHandler)
    return server.handler


@pytest.fixture(name="pipe_factory")
async def pipe_factory_fixture(
    tmp_path: Path, server_tls: ssl.SSLContext
) -> AsyncIterator[ServerFactory]:
    """Start PipelineHandler servers (STARTTLS, AUTH, DSN, SMTPUTF8 by default)."""
    servers: list[LocalServer] = []

    async def make(
        *,
        security: ServerSecurity = "starttls",
        pipelining: bool = True,
        dsn: bool = True,
        smtputf8: bool = True,
    ) -> LocalServer:
        handler = PipelineHandler(
            tmp_path / f"pipe{len(servers)}",
            pipelining=pipelining,
            credentials={USER: PASSWORD},
            dsn=dsn,
        )
        server = LocalServer(
            handler.maildir,
            security=security,
            ssl_context=server_tls if security != "none" else None,
            smtputf8=smtputf8,
            handler=handler,
        )
        await server.start()
        servers.append(server)
        return server

    yield make
    for server in servers:
        await server.stop()


def _delayproxy() -> Any:
    """bench/delayproxy.py, loaded as a module (it is a script, not a package)."""
    spec = importlib.util.spec_from_file_location(
        "notify_bench_delayproxy", BENCH / "delayproxy.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules.setdefault(spec.name, module)
    spec.loader.exec_module(module)
    return module


@asynccontextmanager
async def delay_proxy(target_port: int, delay_ms: float) -> AsyncIterator[int]:
    """bench/delayproxy.py's proxy in this event loop, on 127.0.0.1; yields its port."""
    proxy = _delayproxy().Proxy(target_port, delay_ms / 1000)
    server = await asyncio.start_server(proxy.handle, "127.0.0.1", 0)
    try:
        yield server.sockets[0].getsockname()[1]
    finally:
        server.close()
        if proxy.tasks:  # relays end with their connections; cancelling a running
            await asyncio.wait(list(proxy.tasks), timeout=5)  # one logs an error on 3.11
        for task in list(proxy.tasks):
            task.cancel()
        await asyncio.gather(*proxy.tasks, return_exceptions=True)
        await server.wait_closed()
