"""No password anywhere: a canary through every command, then every byte written is read.

The canary is the SMTP password (NOTIFY_SMTP__PASSWORD), the output of
password_command, and the IMAP password. contacts, preview, send (accepted, a sample,
a refused AUTH, a failing password command), status, report in every format (screen
and files), report --message, mark, and bounces over IMAP with a wrong password run
as real processes; their stdout and stderr, and every file under the test's folder
(journal, -wal, -shm, lock, outbox, reports, the server's Maildir), must not hold the
canary, in clear or base64 (as AUTH PLAIN would send it). Every file notify created
is owner-only (0600, folders 0700).
"""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest
from imapserver import DOVECOT, SKIP_REASON, DovecotFactory, dovecot  # noqa: F401
from seckit import SENDER, Run, all_files, cli_in_process, notify_cli, write_config, write_rows

from notify.journal import Journal
from notify.localserver import LocalServer

pytestmark = [pytest.mark.security, pytest.mark.integration]

CANARY = "canary-SMTP-7e1c5a9b"
CANARY_CMD = "canary-CMD-42d0f3aa"
CANARY_IMAP = "canary-IMAP-wrong-88b1"


def forms(secret: str) -> list[bytes]:
    """The secret as bytes, and the base64 forms a login exchange would carry."""
    raw = secret.encode()
    return [
        raw,
        base64.b64encode(raw),
        base64.b64encode(b"\0" + SENDER.encode() + b"\0" + raw),
        raw.hex().encode(),
    ]


def assert_nowhere(secret: str, runs: list[Run], root: Path, skip: set[Path] = set()) -> None:  # noqa: B006
    """Not in any output, not in any file under ``root`` (but ``skip``)."""
    for run in runs:
        for form in forms(secret):
            assert form.decode() not in run.out + run.err
    for path in all_files(root):
        if path in skip:
            continue
        data = path.read_bytes()
        for form in forms(secret):
            assert form not in data, f"{secret} found in {path}"


def assert_owner_only(root: Path, skip: set[Path]) -> None:
    """Every file notify wrote is 0600 and every folder it made 0700."""
    for path in root.rglob("*"):
        if path in skip or path.is_symlink() or any(p in skip for p in path.parents):
            continue
        mode = stat.S_IMODE(path.stat().st_mode)
        if path.is_dir():
            assert mode == 0o700, f"{path}: {mode:o}"
        else:
            assert mode == 0o600, f"{path}: {mode:o}"


def test_the_smtp_password_and_command_output_appear_nowhere(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every command with the canary password: in no output, no file; files 0600.

    `send` runs as a real process; the other commands run in this process (as
    notify.cli.main runs them), for speed."""
    work = tmp_path / "work"
    work.mkdir(mode=0o700)
    people = [
        ["jean@exemple.fr", "Jean", "Dupont", "", ""],
        ["anne@exemple.fr", "Anne", "D", "", ""],
    ]
    book = write_rows(work / "contacts.csv", people)
    command = work / "secret.sh"
    command.write_text(f"#!/bin/sh\necho {CANARY_CMD}\necho {CANARY_CMD} >&2\nexit 1\n")
    command.chmod(0o700)
    ours = {book, work / "notify.toml", command}
    monkeypatch.chdir(work)
    monkeypatch.setenv("NOTIFY_SMTP__PASSWORD", CANARY)
    runs: list[Run] = []

    def run(*args: str, code: int = 0) -> Run:
        if args[0] == "send":  # a real process: the SMTP client runs outside pytest
            env = {k: v for k, v in os.environ.items() if k.startswith("NOTIFY_")}
            done = notify_cli(work, *args, env=env)
            runs.append(Run(done.code, done.text, ""))
            assert "Traceback" not in done.err
        else:
            got, output = cli_in_process(*args)
            runs.append(Run(got, output, ""))
        assert runs[-1].code == code, (args, runs[-1].out)
        return runs[-1]

    send = ("send", "--template", "colleague-warning", str(book), "--yes")
    with LocalServer(tmp_path / "received", credentials={SENDER: CANARY}) as server:
        write_config(work, port=server.port, username=SENDER)
        run("contacts", str(book))
        run("contacts", "--format", "json", str(book))
        run("preview", "--template", "colleague-warning", str(book))
        run("send", "--template", "colleague-warning", "--test", str(book), "--yes")
        run(*send)
        run("status")
        for fmt in ("md", "html", "csv", "json"):
            run("report", "--format", fmt)
            run("report", "--format", fmt, "--out", f"reports/report.{fmt}")
        run("report", "--verify")
        run("report", "--message", "jean@exemple.fr")
        run("mark", "anne@exemple.fr", "--state", "notified-other", "--note", "appelée")
        write_rows(book, [*people, ["paul@exemple.fr", "Paul", "Petit", "", ""]])
        monkeypatch.setenv("NOTIFY_SMTP__PASSWORD", CANARY + "-wrong")
        assert "login refused" in run(*send, code=3).out
        monkeypatch.setenv("NOTIFY_SMTP__PASSWORD", "")
        monkeypatch.setenv("NOTIFY_SMTP__PASSWORD_COMMAND", str(command))
        assert "exit status 1" in run(*send, code=3).out
        assert len(server.received) == 3  # the sample, then Jean and Anne
    assert_nowhere(CANARY, runs, tmp_path, skip=ours)
    assert_nowhere(CANARY_CMD, runs, tmp_path, skip=ours)
    assert_owner_only(work, ours)


@pytest.mark.skipif(DOVECOT is None, reason=SKIP_REASON)
def test_a_wrong_imap_password_appears_nowhere(
    tmp_path: Path,
    dovecot: DovecotFactory,  # noqa: F811
) -> None:
    """`notify bounces` over IMAP with a wrong password: exit 3, 'login refused', and
    the wrong password in no output and no file."""
    server = dovecot()
    work = tmp_path / "work"
    work.mkdir()
    write_config(work)
    Journal.open(work / "incident.db").close()
    env = {**server.env(), "NOTIFY_IMAP__PASSWORD": CANARY_IMAP}
    runs = [notify_cli(work, "bounces", env=env), notify_cli(work, "bounces", "--dry-run", env=env)]
    for done in runs:
        assert done.code == 3, done.text
        assert "login refused" in done.err
        assert "Traceback" not in done.err
    assert_nowhere(CANARY_IMAP, runs, work)


def test_no_password_on_a_command_line_or_in_the_settings_file(tmp_path: Path) -> None:
    """`notify init` never writes the password to notify.toml, and no notify option
    takes a password (it would show in the process list)."""
    env = {"NOTIFY_SMTP__PASSWORD": CANARY}
    helps = [notify_cli(tmp_path, cmd, "--help", env=env) for cmd in ("send", "bounces", "init")]
    for done in helps:
        assert done.code == 0
        assert "--password" not in done.out
    made = notify_cli(tmp_path, "init", "--help", env=env)
    assert CANARY not in made.out
    for path in all_files(tmp_path):
        assert CANARY.encode() not in path.read_bytes()
    assert os.environ.get("NOTIFY_SMTP__PASSWORD") is None
