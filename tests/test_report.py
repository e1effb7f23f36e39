"""The incident report built from a real journal, in Markdown, HTML, CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
import reportkit
from reportkit import (
    BOB_PHONE,
    FORMULA_NAME,
    MARK_NOTE,
    NO_ADDRESS_PHONE,
    PHONED_NOTE,
    SECURE_PHONE,
    SKIPPED_NOTE,
    Scenario,
    build_scenario,
    mark_kept_apart,
)
from schemacheck import errors

from notify.journal import Journal
from notify.report import (
    SCHEMA_ID,
    Report,
    build_report,
    render_csv,
    render_html,
    render_json,
    render_markdown,
)
from notify.report.build import build_register
from notify.report.csvout import COLUMNS
from notify.settings import IncidentSettings

PARIS_WINTER = timezone(timedelta(hours=1))
SCHEMA = Path(__file__).parent.parent / "docs" / "report.schema.json"
#: A day after the scenario's events: 49 hours after the controller became aware.
NOW = datetime.fromisoformat("2026-11-29T10:15:00+01:00")


@pytest.fixture(scope="module")
def scenario(tmp_path_factory: pytest.TempPathFactory) -> Scenario:
    """The journal of reportkit, built once for this module."""
    return build_scenario(tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def report(scenario: Scenario) -> Report:
    """The report of the scenario's journal."""
    with Journal.open(scenario.path, create=False) as journal:
        return build_report(journal, now=NOW)


def test_markdown_holds_every_register_field(report: Report) -> None:
    """The Markdown report gives the art. 33(5) fields, the 72-hour deadline and references."""
    text = render_markdown(report)
    for line in (
        "- **Nature of the breach:** Mailbox taken over through a phishing page; "
        "fraudulent invoices sent",
        "- **Categories of data concerned:** Names and e-mail addresses",
        "- **Persons concerned (approx.):** about 250 (11 people in this journal)",
        "- **Records concerned (approx.):** 1 200",
        "- **Likely consequences:** Correspondents may pay fraudulent invoices",
        "- **Measures taken or proposed:** Password changed, sessions revoked",
        "- **Breach discovered:** 2026-11-27 08:40",
        "- **Controller aware (starts the 72-hour clock):** 2026-11-27 09:15",
        "- **CNIL notification due (aware + 72 h):** 2026-11-30 09:15: not filed yet, "
        "23 hour(s) left",
        "- **CNIL reference:** not filed yet",
        "- **ARS / CERT Santé reference:** ARS-2026-0042",
    ):
        assert line in text


def test_markdown_lists_the_people_to_reach_with_their_phones(report: Report) -> None:
    """No address, secure network, refused, bounced and uncertain people are listed with phones."""
    text = render_markdown(report)
    section = text.split("## 3. People to reach by other means (5 still to reach)")[1]
    section = section.split("## 4.")[0]
    assert f"| Dr Sans Courriel | none | no e-mail address | {NO_ADDRESS_PHONE} |" in section
    assert "| Dr Secure Network | dr.secure@medecin.mssante.fr | secure" in section
    assert SECURE_PHONE in section
    assert f"| Dr Bob Durand | bob@exemple.fr | the message was refused | {BOB_PHONE} |" in section
    assert "| Carol Petit | carol@exemple.fr | the message bounced |" in section
    assert "5.2.2 mailbox full" in section
    assert "| Dan Leroy | dan@exemple.fr | delivery unknown" in section
    assert "Gina" not in section  # informed by phone: no longer to follow up


def test_markdown_timeline_shows_runs_pauses_marks_and_bounces(report: Report) -> None:
    """The notable events name the run, the pause, the bounce and the manual mark with its note."""
    text = render_markdown(report)
    assert (
        "sending run 10:01–10:02 (colleague-warning): 8 begun, 4 sent, 2 failed, 1 paused" in text
    )
    assert "run paused: 1 message(s) put back in the queue" in text
    assert "carol@exemple.fr: bounce: 5.2.2 mailbox full" in text
    assert (
        "gina@exemple.fr: marked notified-other (was failed) by secretariat: " + MARK_NOTE
    ) in text


