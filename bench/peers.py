"""Benchmark: notify send side by side with its peers, against the same SMTP sink.

    .venv/bin/python bench/peers.py [--n 10000] [--repeat 3] [--connections 1,4]
        [--delay-ms 0] [--server sink|tls] [--no-install] [--peers notify,bare,...]

One run prints every figure, each the median of ``--repeat`` runs, all with the same
N messages sent to the same server on 127.0.0.1:

- ``notify``: the whole ``notify send`` CLI (import of a CSV of N fictional
  recipients, journal, composition of the built-in French text+HTML colleague warning,
  delivery), once per ``--connections`` value (``sending.connections``);
- ``bare``: ``bench/bare_aiosmtplib.py``, aiosmtplib sending pre-built messages
  (the ceiling of our client library), same connection counts;
- ``mailmerge``: the ``mailmerge`` CLI (PyPI) with the same CSV and an equivalent
  template (``bench/mailmerge_template.txt``); one connection per message, by design;
- ``smtp-source``: Postfix's load generator (C), with 1 and 4 sessions.

``--server sink`` is Postfix ``smtp-sink``; ``--server tls`` is notify's own aiosmtpd
server (``bench/sinkserver.py``) requiring STARTTLS and AUTH (smtp-source has no TLS:
skipped; ``--server-pipelining`` makes it offer PIPELINING, as smtp-sink and large
providers do). ``--delay-ms D`` puts ``bench/delayproxy.py`` in front of the server (D ms
each way). Peers that cannot be installed are skipped with a line saying so. Missing
tools are installed unless ``--no-install`` (postfix from Debian with no daemon,
mailmerge from PyPI in its own venv under ~/.cache/notify-bench).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    BENCH,
    LOOPBACK,
    SENDER,
    TEMPLATE,
    Background,
    bench_script,
    code_state,
    mailmerge_command,
    median,
    notify_command,
    postfix_tools,
    run_measured,
    say,
    sink_messages,
    smtp_sink,
    write_config,
    write_recipients,
)

from notify.journal import Journal

USER = SENDER
PASSWORD = "bench-password-not-secret"  # noqa: S105 - a fake account on loopback
PEERS = ("notify", "bare", "mailmerge", "smtp-source")


@dataclass
class Setup:
    """What every run of one invocation shares."""

    args: argparse.Namespace
    folder: Path
    csv: Path
    port: int = 0
    tls: bool = False
    ca_file: Path | None = None
    sink: Background | None = None
    smtp_source: Path | None = None
    mailmerge: Path | None = None
    rates: dict[str, list[float]] = field(default_factory=dict)
    cpu_ms: dict[str, list[float]] = field(default_factory=dict)  # CPU ms per message
    skipped: dict[str, str] = field(default_factory=dict)

    sink_before: int = 0

    def record(self, label: str, n: int, seconds: float, cpu: float) -> bool:
        """Keep one run's msg/s and CPU time, unless smtp-sink did not count n messages."""
        if self.sink is not None:
            deadline = time.monotonic() + 5  # the counter is printed as sessions end
            got = sink_messages(self.sink) - self.sink_before
            while got < n and time.monotonic() < deadline:
                got = sink_messages(self.sink) - self.sink_before
            if got != n:
                say(f"error: {label}: smtp-sink counted {got} messages, expected {n}")
                return False
        self.rates.setdefault(label, []).append(n / seconds)
        self.cpu_ms.setdefault(label, []).append(cpu / n * 1000)
        return True

    def skip(self, label: str, reason: str) -> None:
        """Say once that a peer is skipped, and why."""
        if label not in self.skipped:
            self.skipped[label] = reason
            say(f"skipped: {label}: {reason}")


