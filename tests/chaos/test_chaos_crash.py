"""Crash: `notify send` killed with SIGKILL at random moments, 30 times, then resumed.

The server stores each message before it answers, and waits a little before the
250: the window in which a message is accepted but not yet recorded, which a kill
turns into an ``uncertain`` record (resent with the same Message-ID). Half of the
kills come at a random time after the start (import, journal opening, adding the
recipients, sending), half right after the server stored a random number of messages.
"""

from __future__ import annotations

import random
import signal
import time
from pathlib import Path

import pytest
from chaoskit import (
    Child,
    SlowHandler,
    assert_mailbox_agrees,
    finish,
    kill,
    notify,
    read_journal,
    send_args,
    start,
    wait_until,
    write_book,
    write_config,
)

from notify.journal import Journal
from notify.localserver import LocalServer

pytestmark = [pytest.mark.chaos, pytest.mark.integration, pytest.mark.slow]

KILLS = 30
RECIPIENTS = 300
SEED = 33


def check_after_kill(server: LocalServer, db: Path) -> None:
    """Right after a kill: the chain verifies and the mailbox agrees with the journal
    (a recipient left ``sending`` may have been stored once)."""
    view = read_journal(db) if _has_campaign(db) else None
    if view is not None:
        assert view.intact
        assert_mailbox_agrees(server, view, all_final=False)


def _has_campaign(db: Path) -> bool:
    with Journal.open(db, create=False) as journal:
        return bool(journal.campaigns())


def test_thirty_kills_then_resume_lose_nothing_and_send_twice_only_uncertain(
    tmp_path: Path,
) -> None:
    """30 SIGKILLs at random moments, each followed by a resume (the next run): at the
    end everyone is sent, the mailbox agrees with the journal (a second copy only for
    a recipient the journal marked uncertain, with the same Message-ID), the hash chain
    verifies, and `notify report --verify` passes."""
    rng = random.Random(SEED)
    book = write_book(tmp_path / "contacts.csv", RECIPIENTS)
    handler = SlowHandler(tmp_path / "received", delay=0.02)
    killed_while_sending = 0
    db = tmp_path / "incident.db"
    with LocalServer(handler.maildir, handler=handler) as server:
        write_config(tmp_path, server.port, connections=2)
        for _ in range(KILLS):
            before = len(server.received)
            child = start(tmp_path, *send_args(book))
            if rng.random() < 0.5:
                time.sleep(rng.uniform(0.2, 2.0))
            else:
                target = before + rng.randint(1, 12)

                def reached(child: Child = child, target: int = target) -> bool:
                    return len(server.received) >= target or child.poll() is not None

                wait_until(reached, timeout=20)
                time.sleep(rng.uniform(0, 0.03))
            if child.poll() is not None:
                done = finish(child)
                assert done.code == 0, done.out  # it had nothing left to send
                continue
            killed = kill(child)
            assert killed.code == -signal.SIGKILL
            killed_while_sending += len(server.received) > before
            if db.exists():
                check_after_kill(server, db)
        final = notify(tmp_path, *send_args(book), timeout=120)
        assert final.code == 0, final.text
        view = read_journal(db)
        assert view.intact
        assert dict(view.counts) == {"sent": RECIPIENTS}
        mailbox = assert_mailbox_agrees(server, view, all_final=True)
        assert len(mailbox) == RECIPIENTS
        twice = {a for a, copies in mailbox.items() if len(copies) > 1}
        assert twice <= view.ever_uncertain
        verified = notify(tmp_path, "report", "--verify")
        assert verified.code == 0, verified.text
        assert "intact" in verified.out
        again = notify(tmp_path, *send_args(book))
        assert (again.code, again.out.startswith("0 messages to send")) == (0, True), again.text
    assert killed_while_sending >= KILLS // 3, "most kills should land during sending"
    print(
        f"\ncrash: {KILLS} kills ({killed_while_sending} while sending), "
        f"{len(view.ever_uncertain)} recipients recorded uncertain, {len(twice)} stored twice"
    )
