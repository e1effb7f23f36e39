"""The journal's list of people who get no e-mail: contacts without address, secure network."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from notify.addressbook.model import Entry, Origin, Recipient
from notify.errors import JournalError
from notify.journal import Journal
from notify.journal.unreachable import entry_key

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
