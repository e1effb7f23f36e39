"""Benchmark: SMTP PIPELINING (RFC 2920) against one command per round trip.

    .venv/bin/python bench/bench_pipelining.py [--n 200] [--delay-ms 10]
        [--connections 1,4] [--batch 10] [--repeat 1]

Sends ``--n`` ready messages with notify's delivery engine to notify's own aiosmtpd
server (offering PIPELINING) on 127.0.0.1, through ``bench/delayproxy.py``'s proxy
(``--delay-ms`` each way, so a round trip of twice that), three ways, for each
``--connections`` value:

- ``without pipelining``: ``Policy(pipelining=False)``, 4 round trips a message;
- ``pipelining, batch 1``: MAIL, RCPT and DATA in one group, the content of one
  message in the same group as the next message's MAIL, RCPT, DATA, each message
  journaled alone: about 1 round trip a message;
- ``pipelining, batch B``: the same, ``--batch`` messages journaled together: about
  1 too (batches follow one another without a pause; it was 2 for batch 1 before).

Prints msg/s (the median of ``--repeat`` runs) and the round trips a message that
the time works out to (connection set-up included). Server, proxy and client share
one event loop in this process; the recorder records nothing (journal commits are
measured by bench_journal.py). Everything listens on and connects to 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from delayproxy import Proxy

from notify.deliver import Account, Outgoing, Policy, deliver
from notify.localserver import LocalServer, MaildirHandler
from notify.sending import NullRecorder

LOOPBACK = "127.0.0.1"
SENDER = "secours.martin@exemple.org"
BODY = (
    "Chère consœur, cher confrère,\r\n\r\n"
    "Ma messagerie a été piratée et des messages frauduleux ont pu vous être envoyés "
    "en mon nom. Ne cliquez sur aucun lien et ne répondez pas.\r\n"
) * 12


class PipeliningHandler(MaildirHandler):
    """notify's Maildir handler, offering PIPELINING and keeping nothing on disk."""

    def __init__(self, maildir: Path) -> None:
        super().__init__(maildir)
        self.count = 0

    async def handle_EHLO(
        self, server: Any, session: Any, envelope: Any, hostname: str, responses: list[str]
    ) -> list[str]:
        """The usual EHLO reply plus PIPELINING (aiosmtpd does not list it)."""
        lines = await super().handle_EHLO(server, session, envelope, hostname, responses)
        lines.insert(len(lines) - 1, "250-PIPELINING")
        return lines

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Count and drop."""
        self.count += 1
        return f"250 2.0.0 OK: queued as B{self.count}"


def messages(n: int) -> list[Outgoing]:
    """``n`` ready messages, one recipient each."""
    out = []
    for i in range(n):
        head = (
            f"From: Dr Martin <{SENDER}>\r\nTo: <patient{i}@exemple.net>\r\n"
            f"Subject: Alerte\r\nMessage-ID: <{i}@bench.notify>\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n"
        )
        data = (head + BODY).encode("utf-8")
        out.append(Outgoing(i, SENDER, f"patient{i}@exemple.net", data, envid=f"bench-{i}"))
    return out


@dataclass(frozen=True)
class Mode:
    """One way of sending: its label and policy."""

    label: str
    policy: Policy


async def run_once(port: int, mode: Mode, n: int) -> float:
    """Send ``n`` messages through the proxy on ``port``; return the seconds taken."""
    account = Account(host=LOOPBACK, port=port, security="none", timeout=30.0)
    started = time.perf_counter()
    summary = await deliver(messages(n), account, mode.policy, NullRecorder())
    took = time.perf_counter() - started
    if summary.sent != n:
        raise RuntimeError(f"{mode.label}: {summary.sent} of {n} sent")
    return took


def modes(connections: int, batch: int) -> list[Mode]:
    """The three ways, on ``connections`` connections."""
    base = Policy(connections=connections, max_attempts=3, retry_min=0.1, retry_max=1.0)
    return [
        Mode("without pipelining", Policy(**{**base.__dict__, "pipelining": False})),
        Mode("pipelining, batch 1", Policy(**{**base.__dict__, "pipeline_batch": 1})),
        Mode(f"pipelining, batch {batch}", Policy(**{**base.__dict__, "pipeline_batch": batch})),
    ]


async def bench(args: argparse.Namespace) -> None:
    """Start the server and the proxy, run every mode, print the figures."""
    size = len(messages(1)[0].data)
    rtt = 2 * args.delay_ms / 1000
    print(
        f"pipelining bench: {args.n} messages of {size:,} bytes, {args.delay_ms:g} ms each way "
        f"({rtt * 1000:g} ms round trip), aiosmtpd with PIPELINING on {LOOPBACK} (no TLS)",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="notify-bench-pipe-") as tmp:
        handler = PipeliningHandler(Path(tmp) / "mail")
        async with LocalServer(handler.maildir, handler=handler) as server:
            proxy = Proxy(server.port, args.delay_ms / 1000)
            listener = await asyncio.start_server(proxy.handle, LOOPBACK, 0)
            port = listener.sockets[0].getsockname()[1]
            try:
                for connections in args.connections:
                    await bench_connections(port, connections, args, rtt)
            finally:
                listener.close()
                await settle(proxy)


async def settle(proxy: Proxy) -> None:
    """Let the proxy's relays end with their connections (QUIT); cut what is left.

    Cancelling a relay that is still running makes Python 3.11's asyncio log an
    error (its streams callback reads the cancelled task's exception).
    """
    if proxy.tasks:
        await asyncio.wait(list(proxy.tasks), timeout=5)
    for task in list(proxy.tasks):
        task.cancel()
    await asyncio.gather(*proxy.tasks, return_exceptions=True)


async def bench_connections(
    port: int, connections: int, args: argparse.Namespace, rtt: float
) -> None:
    """Every mode on ``connections`` connections; one line each, then the speed-up."""
    rates: list[float] = []
    for mode in modes(connections, args.batch):
        took = statistics.median([await run_once(port, mode, args.n) for _ in range(args.repeat)])
        rate = args.n / took
        rates.append(rate)
        trips = took * connections / args.n / rtt if rtt else float("nan")
        print(
            f"{connections} conn, {mode.label}: {rate:,.1f} msg/s "
            f"({took:.2f} s, {trips:.1f} round trips a message)",
            flush=True,
        )
    print(
        f"{connections} conn, speed-up: batch 1 {rates[1] / rates[0]:.2f} x, "
        f"batch {args.batch} {rates[2] / rates[0]:.2f} x (vs without pipelining)",
        flush=True,
    )


def _counts(text: str) -> list[int]:
    return [int(part) for part in text.split(",") if part.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="messages a run (default 200)")
    parser.add_argument("--delay-ms", type=float, default=10.0, help="each way (default 10)")
    parser.add_argument("--connections", type=_counts, default=[1, 4], help="e.g. 1,4")
    parser.add_argument("--batch", type=int, default=10, help="messages a batch (default 10)")
    parser.add_argument("--repeat", type=int, default=1, help="runs per figure (median)")
    args = parser.parse_args(argv)
    asyncio.run(bench(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
