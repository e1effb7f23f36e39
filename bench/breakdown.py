"""Benchmark: where the time of ``notify send`` goes, part by part, on loopback.

    .venv/bin/python bench/breakdown.py [--n 10000] [--connections 1,4] [--repeat 3]
        [--no-install]

Against one Postfix ``smtp-sink`` on 127.0.0.1 (notify's own counting aiosmtpd
server when smtp-sink cannot be installed), with the same ~2 KB French text+HTML
messages as ``bench/peers.py``, measures each part of a send apart (medians of
``--repeat``):

- ``compose``: the Composer alone, in this process (CPU per message);
- ``engine alone``: the delivery engine (``notify.deliver.deliver``) sending the
  messages already composed, with a recorder that records nothing, for each
  ``--connections``: what notify's SMTP client costs, pipelining included;
- ``engine + journal``: the same with the journal recording every attempt (a
  journal on disk, its recipients added beforehand, untimed);
- ``start-up``: a whole ``notify send`` of 10 messages (process start to exit):
  the fixed cost of every run (Python, imports, settings, journal, import of the
  address book);
- ``notify send``: the whole command for N, per connection count.

Then, per connection count, a per-message budget: the engine, the journal's share
(engine + journal minus engine alone), the composition, the start-up spread over N,
and what is left (what the parts do not show: composing in a child process, the
import of N rows, waiting). CPU is the process's (all its threads); the whole
command's includes its children (the composing process).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from _common import (
    LOOPBACK,
    TEMPLATE,
    Background,
    bench_script,
    code_state,
    median,
    notify_command,
    postfix_tools,
    recipient_rows,
    run_measured,
    say,
    smtp_sink,
    write_config,
    write_recipients,
)
from peers import clean_env, sent_in_journal

from notify.addressbook.model import Recipient
from notify.compose import Composer, load_template
from notify.compose.samples import sample_incident, sample_sender
from notify.deliver import Account, Outgoing, Policy, deliver
from notify.journal import Journal
from notify.sending import JournalRecorder, NullRecorder

SENDER = "dr.martin@exemple.fr"
DATE = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)


@dataclass
class Figure:
    """One measured part: wall seconds and CPU seconds for ``n`` messages (medians)."""

    n: int
    seconds: float
    cpu: float

    @property
    def rate(self) -> float:
        return self.n / self.seconds if self.seconds else 0.0

    def per_message_ms(self) -> float:
        return self.cpu / self.n * 1000 if self.n else 0.0


def people(n: int) -> list[Recipient]:
    """The N recipients of bench/peers.py's CSV (``write_recipients``)."""
    return [
        Recipient(
            email,
            email,
            email.casefold(),
            name=f"{given} {family}",
            given_name=given,
            family_name=family,
            civility=civility,
            title=title,
            language="fr",
        )
        for civility, given, family, title, email in recipient_rows(n)
    ]


@dataclass(frozen=True)
class Ready:
    """What the engine and the journal need of one composed message (the composer's
    text and HTML dropped: ``notify send`` streams, it never holds them all)."""

    to: str
    data: bytes
    message_id: str
    sha256: str


def compose_all(recipients: Sequence[Recipient]) -> tuple[list[Ready], Figure]:
    """Every message, composed in this process, and the time it took."""
    composer = Composer(load_template(TEMPLATE), sample_incident(), sample_sender())
    started, cpu = time.perf_counter(), time.process_time()
    ready = []
    for r in recipients:
        c = composer.compose(r, message_id=composer.message_id_for(r, "bench"), date=DATE)
        ready.append(Ready(c.to, c.data, c.message_id, c.sha256))
    took = Figure(len(ready), time.perf_counter() - started, time.process_time() - cpu)
    return ready, took


def timed_delivery(run: Callable[[], object], n: int) -> Figure:
    """Run one delivery and time it (wall and this process's CPU, threads included).

    What this process holds already (N messages) is collected and frozen first, as
    notify freezes its modules: the cyclic collector then scans only what the run
    itself creates, as in ``notify send``, which holds a page of messages at a time.
    """
    gc.collect()
    gc.freeze()
    started, cpu = time.perf_counter(), time.process_time()
    run()
    return Figure(n, time.perf_counter() - started, time.process_time() - cpu)


def engine_alone(port: int, composed: Sequence[Ready], connections: int) -> Figure:
    """deliver() of the composed messages, recording nothing."""
    messages = [
        Outgoing(ref=i, mail_from=SENDER, rcpt=c.to, data=c.data) for i, c in enumerate(composed)
    ]
    account = Account(host=LOOPBACK, port=port, security="none")
    policy = Policy(connections=connections)

    def run() -> None:
        summary = asyncio.run(deliver(messages, account, policy, NullRecorder()))
        if summary.sent != len(messages):
            raise SystemExit(f"engine alone: {summary.sent} of {len(messages)} sent")

    return timed_delivery(run, len(messages))


