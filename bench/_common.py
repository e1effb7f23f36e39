"""Shared helpers of the peer, latency and scale benchmarks (not a benchmark itself).

Everything here listens on or connects to 127.0.0.1 only. Child processes are
started with a time limit and ended by their own process id, never by name.

- installing the peers when missing: Postfix's ``smtp-sink``/``smtp-source`` (Debian
  ``postfix``, configured so that no mail daemon runs) and ``mailmerge`` (PyPI, in a
  venv of its own under ``$NOTIFY_BENCH_CACHE``, default ``~/.cache/notify-bench``);
- the fictional recipients CSV and the ``notify.toml`` every run uses;
- :func:`run_measured`: wall time and peak RSS of one child process (``os.wait4``);
- :class:`Background`: a helper process (smtp-sink, the delay proxy, the aiosmtpd
  server) started, waited for, and stopped by pid.
"""

from __future__ import annotations

import csv
import hashlib
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import unicodedata
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

LOOPBACK = "127.0.0.1"
BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
TEMPLATE = "colleague-warning"
SENDER = "secours.martin@exemple.org"
CACHE = Path(os.environ.get("NOTIFY_BENCH_CACHE", Path.home() / ".cache" / "notify-bench"))
MAILMERGE_VENV = CACHE / "mailmerge-venv"

CIVILITIES = ("Dr", "Mme", "M.", "Dr", "Pr")
GIVEN = ("Émilie", "Benoît", "Hélène", "François", "Maëlle", "Jérôme", "Léa", "Noël", "Zoé")
FAMILY = ("Lefèvre", "Garnier", "Bérenger", "Moreau", "Duchêne", "Rivière", "Perrin", "Faure")
TITLES = ("Cardiologue", "Pharmacienne", "Infirmier", "Médecin généraliste", "Sage-femme")
CSV_HEADER = ("civilite", "prenom", "nomdefamille", "profession", "email")


def say(line: str) -> None:
    """Print one line at once (figures and skips are read by people and by tests)."""
    print(line, flush=True)


def code_state() -> str:
    """Which notify is measured: the commit, and a fingerprint of uncommitted changes."""

    def git(*args: str) -> str:
        try:
            done = subprocess.run(
                ["git", "-C", str(ROOT), *args], capture_output=True, timeout=30, check=False
            )
        except (OSError, subprocess.TimeoutExpired):
            return ""
        return done.stdout.decode("utf-8", "replace")

    head = git("rev-parse", "--short", "HEAD").strip() or "unknown"
    changed = git("status", "--porcelain", "--", "notify").splitlines()
    if not changed:
        return f"notify at {head}, no uncommitted change"
    digest = hashlib.sha1(usedforsecurity=False)
    digest.update(git("diff", "HEAD", "--", "notify").encode())
    for line in sorted(changed):
        path = ROOT / line[3:]
        if line.startswith("??") and path.is_file():
            digest.update(path.read_bytes())
    fingerprint = digest.hexdigest()[:10]
    return f"notify at {head} + {len(changed)} uncommitted files in notify/ ({fingerprint})"


def notify_command() -> list[str]:
    """The ``notify`` CLI of the running interpreter's environment."""
    script = Path(sys.executable).parent / "notify"
    return [str(script)] if script.exists() else [sys.executable, "-m", "notify"]


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_port(port: int, timeout: float = 10.0) -> bool:
    """True once something accepts connections on 127.0.0.1:``port``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((LOOPBACK, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.05)
    return False


def median(values: Sequence[float]) -> float:
    """The median, or nan for no value."""
    return statistics.median(values) if values else float("nan")


# --- installing the peers -------------------------------------------------------------


def _apt_install(package: str, debconf: str | None = None) -> bool:
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        return False
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if debconf:
        subprocess.run(
            ["debconf-set-selections"], input=debconf, text=True, check=False, timeout=60
        )
    subprocess.run(
        ["apt-get", "update", "-qq"],
        env=env,
        check=False,
        timeout=300,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    done = subprocess.run(
        ["apt-get", "install", "-y", "-qq", package],
        env=env,
        check=False,
        timeout=600,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return done.returncode == 0


def _stop_postfix_daemon() -> None:
    """If installing Postfix started its master daemon, stop it (we only need the tools)."""
    postfix = shutil.which("postfix") or "/usr/sbin/postfix"
    if not Path(postfix).exists():
        return
    status = subprocess.run(
        [postfix, "status"], capture_output=True, text=True, check=False, timeout=30
    )
    if status.returncode == 0:  # "the Postfix mail system is running"
        subprocess.run([postfix, "stop"], capture_output=True, check=False, timeout=60)


def postfix_tools(install: bool) -> tuple[Path, Path] | None:
    """(smtp-sink, smtp-source), installing Debian's postfix (no daemon) if allowed."""

    def find() -> tuple[Path, Path] | None:
        found = [shutil.which(t) or f"/usr/sbin/{t}" for t in ("smtp-sink", "smtp-source")]
        return (Path(found[0]), Path(found[1])) if all(Path(f).exists() for f in found) else None

    tools = find()
    if tools is None and install:
        _apt_install("postfix", "postfix postfix/main_mailer_type select No configuration\n")
        _stop_postfix_daemon()
        tools = find()
    return tools


