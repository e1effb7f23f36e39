"""The journal's state machine: attempts, retries, manual marks, bounces, the quota."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from notify.addressbook.model import Recipient
from notify.errors import JournalError
from notify.journal import AttemptEnd, AttemptStart, Journal

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SHA = "ab" * 32


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now


def person(i: int) -> Recipient:
    """A recipient numbered ``i``."""
    email = f"p{i}@exemple.fr"
    return Recipient(email, email, email)


@pytest.fixture
def clock() -> Clock:
    """The journal's clock."""
    return Clock()


@pytest.fixture
def journal(tmp_path: Path, clock: Clock) -> Iterator[Journal]:
    """A journal holding the sending lock, with one campaign of five recipients."""
    with Journal.open(tmp_path / "incident.db", clock=clock) as opened:
        campaign = opened.open_campaign(
            "alerte", languages=["fr"], settings={}, templates={}, variables={}
        )
        opened.add_recipients(campaign.id, [person(i) for i in range(1, 6)])
        with opened.sending_lock():
            yield opened


def start(rid: int, message_id: str | None = None) -> AttemptStart:
    """An attempt start for recipient ``rid``."""
    return AttemptStart(rid, message_id or f"<{rid}@notify>", "Fri, 27 Nov 2026 10:00 +0100", SHA)


def send(journal: Journal, rid: int, outcome: str = "sent", **extra: object) -> None:
    """Begin and end one attempt for recipient ``rid``."""
    assert journal.begin_attempts([start(rid)]) == [rid]
    journal.end_attempts([AttemptEnd(rid, outcome, **extra)])  # type: ignore[arg-type]


def test_begin_attempts_needs_the_sending_lock(tmp_path: Path) -> None:
    """Beginning an attempt without the sending lock is refused."""
    with (
        Journal.open(tmp_path / "incident.db") as journal,
        pytest.raises(JournalError, match="sending lock"),
    ):
        journal.begin_attempts([start(1)])


def test_begin_moves_to_sending_and_records_the_message(journal: Journal) -> None:
    """begin_attempts sets sending, counts the attempt and keeps Message-ID, Date, SHA-256."""
    assert journal.begin_attempts([start(1), start(2)]) == [1, 2]
    record = journal.recipient(1)
    assert (record.state, record.attempts, record.message_id) == ("sending", 1, "<1@notify>")
    assert (record.date_header, record.sha256) == ("Fri, 27 Nov 2026 10:00 +0100", SHA)
    event = list(journal.events(1))[-1]
    assert (event.kind, event.state_from, event.state_to) == ("attempt-start", "pending", "sending")
    assert event.data["sha256"] == SHA


def test_end_records_the_servers_reply(journal: Journal) -> None:
    """An accepted message is sent, with the SMTP code, text and queue id recorded."""
    send(journal, 1, code=250, text="2.0.0 Ok: queued as ABC123", queue_id="ABC123")
    record = journal.recipient(1)
    assert (record.state, record.last_code, record.queue_id) == ("sent", 250, "ABC123")
    event = list(journal.events(1))[-1]
    assert (event.kind, event.data["outcome"], event.data["code"]) == ("attempt-end", "sent", 250)


def test_a_deferred_recipient_waits_for_its_retry_time(journal: Journal, clock: Clock) -> None:
    """A deferred recipient is not offered again before its retry time, then it is."""
    send(journal, 1, "deferred", code=451, text="try later", retry_at=T0 + timedelta(minutes=5))
    assert 1 not in [r.id for r in journal.to_send(1)]
    assert journal.next_retry_at(1) == T0 + timedelta(minutes=5)
    clock.now = T0 + timedelta(minutes=5)
    assert journal.to_send(1)[0].id == 1


def test_failed_and_sent_recipients_are_not_offered_again(journal: Journal) -> None:
    """Only pending, uncertain and due deferred recipients are to send."""
    send(journal, 1, "failed", code=550, text="no such user")
    send(journal, 2)
    assert [r.id for r in journal.to_send(1)] == [3, 4, 5]


