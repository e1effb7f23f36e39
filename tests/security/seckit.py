"""Helpers for the security suite: the CLI as a real process, settings, measurements.

Every server the suite starts binds 127.0.0.1; a test that names a non-loopback
address (192.0.2.x, TEST-NET-1) proves that no connection is attempted.
"""

from __future__ import annotations

import csv
import os
import resource
import subprocess
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from typer.testing import CliRunner

from notify.cli import app
from notify.errors import NotifyError

NOTIFY = Path(sys.executable).with_name("notify")
SENDER = "secours.martin@exemple.org"
TEMPLATE = "colleague-warning"

CONFIG = """\
[incident]
kind = "{kind}"
compromised_address = "dr.martin@exemple.fr"
window_start = 2026-11-26T08:00:00+01:00
window_end = 2026-11-27T18:00:00+01:00
aware_at = 2026-11-27T09:15:00+01:00
nature = "Prise de contrôle de la messagerie"
consequences = "Des messages frauduleux ont été envoyés en mon nom"
measures = "Mot de passe changé, double authentification activée"

[sender]
address = "{sender}"
name = {name}
profession = "médecin"
phone = "+33 4 00 00 00 00"
organization = {organization}

[smtp]
host = "{host}"
port = {port}
security = "{security}"
username = "{username}"
timeout = {timeout}
{smtp_more}

[sending]
retry_min_seconds = 0.01
retry_max_seconds = 0.05
max_attempts = 2
"""


def toml_string(value: str) -> str:
    """``value`` as a TOML basic string (escapes every control character)."""
    out = ['"']
    for char in value:
        if char in '"\\':
            out.append("\\" + char)
        elif ord(char) < 0x20 or ord(char) == 0x7F:
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


def write_config(
    folder: Path,
    *,
    port: int = 25,
    host: str = "127.0.0.1",
    security: str = "none",
    username: str = "",
    timeout: float = 5.0,
    name: str = "Dr Claire Martin",
    organization: str = "Cabinet du Dr Martin",
    kind: str = "mailbox-hijack",
    smtp_more: str = "",
) -> Path:
    """Write ``notify.toml`` in ``folder``; ``smtp_more`` adds lines to [smtp]."""
    path = folder / "notify.toml"
    path.write_text(
        CONFIG.format(
            kind=kind,
            sender=SENDER,
            name=toml_string(name),
            organization=toml_string(organization),
            host=host,
            port=port,
            security=security,
            username=username,
            timeout=timeout,
            smtp_more=smtp_more,
        ),
        encoding="utf-8",
    )
    return path


def write_rows(path: Path, rows: Sequence[Sequence[str]]) -> Path:
    """A CSV address book: ``email,first name,last name,title,company`` then ``rows``."""
    with path.open("w", encoding="utf-8", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(["email", "first name", "last name", "title", "company"])
        writer.writerows(rows)
    return path


@dataclass(frozen=True)
class Run:
    """One finished process: exit code, outputs, peak memory (kB), seconds."""

    code: int
    out: str
    err: str
    max_rss_kb: int = 0
    seconds: float = 0.0

    @property
    def text(self) -> str:
        """stdout and stderr together."""
        return self.out + self.err


def cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Our environment without any NOTIFY_* variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFY_")}
    env["COLUMNS"] = "100"
    env.update(extra or {})
    return env


def notify_cli(
    cwd: Path,
    *args: str,
    env: Mapping[str, str] | None = None,
    timeout: float = 60,
    memory_limit: int | None = None,
    argv0: Sequence[str] | None = None,
) -> Run:
    """Run ``notify ARGS`` in ``cwd`` (stdin /dev/null) and wait, at most ``timeout``.

    ``memory_limit`` (bytes) caps the address space, so that a runaway process fails
    instead of exhausting the machine; ``argv0`` replaces the ``notify`` program.
    """

    def limits() -> None:
        if memory_limit is not None:
            resource.setrlimit(resource.RLIMIT_AS, (memory_limit, memory_limit))

    command = [*(argv0 or [str(NOTIFY)]), *args]
    began = time.monotonic()
    child = subprocess.Popen(
        command,
        cwd=cwd,
        env=cli_env(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=limits,  # noqa: PLW1509 - only sets a resource limit
    )
    try:
        out, err = child.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        child.kill()
        child.communicate()
        raise
    return Run(
        child.returncode,
        out.decode("utf-8", "replace"),
        err.decode("utf-8", "replace"),
        0,
        time.monotonic() - began,
    )


def peak_rss_kb(cwd: Path, *args: str, timeout: float = 300, memory_limit: int) -> Run:
    """Run ``notify ARGS`` through ``/usr/bin/time -f %M`` to get its own peak RSS."""
    marker = "PEAK-RSS-KB="
    run = notify_cli(
        cwd,
        *args,
        timeout=timeout,
        memory_limit=memory_limit,
        argv0=["/usr/bin/time", "-f", marker + "%M", str(NOTIFY)],
    )
    lines = run.err.rstrip("\n").split("\n")
    peak = int(lines[-1].removeprefix(marker)) if lines[-1].startswith(marker) else 0
    return Run(run.code, run.out, "\n".join(lines[:-1]), peak, run.seconds)


def all_files(root: Path) -> list[Path]:
    """Every regular file under ``root``."""
    return [p for p in root.rglob("*") if p.is_file() and not p.is_symlink()]


def cli_in_process(*args: str) -> tuple[int, str]:
    """Run the CLI in this process as ``notify.cli.main`` does: (exit code, output).

    A NotifyError becomes its exit code and message; any other exception would be a
    traceback for the user, and is raised to fail the test.
    """
    result = CliRunner().invoke(app, list(args), catch_exceptions=True)
    exc = result.exception
    if isinstance(exc, NotifyError):
        return exc.exit_code, result.output + str(exc)
    if exc is not None and not isinstance(exc, SystemExit):
        raise exc
    return result.exit_code, result.output