def test_markdown_escapes_a_hostile_name(report: Report) -> None:
    """A name with HTML and Markdown syntax stays inert text in Markdown."""
    text = render_markdown(report)
    assert "<script>" not in text
    assert "\\<script\\>alert('x')\\</script\\>" in text


def test_markdown_ends_with_the_digest_and_the_verification(report: Report) -> None:
    """The integrity section prints the journal digest and says the chain is intact."""
    text = render_markdown(report)
    assert f"`{report.integrity.digest}`" in text
    assert f"intact: all {report.integrity.events} events fit the hash chain" in text


def test_html_holds_the_register_and_the_people_to_reach(report: Report) -> None:
    """The HTML page gives the register fields and the unreachable people with phones."""
    page = render_html(report)
    assert "<dt>Nature of the breach</dt><dd>Mailbox taken over through a phishing page" in page
    assert "<dt>Controller aware (starts the 72-hour clock)</dt><dd>2026-11-27 09:15</dd>" in page
    assert "<dd>2026-11-30 09:15: not filed yet, 23 hour(s) left</dd>" in page
    assert "<td>Dr Sans Courriel</td><td>none</td><td>no e-mail address</td>" in page
    assert f"<td>{NO_ADDRESS_PHONE}</td>" in page
    assert f"<td>{SECURE_PHONE}</td>" in page


def test_html_escapes_a_hostile_name(report: Report) -> None:
    """A ``<script>`` name is shown as text: the page holds no script element at all."""
    page = render_html(report)
    assert "<script" not in page
    assert "<td>&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;</td>" in page


def test_html_is_self_contained(report: Report) -> None:
    """No external resource: no src, no link, a policy that forbids loading anything."""
    page = render_html(report)
    assert "src=" not in page
    assert "<link" not in page
    assert "default-src 'none'" in page


def test_csv_has_one_row_per_recipient(report: Report) -> None:
    """Parsed back, the CSV has the header then one row per recipient, with the journal's facts."""
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    assert list(rows[0]) == list(COLUMNS)
    assert [r["address"] for r in rows] == [f"{k}@exemple.fr" for k in reportkit.PEOPLE]
    bob = rows[1]
    assert bob["state"] == "failed"
    assert bob["last_smtp_reply"] == "550 5.1.1 <bob@exemple.fr>: user unknown"
    assert bob["first_attempt"] == "2026-11-27 10:01:00+01:00"
    assert bob["message_id"].startswith("<")
    assert rows[2]["bounce_reason"] == "5.2.2 mailbox full"
    assert rows[6]["note"] == MARK_NOTE


def test_csv_neutralises_a_formula(report: Report) -> None:
    """A name starting with '=' is written with a leading quote: shown, never run."""
    rows = list(csv.DictReader(io.StringIO(render_csv(report))))
    assert rows[5]["name"] == "'" + FORMULA_NAME


def test_excel_csv_has_a_bom_and_semicolons(report: Report) -> None:
    """--excel: UTF-8 with BOM, ';' separators, still one row per recipient."""
    text = render_csv(report, excel=True)
    assert text.startswith("\ufeffaddress;name;state;")
    rows = list(csv.reader(io.StringIO(text.removeprefix("\ufeff")), delimiter=";"))
    assert len(rows) == 1 + len(reportkit.PEOPLE)


