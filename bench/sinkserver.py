"""A counting aiosmtpd sink on 127.0.0.1 (notify.localserver.LocalServer), for benchmarks.

    .venv/bin/python bench/sinkserver.py [--starttls --ca-out ca.pem --user U]
        [--max-seconds 3600]

Prints ``port N`` once listening, then ``first T`` (``time.monotonic()``, a clock shared
by every process of the machine) when the first message is accepted, and
``received N`` when it stops (SIGTERM, SIGINT or ``--max-seconds``). Messages are
counted and dropped, never written to disk. With ``--starttls`` it requires STARTTLS
(a trustme certificate for 127.0.0.1, its CA written to ``--ca-out``) and AUTH with
``--user`` and the password in ``$BENCH_SMTP_PASSWORD``. aiosmtpd does not offer
PIPELINING; ``--pipelining`` adds it to the EHLO reply (aiosmtpd reads pipelined
commands in order, as RFC 2920 needs), as every large provider offers it.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import ssl
import tempfile
import time
from pathlib import Path
from typing import Any

from notify.localserver import LocalServer, MaildirHandler


class CountingHandler(MaildirHandler):
    """Accepts every message, keeps nothing, notes when the first one arrived."""

    def __init__(self, maildir: Path, *, pipelining: bool = False, **kwargs: Any) -> None:
        super().__init__(maildir, **kwargs)
        self.count = 0
        self.pipelining = pipelining

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        """Also offer PIPELINING when asked (aiosmtpd reads commands in order anyway)."""
        lines: list[str] = await super().handle_EHLO(server, session, envelope, hostname, responses)
        if self.pipelining:
            lines.insert(len(lines) - 1, "250-PIPELINING")
        return lines

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Count; print the time of the first message."""
        self.count += 1
        if self.count == 1:
            print(f"first {time.monotonic():.6f}", flush=True)
        return f"250 2.0.0 OK: queued as B{self.count}"


def tls_context(ca_out: Path) -> ssl.SSLContext:
    """A server context with a trustme certificate for 127.0.0.1; the CA goes to ca_out."""
    import trustme  # noqa: PLC0415 - only needed with --starttls

    ca = trustme.CA()
    ca.cert_pem.write_to_path(str(ca_out))
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1", "localhost").configure_cert(context)
    return context


async def serve(args: argparse.Namespace, folder: Path) -> int:
    """Listen until a signal or the time limit; return the number of messages."""
    credentials = None
    if args.starttls:
        credentials = {args.user: os.environ.get("BENCH_SMTP_PASSWORD", "bench-password")}
    handler = CountingHandler(
        folder / "maildir", credentials=credentials, pipelining=args.pipelining
    )
    server = LocalServer(
        folder / "maildir",
        port=args.port,
        security="starttls" if args.starttls else "none",
        ssl_context=tls_context(args.ca_out) if args.starttls else None,
        handler=handler,
        idle_timeout=300,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    async with server:
        print(f"port {server.port}", flush=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), args.max_seconds)
    return handler.count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--starttls", action="store_true", help="require STARTTLS and AUTH")
    parser.add_argument(
        "--pipelining", action="store_true", help="offer PIPELINING (RFC 2920) in EHLO"
    )
    parser.add_argument("--ca-out", type=Path, default=Path("bench-ca.pem"))
    parser.add_argument("--user", default="secours.martin@exemple.org")
    parser.add_argument("--max-seconds", type=float, default=3600.0)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="notify-sinkserver-") as tmp:
        count = asyncio.run(serve(args, Path(tmp)))
    print(f"received {count}", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
