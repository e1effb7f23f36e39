"""The ceiling of our client library: a bare aiosmtplib loop over pre-built messages.

    .venv/bin/python bench/bare_aiosmtplib.py --port 2525 [--n 10000] [--connections 4]
        [--starttls --ca-file ca.pem --user U]   (password in $BENCH_SMTP_PASSWORD)

Builds ``--n`` personalised messages with notify's Composer first (the same template
and recipients as ``bench/peers.py`` gives ``notify send``; not timed), then times
opening ``--connections`` sessions to 127.0.0.1 (EHLO, STARTTLS and AUTH when asked)
and sending every message with ``SMTP.sendmail``: no journal, no retry, no progress.
Prints ``bare aiosmtplib: N messages in S s: R msg/s`` and exits 1 when any failed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import ssl
import sys
import time
from datetime import datetime
from pathlib import Path

from aiosmtplib import SMTP

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import LOOPBACK, SENDER, TEMPLATE, recipient_rows

from notify.addressbook.model import Recipient
from notify.compose import Composer, load_template
from notify.compose.samples import PARIS, sample_incident, sample_sender


def build(n: int) -> list[tuple[str, bytes]]:
    """``n`` (recipient, message bytes) built by notify's Composer."""
    composer = Composer(load_template(TEMPLATE), sample_incident(), sample_sender())
    people = [
        Recipient(
            email=email,
            ascii_email=email,
            key=email,
            name=f"{given} {family}",
            given_name=given,
            family_name=family,
            civility=civility,
            title=title,
        )
        for civility, given, family, title, email in recipient_rows(n)
    ]
    date = datetime(2026, 11, 28, 10, 0, tzinfo=PARIS)
    seed = "bench"  # the campaign token: seeds the Message-IDs
    return [(m.to, m.data) for m in composer.compose_all(people, campaign_token=seed, date=date)]


async def worker(args: argparse.Namespace, messages: list[tuple[str, bytes]]) -> int:
    """One connection sending messages until the shared list is empty; failures count."""
    context = None
    if args.starttls:
        context = ssl.create_default_context(cafile=str(args.ca_file) if args.ca_file else None)
    smtp = SMTP(
        hostname=LOOPBACK,
        port=args.port,
        start_tls=bool(args.starttls),
        tls_context=context,
        timeout=60,
    )
    await smtp.connect()
    if args.user:
        await smtp.login(args.user, os.environ.get("BENCH_SMTP_PASSWORD", "bench-password"))
    failed = 0
    while messages:
        rcpt, data = messages.pop()
        errors, _ = await smtp.sendmail(SENDER, [rcpt], data)
        failed += len(errors)
    await smtp.quit()
    return failed


async def send_all(args: argparse.Namespace, messages: list[tuple[str, bytes]]) -> int:
    """Every message over ``args.connections`` sessions; the number of failures."""
    results = await asyncio.gather(*(worker(args, messages) for _ in range(args.connections)))
    return sum(results)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True, help="SMTP port on 127.0.0.1")
    parser.add_argument("--n", type=int, default=10_000, help="messages")
    parser.add_argument("--connections", type=int, default=1)
    parser.add_argument("--starttls", action="store_true")
    parser.add_argument("--ca-file", type=Path)
    parser.add_argument("--user", default="")
    parser.add_argument("--max-seconds", type=float, default=1800.0)
    args = parser.parse_args(argv)
    messages = build(args.n)
    size = sum(len(d) for _, d in messages) / max(1, len(messages))
    started, cpu_started = time.perf_counter(), time.process_time()
    failed = asyncio.run(asyncio.wait_for(send_all(args, messages), args.max_seconds))
    took = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    print(f"message size: {size:.0f} bytes")
    print(f"bare aiosmtplib: {args.n} messages in {took:.3f} s: {args.n / took:.0f} msg/s")
    print(f"CPU: {cpu:.3f} s ({cpu / args.n * 1000:.2f} ms/message)")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