def test_a_paused_attempt_goes_back_to_pending(journal: Journal) -> None:
    """The 'pending' outcome (a paused run) puts the recipient back in the queue."""
    send(journal, 1, "pending", code=451, text="4.7.0 daily quota", note="paused")
    assert journal.recipient(1).state == "pending"
    assert journal.to_send(1)[0].id == 1


def test_a_recipient_marked_meanwhile_is_not_begun(journal: Journal) -> None:
    """begin_attempts leaves out a recipient skipped by hand since it was queued."""
    queued = journal.to_send(1, limit=2)
    journal.mark("p1@exemple.fr", "skipped", "wrong person")
    assert journal.begin_attempts([start(r.id) for r in queued]) == [2]
    assert journal.recipient(1).state == "skipped"


def test_ending_an_attempt_never_begun_is_refused_but_keeps_the_others(journal: Journal) -> None:
    """end_attempts records the valid ends of a batch, then names the invalid ones."""
    journal.begin_attempts([start(1)])
    with pytest.raises(JournalError, match="#2"):
        journal.end_attempts([AttemptEnd(1, "sent", 250), AttemptEnd(2, "sent", 250)])
    assert journal.recipient(1).state == "sent"
    assert journal.recipient(2).state == "pending"


def test_an_uncertain_recipient_is_resent_with_its_message_id(journal: Journal) -> None:
    """An uncertain recipient must keep its Message-ID; the event says it was resent."""
    send(journal, 1, "uncertain", note="connection dropped after DATA")
    with pytest.raises(JournalError, match="<1@notify>"):
        journal.begin_attempts([start(1, "<other@notify>")])
    assert journal.recipient(1).state == "uncertain"
    assert journal.begin_attempts([start(1)]) == [1]
    event = list(journal.events(1))[-1]
    assert "same Message-ID" in event.data["note"]
    assert journal.recipient(1).attempts == 2


def test_a_duplicate_in_a_batch_is_refused(journal: Journal) -> None:
    """The same recipient twice in one begin batch is a JournalError; nothing begun."""
    with pytest.raises(JournalError, match="twice"):
        journal.begin_attempts([start(1), start(1)])
    assert journal.recipient(1).state == "pending"


def test_a_malformed_digest_is_refused(journal: Journal) -> None:
    """The SHA-256 must be 64 lower-case hex digits."""
    with pytest.raises(JournalError, match="sha256"):
        journal.begin_attempts([AttemptStart(1, "<1@n>", "date", "xyz")])


def test_mark_records_a_notification_by_other_means(journal: Journal) -> None:
    """mark sets notified-other with the note and who did it, in the event log."""
    (record,) = journal.mark("P2@Exemple.fr", "notified-other", "phoned 27/11", by="secretary")
    assert (record.state, record.note) == ("notified-other", "phoned 27/11")
    event = list(journal.events(record.id))[-1]
    assert (event.kind, event.data) == ("marked", {"note": "phoned 27/11", "by": "secretary"})
    assert 2 not in [r.id for r in journal.to_send(1)]


def test_mark_of_an_unknown_address_names_it(journal: Journal) -> None:
    """Marking an address that is in no campaign raises JournalError naming it."""
    with pytest.raises(JournalError, match=r"nobody@exemple\.fr is not a recipient"):
        journal.mark("nobody@exemple.fr", "skipped", "x")


def test_mark_refuses_a_state_that_is_not_manual(journal: Journal) -> None:
    """Only the manual states can be set by hand."""
    with pytest.raises(JournalError, match="cannot be set by hand"):
        journal.mark("p1@exemple.fr", "sending", "x")


def test_mark_refuses_a_recipient_being_sent(journal: Journal) -> None:
    """A recipient in an SMTP transaction cannot be marked."""
    journal.begin_attempts([start(1)])
    with pytest.raises(JournalError, match="being sent right now"):
        journal.mark("p1@exemple.fr", "skipped", "x")


