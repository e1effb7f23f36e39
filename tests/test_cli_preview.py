"""`notify preview` on the example books: outbox, summary, refusals, template errors."""

from __future__ import annotations

import email.policy
import json
import os
import socket
import stat
import subprocess
import sys
from dataclasses import dataclass
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any

import pytest

from notify.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "contacts"
BOOKS = [str(EXAMPLES / n) for n in ("correspondants.vcf", "outlook-fr.csv", "envoyes.mbox")]
NOTIFY = Path(sys.executable).parent / "notify"
SETTINGS = """\
[incident]
kind = "mailbox-hijack"
compromised_address = "dr.martin@cabinet-martin.example.org"
window_start = 2026-11-26T08:00:00+01:00
window_end = 2026-11-27T18:00:00+01:00

[sender]
address = "secours.martin@exemple.org"
name = "Dr Claire Martin"
profession = "médecin"
phone = "+33 4 00 00 00 00"
organization = "Cabinet du Dr Martin"

[smtp]
host = "smtp.exemple.org"
username = "secours.martin@exemple.org"

[sending]
per_minute = 30
per_day = 500
"""
BAD_TEMPLATE = """\
{% block subject %}Attention{% endblock %}
{% block text %}
Bonjour,

Je suis {{ sender.nonexistent }}.
{% endblock %}
"""


