"""The journal's list of people who get no e-mail (no address, secure network) and their outcome."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from notify.addressbook.model import Entry, Origin, Recipient
from notify.errors import JournalError
from notify.journal import ChainBreak, Journal, db, schema
from notify.journal.schema import MIGRATIONS
from notify.journal.unreachable import entry_key, parse_label

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    """A new journal with one campaign (id 1)."""
    with Journal.open(tmp_path / "incident.db", clock=lambda: T0) as opened:
        opened.open_campaign(
            "alerte", languages=["fr"], settings={}, templates={"a.fr.j2": "x"}, variables={}
        )
        yield opened


def no_address(line: int = 4, name: str = "Dr Sans Courriel") -> Entry:
    """A contact read at ``carnet.vcf:line`` with a phone and no e-mail."""
    return Entry(Origin("carnet.vcf", line), name=name, phones=["+33 4 11 22 33 44"])


def secure() -> Recipient:
    """A recipient on MSSanté."""
    email = "dr.x@medecin.mssante.fr"
    return Recipient(email, email, email, name="Dr X", phones=["+33 1"], secure_network=True)


def test_both_kinds_are_kept_with_their_phones(journal: Journal) -> None:
    """A contact without address and a secure recipient are listed with reason and phones."""
    assert journal.record_unreachable(1, [no_address(), secure()]) == 2
    people = list(journal.iter_unreachable(1))
    assert [(p.reason, p.name, p.email) for p in people] == [
        ("no-address", "Dr Sans Courriel", None),
        ("secure-network", "Dr X", "dr.x@medecin.mssante.fr"),
    ]
    assert people[0].phones == ["+33 4 11 22 33 44"]
    assert people[0].sources == ["carnet.vcf:4"]


def test_recording_the_same_people_again_adds_nobody(journal: Journal) -> None:
    """A second run over the same address books adds nothing (stable keys)."""
    journal.record_unreachable(1, [no_address(), secure()])
    assert journal.record_unreachable(1, [no_address(line=5), secure()]) == 0
    assert len(list(journal.iter_unreachable(1))) == 2


def test_the_key_of_a_contact_without_address_is_file_and_name(journal: Journal) -> None:
    """The key ignores the line (a file edited between runs) and folds case and spaces."""
    assert entry_key(no_address(4, "Dr  Sans Courriel")) == entry_key(
        no_address(9, "dr sans courriel")
    )
    assert entry_key(no_address()) == "no-address:carnet.vcf|dr sans courriel"


def test_a_nameless_contact_without_phone_is_keyed_by_its_line(journal: Journal) -> None:
    """With nothing else to tell it apart, the file and line identify the contact."""
    assert entry_key(Entry(Origin("a.csv", 7))) == "no-address:a.csv:7"


def test_each_addition_is_one_chained_event(journal: Journal) -> None:
    """Adding people appends one event in the hash chain; adding nobody appends none."""
    journal.record_unreachable(1, [no_address(), secure()])
    journal.record_unreachable(1, [no_address()])
    kinds = [e.kind for e in journal.events()]
    assert kinds.count("unreachable-recorded") == 1
    event = next(e for e in journal.events() if e.kind == "unreachable-recorded")
    assert event.data["count"] == 2
    assert event.data["reasons"] == {"no-address": 1, "secure-network": 1}
    assert journal.verify() is None


def test_a_secure_address_is_found_by_identity(journal: Journal) -> None:
    """find_unreachable finds a secure-network person whatever the case of the address."""
    journal.record_unreachable(1, [secure()])
    assert [p.name for p in journal.find_unreachable("DR.X@Medecin.MSSante.fr")] == ["Dr X"]


def test_an_unknown_campaign_is_refused(journal: Journal) -> None:
    """Recording for a campaign that does not exist is a JournalError."""
    with pytest.raises(JournalError, match="no campaign #9"):
        journal.record_unreachable(9, [secure()])


# -- what was done about each person: marks, as chained events ----------------------


def tamper(path: Path, sql: str) -> None:
    """Change the journal with plain sqlite3, as someone covering their tracks would."""
    conn = sqlite3.connect(path)
    try:
        conn.executescript(sql)
    finally:
        conn.close()


def test_a_person_is_to_reach_until_marked(journal: Journal) -> None:
    """Recorded people start 'to-reach', with no note, author or time."""
    journal.record_unreachable(1, [no_address()])
    person = next(journal.iter_unreachable(1))
    assert (person.state, person.note, person.marked_by, person.marked_at) == (
        "to-reach", "", "", None
    )  # fmt: skip
    assert person.label == f"U{person.id}"


def test_marking_records_state_note_author_and_time(journal: Journal) -> None:
    """mark_unreachable sets the outcome; the records read back carry it."""
    journal.record_unreachable(1, [no_address(), secure()])
    first, second = journal.iter_unreachable(1)
    [after] = journal.mark_unreachable([first.id], "notified-other", " phoned 28/11 ", by="sec")
    assert (after.state, after.note, after.marked_by, after.marked_at) == (
        "notified-other", "phoned 28/11", "sec", T0
    )  # fmt: skip
    assert journal.unreachable_person(first.id) == after
    assert journal.unreachable_person(second.id).state == "to-reach"  # type: ignore[union-attr]


def test_the_last_mark_wins_and_to_reach_undoes(journal: Journal) -> None:
    """Marks follow each other: notified-other, then skipped, then back to to-reach."""
    journal.record_unreachable(1, [no_address()])
    pid = next(journal.iter_unreachable(1)).id
    journal.mark_unreachable([pid], "notified-other", "letter sent", by="a")
    journal.mark_unreachable([pid], "skipped", "deceased", by="b")
    assert journal.unreachable_person(pid).state == "skipped"  # type: ignore[union-attr]
    [back] = journal.mark_unreachable([pid], "to-reach", "wrong person was called", by="c")
    assert (back.state, back.note, back.marked_by) == ("to-reach", "wrong person was called", "c")


def test_a_secure_person_is_found_and_marked_with_its_outcome(journal: Journal) -> None:
    """find_unreachable returns the outcome too, in one campaign or every one."""
    journal.record_unreachable(1, [secure()])
    [person] = journal.find_unreachable("dr.x@medecin.mssante.fr", campaign_id=1)
    journal.mark_unreachable([person.id], "notified-other", "written from MSSanté", by="dr")
    [found] = journal.find_unreachable("DR.X@medecin.mssante.fr")
    assert found.state == "notified-other"
    assert journal.find_unreachable("dr.x@medecin.mssante.fr", campaign_id=2) == []


def test_each_mark_is_one_chained_event(journal: Journal) -> None:
    """One 'unreachable-marked' event per person, with who, what and why; verify() passes."""
    journal.record_unreachable(1, [no_address(), secure()])
    ids = [p.id for p in journal.iter_unreachable(1)]
    journal.mark_unreachable(ids, "skipped", "retired", by="dr")
    marks = [e for e in journal.events() if e.kind == "unreachable-marked"]
    assert [e.data["unreachable_id"] for e in marks] == ids
    assert marks[0].campaign_id == 1
    assert marks[0].data["from"] == "to-reach"
    assert marks[0].data["to"] == "skipped"
    assert marks[0].data["note"] == "retired"
    assert marks[0].data["by"] == "dr"
    assert marks[0].data["name"] == "Dr Sans Courriel"
    assert journal.verify() is None


def test_a_mark_needs_a_note(journal: Journal) -> None:
    """A blank note is refused and nothing is recorded."""
    journal.record_unreachable(1, [no_address()])
    pid = next(journal.iter_unreachable(1)).id
    with pytest.raises(JournalError, match="needs a note"):
        journal.mark_unreachable([pid], "skipped", "  ")
    assert not any(e.kind == "unreachable-marked" for e in journal.events())


def test_only_the_states_of_people_without_email_may_be_set(journal: Journal) -> None:
    """'sent' (or any e-mail state) cannot be recorded for someone who got no e-mail."""
    journal.record_unreachable(1, [no_address()])
    pid = next(journal.iter_unreachable(1)).id
    with pytest.raises(JournalError, match="'sent' cannot be recorded") as exc:
        journal.mark_unreachable([pid], "sent", "x")
    assert exc.value.hint == "Use one of: notified-other, skipped, to-reach."


def test_marking_an_unknown_person_is_refused(journal: Journal) -> None:
    """An id that is not in the table: JournalError naming U + id, nothing recorded."""
    with pytest.raises(JournalError, match="no person U42"):
        journal.mark_unreachable([42], "skipped", "x")
    assert journal.unreachable_person(42) is None


def test_recording_the_same_people_again_keeps_their_outcome(journal: Journal) -> None:
    """A rerun of 'notify send' (record_unreachable again) does not reset a recorded outcome."""
    journal.record_unreachable(1, [no_address(), secure()])
    pid = next(journal.iter_unreachable(1)).id
    journal.mark_unreachable([pid], "notified-other", "phoned", by="sec")
    assert journal.record_unreachable(1, [no_address(line=8), secure()]) == 0
    assert next(journal.iter_unreachable(1)).state == "notified-other"
    assert journal.verify() is None


@pytest.mark.parametrize(
    ("label", "parsed"),
    [("U3", 3), ("u3", 3), (" U003 ", 3), ("U0", None), ("3", None), ("U", None)],
)
def test_identifiers_are_parsed(label: str, parsed: int | None) -> None:
    """'U' + a positive number (case and leading zeros ignored) is an identifier."""
    assert parse_label(label) == parsed


# -- integrity: the rows are sealed, outcomes only come from the chain ----------------


def _marked_journal(path: Path) -> int:
    """A journal at ``path`` with two people, the first marked notified-other; its id."""
    with Journal.open(path, clock=lambda: T0) as journal:
        journal.open_campaign(
            "alerte", languages=["fr"], settings={}, templates={"a.fr.j2": "x"}, variables={}
        )
        journal.record_unreachable(1, [no_address(), secure()])
        pid = next(journal.iter_unreachable(1)).id
        journal.mark_unreachable([pid], "notified-other", "phoned", by="sec")
        assert journal.verify() is None
        return pid


def _verify(path: Path) -> ChainBreak | None:
    with Journal.open(path, create=False) as journal:
        return journal.verify()


def test_updating_a_person_is_refused_by_the_journal(tmp_path: Path) -> None:
    """The rows are append-only: an UPDATE through SQLite aborts."""
    path = tmp_path / "incident.db"
    _marked_journal(path)
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        tamper(path, "UPDATE unreachable SET name = 'Someone Else';")
    with pytest.raises(sqlite3.IntegrityError, match="append-only"):
        tamper(path, "DELETE FROM unreachable;")


def test_an_updated_person_is_detected(tmp_path: Path) -> None:
    """Trigger dropped, a phone number changed: verify() names the event that sealed the row."""
    path = tmp_path / "incident.db"
    _marked_journal(path)
    tamper(
        path,
        "DROP TRIGGER unreachable_append_only_update;"
        "UPDATE unreachable SET data = replace(data, '+33 4 11', '+33 6 99');",
    )
    problem = _verify(path)
    assert problem is not None
    assert problem.problem == "altered"
    assert "U1 to U2 (recorded by event" in problem.message


def test_a_renamed_person_is_detected(tmp_path: Path) -> None:
    """Only the name column changed (not the sealed data): still detected."""
    path = tmp_path / "incident.db"
    _marked_journal(path)
    tamper(
        path,
        "DROP TRIGGER unreachable_append_only_update;"
        "UPDATE unreachable SET name = 'Someone Else' WHERE id = 1;",
    )
    problem = _verify(path)
    assert problem is not None
    assert problem.problem == "altered"


def test_a_deleted_person_is_detected(tmp_path: Path) -> None:
    """A row deleted with sqlite3 (trigger dropped): verify() says people were deleted."""
    path = tmp_path / "incident.db"
    _marked_journal(path)
    tamper(
        path, "DROP TRIGGER unreachable_append_only_delete; DELETE FROM unreachable WHERE id = 2;"
    )
    problem = _verify(path)
    assert problem is not None
    assert problem.problem == "deleted"


def test_a_person_slipped_in_is_detected(tmp_path: Path) -> None:
    """A row inserted by hand has no event: verify() names it."""
    path = tmp_path / "incident.db"
    _marked_journal(path)
    tamper(
        path,
        "INSERT INTO unreachable (campaign_id, key, reason, name, email, data, added_at) "
        "VALUES (1, 'k', 'no-address', 'Ghost', NULL, '{\"name\":\"Ghost\"}', "
        "'2026-11-27T09:00:00.000000+00:00');",
    )
    problem = _verify(path)
    assert problem is not None
    assert (problem.problem, problem.message) == (
        "inserted", "the person to reach by other means U3 was not recorded by notify"
    )  # fmt: skip


def test_a_forged_outcome_is_detected(tmp_path: Path) -> None:
    """Editing the mark event (to say 'skipped' instead) breaks the hash chain."""
    path = tmp_path / "incident.db"
    _marked_journal(path)
    tamper(
        path,
        "DROP TRIGGER events_append_only_update;"
        "UPDATE events SET data = replace(data, 'notified-other', 'skipped') "
        "WHERE kind = 'unreachable-marked';",
    )
    problem = _verify(path)
    assert problem is not None
    assert problem.problem == "altered"


def test_a_journal_from_before_the_outcomes_is_migrated(tmp_path: Path) -> None:
    """A journal written with migrations 0001-0002 opens, verifies, and its people can be marked."""
    path = tmp_path / "old.db"
    conn = db.connect(path, create=True, setup=lambda c: schema.migrate(c, path, MIGRATIONS[:2]))
    with Journal(path, conn, lambda: T0) as old:
        old.open_campaign(
            "alerte", languages=["fr"], settings={}, templates={"a.fr.j2": "x"}, variables={}
        )
        old.record_unreachable(1, [no_address(), secure()])
    with Journal.open(path, create=False, clock=lambda: T0) as journal:
        assert journal.verify() is None
        people = list(journal.iter_unreachable(1))
        assert [p.state for p in people] == ["to-reach", "to-reach"]
        journal.mark_unreachable([people[1].id], "notified-other", "MSSanté", by="dr")
        assert journal.verify() is None
