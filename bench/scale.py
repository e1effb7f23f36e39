"""Benchmark: notify preview and send at 10k, 100k (and 1M) recipients; memory; resume.

    .venv/bin/python bench/scale.py [--sizes 10000,100000] [--big] [--connections 4]
        [--no-install] [--skip-preview] [--skip-send] [--skip-resume]

For each N (``--big`` adds 1,000,000), from a generated CSV of N fictional recipients:

- ``notify preview`` to a temporary outbox: seconds, msg/s and peak RSS of the notify
  process (``os.wait4``);
- ``notify send`` to Postfix smtp-sink (or notify's aiosmtpd server when smtp-sink is
  missing) with ``--connections``: the same figures;
- resume: ``notify send --limit N/2`` first (notify's own code, to the sink), then two
  resuming runs of the same campaign, each timed from its process start to the first
  new message accepted by a fresh counting aiosmtpd server (``bench/sinkserver.py``):
  with the same sources given again (what a user re-typing the command does), then
  without any (``notify send --template NAME``: the campaign recorded in the journal).
  Each is then stopped (SIGTERM: it finishes what is in flight and records it); its
  CPU time (user+sys) and peak RSS come from ``os.wait4``, so they include the
  messages in flight and the shutdown (an upper bound for the start-up).

Then says whether peak RSS is flat in N (largest / smallest under 1.5).
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import (
    TEMPLATE,
    Background,
    Measured,
    bench_script,
    code_state,
    notify_command,
    postfix_tools,
    run_measured,
    say,
    smtp_sink,
    write_config,
    write_recipients,
)
from peers import clean_env, sent_in_journal

FLAT = 1.5  # peak RSS at the largest N over the smallest: below this, "flat"


@dataclass
class Context:
    """The options, the work folder and the sink every send goes to."""

    args: argparse.Namespace
    folder: Path
    sink_port: int


def notify_argv(folder: Path, *command: str) -> list[str]:
    """``notify --config folder/notify.toml --journal folder/incident.db COMMAND...``."""
    config, journal = folder / "notify.toml", folder / "incident.db"
    return [*notify_command(), "--config", str(config), "--journal", str(journal), *command]


def report(what: str, n: int, done: Measured, count: int | None = None) -> None:
    """One line: seconds, msg/s (of ``count`` messages, N by default), peak RSS, exit."""
    count = n if count is None else count
    rate = count / done.seconds if done.seconds else 0.0
    status = "" if done.returncode == 0 else f", exit {done.returncode} (error)"
    say(
        f"{what}, N={n}: {done.seconds:.1f} s, {rate:,.0f} msg/s, "
        f"peak RSS {done.max_rss_mib:.0f} MiB, CPU {done.cpu_seconds:.1f} s{status}"
    )


def run_preview(ctx: Context, n: int, csv: Path) -> Measured:
    """notify preview of N recipients to a temporary outbox (removed afterwards)."""
    folder = ctx.folder / f"preview-{n}"
    folder.mkdir()
    write_config(folder / "notify.toml", ctx.sink_port, connections=1)
    outbox = folder / "outbox"
    argv = notify_argv(folder, "preview", "--template", TEMPLATE, str(csv), "--out", str(outbox))
    done = run_measured(argv, cwd=folder, env=clean_env(), timeout=ctx.args.timeout)
    report("preview", n, done)
    remove_outside(folder)
    return done


def run_send(ctx: Context, n: int, csv: Path) -> Measured:
    """notify send of N recipients to the sink; checks the journal says N sent."""
    folder = ctx.folder / f"send-{n}"
    folder.mkdir()
    write_config(folder / "notify.toml", ctx.sink_port, connections=ctx.args.connections)
    argv = notify_argv(folder, "send", "--template", TEMPLATE, str(csv), "--yes")
    done = run_measured(argv, cwd=folder, env=clean_env(), timeout=ctx.args.timeout)
    sent = sent_in_journal(folder / "incident.db")
    report(f"send ({ctx.args.connections} conn)", n, done)
    if sent != n:
        say(f"error: send, N={n}: the journal holds {sent} sent, expected {n}")
    shutil.rmtree(folder, ignore_errors=True)
    return done


def remove_outside(folder: Path) -> None:
    """Remove ``folder`` from another process, never from this one.

    ``shutil.rmtree`` of an outbox of 1,000,000 files lists them all in this process
    (about 300 MiB), and every process started afterwards would report at least that
    as its peak RSS: Linux folds the memory the parent had mapped when the child was
    started into the child's ``ru_maxrss`` (exec keeps the high-water mark).
    """
    subprocess.run(["rm", "-rf", "--", str(folder)], check=False)


@dataclass(frozen=True)
class FirstMessage:
    """A resuming run: seconds to its first message; CPU and peak RSS until stopped."""

    seconds: float
    cpu_seconds: float
    max_rss_mib: float


def run_resume(
    ctx: Context, n: int, csv: Path, rss: dict[str, dict[int, float]] | None = None
) -> dict[str, FirstMessage | None]:
    """Half sent by a first run, then a resume with the sources, then one without.

    With ``rss`` (``--send-by-resume``), a last run without sources then sends the rest
    to the sink: the whole campaign is sent once, in runs, and their largest peak RSS
    is the send figure for N (a size's send then costs N messages, not 1.5 N).
    """
    folder = ctx.folder / f"resume-{n}"
    folder.mkdir()
    half = max(1, n // 2)
    write_config(folder / "notify.toml", ctx.sink_port, connections=ctx.args.connections)
    send = ("send", "--template", TEMPLATE, str(csv), "--yes")
    first = run_measured(
        notify_argv(folder, *send, "--limit", str(half)),
        cwd=folder,
        env=clean_env(),
        timeout=ctx.args.timeout,
    )
    if first.returncode != 0:
        say(f"error: resume, N={n}: the first run (--limit {half}) exited {first.returncode}")
        return {}
    say(
        f"resume, N={n}: the first run sent {half} in {first.seconds:.1f} s "
        f"(CPU {first.cpu_seconds:.1f} s, peak RSS {first.max_rss_mib:.0f} MiB)"
    )
    ways = {
        # A cap keeps messages for the next resume even at a tiny N, where the batch
        # in flight when it is stopped would otherwise be everything that is left.
        "with the sources": (*send, "--limit", str(max(1, (n - half) // 4))),
        "without sources": ("send", "--template", TEMPLATE, "--yes"),
    }
    found: dict[str, FirstMessage | None] = {}
    for way, argv in ways.items():
        sent = sent_in_journal(folder / "incident.db")
        took = _resume_once(ctx, folder, argv)
        found[way] = took
        if took is not None:
            say(
                f"resume {way}, N={n} ({sent} already sent): first new message after "
                f"{took.seconds:.2f} s; until stopped: CPU {took.cpu_seconds:.2f} s, "
                f"peak RSS {took.max_rss_mib:.0f} MiB"
            )
    if rss is not None:
        _send_the_rest(ctx, n, folder, first, rss)
    shutil.rmtree(folder, ignore_errors=True)
    return found


def _send_the_rest(
    ctx: Context, n: int, folder: Path, first: Measured, rss: dict[str, dict[int, float]]
) -> None:
    """``notify send --template NAME`` (no sources) to the sink until everyone is sent."""
    write_config(folder / "notify.toml", ctx.sink_port, connections=ctx.args.connections)
    before = sent_in_journal(folder / "incident.db")
    rest = run_measured(
        notify_argv(folder, "send", "--template", TEMPLATE, "--yes"),
        cwd=folder,
        env=clean_env(),
        timeout=ctx.args.timeout,
    )
    sent = sent_in_journal(folder / "incident.db")
    report(
        f"send ({ctx.args.connections} conn), the rest ({sent - before}) without sources",
        n,
        rest,
        sent - before,
    )
    if rest.returncode != 0 or sent != n:
        say(f"error: send by resume, N={n}: the journal holds {sent} sent, expected {n}")
        return
    peak = max(first.max_rss_mib, rest.max_rss_mib)
    rss["send"][n] = peak
    say(
        f"send ({ctx.args.connections} conn) in runs, N={n}: first half {first.seconds:.1f} s, "
        f"the rest {rest.seconds:.1f} s, peak RSS {peak:.0f} MiB"
    )


def _resume_once(ctx: Context, folder: Path, send: tuple[str, ...]) -> FirstMessage | None:
    """One resuming run against a fresh counting server (its first message is ours)."""
    argv = [*bench_script("sinkserver.py"), "--max-seconds", str(ctx.args.timeout)]
    with Background(argv, log=folder / "sinkserver.log", announces_port=True) as server:
        server.start()
        write_config(folder / "notify.toml", server.port, connections=ctx.args.connections)
        return _time_to_first(ctx, folder, send, server)


def _time_to_first(
    ctx: Context, folder: Path, send: tuple[str, ...], server: Background
) -> FirstMessage | None:
    started = time.monotonic()
    proc = subprocess.Popen(
        notify_argv(folder, *send),
        cwd=folder,
        env=clean_env(),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    line, ended = None, None
    try:
        deadline = started + ctx.args.timeout
        while line is None and ended is None and time.monotonic() < deadline:
            line = server.wait_line(r"^first ", 0.5)
            if line is None:  # stop waiting when notify ended without sending (an error)
                pid, status, usage = os.wait4(proc.pid, os.WNOHANG)
                ended = (status, usage) if pid else None
    finally:
        if ended is None:
            # Not proc.poll(): it would reap the child before os.wait4 reads its usage
            # (an exited, unreaped child keeps its pid: the signal reaches no other).
            os.kill(proc.pid, signal.SIGTERM)  # the engine finishes what is in flight
            ended = _reap(proc)
    code = proc.returncode = os.waitstatus_to_exitcode(ended[0])
    if line is None:
        say(f"error: resume: no message reached the server (notify exited {code})")
        return None
    cpu, rss = ended[1].ru_utime + ended[1].ru_stime, ended[1].ru_maxrss / 1024
    return FirstMessage(float(line.split()[1]) - started, cpu, rss)


def _reap(proc: subprocess.Popen[bytes]) -> tuple[int, resource.struct_rusage]:
    """Wait for ``proc`` (killed after 60 s): its wait status and resource usage."""
    timer = threading.Timer(60, proc.kill)
    timer.start()
    try:
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return status, usage


def flatness(rss: dict[int, float], what: str) -> None:
    """Say whether peak RSS stays flat from the smallest to the largest N."""
    if len(rss) < 2:
        return
    low, high = min(rss), max(rss)
    factor = rss[high] / rss[low]
    verdict = "yes" if factor < FLAT else "no"
    say(
        f"{what} RSS flat in N: {verdict} ({rss[low]:.0f} MiB at {low:,}, "
        f"{rss[high]:.0f} MiB at {high:,}: x{factor:.2f})"
    )


def run_size(ctx: Context, n: int, rss: dict[str, dict[int, float]]) -> None:
    """Every measure for one N."""
    csv = write_recipients(ctx.folder / f"recipients-{n}.csv", n)
    if not ctx.args.skip_preview:
        done = run_preview(ctx, n, csv)
        if done.returncode == 0:
            rss["preview"][n] = done.max_rss_mib
    by_resume = ctx.args.send_by_resume and not ctx.args.skip_send and not ctx.args.skip_resume
    if not ctx.args.skip_send and not by_resume:
        done = run_send(ctx, n, csv)
        if done.returncode == 0:
            rss["send"][n] = done.max_rss_mib
    if not ctx.args.skip_resume:
        run_resume(ctx, n, csv, rss if by_resume else None)
    csv.unlink()


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="comma-separated Ns")
    parser.add_argument("--big", action="store_true", help="add N = 1,000,000")
    parser.add_argument("--connections", type=int, default=4, help="sending.connections")
    parser.add_argument("--no-install", action="store_true", help="never install Postfix")
    parser.add_argument("--skip-preview", action="store_true")
    parser.add_argument("--skip-send", action="store_true")
    parser.add_argument("--skip-resume", action="store_true")
    parser.add_argument(
        "--send-by-resume",
        action="store_true",
        help="send each N once, in runs: half, the two timed resumes, then the rest "
        "without sources (instead of a whole send plus a half send for the resume)",
    )
    parser.add_argument("--timeout", type=float, default=7200.0, help="seconds per run")
    args = parser.parse_args(argv)
    args.sizes = sorted(
        {int(s) for s in args.sizes.split(",") if s} | ({1_000_000} if args.big else set())
    )
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    rss: dict[str, dict[int, float]] = {"preview": {}, "send": {}}
    with tempfile.TemporaryDirectory(prefix="notify-scale-") as tmp:
        folder = Path(tmp)
        tools = postfix_tools(not args.no_install)
        if tools is not None:
            sink = smtp_sink(tools[0], folder)
            what = "Postfix smtp-sink"
        else:
            argv_ = [*bench_script("sinkserver.py"), "--max-seconds", str(args.timeout * 4)]
            sink = Background(argv_, log=folder / "sinkserver.log", announces_port=True).start()
            what = "aiosmtpd (smtp-sink is not available)"
        with sink:
            say(code_state())
            say(f"sizes: {', '.join(f'{n:,}' for n in args.sizes)}; sink: {what}")
            for n in args.sizes:
                run_size(Context(args, folder, sink.port), n, rss)
    for what, figures in rss.items():
        flatness(figures, what)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