def clean_env(extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment without the caller's NOTIFY_* settings, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFY_")}
    env.update(extra or {})
    return env


def run_notify(setup: Setup, connections: int, run: int) -> None:
    """One whole ``notify send`` of N messages, timed from process start to exit."""
    n, label = setup.args.n, f"notify send, {connections} conn"
    folder = setup.folder / f"notify-{connections}-{run}"
    folder.mkdir()
    security = "starttls" if setup.tls else "none"
    config = write_config(
        folder / "notify.toml",
        setup.port,
        connections=connections,
        security=security,
        username=USER if setup.tls else "",
        ca_file=setup.ca_file,
    )
    journal = folder / "incident.db"
    argv = [*notify_command(), "--config", str(config), "--journal", str(journal)]
    argv += ["send", "--template", TEMPLATE, str(setup.csv), "--yes"]
    env = clean_env({"NOTIFY_SMTP__PASSWORD": PASSWORD} if setup.tls else None)
    done = run_measured(argv, cwd=folder, env=env, timeout=setup.args.timeout)
    sent = sent_in_journal(journal)
    if done.returncode != 0 or sent != n:
        say(f"error: {label}: exit {done.returncode}, {sent} of {n} sent")
        return
    if setup.record(label, n, done.seconds, done.cpu_seconds):
        rss = f"peak RSS {done.max_rss_mib:.0f} MiB"
        say(f"run {run + 1}: {label}: {n / done.seconds:,.0f} msg/s ({rss})")


def sent_in_journal(path: Path) -> int:
    """How many recipients the journal holds as sent."""
    if not path.exists():
        return 0
    with Journal.open(path, create=False) as journal:
        return sum(journal.counts(c.id).get("sent", 0) for c in journal.campaigns())


def run_bare(setup: Setup, connections: int, run: int) -> None:
    """bench/bare_aiosmtplib.py; its own figure (sending only, messages pre-built)."""
    n, label = setup.args.n, f"bare aiosmtplib, {connections} conn"
    argv = [*bench_script("bare_aiosmtplib.py"), "--port", str(setup.port), "--n", str(n)]
    argv += ["--connections", str(connections), "--max-seconds", str(setup.args.timeout)]
    if setup.tls:
        argv += ["--starttls", "--ca-file", str(setup.ca_file), "--user", USER]
    out = setup.folder / f"bare-{connections}-{run}.out"
    with out.open("wb") as stream:
        done = run_measured(
            argv,
            env=clean_env({"BENCH_SMTP_PASSWORD": PASSWORD}),
            stdout=stream,
            timeout=setup.args.timeout + 60,
        )
    lines = out.read_text().splitlines()
    line = next((ln for ln in lines if ln.startswith("bare")), "")
    cpu_line = next((ln for ln in lines if ln.startswith("CPU: ")), "CPU: 0 s")
    if done.returncode != 0 or " in " not in line:
        say(f"error: {label}: exit {done.returncode}")
        return
    seconds = float(line.split(" in ")[1].split()[0])
    if setup.record(label, n, seconds, float(cpu_line.split()[1])):
        say(f"run {run + 1}: {label}: {n / seconds:,.0f} msg/s")


def run_mailmerge(setup: Setup, run: int) -> None:
    """The mailmerge CLI over the same CSV, timed from process start to exit."""
    n, label = setup.args.n, "mailmerge"
    if setup.mailmerge is None:
        setup.skip(label, "mailmerge is not installed and could not be (pip install mailmerge)")
        return
    folder = setup.folder / f"mailmerge-{run}"
    folder.mkdir()
    conf = [f"[smtp_server]\nhost = {LOOPBACK}\nport = {setup.port}\n"]
    if setup.tls:
        conf.append(f"security = STARTTLS\nusername = {USER}\n")
    (folder / "server.conf").write_text("".join(conf))
    argv = [str(setup.mailmerge), "--no-dry-run", "--no-limit", "--output-format", "raw"]
    argv += ["--template", str(BENCH / "mailmerge_template.txt"), "--database", str(setup.csv)]
    argv += ["--config", str(folder / "server.conf")]
    with (folder / "out.txt").open("wb") as stream:
        done = run_measured(
            argv,
            cwd=folder,
            stdout=stream,
            timeout=setup.args.timeout,
            stdin_text=PASSWORD + "\n" if setup.tls else None,
        )
    if done.returncode != 0:
        say(f"error: {label}: exit {done.returncode} (see {folder / 'out.txt'})")
        return
    if setup.record(label, n, done.seconds, done.cpu_seconds):
        say(f"run {run + 1}: {label}: {n / done.seconds:,.0f} msg/s")


def run_smtp_source(setup: Setup, sessions: int, run: int, message: Path) -> None:
    """Postfix smtp-source: ``sessions`` parallel sessions, one message per transaction."""
    n, label = setup.args.n, f"smtp-source, {sessions} conn"
    if setup.tls:
        setup.skip("smtp-source", "it speaks neither STARTTLS nor AUTH")
        return
    if setup.smtp_source is None:
        setup.skip("smtp-source", "Postfix tools are not installed (apt-get install postfix)")
        return
    argv = [str(setup.smtp_source), "-4", "-d", "-s", str(sessions), "-m", str(n)]
    argv += ["-f", SENDER, "-t", "correspondant@exemple-sante.fr", "-M", "localhost"]
    argv += ["-F", str(message), f"{LOOPBACK}:{setup.port}"]
    done = run_measured(argv, timeout=setup.args.timeout)
    if done.returncode != 0:
        say(f"error: {label}: exit {done.returncode}")
        return
    if setup.record(label, n, done.seconds, done.cpu_seconds):
        say(f"run {run + 1}: {label}: {n / done.seconds:,.0f} msg/s")


def sample_message(folder: Path) -> Path:
    """One message as notify builds it, LF line endings, for smtp-source -F."""
    from bare_aiosmtplib import build  # noqa: PLC0415 - imports notify's composer

    path = folder / "message.eml"
    path.write_bytes(build(1)[0][1].replace(b"\r\n", b"\n"))
    return path


@contextlib.contextmanager
def server(setup: Setup) -> Iterator[None]:
    """The SMTP server of this invocation, behind the delay proxy when asked."""
    with contextlib.ExitStack() as stack:
        args, folder = setup.args, setup.folder
        tools = postfix_tools(not args.no_install)
        setup.smtp_source = tools[1] if tools else None
        if args.server == "sink" and tools is not None:
            setup.sink = stack.enter_context(smtp_sink(tools[0], folder))
            target, what = setup.sink.port, "Postfix smtp-sink"
        else:
            if args.server == "sink":
                say("warning: smtp-sink is not available: using aiosmtpd (notify.localserver)")
            argv = [*bench_script("sinkserver.py"), "--max-seconds", str(24 * 3600)]
            if args.server == "tls":
                setup.tls, setup.ca_file = True, folder / "ca.pem"
                argv += ["--starttls", "--ca-out", str(setup.ca_file), "--user", USER]
            if args.server_pipelining:
                argv.append("--pipelining")
            os.environ["BENCH_SMTP_PASSWORD"] = PASSWORD
            srv = Background(argv, log=folder / "sinkserver.log", announces_port=True)
            target = stack.enter_context(srv.start()).port
            what = "aiosmtpd (STARTTLS, AUTH)" if setup.tls else "aiosmtpd"
            what += ", offering PIPELINING" if args.server_pipelining else ", no PIPELINING"
        setup.port = target
        if args.delay_ms > 0:
            argv = [*bench_script("delayproxy.py"), "--target-port", str(target)]
            argv += ["--delay-ms", str(args.delay_ms), "--max-seconds", str(24 * 3600)]
            proxy = Background(argv, log=folder / "delayproxy.log", announces_port=True)
            setup.port = stack.enter_context(proxy.start()).port
            what += f" behind a {args.delay_ms:g} ms each-way delay proxy"
        say(f"server: {what}, 127.0.0.1:{setup.port}")
        yield


def one_round(setup: Setup, run: int, message: Path) -> None:
    """Every selected peer once."""
    peers, conns = setup.args.peers, setup.args.connections
    steps: list[Callable[[], None]] = []
    for c in conns:
        if "notify" in peers:
            steps.append(partial(run_notify, setup, c, run))
        if "bare" in peers:
            steps.append(partial(run_bare, setup, c, run))
    if "mailmerge" in peers:
        steps.append(partial(run_mailmerge, setup, run))
    if "smtp-source" in peers:
        steps.extend(partial(run_smtp_source, setup, c, run, message) for c in conns)
    for step in steps:
        setup.sink_before = sink_messages(setup.sink) if setup.sink else 0
        step()


def print_table(setup: Setup) -> None:
    """The figures as a Markdown table, then the ratios and the targets."""
    say("")
    say(f"| peer | msg/s (median of {setup.args.repeat}) | CPU ms/msg (median) | runs (msg/s) |")
    say("|---|---:|---:|---|")
    for label, rates in setup.rates.items():
        runs = ", ".join(f"{r:,.0f}" for r in rates)
        cpu = median(setup.cpu_ms.get(label, []))
        say(f"| {label} | {median(rates):,.0f} | {cpu:.2f} | {runs} |")
    for label, reason in setup.skipped.items():
        say(f"| {label} | skipped | | {reason} |")
    say("")
    for line in ratio_lines(setup):
        say(line)


def ratio_lines(setup: Setup) -> list[str]:
    """notify against each peer, at equal connections where it applies."""
    med = {label: median(rates) for label, rates in setup.rates.items()}
    lines = []
    for c in setup.args.connections:
        ours = med.get(f"notify send, {c} conn")
        for peer in (f"bare aiosmtplib, {c} conn", f"smtp-source, {c} conn", "mailmerge"):
            if ours and med.get(peer):
                lines.append(f"ratio: notify {c} conn / {peer}: {ours / med[peer]:.2f}")
    top = max(setup.args.connections)
    best = med.get(f"notify send, {top} conn")

    def target(text: str, met: bool) -> None:
        lines.append(f"target: {text}: {'met' if met else 'not met'}")

    if not setup.args.delay_ms:  # the loopback targets
        for c in setup.args.connections:
            ours, bare = med.get(f"notify send, {c} conn"), med.get(f"bare aiosmtplib, {c} conn")
            if ours and bare:
                target(f"notify {c} conn >= bare aiosmtplib {c} conn", ours >= bare)
        if best and med.get("mailmerge"):
            target(f"notify {top} conn >= 3 x mailmerge", best >= 3 * med["mailmerge"])
        return lines
    if best and med.get("mailmerge"):  # behind the delay proxy
        target(f"notify {top} conn >= 20 x mailmerge", best >= 20 * med["mailmerge"])
    source = med.get(f"smtp-source, {top} conn")
    if best and source:
        target(f"notify {top} conn >= smtp-source {top} sessions", best >= source)
    return lines


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="messages per run")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    parser.add_argument("--connections", default="1,4", help="comma-separated (default 1,4)")
    parser.add_argument("--delay-ms", type=float, default=0.0, help="proxy delay each way")
    parser.add_argument("--server", choices=["sink", "tls"], default="sink")
    parser.add_argument(
        "--server-pipelining",
        action="store_true",
        help="make the aiosmtpd server offer PIPELINING (smtp-sink always does)",
    )
    parser.add_argument("--peers", default=",".join(PEERS), help="subset of " + ",".join(PEERS))
    parser.add_argument("--no-install", action="store_true", help="never install a peer")
    parser.add_argument("--timeout", type=float, default=1800.0, help="seconds per run")
    args = parser.parse_args(argv)
    args.connections = [int(c) for c in args.connections.split(",") if c]
    args.peers = {p.strip() for p in args.peers.split(",") if p.strip()}
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="notify-peers-") as tmp:
        folder = Path(tmp)
        setup = Setup(args, folder, write_recipients(folder / "recipients.csv", args.n))
        mailmerge = "mailmerge" in args.peers
        setup.mailmerge = mailmerge_command(not args.no_install) if mailmerge else None
        message = sample_message(folder)
        say(code_state())
        say(
            f"messages: {args.n} per run, {message.stat().st_size} bytes each (LF), "
            f"repeat {args.repeat}"
        )
        with server(setup):
            for run in range(args.repeat):
                one_round(setup, run, message)
        print_table(setup)
    return 0 if setup.rates else 1


if __name__ == "__main__":
    raise SystemExit(main())