def test_json_validates_against_the_documented_schema(report: Report) -> None:
    """The JSON output fits docs/report.schema.json exactly (no field undocumented)."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    data = json.loads(render_json(report))
    assert data["schema"] == SCHEMA_ID
    assert errors(data, schema) == []


def test_json_holds_everything(report: Report) -> None:
    """The JSON has the register, every recipient, the people to reach and the digest."""
    data = json.loads(render_json(report))
    assert data["register"]["aware_at"] == "2026-11-27T09:15:00+01:00"
    assert data["register"]["deadline"] == "2026-11-30T09:15:00+01:00"
    assert len(data["recipients"]) == len(reportkit.PEOPLE)
    assert {p["reason"] for p in data["follow_up"]} == {
        "no-address", "secure-network", "failed", "bounced", "uncertain"
    }  # fmt: skip
    assert data["integrity"]["intact"] is True
    assert data["campaigns"][0]["counts"]["notified-other"] == 1


def test_the_schema_check_catches_a_wrong_shape() -> None:
    """The test's schema checker does reject a report that does not fit (it is not a no-op)."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    assert errors({"schema": SCHEMA_ID}, schema) != []


def test_the_deadline_is_overdue_72_hours_after_awareness_without_a_reference() -> None:
    """aware_at + 72 h passed and no CNIL reference: overdue."""
    aware = datetime.fromisoformat("2026-11-27T09:15:00+01:00")
    incident = IncidentSettings(aware_at=aware)
    register = build_register(incident, 0, aware + timedelta(hours=73), PARIS_WINTER)
    assert register.deadline == aware + timedelta(hours=72)
    assert register.deadline_status == "overdue"


def test_a_cnil_reference_means_filed() -> None:
    """Once the CNIL reference is recorded, the deadline is met whatever the time."""
    aware = datetime.fromisoformat("2026-11-27T09:15:00+01:00")
    incident = IncidentSettings(aware_at=aware, cnil_reference="CNIL-123")
    register = build_register(incident, 0, aware + timedelta(days=9), PARIS_WINTER)
    assert register.deadline_status == "filed"


def test_an_empty_register_says_what_to_fill_in(tmp_path: Path) -> None:
    """A journal without incident says so, and every register field reads 'not recorded'."""
    with Journal.open(tmp_path / "empty.db") as journal:
        text = render_markdown(build_report(journal, now=NOW))
    assert "No incident is recorded in this journal: fill in \\[incident\\]" in text
    assert "- **Nature of the breach:** not recorded" in text
    assert "unknown: set incident.aware\\_at" in text


# -- people kept apart: their identifier and what was done about them -----------------


@pytest.fixture(scope="module")
def marked(tmp_path_factory: pytest.TempPathFactory) -> tuple[Report, dict[str, str]]:
    """The scenario's report once the person without address was phoned and the secure
    one skipped; with their identifiers."""
    path = build_scenario(tmp_path_factory.mktemp("marked")).path
    ids = mark_kept_apart(path)
    with Journal.open(path, create=False) as journal:
        return build_report(journal, now=NOW), ids


def test_markdown_gives_each_person_kept_apart_an_identifier(report: Report) -> None:
    """Before any mark: U1 and U2, both to reach, and the to-complete sentence counts 5."""
    text = render_markdown(report)
    assert "| U1 | Dr Sans Courriel | none | no e-mail address |" in text
    assert "| U2 | Dr Secure Network | dr.secure@medecin.mssante.fr |" in text
    assert "> To complete: 5 people are still to reach by other means" in text
    assert "5 listed: 5 still to reach." in text
    assert "`notify mark ID --state notified-other --note" in text


def test_markdown_shows_the_outcome_of_each_person_kept_apart(
    marked: tuple[Report, dict[str, str]],
) -> None:
    """State, note, who and when for each; the title counts only those still to reach."""
    report, ids = marked
    text = render_markdown(report)
    section = text.split("## 3. People to reach by other means (3 still to reach)")[1]
    section = section.split("## 4.")[0]
    assert (
        f"| {ids['no-address']} | Dr Sans Courriel | none | no e-mail address | "
        f"{NO_ADDRESS_PHONE} |"
    ) in section
    assert (
        f"| notified-other | {PHONED_NOTE} | 2026-11-28 10:00 by secretariat | colleague-warning |"
    ) in section
    assert f"| skipped | {SKIPPED_NOTE} | 2026-11-28 10:00 by Dr Martin |" in section
    assert "> To complete: 3 people are still to reach by other means" in section
    assert (
        "5 listed: 3 still to reach, 1 informed by other means, 1 not informed: decision recorded."
    ) in section


