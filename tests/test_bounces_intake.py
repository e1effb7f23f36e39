"""Folding bounces, auto-replies and receipts into the journal (notify.bounces.intake)."""

from __future__ import annotations

from pathlib import Path

import pytest
from bouncemail import OWN, PEOPLE, dsn, make_journal, own

from notify.bounces import iter_messages
from notify.bounces.intake import IntakeSummary, fingerprint, fold_messages
from notify.journal import AttemptStart, Journal

LEFEBVRE = "dr.lefebvre@orange.example"
LABO = "labo.analyses@wanadoo.example"
PETIT = "dr.petit@clinique.example"
GIRARD = "dr.girard@cabinet-girard.example"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    """A journal whose recipients were sent the warnings the own bounces answer."""
    path = tmp_path / "incident.db"
    make_journal(path)
    return path


def fold(db: Path, *messages: tuple[str, bytes]) -> IntakeSummary:
    """Fold ``messages`` into the journal at ``db``; return the summary."""
    with Journal.open(db, create=False) as journal:
        return fold_messages(journal, list(messages))


def state_of(db: Path, address: str) -> str:
    """The state of ``address`` in the journal."""
    with Journal.open(db, create=False) as journal:
        return journal.find_recipient(address)[0].state


def events_of(db: Path, address: str) -> list[tuple[str, dict[str, object]]]:
    """(kind, data) of the events of ``address`` after it was sent."""
    with Journal.open(db, create=False) as journal:
        rid = journal.find_recipient(address)[0].id
        return [
            (e.kind, e.data)
            for e in journal.events(rid)
            if e.kind not in ("attempt-start", "attempt-end")
        ]


def test_hard_bounce_matched_by_message_id_moves_sent_to_bounced(db: Path) -> None:
    """A permanent failure quoting our Message-ID makes that recipient bounced."""
    summary = fold(db, ("orange.eml", own("orange-boite-pleine.eml")))
    assert (summary.read, summary.hard_bounces, summary.unmatched) == (1, 1, [])
    assert state_of(db, LEFEBVRE) == "bounced"
    [(kind, data)] = events_of(db, LEFEBVRE)
    assert kind == "bounced"
    assert data["matched_by"] == "message-id"
    assert (data["status"], data["reason"], data["permanent"]) == ("5.2.2", "mailbox-full", True)
    assert data["source"] == "orange.eml"


def test_soft_bounce_is_an_event_and_keeps_sent(db: Path) -> None:
    """A delay notice is recorded as a transient bounce event; the recipient stays sent."""
    summary = fold(db, ("retard.eml", own("retard-temporaire.eml")))
    assert (summary.soft_bounces, summary.hard_bounces) == (1, 0)
    assert state_of(db, LABO) == "sent"
    [(kind, data)] = events_of(db, LABO)
    assert (kind, data["permanent"], data["action"]) == ("bounced", False, "delayed")


def test_match_by_envelope_id(tmp_path: Path) -> None:
    """A DSN without the Message-ID is tied to its recipient by the ENVID notify sent."""
    ids = make_journal(tmp_path / "j.db", {"a@exemple.fr": "<a@n>", "b@exemple.fr": "<b@n>"})
    message = dsn("renamed@elsewhere.example", envid=f"notify-1-{ids['b@exemple.fr']}")
    summary = fold(tmp_path / "j.db", ("envid.eml", message))
    assert summary.hard_bounces == 1
    assert state_of(tmp_path / "j.db", "b@exemple.fr") == "bounced"
    assert state_of(tmp_path / "j.db", "a@exemple.fr") == "sent"
    assert events_of(tmp_path / "j.db", "b@exemple.fr")[0][1]["matched_by"] == "envid"


def test_match_by_address_when_no_message_id_is_quoted(db: Path) -> None:
    """A notice naming only the failed address is matched to the recipient sent to it."""
    summary = fold(db, ("ndr.eml", own("exchange-ndr-francais.eml")))
    assert summary.hard_bounces == 1
    assert state_of(db, PETIT) == "bounced"
    assert events_of(db, PETIT)[0][1]["matched_by"] == "address"


def test_report_about_another_message_is_unmatched(db: Path) -> None:
    """A bounce quoting a Message-ID notify did not send is listed, not pinned by address."""
    message = dsn(LEFEBVRE, message_id="<old-mail@exemple.org>")
    summary = fold(db, ("old.eml", message))
    [item] = summary.unmatched
    assert (item.recipient, item.original_message_id) == (LEFEBVRE, "<old-mail@exemple.org>")
    assert "not sent from this journal" in item.why
    assert state_of(db, LEFEBVRE) == "sent"


def test_report_older_than_the_warning_is_unmatched(db: Path) -> None:
    """A bounce by address dated before notify's message is about an older message."""
    message = dsn(PETIT, date="Mon, 02 Mar 2026 10:00:00 +0100")
    summary = fold(db, ("2025.eml", message))
    assert len(summary.unmatched) == 1
    assert "older message" in summary.unmatched[0].why
    assert state_of(db, PETIT) == "sent"