def mailmerge_command(install: bool) -> Path | None:
    """The ``mailmerge`` CLI from its own venv, created and filled from PyPI if allowed."""
    program = MAILMERGE_VENV / "bin" / "mailmerge"
    if program.exists():
        return program
    found = shutil.which("mailmerge")
    if found:
        return Path(found)
    if not install:
        return None
    MAILMERGE_VENV.parent.mkdir(parents=True, exist_ok=True)
    made = subprocess.run(
        [sys.executable, "-m", "venv", str(MAILMERGE_VENV)],
        check=False,
        timeout=300,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    if made.returncode != 0:
        return None
    pip = MAILMERGE_VENV / "bin" / "pip"
    subprocess.run(
        [str(pip), "install", "-q", "mailmerge"],
        check=False,
        timeout=600,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    return program if program.exists() else None


# --- the input every peer gets -----------------------------------------------------


def _ascii(text: str) -> str:
    folded = unicodedata.normalize("NFKD", text.lower())
    return folded.encode("ascii", "ignore").decode()


def recipient_rows(n: int) -> Iterator[tuple[str, str, str, str, str]]:
    """``n`` distinct fictional correspondents (domains under example. and exemple-)."""
    for i in range(n):
        given, family = GIVEN[i % len(GIVEN)], FAMILY[i // len(GIVEN) % len(FAMILY)]
        email = f"{_ascii(given)}.{_ascii(family)}.{i}@exemple-sante.fr"
        yield (CIVILITIES[i % len(CIVILITIES)], given, family, TITLES[i % len(TITLES)], email)


def write_recipients(path: Path, n: int) -> Path:
    """The CSV of ``n`` recipients (UTF-8, ``,``; headers notify and mailmerge both read)."""
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(CSV_HEADER)
        writer.writerows(recipient_rows(n))
    return path


def write_config(
    path: Path,
    port: int,
    *,
    connections: int,
    security: str = "none",
    username: str = "",
    ca_file: Path | None = None,
) -> Path:
    """A notify.toml: the built-in incident and sender, the server on 127.0.0.1:``port``."""
    smtp = [f'host = "{LOOPBACK}"', f"port = {port}", f'security = "{security}"']
    if username:
        smtp.append(f'username = "{username}"')
    if ca_file is not None:
        smtp.append(f'ca_file = "{ca_file}"')
    path.write_text(
        "[incident]\n"
        'kind = "mailbox-hijack"\n'
        'compromised_address = "dr.martin@exemple.fr"\n'
        "window_start = 2026-11-26T08:00:00+01:00\n"
        "window_end = 2026-11-27T18:00:00+01:00\n"
        "aware_at = 2026-11-27T09:15:00+01:00\n"
        'nature = "prise de contrôle de la messagerie du cabinet par un tiers"\n'
        'consequences = "envoi de messages frauduleux au nom du Dr Martin"\n'
        'measures = "mot de passe changé, sessions fermées"\n\n'
        "[sender]\n"
        f'address = "{SENDER}"\n'
        'name = "Dr Claire Martin"\n'
        'profession = "médecin"\n'
        'phone = "+33 4 00 00 00 00"\n'
        'organization = "Cabinet du Dr Martin"\n'
        'dpo = "dpo@exemple.org"\n\n'
        "[smtp]\n" + "\n".join(smtp) + "\n\n"
        f"[sending]\nconnections = {connections}\n",
        encoding="utf-8",
    )
    return path


# --- child processes ----------------------------------------------------------------


@dataclass(frozen=True)
class Measured:
    """One child process: exit code, wall seconds, peak resident memory, CPU seconds."""

    returncode: int
    seconds: float
    max_rss_mib: float
    timed_out: bool = False
    cpu_seconds: float = 0.0


def run_measured(
    argv: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = 900.0,
    stdin_text: str | None = None,
    stdout: IO[bytes] | int | None = subprocess.DEVNULL,
    stderr: IO[bytes] | int | None = None,
) -> Measured:
    """Run ``argv``; its own wall time and peak RSS (``wait4``), killed after ``timeout``."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        list(argv),
        cwd=cwd,
        env=dict(env) if env is not None else None,
        stdin=subprocess.PIPE if stdin_text is not None else subprocess.DEVNULL,
        stdout=stdout,
        stderr=stderr if stderr is not None else subprocess.PIPE,
        start_new_session=True,  # no controlling terminal: getpass reads stdin
    )
    expired = threading.Event()

    def kill() -> None:
        expired.set()
        proc.kill()

    timer = threading.Timer(timeout, kill)
    timer.start()
    err_text = b""
    try:
        if stdin_text is not None and proc.stdin is not None:
            proc.stdin.write(stdin_text.encode())
            proc.stdin.close()
        if proc.stderr is not None:
            err_text = proc.stderr.read()
        _, status, usage = os.wait4(proc.pid, 0)
    finally:
        timer.cancel()
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode not in (0, 1) and err_text:
        sys.stderr.write(err_text.decode("utf-8", "replace")[-2000:])
    cpu = usage.ru_utime + usage.ru_stime
    return Measured(proc.returncode, seconds, usage.ru_maxrss / 1024, expired.is_set(), cpu)


class Background:
    """A helper process on 127.0.0.1; ``port`` from its first ``port N`` line, if any."""

    def __init__(self, argv: Sequence[str], *, log: Path, announces_port: bool) -> None:
        self.argv = list(argv)
        self.log = log
        self.announces_port = announces_port
        self.port = 0
        self.proc: subprocess.Popen[bytes] | None = None
        self._lines: list[str] = []
        self._cond = threading.Condition()

    def start(self, port: int = 0, timeout: float = 15.0) -> Background:
        """Start it and wait until it listens; raises RuntimeError when it does not."""
        self.proc = subprocess.Popen(
            self.argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
        threading.Thread(target=self._pump, daemon=True).start()
        if self.announces_port:
            line = self.wait_line(r"^port (\d+)$", timeout)
            if line is None:
                self.stop()
                raise RuntimeError(f"{self.argv[0]} did not start: see {self.log}")
            port = int(line.split()[1])
        self.port = port
        if not wait_for_port(port, timeout):
            self.stop()
            raise RuntimeError(f"{self.argv[0]} is not listening on {port}: see {self.log}")
        return self

    def _pump(self) -> None:
        assert self.proc is not None
        assert self.proc.stdout is not None
        with self.log.open("ab") as log:
            buffer = b""
            while chunk := os.read(self.proc.stdout.fileno(), 65536):
                log.write(chunk)
                buffer += chunk
                *done, buffer = re.split(rb"[\r\n]", buffer)
                with self._cond:
                    self._lines.extend(d.decode("utf-8", "replace") for d in done if d)
                    del self._lines[:-1000]
                    self._cond.notify_all()

    def wait_line(self, pattern: str, timeout: float, after: int = 0) -> str | None:
        """The first line (from index ``after`` on) matching ``pattern``, within ``timeout``."""
        regex = re.compile(pattern)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for line in self._lines[after:]:
                    if regex.search(line):
                        return line
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._cond.wait(left)

    def last_line(self, pattern: str) -> str | None:
        """The latest line matching ``pattern`` so far."""
        regex = re.compile(pattern)
        with self._cond:
            return next((ln for ln in reversed(self._lines) if regex.search(ln)), None)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after 5 s: this process only, by its pid."""
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(5)

    def __enter__(self) -> Background:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def smtp_sink(program: Path, folder: Path) -> Background:
    """Postfix smtp-sink on a free 127.0.0.1 port, counting messages (``-c``)."""
    port = free_port()
    argv = [str(program), "-4", "-c"]
    if os.geteuid() == 0:
        argv += ["-u", "nobody"]  # it refuses to keep root privileges
    argv += [f"{LOOPBACK}:{port}", "1000"]
    return Background(argv, log=folder / "smtp-sink.log", announces_port=False).start(port)


def sink_messages(sink: Background) -> int:
    """How many messages smtp-sink has accepted so far (its ``-c`` counter)."""
    time.sleep(0.2)  # it prints the counter when a session ends
    line = sink.last_line(r"mesg=\d+")
    return int(re.findall(r"mesg=(\d+)", line)[-1]) if line else 0


def bench_script(name: str) -> list[str]:
    """argv running another script of bench/ with this interpreter."""
    return [sys.executable, str(BENCH / name)]
