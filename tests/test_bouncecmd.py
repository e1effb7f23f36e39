"""The ``notify bounces`` command: dry run, folding into the journal, exit codes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from bouncemail import OWN, make_journal

import notify.cli.bouncecmd  # noqa: F401  (registers the command until notify.cli imports it)
from notify.cli import main
from notify.cli.app import out as console
from notify.journal import Journal


def run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], *args: str
) -> tuple[int, str, str]:
    """Run ``notify ARGS`` in-process; return (exit code, stdout, stderr)."""
    monkeypatch.setattr(sys, "argv", ["notify", *args])
    with pytest.raises(SystemExit) as exited:
        main()
    captured = capsys.readouterr()
    code = exited.value.code
    return (0 if code is None else int(code)), captured.out, captured.err


@pytest.fixture(autouse=True)
def _no_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Run in an empty folder: no notify.toml, no .env."""
    monkeypatch.chdir(tmp_path)


def test_dry_run_json_prints_parsed_records_without_a_journal(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--dry-run --format json prints each report's records and creates no journal."""
    source = OWN / "orange-boite-pleine.eml"
    code, out, _ = run(monkeypatch, capsys, "bounces", str(source), "--dry-run", "--format", "json")
    assert code == 0
    [report] = json.loads(out)
    [record] = report["records"]
    assert report["source"] == str(source)
    assert report["kind"] == "bounce"
    assert record["recipient"] == "dr.lefebvre@orange.example"
    assert (record["action"], record["status"], record["permanent"]) == ("failed", "5.2.2", True)
    assert record["reason"] == "mailbox-full"
    assert record["original_message_id"] == "<warn-0001@example.org>"
    assert not (tmp_path / "incident.db").exists()


def test_dry_run_table_names_every_message(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The table lists one row per record, and the messages without any."""
    monkeypatch.setattr(console, "width", 300)
    code, out, _ = run(monkeypatch, capsys, "bounces", str(OWN), "--dry-run")
    assert code == 0
    assert "dr.lefebvre@orange.example" in out
    assert "not-bounce" in out


def test_unreadable_source_exits_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """A source that does not exist is bad input: exit 2, with the path named."""
    code, _, err = run(monkeypatch, capsys, "bounces", str(tmp_path / "absent.mbox"), "--dry-run")
    assert code == 2
    assert "absent.mbox" in err
    assert "Traceback" not in err


def test_missing_journal_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Folding needs the journal of the incident: without one, exit 2 and say so."""
    code, _, err = run(monkeypatch, capsys, "--journal", "none.db", "bounces", str(OWN))
    assert code == 2
    assert "none.db: no journal" in err


def test_fold_prints_summary_and_unmatched(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Folding a folder prints the counts and lists what could not be matched."""
    make_journal(tmp_path / "incident.db")
    code, out, _ = run(monkeypatch, capsys, "bounces", str(OWN))
    assert code == 0
    assert "Messages read: 11 new, 0 already read before." in out
    assert "Bounces matched to a recipient: 6 (5 permanent, 1 temporary or delayed)." in out
    assert "Delivered (auto-reply, read receipt): 2." in out
    # The path stays whole on its own line, whatever the terminal's width.
    assert f"  {OWN / 'tronque.eml'}" in out.splitlines()
    with Journal.open(tmp_path / "incident.db", create=False) as journal:
        assert journal.find_recipient("dr.petit@clinique.example")[0].state == "bounced"


def test_fold_json_summary_and_second_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """--format json prints the summary; a second run reads nothing new."""
    make_journal(tmp_path / "incident.db")
    run(monkeypatch, capsys, "bounces", str(OWN))
    code, out, _ = run(monkeypatch, capsys, "bounces", str(OWN), "--format", "json")
    assert code == 0
    summary = json.loads(out)
    assert (summary["read"], summary["already_read"], summary["unmatched"]) == (0, 11, [])


def test_no_imap_server_configured_exits_3(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Without SOURCE and without an IMAP server in the settings: a configuration error."""
    make_journal(tmp_path / "incident.db")
    code, _, err = run(monkeypatch, capsys, "bounces")
    assert code == 3
    assert "imap.host is empty" in err