def test_mark_needs_a_note(journal: Journal) -> None:
    """A manual decision without a note is refused."""
    with pytest.raises(JournalError, match="note"):
        journal.mark("p1@exemple.fr", "skipped", "  ")


def test_a_permanent_bounce_makes_a_sent_recipient_bounced(journal: Journal) -> None:
    """record_bounce(permanent=True) sets bounced; a delay notice only adds an event."""
    send(journal, 1, code=250)
    assert journal.record_bounce(1, permanent=False, status="4.4.7") == "sent"
    assert journal.record_bounce(1, permanent=True, status="5.1.1", source="inbox") == "bounced"
    kinds = [e.kind for e in journal.events(1)][-2:]
    assert kinds == ["bounced", "bounced"]
    assert journal.find_by_message_id("<1@notify>")[0].state == "bounced"


def test_counts_cover_every_state(journal: Journal) -> None:
    """counts returns every state, zeros included."""
    send(journal, 1)
    send(journal, 2, "failed", code=550)
    counts = journal.counts(1)
    assert counts["sent"] == 1
    assert counts["failed"] == 1
    assert counts["pending"] == 3
    assert counts["notified-other"] == 0
    assert sum(counts.values()) == 5


def test_quota_counts_accepted_and_uncertain_in_a_rolling_window(
    journal: Journal, clock: Clock
) -> None:
    """sent_in_window counts sent and uncertain messages, not deferred or failed ones."""
    send(journal, 1)
    clock.now = T0 + timedelta(hours=1)
    send(journal, 2, "uncertain")
    send(journal, 3, "deferred", code=421)
    send(journal, 4, "failed", code=550)
    clock.now = T0 + timedelta(hours=2)
    send(journal, 5)
    assert journal.sent_in_window(T0) == 3
    assert journal.sent_in_window(T0 + timedelta(minutes=30)) == 2
    usage = journal.quota_usage(now=T0 + timedelta(hours=24, minutes=30))
    assert (usage.count, usage.frees_at) == (2, T0 + timedelta(hours=25))


def test_quota_counts_every_campaign_of_the_journal(journal: Journal) -> None:
    """Messages of another campaign count against the same per-day quota."""
    other = journal.open_campaign("bis", languages=["fr"], settings={}, templates={}, variables={})
    journal.add_recipients(other.id, [person(1)])
    send(journal, 1)
    send(journal, 6)
    assert journal.recipient(6).campaign_id == other.id
    assert journal.quota_usage(now=T0).count == 2


def test_the_quota_window_is_empty_without_messages(journal: Journal) -> None:
    """No message sent: nothing counted and nothing to wait for."""
    usage = journal.quota_usage()
    assert (usage.count, usage.frees_at) == (0, None)


def test_naive_datetimes_are_refused(journal: Journal) -> None:
    """The journal stores aware datetimes only: a naive one is a bug, said so."""
    with pytest.raises(ValueError, match="time zone"):
        journal.sent_in_window(datetime(2026, 11, 27))


def test_begin_records_the_campaigns_current_revision(journal: Journal) -> None:
    """Each attempt records the revision its campaign had when it began (re-rendering)."""
    first = journal.campaign(1).revision.id
    send(journal, 1)
    revised = journal.open_campaign(
        "alerte", languages=["fr"], settings={}, templates={"body.txt": "corrigé"}, variables={}
    )
    assert revised.revision.id != first
    assert journal.begin_attempts([start(2), start(3)]) == [2, 3]
    assert [journal.recipient(r).revision_id for r in (1, 2, 3)] == [
        first,
        *[revised.revision.id] * 2,
    ]
    begun = [e for e in journal.events() if e.kind == "attempt-start"]
    assert [e.data["revision_id"] for e in begun] == [
        first,
        revised.revision.id,
        revised.revision.id,
    ]