def engine_with_journal(
    port: int,
    recipients: Sequence[Recipient],
    composed: Sequence[Ready],
    connections: int,
    folder: Path,
) -> Figure:
    """deliver() of the composed messages, each attempt recorded in a new journal."""
    path = folder / f"journal-{connections}-{time.monotonic_ns()}.db"
    account = Account(host=LOOPBACK, port=port, security="none")
    policy = Policy(connections=connections)
    with Journal.open(path) as journal:
        campaign = journal.open_campaign(
            "bench", languages=["fr"], settings={}, templates={}, variables={}
        )
        journal.add_recipients(campaign.id, recipients)
        ids = {r.key: r.id for r in journal.iter_recipients(campaign.id)}
        with journal.sending_lock():
            recorder = JournalRecorder(journal)
            messages = []
            for person, message in zip(recipients, composed, strict=True):
                ref = ids[person.key]
                date = DATE.strftime("%a, %d %b %Y %H:%M:%S +0000")
                recorder.remember(ref, message.message_id, date, message.sha256)
                messages.append(
                    Outgoing(ref=ref, mail_from=SENDER, rcpt=message.to, data=message.data)
                )

            def run() -> None:
                summary = asyncio.run(deliver(messages, account, policy, recorder))
                if summary.sent != len(messages):
                    raise SystemExit(f"engine + journal: {summary.sent} of {len(messages)} sent")

            figure = timed_delivery(run, len(messages))
        sent = journal.counts(campaign.id).get("sent", 0)
    if sent != len(messages):
        raise SystemExit(f"engine + journal: the journal holds {sent} sent")
    path.unlink()
    return figure


def whole_send(port: int, csv: Path, n: int, connections: int, folder: Path) -> Figure:
    """One whole ``notify send`` of the CSV (process start to exit, children's CPU too)."""
    work = Path(tempfile.mkdtemp(prefix=f"send-{connections}-", dir=folder))
    config = write_config(work / "notify.toml", port, connections=connections)
    journal = work / "incident.db"
    argv = [*notify_command(), "--config", str(config), "--journal", str(journal)]
    argv += ["send", "--template", TEMPLATE, str(csv), "--yes"]
    done = run_measured(argv, cwd=work, env=clean_env(), timeout=3600)
    sent = sent_in_journal(journal)
    shutil.rmtree(work)
    if done.returncode != 0 or sent != n:
        raise SystemExit(f"notify send: exit {done.returncode}, {sent} of {n} sent")
    return Figure(n, done.seconds, done.cpu_seconds)


def medians(figures: Sequence[Figure]) -> Figure:
    """The median wall and CPU of repeated runs."""
    return Figure(
        figures[0].n, median([f.seconds for f in figures]), median([f.cpu for f in figures])
    )


def line(label: str, figure: Figure) -> None:
    say(
        f"{label}: {figure.rate:,.0f} msg/s, {figure.seconds:.2f} s, "
        f"CPU {figure.per_message_ms():.3f} ms/msg"
    )


def measure(args: argparse.Namespace, port: int, folder: Path) -> None:
    """Every part, then the budget per connection count."""
    recipients = people(args.n)
    composed, compose_figure = compose_all(recipients)
    line("compose (in this process)", compose_figure)
    csv = write_recipients(folder / "recipients.csv", args.n)
    small = write_recipients(folder / "small.csv", 10)
    start = medians([whole_send(port, small, 10, 1, folder) for _ in range(args.repeat)])
    say(f"start-up (notify send of 10): {start.seconds:.2f} s, CPU {start.cpu:.2f} s")
    for conn in args.connections:
        alone = medians([engine_alone(port, composed, conn) for _ in range(args.repeat)])
        line(f"engine alone, {conn} conn", alone)
        journaled = medians(
            [
                engine_with_journal(port, recipients, composed, conn, folder)
                for _ in range(args.repeat)
            ]
        )
        line(f"engine + journal, {conn} conn", journaled)
        whole = medians([whole_send(port, csv, args.n, conn, folder) for _ in range(args.repeat)])
        line(f"notify send, {conn} conn", whole)
        budget(conn, args.n, alone, journaled, compose_figure, start, whole)


def budget(
    conn: int,
    n: int,
    alone: Figure,
    journaled: Figure,
    compose: Figure,
    start: Figure,
    whole: Figure,
) -> None:
    """Per message, in ms of wall clock: the parts and what they leave unexplained."""
    engine = alone.seconds / n * 1000
    journal = max(0.0, (journaled.seconds - alone.seconds) / n * 1000)
    composing = compose.seconds / n * 1000
    starting = start.seconds / n * 1000
    total = whole.seconds / n * 1000
    rest = total - engine - journal - composing - starting
    say(
        f"budget, {conn} conn, ms/msg of wall clock: notify send {total:.3f} = "
        f"engine {engine:.3f} + journal {journal:.3f} + compose {composing:.3f} "
        f"+ start-up/N {starting:.3f} + rest {rest:+.3f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="messages per run")
    parser.add_argument("--connections", default="1,4", help="comma-separated counts")
    parser.add_argument("--repeat", type=int, default=3, help="runs of each part")
    parser.add_argument("--no-install", action="store_true", help="install nothing")
    args = parser.parse_args(argv)
    args.connections = [int(c) for c in args.connections.split(",")]
    say(f"breakdown: N={args.n}, connections {args.connections}, {code_state()}")
    with tempfile.TemporaryDirectory(prefix="bench-breakdown-") as tmp:
        folder = Path(tmp)
        tools = postfix_tools(not args.no_install)
        if tools is not None:
            say("sink: Postfix smtp-sink")
            sink = smtp_sink(tools[0], folder)
        else:
            say("sink: notify's counting aiosmtpd server (smtp-sink unavailable)")
            script = [*bench_script("sinkserver.py"), "--max-seconds", "3600"]
            sink = Background(script, log=folder / "sinkserver.log", announces_port=True).start()
        with sink:
            assert sink.port is not None
            measure(args, sink.port, folder)
    return 0


if __name__ == "__main__":
    sys.exit(main())
