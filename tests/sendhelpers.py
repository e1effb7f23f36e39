"""Helpers for the send-path tests: settings files, address books, the CLI, the Maildir.

The CLI runs as a real process (``.venv/bin/notify``) in the test's folder, against a
:class:`notify.localserver.LocalServer` on 127.0.0.1 started by the test.
"""

from __future__ import annotations

import email.policy
import io
import os
import subprocess
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser
from email.utils import getaddresses
from pathlib import Path
from typing import Any

import pytest
from smtpfaults import FaultHandler

from notify.cli import main
from notify.journal import Journal
from notify.localserver import LocalServer

NOTIFY = Path(sys.executable).with_name("notify")
SENDER = "secours.martin@exemple.org"
TEMPLATE = "colleague-warning"

_CONFIG = """\
[incident]
kind = "mailbox-hijack"
compromised_address = "dr.martin@exemple.fr"
window_start = 2026-11-26T08:00:00+01:00
window_end = 2026-11-27T18:00:00+01:00
aware_at = 2026-11-27T09:15:00+01:00

[sender]
address = "{sender}"
name = "Dr Claire Martin"
profession = "médecin"
phone = "+33 4 00 00 00 00"
organization = "Cabinet du Dr Martin"

[smtp]
host = "127.0.0.1"
port = {port}
security = "none"
username = "{username}"
timeout = 5

[sending]
{sending}
"""


def write_config(
    folder: Path,
    port: int,
    *,
    username: str = "",
    sender: str = SENDER,
    **sending: int | float,
) -> Path:
    """Write ``notify.toml`` for a local server on ``port``; ``sending`` fills [sending]."""
    values = {"retry_min_seconds": 0.01, "retry_max_seconds": 0.05, **sending}
    lines = "\n".join(f"{key} = {value}" for key, value in values.items())
    path = folder / "notify.toml"
    text = _CONFIG.format(port=port, username=username, sender=sender, sending=lines)
    path.write_text(text, encoding="utf-8")
    return path


def address(number: int) -> str:
    """The fictional address of recipient ``number``."""
    return f"patient{number:05d}@exemple.net"


def write_csv(path: Path, numbers: Iterable[int]) -> Path:
    """A CSV address book (email, first name, last name) of fictional recipients."""
    rows = ["email,first name,last name"]
    rows += [f"{address(n)},Jeanne{n},Dupont-{n}" for n in numbers]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


@dataclass(frozen=True)
class Run:
    """One finished CLI process."""

    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        """stdout and stderr together."""
        return self.out + self.err


def cli_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment of a CLI run: ours without any NOTIFY_* variable, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFY_")}
    env["COLUMNS"] = "100"
    env.update(extra or {})
    return env