@dataclass
class Run:
    """What one command did: exit code, standard output and standard error."""

    code: int
    out: str
    err: str


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh working folder with notify.toml, no NOTIFY_ variable, no network."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notify.toml").write_text(SETTINGS, encoding="utf-8")
    for name in [n for n in os.environ if n.startswith("NOTIFY_")]:
        monkeypatch.delenv(name)

    def refuse(*args: Any, **kwargs: Any) -> None:
        pytest.fail(f"the preview opened a connection: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket.socket, "connect_ex", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    return tmp_path


@pytest.fixture
def notify(
    folder: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Any:
    """Run ``notify ARGS...`` in this process, as the entry point does."""

    def run(*args: str) -> Run:
        capsys.readouterr()
        monkeypatch.setattr(sys, "argv", ["notify", *args])
        try:
            main()
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        else:  # pragma: no cover - Typer always exits
            code = 0
        captured = capsys.readouterr()
        return Run(code, captured.out, captured.err)

    return run


def parsed(outbox: Path) -> dict[str, EmailMessage]:
    """Every .eml of the outbox by file name, parsed with the modern email policy."""
    parser = BytesParser(policy=email.policy.default)
    found = {}
    for path in sorted(outbox.glob("*.eml")):
        with path.open("rb") as stream:
            message = parser.parse(stream)
        assert isinstance(message, EmailMessage)
        found[path.name] = message
    return found


def test_preview_exits_0_and_prints_counts_and_duration(notify: Any) -> None:
    """The summary gives the counts, the time sending will take, and where the outbox is."""
    run = notify("preview", "--template", "colleague-warning", *BOOKS)
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert "9 messages, one per recipient" in lines
    assert "4 duplicates merged" in lines
    assert "2 contacts without e-mail: reach them by other means" in lines
    assert "1 on secure health messaging: send from your secure client" in lines
    assert "9 messages at 30 a minute: about 1 minute" in lines
    assert "Outbox: outbox/index.html (nothing was sent)" in lines


def test_every_message_is_for_one_person_and_matches_the_manifest(
    notify: Any, folder: Path
) -> None:
    """Each .eml: one address in To, no Cc/Bcc; its Message-ID and subject are the manifest's."""
    assert notify("preview", "-t", "colleague-warning", *BOOKS).code == 0
    outbox = folder / "outbox"
    messages = parsed(outbox)
    entries = json.loads((outbox / "manifest.json").read_text(encoding="utf-8"))["messages"]
    assert sorted(e["file"] for e in entries) == sorted(messages)
    for entry in entries:
        message = messages[entry["file"]]
        assert [a.addr_spec for a in message["To"].addresses] == [entry["recipient"]]
        assert message["Cc"] is None
        assert message["Bcc"] is None
        assert message["Message-ID"] == entry["message_id"]
        assert message["Subject"] == entry["subject"]
    recipients = [e["recipient"] for e in entries]
    assert len(recipients) == len(set(recipients)) == 9


def test_outbox_is_owner_only(notify: Any, folder: Path) -> None:
    """Files 0600, folders 0700."""
    assert notify("preview", "-t", "colleague-warning", *BOOKS).code == 0
    outbox = folder / "outbox"
    assert stat.S_IMODE(outbox.stat().st_mode) == 0o700
    for path in outbox.rglob("*"):
        assert stat.S_IMODE(path.stat().st_mode) == (0o700 if path.is_dir() else 0o600), path


def test_rerun_replaces_the_outbox(notify: Any, folder: Path) -> None:
    """A second preview into the same folder replaces the first (no stale message left)."""
    assert notify("preview", "-t", "colleague-warning", *BOOKS).code == 0
    run = notify("preview", "-t", "colleague-warning", BOOKS[0])
    assert run.code == 0, run.err
    entries = json.loads((folder / "outbox" / "manifest.json").read_text(encoding="utf-8"))
    assert len(entries["messages"]) == len(list((folder / "outbox").glob("*.eml"))) == 4


def test_a_folder_that_is_not_an_outbox_is_refused(notify: Any, folder: Path) -> None:
    """--out on a folder holding other files: exit 2, a clear message, nothing touched."""
    (folder / "docs").mkdir()
    (folder / "docs" / "rapport.txt").write_text("keep", encoding="utf-8")
    run = notify("preview", "-t", "colleague-warning", "--out", "docs", *BOOKS)
    assert run.code == 2
    assert "error: docs is not empty and is not an outbox written by notify" in run.err
    assert "Pass --out with a new or empty folder." in run.err
    assert sorted(p.name for p in (folder / "docs").iterdir()) == ["rapport.txt"]


def test_undefined_variable_names_template_line_and_recipient(notify: Any, folder: Path) -> None:
    """{{ sender.nonexistent }} in ./templates: exit 2, template, line and recipient named."""
    (folder / "templates").mkdir()
    (folder / "templates" / "mine.fr.j2").write_text(BAD_TEMPLATE, encoding="utf-8")
    run = notify("preview", "-t", "mine", *BOOKS)
    assert run.code == 2
    assert "error: template mine.fr.j2, line 5; recipient " in run.err
    assert "nonexistent" in run.err
    assert "Traceback" not in run.err
    assert not (folder / "outbox").exists()


def test_unset_value_is_an_error_not_a_blank(notify: Any, folder: Path) -> None:
    """A value the template prints but notify.toml leaves unset stops the preview (exit 2)."""
    (folder / "templates").mkdir()
    (folder / "templates" / "ref.fr.j2").write_text(
        "{% block subject %}Ref{% endblock %}\n{% block text %}\nPersonnes : "
        "{{ incident.persons_concerned }}\n{% endblock %}\n",
        encoding="utf-8",
    )
    run = notify("preview", "-t", "ref", *BOOKS)
    assert run.code == 2
    assert "error: template ref.fr.j2, line 3; recipient " in run.err
    assert "not set" in run.err


def test_preview_as_a_command_shows_no_traceback(folder: Path) -> None:
    """The installed command, run in a folder: a template error is one clear message."""
    (folder / "templates").mkdir()
    (folder / "templates" / "mine.fr.j2").write_text(BAD_TEMPLATE, encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("NOTIFY_")}
    done = subprocess.run(
        [str(NOTIFY), "preview", "-t", "mine", *BOOKS],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert done.returncode == 2
    assert "error: template mine.fr.j2, line 5; recipient " in done.stderr
    assert "Traceback" not in done.stderr


def test_a_large_campaign_is_announced_in_days(notify: Any, folder: Path) -> None:
    """With a limit of 5 a day, 9 messages are announced as 2 days of sending."""
    settings = (folder / "notify.toml").read_text(encoding="utf-8")
    (folder / "notify.toml").write_text(settings.replace("per_day = 500", "per_day = 5"))
    run = notify("preview", "-t", "colleague-warning", *BOOKS)
    assert run.code == 0
    assert "9 messages at 5 a day: 2 days" in run.out.splitlines()
