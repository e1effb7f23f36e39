"""`notify contacts` on the example address books: formats, problems, exit codes."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from notify.cli import main

EXAMPLES = Path(__file__).resolve().parent.parent / "contacts"
BOOKS = [str(EXAMPLES / n) for n in ("correspondants.vcf", "outlook-fr.csv", "envoyes.mbox")]
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
"""
SENT = {
    "sophie.durand@cardio-durand.example.org",
    "contact@pharmacie-marche.example.org",
    "i.moreau@labo-alpes.example.org",
    "helen.smith@riverside-physio.example.com",
    "elodie.garnier@kine-centre.example.org",
    "remi.faure@infirmiers.example.org",
    "anne.rousseau@hopital-nord.example.org",
    "secretariat@cabinet-martin.example.org",
    "j.blanc@clinique-sud.example.org",
}
IN_WINDOW = {
    "sophie.durand@cardio-durand.example.org",
    "elodie.garnier@kine-centre.example.org",
    "anne.rousseau@hopital-nord.example.org",
    "j.blanc@clinique-sud.example.org",
}


@dataclass
class Run:
    """What one command did: exit code, standard output and standard error."""

    code: int
    out: str
    err: str


@pytest.fixture
def notify(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> Any:
    """Run ``notify ARGS...`` in this process, as the entry point does, in a fresh folder."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notify.toml").write_text(SETTINGS, encoding="utf-8")
    for name in [n for n in os.environ if n.startswith("NOTIFY_")]:
        monkeypatch.delenv(name)

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


def test_table_shows_every_recipient_and_exits_0(notify: Any) -> None:
    """The default table lists the recipients, the secure one, those without address."""
    run = notify("contacts", *BOOKS)
    assert run.code == 0
    assert "Recipients (9)" in run.out
    assert "Secure health messaging: send from your secure client (1)" in run.out
    assert "No e-mail: reach by other means (2)" in run.out


def test_json_lists_recipients_secure_and_unreachable(notify: Any) -> None:
    """--format json: 9 to send, 1 on secure messaging, 2 without address, exit 0."""
    run = notify("contacts", "--format", "json", *BOOKS)
    assert run.code == 0
    people = json.loads(run.out)
    by_status: dict[str, list[dict[str, Any]]] = {}
    for person in people:
        by_status.setdefault(person["status"], []).append(person)
    assert {p["email"] for p in by_status["send"]} == SENT
    assert [p["email"] for p in by_status["secure-network"]] == ["jean.leroy@medecin.mssante.fr"]
    assert sorted(p["name"] for p in by_status["no-address"]) == ["Bernard Petit", "Louis Bonnet"]
    assert all(p["email"] is None for p in by_status["no-address"])


def test_json_excludes_the_compromised_address(notify: Any) -> None:
    """The owner's own (compromised) address is nowhere in the output."""
    run = notify("contacts", "--format", "json", *BOOKS)
    emails = {p["email"] for p in json.loads(run.out)}
    assert "dr.martin@cabinet-martin.example.org" not in emails
    assert "excluded (1):" in run.err


def test_json_flags_the_people_written_to_during_the_window(notify: Any) -> None:
    """in_window is true exactly for those the hijacked mailbox wrote to in the window."""
    run = notify("contacts", "--format", "json", *BOOKS)
    flagged = {p["email"] for p in json.loads(run.out) if p["in_window"]}
    assert flagged == IN_WINDOW


def test_window_option_keeps_only_the_people_phished(notify: Any) -> None:
    """--window with the Sent folder alone keeps only recipients of mail sent in the window."""
    run = notify("contacts", "--format", "json", "--window", BOOKS[2])
    assert run.code == 0
    assert {p["email"] for p in json.loads(run.out) if p["status"] == "send"} == IN_WINDOW


def test_csv_parses_back_to_the_same_people(notify: Any) -> None:
    """--format csv reads back with the csv module: one row per person, same statuses."""
    run = notify("contacts", "--format", "csv", *BOOKS)
    assert run.code == 0
    rows = list(csv.DictReader(io.StringIO(run.out)))
    assert len(rows) == 12
    assert {r["email"] for r in rows if r["status"] == "send"} == SENT
    assert [r["name"] for r in rows if r["status"] == "secure-network"] == ["Dr Jean Leroy"]
    durand = next(r for r in rows if r["email"] == "sophie.durand@cardio-durand.example.org")
    assert durand["in_window"] == "True"
    assert durand["groups"] == "Confrères; Correspondants"


def test_problems_go_to_stderr_with_file_and_line(notify: Any) -> None:
    """Invalid address, no address and duplicates are on stderr, each with file:line."""
    run = notify("contacts", "--format", "json", *BOOKS)
    assert f"{BOOKS[1]}:6: 'louis.bonnet@@example.net' is not a valid e-mail address" in run.err
    assert f"{BOOKS[0]}:52: Bernard Petit has no usable e-mail address" in run.err
    assert "duplicates merged (4):" in run.err
    assert (
        "9 recipients, 17 contacts read, 4 duplicates merged, 2 without e-mail, "
        "1 on secure messaging, 1 invalid address, 1 excluded"
    ) in run.err
    assert "louis.bonnet" not in run.out


def test_an_unreadable_source_exits_2_and_the_others_are_shown(notify: Any) -> None:
    """A missing book is named on stderr, the others are still listed, and the exit is 2."""
    run = notify("contacts", "--format", "json", BOOKS[0], "missing.vcf")
    assert run.code == 2
    assert "error: missing.vcf: no such file or folder" in run.err
    assert "1 sources unreadable" in run.err
    emails = {p["email"] for p in json.loads(run.out)}
    assert "sophie.durand@cardio-durand.example.org" in emails
