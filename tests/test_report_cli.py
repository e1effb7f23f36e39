"""`notify report` and `notify mark`: outputs, files, exit codes and messages."""

from __future__ import annotations

import csv
import io
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest
from reportkit import NO_ADDRESS_PHONE, Scenario, build_scenario, kept_apart
from schemacheck import errors

from notify.cli import main
from notify.journal import Journal

SCHEMA = Path(__file__).parent.parent / "docs" / "report.schema.json"
CANARY = "canary-Pa55word-7f3e9d"
NOTIFY = Path(sys.executable).parent / "notify"


@dataclass
class Run:
    """What one command did."""

    code: int
    out: bytes
    err: str

    @property
    def text(self) -> str:
        """Standard output as text."""
        return self.out.decode("utf-8")


Notify = Callable[..., Run]


@pytest.fixture
def scenario(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Scenario:
    """A fresh journal (tests may alter it), in the current folder; a password in the env."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("NOTIFY_SMTP__PASSWORD", CANARY)
    return build_scenario(tmp_path)


@pytest.fixture
def notify(
    scenario: Scenario, monkeypatch: pytest.MonkeyPatch, capsysbinary: pytest.CaptureFixture[bytes]
) -> Notify:
    """Run ``notify --journal JOURNAL ARGS...`` in this process, as the entry point does."""

    def run(*args: str) -> Run:
        monkeypatch.setattr(sys, "argv", ["notify", "--journal", str(scenario.path), *args])
        try:
            main()
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 2)
        captured = capsysbinary.readouterr()
        return Run(code, captured.out, captured.err.decode("utf-8"))

    return run


def mode(path: Path) -> int:
    """The permission bits of ``path``."""
    return os.stat(path).st_mode & 0o777


def tamper(path: Path, sql: str) -> None:
    """Change the journal with plain sqlite3, as an attacker would."""
    conn = sqlite3.connect(path)
    try:
        conn.executescript(sql)
    finally:
        conn.close()


# -- report ---------------------------------------------------------------------


def test_the_default_report_is_markdown_on_stdout(notify: Notify) -> None:
    """`notify report` prints the Markdown record and exits 0."""
    run = notify("report")
    assert run.code == 0
    assert run.text.startswith("# Incident record\n")
    assert "- **CNIL reference:** not filed yet" in run.text
    assert f"| Dr Sans Courriel | none | no e-mail address | {NO_ADDRESS_PHONE} |" in run.text


def test_html_goes_to_an_owner_only_file(notify: Notify, tmp_path: Path) -> None:
    """--format html --out writes a 0600 file (in a new 0700 folder) and says where."""
    target = tmp_path / "record" / "report.html"
    run = notify("report", "--format", "html", "--out", str(target))
    assert run.code == 0
    assert run.out == b""
    assert f"Report written to {target}" in run.err
    assert mode(target) == 0o600
    assert mode(target.parent) == 0o700
    assert "&lt;script&gt;" in target.read_text(encoding="utf-8")


def test_an_existing_report_file_is_made_owner_only(notify: Notify, tmp_path: Path) -> None:
    """A world-readable file given to --out is tightened to 0600 before it is written."""
    target = tmp_path / "old.md"
    target.write_text("old content that is much longer than nothing" * 100)
    target.chmod(0o644)
    assert notify("report", "--out", str(target)).code == 0
    assert mode(target) == 0o600
    assert target.read_text(encoding="utf-8").startswith("# Incident record")


def test_excel_csv_file_has_bom_semicolons_and_one_row_per_recipient(
    notify: Notify, tmp_path: Path
) -> None:
    """--format csv --excel --out: BOM, ';', the header then one row per recipient."""
    target = tmp_path / "people.csv"
    assert notify("report", "--format", "csv", "--excel", "--out", str(target)).code == 0
    data = target.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfaddress;name;state;")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8-sig")), delimiter=";"))
    assert len(rows) == 10
    assert mode(target) == 0o600


def test_json_on_stdout_fits_the_schema(notify: Notify) -> None:
    """--format json prints JSON that validates against docs/report.schema.json."""
    run = notify("report", "--format", "json")
    assert run.code == 0
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert errors(json.loads(run.text), schema) == []


def test_excel_without_csv_is_a_usage_error(notify: Notify) -> None:
    """--excel with another format exits 2 and says to add --format csv."""
    run = notify("report", "--excel")
    assert run.code == 2
    assert "error: --excel applies to CSV only\nAdd --format csv." in run.err


def test_a_missing_journal_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """No journal at the path: exit 2, naming it and saying what to do."""
    missing = tmp_path / "no.db"
    monkeypatch.setattr(sys, "argv", ["notify", "--journal", str(missing), "report"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    assert capsys.readouterr().err == (
        f"error: {missing}: no journal yet\nRun 'notify send' first, or pass --journal.\n"
    )
    assert not missing.exists()


def test_a_cnil_reference_filed_in_notify_toml_reaches_the_report(
    notify: Notify, tmp_path: Path
) -> None:
    """A reference added to notify.toml after sending is recorded and shown as filed."""
    (tmp_path / "notify.toml").write_text(
        '[incident]\ncompromised_address = "dr.martin@exemple.fr"\n'
        'aware_at = 2026-11-27T09:15:00+01:00\ncnil_reference = "CNIL-2026-777"\n',
        encoding="utf-8",
    )
    run = notify("report")
    assert run.code == 0
    assert "Incident details updated from notify.toml" in run.err
    assert "- **CNIL reference:** CNIL-2026-777" in run.text
    assert "notification filed (CNIL reference CNIL-2026-777)" in run.text


# -- report --message -------------------------------------------------------------


def test_message_reproduces_the_exact_bytes_sent(notify: Notify, scenario: Scenario) -> None:
    """--message prints the very bytes handed to the server, and says the SHA-256 matches."""
    run = notify("report", "--message", "Alice@Exemple.fr")
    assert run.code == 0
    assert run.out == scenario.sent["alice"]
    assert f"its SHA-256 {scenario.sha256['alice']} matches the one recorded" in run.err


def test_message_of_an_uncertain_recipient_is_reproduced_too(
    notify: Notify, scenario: Scenario
) -> None:
    """A message whose fate is unknown was still begun: it is reproduced exactly."""
    run = notify("report", "--message", "dan@exemple.fr")
    assert run.code == 0
    assert run.out == scenario.sent["dan"]


def test_a_tampered_revision_is_detected(notify: Notify, scenario: Scenario) -> None:
    """A template changed in the journal after sending gives other bytes: exit 1, MISMATCH."""
    tamper(
        scenario.path,
        "UPDATE revisions SET templates = replace(templates, 'a été piratée', 'fonctionne');",
    )
    run = notify("report", "--message", "alice@exemple.fr")
    assert run.code == 1
    assert "MISMATCH: the message re-rendered for alice@exemple.fr" in run.err
    assert f"but {scenario.sha256['alice']} was recorded before sending" in run.err


def test_message_for_someone_never_sent_to_is_a_usage_error(notify: Notify) -> None:
    """A pending recipient has no message: exit 2, naming the address."""
    run = notify("report", "--message", "hank@exemple.fr")
    assert run.code == 2
    assert "error: no message was sent to hank@exemple.fr (state pending)" in run.err


def test_message_for_an_unknown_address_names_it(notify: Notify) -> None:
    """An address not in the journal: exit 2, naming it."""
    run = notify("report", "--message", "nobody@exemple.fr")
    assert run.code == 2
    assert "error: nobody@exemple.fr is not a recipient in this journal" in run.err


# -- report --verify --------------------------------------------------------------


def test_verify_says_intact(notify: Notify) -> None:
    """An untouched journal: exit 0 and 'intact'."""
    run = notify("report", "--verify")
    assert run.code == 0
    assert ": intact (digest " in run.text


def test_verify_names_the_altered_row(notify: Notify, scenario: Scenario) -> None:
    """An event edited with sqlite3 (trigger dropped first): exit 1, naming that event."""
    conn = sqlite3.connect(scenario.path)
    seq = conn.execute("SELECT seq FROM events WHERE kind = 'marked'").fetchone()[0]
    conn.close()
    tamper(
        scenario.path,
        "DROP TRIGGER events_append_only_update;"
        "UPDATE events SET data = replace(data, 'phoned', 'e-mailed') WHERE kind = 'marked';",
    )
    run = notify("report", "--verify")
    assert run.code == 1
    assert (
        f"ALTERED at event {seq} (altered): event {seq} was changed after it was written."
        in run.text
    )


def test_the_report_of_an_altered_journal_says_so_and_exits_1(
    notify: Notify, scenario: Scenario
) -> None:
    """The full report still prints, flags the alteration, and exits 1."""
    tamper(
        scenario.path,
        "DROP TRIGGER events_append_only_update;"
        "UPDATE events SET ts = '2026-01-01T00:00:00.000000+00:00' WHERE seq = 3;",
    )
    run = notify("report")
    assert run.code == 1
    assert "Verification: ALTERED: event 3 was changed after it was written" in run.text
    assert "warning: the journal was altered" in run.err


# -- mark ---------------------------------------------------------------------------


def test_mark_records_a_phone_call_and_the_report_shows_it(notify: Notify) -> None:
    """`notify mark` moves bob to notified-other; the report lists the mark with its note."""
    run = notify(
        "mark", "bob@exemple.fr", "--state", "notified-other", "--note", "phoned 28/11", "--by",
        "Dr Martin",
    )  # fmt: skip
    assert run.code == 0
    assert run.text == (
        "bob@exemple.fr: failed -> notified-other (campaign colleague-warning), "
        "recorded in the journal.\n"
    )
    report = notify("report").text
    assert "bob@exemple.fr: marked notified-other (was failed) by Dr Martin: phoned 28/11" in report
    assert "| Dr Bob Durand | bob@exemple.fr | the message was refused" not in report


def test_mark_an_unknown_address_names_it(notify: Notify, scenario: Scenario) -> None:
    """An address that is not a recipient: exit 2, naming the address."""
    run = notify("mark", "zoe@exemple.fr", "--state", "skipped", "--note", "left")
    assert run.code == 2
    assert f"error: zoe@exemple.fr is not a recipient in journal {scenario.path}" in run.err


def test_mark_with_a_state_not_allowed_lists_the_allowed_ones(notify: Notify) -> None:
    """--state sending: exit 2, listing every state that may be set by hand."""
    run = notify("mark", "bob@exemple.fr", "--state", "sending", "--note", "x")
    assert run.code == 2
    assert (
        "error: --state 'sending' is not allowed: use one of pending, sent, failed, bounced, "
        "skipped, notified-other"
    ) in run.err


def test_mark_without_a_note_is_refused(notify: Notify) -> None:
    """No --note (or a blank one): exit 2, asking what was done and when."""
    run = notify("mark", "bob@exemple.fr", "--state", "skipped", "--note", "  ")
    assert run.code == 2
    assert "error: --note is required: say what was done and when" in run.err


def test_mark_a_person_without_address_by_identifier(notify: Notify) -> None:
    """`notify mark U1` records that the contact without address was phoned; the report shows it."""
    run = notify(
        "mark", "U1", "--state", "notified-other", "--note", "phoned 28/11 at 10:00", "--by",
        "secretariat",
    )  # fmt: skip
    assert run.code == 0, run.err
    assert run.text == (
        "U1 Dr Sans Courriel (no e-mail address): to-reach -> notified-other "
        "(campaign colleague-warning), recorded in the journal.\n"
    )
    report = notify("report").text
    assert "## 3. People to reach by other means (4 still to reach)" in report
    assert "| notified-other | phoned 28/11 at 10:00 |" in report
    assert "by secretariat | colleague-warning |" in report
    assert notify("report", "--verify").code == 0


def test_mark_a_secure_network_person_by_address(notify: Notify) -> None:
    """A secure-messaging address (any case) finds the person kept apart: marked, shown in JSON."""
    run = notify(
        "mark", "DR.Secure@medecin.mssante.fr", "--state", "notified-other", "--note",
        "written from the MSSanté client on 28/11", "--by", "Dr Martin",
    )  # fmt: skip
    assert run.code == 0, run.err
    assert run.text.startswith(
        "U2 Dr Secure Network (dr.secure@medecin.mssante.fr): to-reach -> notified-other"
    )
    data = json.loads(notify("report", "--format", "json").text)
    [person] = [p for p in data["follow_up"] if p["id"] == "U2"]
    assert (person["state"], person["note"], person["marked_by"]) == (
        "notified-other", "written from the MSSanté client on 28/11", "Dr Martin"
    )  # fmt: skip


def test_mark_skipped_then_back_to_reach(notify: Notify) -> None:
    """A decision not to inform, then undone: the last mark is what the report shows."""
    assert notify("mark", "u1", "--state", "skipped", "--note", "deceased").code == 0
    run = notify("mark", "U1", "--state", "to-reach", "--note", "wrong contact, call again")
    assert run.code == 0
    assert "U1 Dr Sans Courriel (no e-mail address): skipped -> to-reach" in run.text
    assert "| to-reach | wrong contact, call again |" in notify("report").text


def test_mark_by_defaults_to_the_os_user(notify: Notify, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without --by, the mark names the user running the command."""
    monkeypatch.setattr("getpass.getuser", lambda: "secretariat-pc")
    assert notify("mark", "U1", "--state", "notified-other", "--note", "letter sent").code == 0
    assert "by secretariat-pc | colleague-warning |" in notify("report").text


def test_mark_an_unknown_identifier_says_how_to_find_one(
    notify: Notify, scenario: Scenario
) -> None:
    """U99: exit 2, naming it and pointing to 'notify report'."""
    run = notify("mark", "U99", "--state", "notified-other", "--note", "phoned")
    assert run.code == 2
    assert run.err == (
        "error: no person U99 among the people to reach by other means in journal "
        f"{scenario.path}\n'notify report' lists them, each with its Id (U1, U2...) in "
        "section 3.\n"
    )


def test_mark_a_person_kept_apart_with_an_email_state_is_refused(notify: Notify) -> None:
    """--state sent for U1: exit 2, listing the states allowed for people kept apart."""
    run = notify("mark", "U1", "--state", "sent", "--note", "x")
    assert run.code == 2
    assert (
        "error: --state 'sent' is not allowed for U1 (Dr Sans Courriel, no e-mail address): "
        "this account sent them no e-mail; use one of notified-other, skipped, to-reach"
    ) in run.err


def test_mark_a_recipient_to_reach_is_refused(notify: Notify) -> None:
    """--state to-reach is for people kept apart: an e-mail recipient is told its states."""
    run = notify("mark", "bob@exemple.fr", "--state", "to-reach", "--note", "x")
    assert run.code == 2
    assert "bob@exemple.fr is an e-mail recipient: use one of pending, sent" in run.err


def test_mark_a_person_kept_apart_without_a_note_is_refused(
    notify: Notify, scenario: Scenario
) -> None:
    """No --note: exit 2, and nothing is recorded."""
    run = notify("mark", "U1", "--state", "skipped")
    assert run.code == 2
    assert "error: --note is required: say what was done and when" in run.err
    conn = sqlite3.connect(scenario.path)
    marks = conn.execute("SELECT count(*) FROM events WHERE kind = 'unreachable-marked'")
    assert marks.fetchone()[0] == 0
    conn.close()


def test_an_unknown_address_points_to_the_identifiers(notify: Notify) -> None:
    """The hint of an unknown address says people without e-mail are marked by their Id."""
    run = notify("mark", "bernard.petit", "--state", "notified-other", "--note", "phoned")
    assert run.code == 2
    assert "gives each person without an e-mail address an Id (U1, U2...)" in run.err


def test_sending_again_keeps_a_recorded_outcome(notify: Notify, scenario: Scenario) -> None:
    """The same people recorded again (a rerun of 'notify send') keep their outcome."""
    assert notify("mark", "U1", "--state", "notified-other", "--note", "phoned").code == 0
    with Journal.open(scenario.path, create=False) as journal:
        assert journal.record_unreachable(1, kept_apart()) == 0
    report = notify("report").text
    assert "| U1 | Dr Sans Courriel |" in report
    assert "| notified-other | phoned |" in report


def test_an_edited_person_kept_apart_fails_verification(notify: Notify, scenario: Scenario) -> None:
    """A phone number changed with sqlite3 after a mark (trigger dropped): --verify exits 1."""
    assert notify("mark", "U1", "--state", "notified-other", "--note", "phoned").code == 0
    tamper(
        scenario.path,
        "DROP TRIGGER unreachable_append_only_update;"
        "UPDATE unreachable SET data = replace(data, '+33 4 11', '+33 6 99') WHERE id = 1;",
    )
    run = notify("report", "--verify")
    assert run.code == 1
    assert "the people to reach by other means U1 to U2 (recorded by event" in run.text


# -- secrets ------------------------------------------------------------------------


def test_the_password_appears_in_no_output(
    notify: Notify, scenario: Scenario, tmp_path: Path
) -> None:
    """With NOTIFY_SMTP__PASSWORD set (and notify.toml read), no output nor journal holds it."""
    assert scenario.settings.smtp.password is not None
    assert scenario.settings.smtp.password.get_secret_value() == CANARY
    (tmp_path / "notify.toml").write_text('[smtp]\nhost = "smtp.exemple.org"\n', encoding="utf-8")
    outputs = [notify("report", "--format", fmt) for fmt in ("md", "html", "csv", "json")] + [
        notify("report", "--message", "alice@exemple.fr"),
        notify("report", "--verify"),
    ]
    for run in outputs:
        assert CANARY.encode() not in run.out
        assert CANARY not in run.err
    for path in tmp_path.glob("incident.db*"):
        assert CANARY.encode() not in path.read_bytes()


def test_the_installed_command_verifies_a_journal(scenario: Scenario) -> None:
    """The real `notify` executable: `--journal J report --verify` exits 0, 'intact'."""
    done = subprocess.run(
        [str(NOTIFY), "--journal", str(scenario.path), "report", "--verify"],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "intact" in done.stdout
