"""The roster: this run's recipients, kept by the journal (a TEMP table of row ids).

``add_recipients`` records who is in this run's sources; ``to_send(roster=True)`` and
``due(roster=True)`` then see only them, in exposure order, through the send-queue
index (never a scan of the campaign).
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from notify.addressbook.model import Recipient
from notify.journal import AttemptEnd, AttemptStart, Journal, queries

T0 = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
SHA = "ab" * 32


def person(i: int, *, sent: int = 0) -> Recipient:
    """A recipient numbered ``i`` (``sent``: messages the owner sent them)."""
    email = f"p{i}@exemple.fr"
    return Recipient(email, email, email, sent_count=sent)


def emails(numbers: Iterator[int] | list[int] | range) -> list[str]:
    """The addresses of the recipients ``numbers``, in that order."""
    return [f"p{i}@exemple.fr" for i in numbers]


def queue(journal: Journal, campaign: int, *, roster: bool, limit: int = 2) -> list[str]:
    """Every address to_send offers, page by page (``limit`` a page), in order."""
    found: list[str] = []
    after = None
    while page := journal.to_send(campaign, limit=limit, after=after, roster=roster):
        found.extend(r.email for r in page)
        after = page[-1].rank
    return found


@pytest.fixture
def journal(tmp_path: Path) -> Iterator[Journal]:
    """A new journal holding the sending lock."""
    with (
        Journal.open(tmp_path / "incident.db", clock=lambda: T0) as opened,
        opened.sending_lock(),
    ):
        yield opened


def new_campaign(journal: Journal, template: str = "alerte") -> int:
    """Open a campaign; return its id."""
    return journal.open_campaign(
        template, languages=["fr"], settings={}, templates={}, variables={}
    ).id


def mark_sent(journal: Journal, address: str) -> None:
    """One accepted attempt for ``address``."""
    (record,) = journal.find_recipient(address)
    start = AttemptStart(record.id, f"<{record.id}@notify>", "Fri, 27 Nov 2026 10:00 +0100", SHA)
    assert journal.begin_attempts([start]) == [record.id]
    journal.end_attempts([AttemptEnd(record.id, "sent", 250, "2.0.0 Ok")])


def test_a_recipient_removed_from_the_sources_is_left_out_and_counted_aside(
    journal: Journal,
) -> None:
    """Run 1 adds p0..p5; run 2's sources lack p3: the roster's queue and count leave p3
    out (still pending, due, counted aside), the whole campaign's do not."""
    campaign = new_campaign(journal)
    journal.add_recipients(campaign, [person(i) for i in range(6)])
    mark_sent(journal, "p0@exemple.fr")
    assert journal.add_recipients(campaign, [person(i) for i in (0, 1, 2, 4, 5)]) == 0
    assert queue(journal, campaign, roster=True) == emails([1, 2, 4, 5])
    assert queue(journal, campaign, roster=False) == emails([1, 2, 3, 4, 5])
    assert journal.due(campaign, roster=True) == 4
    assert journal.due(campaign) == 5
    assert journal.find_recipient("p3@exemple.fr")[0].state == "pending"


def test_the_roster_holds_new_and_existing_recipients_in_exposure_order(
    journal: Journal,
) -> None:
    """New contacts of this run join the roster with the old ones; the queue keeps
    exposure order (most written to first) across both, and skips the sent."""
    campaign = new_campaign(journal)
    journal.add_recipients(campaign, [person(1), person(2, sent=5), person(3)])
    mark_sent(journal, "p2@exemple.fr")
    added = journal.add_recipients(campaign, [person(3), person(4, sent=9), person(2, sent=5)])
    assert added == 1
    assert queue(journal, campaign, roster=True, limit=1) == emails([4, 3])
    assert journal.due(campaign, roster=True) == 2
    assert journal.due(campaign) == 3


def test_the_roster_is_the_last_run_only(journal: Journal) -> None:
    """A second add_recipients replaces the roster: nobody of the first stays in it."""
    campaign = new_campaign(journal)
    journal.add_recipients(campaign, [person(i) for i in range(3)])
    journal.add_recipients(campaign, [person(7)])
    assert queue(journal, campaign, roster=True) == emails([7])
    assert journal.due(campaign, roster=True) == 1


def test_the_roster_holds_row_ids_only(journal: Journal) -> None:
    """The roster table keeps integers (campaign and recipient row ids), no address."""
    campaign = new_campaign(journal)
    journal.add_recipients(campaign, [person(i) for i in range(4)])
    journal.add_recipients(campaign, [person(1), person(3)])
    rows = journal._conn.execute("SELECT * FROM roster ORDER BY recipient_id").fetchall()
    ids = [journal.find_recipient(a)[0].id for a in emails([1, 3])]
    assert rows == [(campaign, i) for i in ids]