def test_markdown_summary_and_timeline_count_the_outcomes(
    marked: tuple[Report, dict[str, str]],
) -> None:
    """The campaign summary splits the people without e-mail; the timeline lists the marks."""
    report, ids = marked
    text = render_markdown(report)
    assert (
        "- Recipients: 9; people without e-mail: 2 (1 informed by other means, "
        "1 not informed: decision recorded)"
    ) in text
    assert (
        f"{ids['no-address']} Dr Sans Courriel: marked notified-other (was to-reach) by "
        f"secretariat: {PHONED_NOTE}"
    ) in text
    hour = "| 2026-11-28 10:00 | 0 | 0 | 0 | 0 | 0 | 0 | 0 | 2 |"
    assert hour in text


def test_html_shows_the_outcome_of_each_person_kept_apart(
    marked: tuple[Report, dict[str, str]],
) -> None:
    """The HTML table has the identifier, the outcome in words, the note, who and when."""
    report, ids = marked
    page = render_html(report)
    assert "<h2>3. People to reach by other means (3 still to reach)</h2>" in page
    assert f"<td>{ids['no-address']}</td><td>Dr Sans Courriel</td>" in page
    assert (
        f"<td>informed by other means</td><td>{PHONED_NOTE}</td>"
        "<td>2026-11-28 10:00 by secretariat</td>"
    ) in page
    assert f"<td>not informed: decision recorded</td><td>{SKIPPED_NOTE}</td>" in page
    assert '<p class="warn">To complete: 3 people are still to reach' in page


def test_json_holds_the_outcome_of_each_person_kept_apart(
    marked: tuple[Report, dict[str, str]],
) -> None:
    """follow_up has id, state, note, marked_by and marked_at; campaigns count the outcomes."""
    report, ids = marked
    data = json.loads(render_json(report))
    assert errors(data, json.loads(SCHEMA.read_text(encoding="utf-8"))) == []
    people = {p["id"]: p for p in data["follow_up"] if p["id"]}
    assert people[ids["no-address"]]["state"] == "notified-other"
    assert people[ids["no-address"]]["note"] == PHONED_NOTE
    assert people[ids["no-address"]]["marked_by"] == "secretariat"
    assert people[ids["no-address"]]["marked_at"] == "2026-11-28T10:00:00+01:00"
    assert people[ids["secure"]]["state"] == "skipped"
    bob = next(p for p in data["follow_up"] if p["address"] == "bob@exemple.fr")
    assert (bob["id"], bob["state"], bob["marked_at"]) == ("", "to-reach", None)
    assert data["campaigns"][0]["without_email_counts"] == {
        "to-reach": 0, "notified-other": 1, "skipped": 1
    }  # fmt: skip


def test_csv_still_has_one_row_per_email_recipient(marked: tuple[Report, dict[str, str]]) -> None:
    """The people kept apart are not CSV rows (documented in notify.report.csvout)."""
    rows = list(csv.DictReader(io.StringIO(render_csv(marked[0]))))
    assert [r["address"] for r in rows] == [f"{k}@exemple.fr" for k in reportkit.PEOPLE]


def test_once_everyone_is_handled_nothing_is_left_to_complete(tmp_path: Path) -> None:
    """Every person marked: 0 still to reach, no to-complete sentence, everyone still listed."""
    path = build_scenario(tmp_path).path
    mark_kept_apart(path)
    with Journal.open(path, create=False) as journal:
        for address in ("bob@exemple.fr", "carol@exemple.fr", "dan@exemple.fr"):
            journal.mark(address, "notified-other", "phoned", by="sec")
        report = build_report(journal, now=NOW)
    text = render_markdown(report)
    assert "## 3. People to reach by other means (0 still to reach)" in text
    assert "To complete: " not in text.split("## 3.")[1]
    assert "2 listed: 1 informed by other means, 1 not informed: decision recorded." in text