def notify(
    cwd: Path, *args: str, env: Mapping[str, str] | None = None, timeout: float = 120
) -> Run:
    """Run ``notify ARGS`` in ``cwd`` with no terminal (stdin is /dev/null)."""
    done = subprocess.run(
        [str(NOTIFY), *args],
        cwd=cwd,
        env=cli_env(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def start(cwd: Path, *args: str, env: Mapping[str, str] | None = None) -> subprocess.Popen[str]:
    """Start ``notify ARGS`` in ``cwd`` without waiting (stdin /dev/null, output piped)."""
    return subprocess.Popen(
        [str(NOTIFY), *args],
        cwd=cwd,
        env=cli_env(env),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def finish(child: subprocess.Popen[str], timeout: float = 120) -> Run:
    """Wait for a process started with :func:`start`."""
    out, err = child.communicate(timeout=timeout)
    return Run(child.returncode, out, err)


def send_args(*sources: Path | str, more: Iterable[str] = ()) -> list[str]:
    """``send --template TEMPLATE SOURCES... --yes`` plus ``more``."""
    return ["send", "--template", TEMPLATE, *map(str, sources), "--yes", *more]


@dataclass(frozen=True)
class Delivered:
    """One message as the local server stored it: envelope and headers."""

    path: Path
    return_path: str
    envelope_to: str
    raw: bytes  # the message as the client sent it (the server's lines removed)
    headers: Message  # parsed headers (compat32: fast; enough for addresses)


def split_server_lines(stored: bytes) -> tuple[dict[str, str], bytes]:
    """The ``Return-Path`` and ``X-Envelope-To`` lines the server adds, and the rest."""
    added: dict[str, str] = {}
    rest = stored
    for name in ("Return-Path", "X-Envelope-To"):
        line, _, after = rest.partition(b"\r\n")
        key, _, value = line.decode("utf-8").partition(": ")
        assert key == name, f"expected {name} first, got {line!r}"
        added[name] = value
        rest = after
    return added, rest


def delivered(maildir: Path) -> list[Delivered]:
    """Every message in ``maildir/new``, with its headers parsed."""
    parser = BytesParser(policy=email.policy.compat32)
    found = []
    for path in sorted((maildir / "new").iterdir()):
        added, raw = split_server_lines(path.read_bytes())
        headers = parser.parsebytes(raw, headersonly=True)
        found.append(Delivered(path, added["Return-Path"], added["X-Envelope-To"], raw, headers))
    return found


def without_date(raw: bytes) -> bytes:
    """The message without its ``Date:`` header line (never folded: notify writes it)."""
    head, sep, body = raw.partition(b"\r\n\r\n")
    lines = [ln for ln in head.split(b"\r\n") if not ln.lower().startswith(b"date:")]
    return b"\r\n".join(lines) + sep + body


def assert_alone(item: Delivered, sender: str = SENDER) -> str:
    """Assert one recipient only (To, envelope, no Cc/Bcc); return the address."""
    headers = item.headers
    to_fields = headers.get_all("To", [])
    assert len(to_fields) == 1, f"{item.path.name}: {len(to_fields)} To fields"
    to = getaddresses(to_fields)
    assert len(to) == 1, f"{item.path.name}: To has {len(to)} addresses"
    assert headers.get_all("Cc") is None
    assert headers.get_all("Bcc") is None
    assert headers.get_all("Resent-To") is None
    assert "," not in item.envelope_to
    assert item.envelope_to.strip()
    assert item.envelope_to == to[0][1]
    assert item.return_path == f"<{sender}>"
    return item.envelope_to


def fault_server(folder: Path, **handler_options: Any) -> LocalServer:
    """A LocalServer (thread, 127.0.0.1, no TLS) with a scriptable FaultHandler."""
    handler = FaultHandler(folder / "received", **handler_options)
    return LocalServer(handler.maildir, handler=handler)


def journal_states(journal_path: Path) -> dict[str, str]:
    """address -> state, for the only campaign of the journal."""
    with Journal.open(journal_path, create=False) as journal:
        (campaign,) = journal.campaigns()
        return {r.email: r.state for r in journal.iter_recipients(campaign.id)}


class InProcess:
    """Run ``notify ARGS`` in this process, through the console script's ``main``.

    The same entry point as the installed ``notify`` command (errors turned into
    messages and exit codes), without a process start-up: for fast CLI tests.
    stdin is empty and not a terminal, like :func:`notify`.
    """

    def __init__(self, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]):
        self.monkeypatch = monkeypatch
        self.capsys = capsys

    def __call__(
        self, cwd: Path, *args: str, env: Mapping[str, str] | None = None, timeout: float = 0
    ) -> Run:
        """Run and return the exit code and output (``timeout`` is ignored)."""
        patch = self.monkeypatch
        with patch.context() as local:
            local.chdir(cwd)
            local.setattr(sys, "argv", ["notify", *args])
            local.setattr(sys, "stdin", io.StringIO(""))
            for key in [k for k in os.environ if k.startswith("NOTIFY_")]:
                local.delenv(key)
            for key, value in cli_env(env).items():
                if key.startswith("NOTIFY_") or key == "COLUMNS":
                    local.setenv(key, value)
            self.capsys.readouterr()
            with pytest.raises(SystemExit) as done:
                main()
            out, err = self.capsys.readouterr()
        code = done.value.code
        return Run(code if isinstance(code, int) else 1, out, err)