def test_the_roster_outlives_the_connection(tmp_path: Path) -> None:
    """The last run's roster is in the journal: a later process (a resume without
    address books) reads the same one, and campaigns keep their own."""
    with Journal.open(tmp_path / "incident.db") as journal:
        first, second = new_campaign(journal), new_campaign(journal, "autre")
        journal.add_recipients(first, [person(i) for i in range(3)])
        journal.add_recipients(first, [person(0), person(2)])
        journal.add_recipients(second, [person(5)])
    with Journal.open(tmp_path / "incident.db", create=False) as journal:
        assert queue(journal, first, roster=True) == emails([0, 2])
        assert (journal.due(first, roster=True), journal.due(first)) == (2, 3)
        assert queue(journal, second, roster=True) == emails([5])


def test_a_deferred_recipient_of_the_roster_waits_for_its_retry_time(tmp_path: Path) -> None:
    """The roster's queue offers a deferred recipient only once its retry time has
    come (the roster's count includes it meanwhile: it is still due)."""
    now = [T0]
    with Journal.open(tmp_path / "incident.db", clock=lambda: now[0]) as journal:
        campaign = new_campaign(journal)
        journal.add_recipients(campaign, [person(1), person(2)])
        with journal.sending_lock():
            start = AttemptStart(1, "<1@notify>", "Fri, 27 Nov 2026 10:00 +0100", SHA)
            journal.begin_attempts([start])
            retry = T0 + timedelta(minutes=5)
            journal.end_attempts([AttemptEnd(1, "deferred", 451, "later", retry_at=retry)])
        assert queue(journal, campaign, roster=True) == emails([2])
        assert journal.due(campaign, roster=True) == 2
        now[0] = T0 + timedelta(minutes=6)
        assert queue(journal, campaign, roster=True) == emails([1, 2])


def test_a_campaign_without_a_run_has_an_empty_roster(journal: Journal) -> None:
    """Before any add_recipients, the roster is empty: nothing is due in it."""
    campaign = new_campaign(journal)
    assert journal.to_send(campaign, roster=True) == []
    assert journal.due(campaign, roster=True) == 0


def test_an_addition_cut_short_keeps_the_previous_roster(journal: Journal) -> None:
    """When add_recipients fails part-way, nothing is added and the roster is the one
    before (its transaction is rolled back, the roster's rows with it)."""
    campaign = new_campaign(journal)
    journal.add_recipients(campaign, [person(1)])

    def people() -> Iterator[Recipient]:
        yield from (person(i) for i in range(2, 1200))
        raise ValueError("the address book went away")

    with pytest.raises(ValueError, match="went away"):
        journal.add_recipients(campaign, people())
    assert journal.due(campaign) == 1
    assert queue(journal, campaign, roster=True) == emails([1])


def _plan(journal: Journal, sql: str, params: tuple[object, ...]) -> str:
    rows = journal._conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()
    return " | ".join(str(row[-1]) for row in rows)


@pytest.mark.parametrize("roster", [False, True], ids=["campaign", "roster"])
@pytest.mark.parametrize("state", ["pending", "uncertain", "deferred"])
def test_the_due_queue_walks_the_send_queue_index(
    journal: Journal, state: str, roster: bool
) -> None:
    """The page query searches (campaign_id, state, rank) in rank order (no sort, no
    scan of recipients) and probes the roster by row id."""
    campaign = new_campaign(journal)
    journal.add_recipients(campaign, [person(i) for i in range(50)])
    params: tuple[object, ...] = (campaign, state, -1)
    params += ("2026-11-27T09:00:00Z", 100) if state == "deferred" else (100,)
    text = _plan(journal, queries.to_send_sql(state, roster=roster), params)  # type: ignore[arg-type]
    assert text.startswith(
        "SEARCH recipients USING INDEX recipients_queue (campaign_id=? AND state=? AND rank>?)"
    )
    assert "SCAN" not in text
    assert "TEMP B-TREE" not in text
    roster_probe = "SEARCH roster USING PRIMARY KEY (campaign_id=? AND recipient_id=?)"
    assert (roster_probe in text) is roster


@pytest.mark.parametrize("roster", [False, True], ids=["campaign", "roster"])
def test_the_due_count_reads_the_index_only(journal: Journal, roster: bool) -> None:
    """The count of due recipients reads the covering send-queue index, no row."""
    campaign = new_campaign(journal)
    journal.add_recipients(campaign, [person(i) for i in range(50)])
    text = _plan(journal, queries.due_sql(roster=roster), (campaign,))
    assert text.startswith(
        "SEARCH recipients USING COVERING INDEX recipients_queue (campaign_id=? AND state=?)"
    )
    assert "SCAN" not in text
    roster_probe = "SEARCH roster USING PRIMARY KEY (campaign_id=? AND recipient_id=?)"
    assert (roster_probe in text) is roster
