"""Crash safety and the sending lock, with real processes killed by SIGKILL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from notify.addressbook.model import Recipient
from notify.errors import JournalError
from notify.journal import AttemptStart, Journal

SETUP = """
import sys, time
from notify.addressbook.model import Recipient
from notify.journal import AttemptEnd, AttemptStart, Journal
journal = Journal.open(sys.argv[1])
campaign = journal.open_campaign("alerte", languages=["fr"], settings={}, templates={},
                                 variables={})
journal.add_recipients(campaign.id, [Recipient(f"p{i}@exemple.fr", f"p{i}@exemple.fr",
                                               f"p{i}@exemple.fr") for i in range(200)])
"""


def spawn(body: str, path: Path) -> subprocess.Popen[str]:
    """Start a Python child running SETUP then ``body``; wait until it prints READY."""
    code = SETUP + textwrap.dedent(body)
    child = subprocess.Popen(
        [sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True
    )
    assert child.stdout is not None
    assert child.stdout.readline().strip() == "READY"
    return child


def kill(child: subprocess.Popen[str]) -> None:
    """SIGKILL the child and reap it."""
    child.send_signal(signal.SIGKILL)
    assert child.wait(timeout=10) == -signal.SIGKILL
    assert child.stdout is not None
    child.stdout.close()


@pytest.mark.slow
def test_recover_turns_a_killed_attempt_into_uncertain(tmp_path: Path) -> None:
    """A process killed during an SMTP transaction leaves an uncertain, verifiable record."""
    path = tmp_path / "incident.db"
    child = spawn(
        """
        with journal.sending_lock():
            journal.begin_attempts([AttemptStart(1, "<1@notify>", "date", "ab" * 32)])
            print("READY", flush=True)
            time.sleep(60)
        """,
        path,
    )
    kill(child)
    with Journal.open(path) as journal:
        assert journal.verify() is None
        assert journal.recipient(1).state == "sending"
        with journal.sending_lock():
            assert journal.recover() == 1
            assert journal.recover() == 0
        record = journal.recipient(1)
        assert (record.state, record.message_id) == ("uncertain", "<1@notify>")
        event = list(journal.events(1))[-1]
        assert event.kind == "recovered"
        assert "may or may not have been accepted" in event.data["reason"]
        assert journal.to_send(1, limit=1)[0].id == 1
        assert journal.verify() is None


@pytest.mark.slow
def test_a_kill_at_any_moment_leaves_a_journal_that_resumes(tmp_path: Path) -> None:
    """Killing a busy sender mid-loop loses no record: it verifies and resumes."""
    path = tmp_path / "incident.db"
    child = spawn(
        """
        with journal.sending_lock():
            print("READY", flush=True)
            while True:
                for rid in range(1, 201):
                    journal.begin_attempts([AttemptStart(rid, f"<{rid}@n>", "d", "ab" * 32)])
                    journal.end_attempts([AttemptEnd(rid, "pending", 451, "paused")])
        """,
        path,
    )
    time.sleep(0.3)
    kill(child)
    with Journal.open(path) as journal, journal.sending_lock():
        assert journal.verify() is None
        recovered = journal.recover()
        counts = journal.counts(1)
        assert counts["sending"] == 0
        assert sum(counts.values()) == 200
        kinds = [e.kind for e in journal.events()]
        assert kinds.count("attempt-start") > 0
        assert kinds.count("attempt-start") == kinds.count("attempt-end") + recovered
        assert journal.verify() is None


@pytest.mark.slow
def test_a_second_sender_is_refused_with_the_holders_pid(tmp_path: Path) -> None:
    """While one process holds the sending lock, another gets JournalError with its pid."""
    path = tmp_path / "incident.db"
    child = spawn(
        """
        with journal.sending_lock():
            print("READY", flush=True)
            time.sleep(60)
        """,
        path,
    )
    try:
        with Journal.open(path) as journal:
            with (
                pytest.raises(JournalError, match=rf"another notify is sending.*pid {child.pid}"),
                journal.sending_lock(),
            ):
                pass
            with pytest.raises(JournalError, match="sending lock"):
                journal.begin_attempts([AttemptStart(1, "<1@n>", "d", "ab" * 32)])
            assert journal.recipient(1).state == "pending"
    finally:
        kill(child)


@pytest.mark.slow
def test_the_lock_is_released_when_its_holder_is_killed(tmp_path: Path) -> None:
    """SIGKILL of the holder frees the lock at once: the next sender gets it."""
    path = tmp_path / "incident.db"
    child = spawn(
        """
        with journal.sending_lock():
            print("READY", flush=True)
            time.sleep(60)
        """,
        path,
    )
    kill(child)
    with Journal.open(path) as journal, journal.sending_lock():
        assert journal.begin_attempts([AttemptStart(1, "<1@n>", "d", "ab" * 32)]) == [1]
    assert os.stat(f"{path}.lock").st_mode & 0o777 == 0o600


def test_a_second_lock_in_the_same_process_is_refused(tmp_path: Path) -> None:
    """Two journals on one file in one process cannot both hold the sending lock."""
    path = tmp_path / "incident.db"
    with Journal.open(path) as first, Journal.open(path) as second:
        email = "p@exemple.fr"
        campaign = first.open_campaign(
            "alerte", languages=["fr"], settings={}, templates={}, variables={}
        )
        first.add_recipients(campaign.id, [Recipient(email, email, email)])
        with (
            first.sending_lock(),
            pytest.raises(JournalError, match="another notify is sending"),
            second.sending_lock(),
        ):
            pass
        with second.sending_lock():
            assert second.recover() == 0