def test_unmatched_and_unreadable_are_kept_in_the_inbound_record(db: Path) -> None:
    """What cannot be matched is returned and stored with the message, never dropped."""
    stranger = dsn("inconnu@nulle-part.example")
    summary = fold(db, ("x.eml", stranger), ("tronque.eml", own("tronque.eml")))
    assert [u.source for u in summary.unmatched] == ["x.eml", "tronque.eml"]
    assert summary.unmatched[1].kind == "unparseable"
    with Journal.open(db, create=False) as journal:
        stored = journal.find_inbound(fingerprint(stranger))
        inbound_events = [e for e in journal.events() if str(e.kind) == "inbound"]
    assert stored is not None
    assert stored["unmatched"][0]["recipient"] == "inconnu@nulle-part.example"
    assert stored["settled"] is False
    assert len(inbound_events) == 2


def test_auto_reply_is_recorded_as_delivered(db: Path) -> None:
    """An out-of-office reply is a 'delivered' event (evidence auto-reply); state stays sent."""
    summary = fold(db, ("absent.eml", own("absent-du-cabinet.eml")))
    assert summary.delivered == 1
    assert state_of(db, GIRARD) == "sent"
    [(kind, data)] = events_of(db, GIRARD)
    assert (kind, data["evidence"], data["matched_by"]) == ("delivered", "auto-reply", "message-id")


def test_reading_twice_changes_nothing(db: Path) -> None:
    """The second reading of the same folder records nothing and counts it as already read."""
    first = fold(db, *iter_messages(OWN))
    with Journal.open(db, create=False) as journal:
        states = {a: journal.find_recipient(a)[0].state for a in PEOPLE}
        events = len(list(journal.events()))
    second = fold(db, *iter_messages(OWN))
    assert first.read == len(list(OWN.glob("*.eml")))
    assert (second.read, second.already_read) == (0, first.read)
    assert (second.hard_bounces, second.delivered, second.unmatched) == (0, 0, [])
    with Journal.open(db, create=False) as journal:
        assert {a: journal.find_recipient(a)[0].state for a in PEOPLE} == states
        assert len(list(journal.events())) == events
        assert journal.verify() is None


def test_whole_folder_lands_on_the_right_recipients(db: Path) -> None:
    """The French corpus: four hard bounces, one by address, one delay, two auto-replies."""
    summary = fold(db, *iter_messages(OWN))
    assert (summary.hard_bounces, summary.soft_bounces, summary.delivered) == (5, 1, 2)
    assert summary.not_bounces == 2
    bounced = {a for a in PEOPLE if state_of(db, a) == "bounced"}
    assert bounced == {
        LEFEBVRE, "m.bernard@free.example", "secretariat.cabinet-roux@sfr.example",
        "pharmacie.centrale@pharma-lyon.example", PETIT,
    }  # fmt: skip
    assert state_of(db, "jamais.envoye@exemple.fr") == "pending"


def test_same_message_with_crlf_is_already_read(db: Path) -> None:
    """A message read from a file (LF) and again over IMAP (CRLF) is read once."""
    data = own("orange-boite-pleine.eml")
    fold(db, ("file.eml", data))
    again = fold(db, ("imap", data.replace(b"\n", b"\r\n")))
    assert (again.read, again.already_read) == (0, 1)


def test_manual_state_is_not_overridden_by_a_bounce(db: Path) -> None:
    """A recipient informed by phone stays notified-other; the bounce is still recorded."""
    with Journal.open(db, create=False) as journal:
        journal.mark(LEFEBVRE, "notified-other", "appelé le 27/11")
    fold(db, ("orange.eml", own("orange-boite-pleine.eml")))
    assert state_of(db, LEFEBVRE) == "notified-other"
    assert events_of(db, LEFEBVRE)[-1][0] == "bounced"


def test_recipient_being_sent_postpones_the_message(db: Path) -> None:
    """A bounce for a recipient being sent right now is left for the next reading."""
    with Journal.open(db, create=False) as journal, journal.sending_lock():
        rid = journal.find_recipient(LEFEBVRE)[0].id
        journal.mark(LEFEBVRE, "pending", "renvoi")
        journal.begin_attempts([AttemptStart(rid, "<warn-0001@example.org>", "d", "ab" * 32)])
        summary = fold_messages(journal, [("orange.eml", own("orange-boite-pleine.eml"))])
        assert journal.find_inbound(fingerprint(own("orange-boite-pleine.eml"))) is None
    assert (summary.read, summary.postponed) == (0, ["orange.eml"])
    assert state_of(db, LEFEBVRE) == "sending"


def test_uncertain_recipient_with_proof_of_delivery_becomes_sent(tmp_path: Path) -> None:
    """An auto-reply quoting an uncertain message's Message-ID proves it was accepted."""
    path = tmp_path / "j.db"
    make_journal(path, {GIRARD: None})
    with Journal.open(path, create=False) as journal, journal.sending_lock():
        rid = journal.find_recipient(GIRARD)[0].id
        journal.begin_attempts([AttemptStart(rid, "<warn-0007@example.org>", "d", "ab" * 32)])
    with Journal.open(path, create=False) as journal, journal.sending_lock():
        assert journal.recover() == 1
    fold(path, ("absent.eml", own("absent-du-cabinet.eml")))
    assert state_of(path, GIRARD) == "sent"
