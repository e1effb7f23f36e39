"""SIGINT and SIGTERM during `notify send`: a graceful stop (exit 130), then a resume.

One signal: the messages in flight finish and are recorded, nothing is left
``sending``, nobody is marked failed, and the resume sends each remaining person
exactly once. Two signals: the transactions in flight are cut, recorded as uncertain
or pending (never failed), and the resume sends twice only what is uncertain.
"""

from __future__ import annotations

import signal
import time
from pathlib import Path

import pytest
from chaoskit import (
    SlowHandler,
    assert_mailbox_agrees,
    finish,
    notify,
    read_journal,
    send_args,
    start,
    wait_until,
    write_book,
    write_config,
)

from notify.localserver import LocalServer

pytestmark = [pytest.mark.chaos, pytest.mark.integration]

STOPPED = "stopped: the messages in flight were finished and recorded"


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_one_signal_stops_gracefully_with_130_and_the_resume_sends_each_once(
    tmp_path: Path, signum: signal.Signals
) -> None:
    """A signal mid-run: exit 130 within the grace time, the resume message, nothing
    left sending or failed; the resume completes and nobody got two messages."""
    book = write_book(tmp_path / "contacts.csv", 80)
    handler = SlowHandler(tmp_path / "received", delay=0.05)
    with LocalServer(handler.maildir, handler=handler) as server:
        write_config(tmp_path, server.port, connections=2)
        child = start(tmp_path, *send_args(book))
        assert wait_until(lambda: len(server.received) >= 10, timeout=30)
        child.signal(signum)
        began = time.monotonic()
        stopped = finish(child, timeout=30)
        assert time.monotonic() - began < 5
        assert stopped.code == 130, stopped.out
        assert STOPPED in stopped.out
        assert "Run the same command again to resume" in stopped.out
        assert "Traceback" not in stopped.out
        view = read_journal(tmp_path / "incident.db")
        assert view.intact
        assert set(view.counts) <= {"sent", "pending"}, view.counts
        assert 10 <= view.counts["sent"] < 80
        assert view.counts["sent"] == len(server.received)
        assert_mailbox_agrees(server, view, all_final=False)
        handler.delay = 0.0
        resumed = notify(tmp_path, *send_args(book))
        assert resumed.code == 0, resumed.text
        assert resumed.out.startswith(f"{view.counts['pending']} messages to send")
        final = read_journal(tmp_path / "incident.db")
        assert dict(final.counts) == {"sent": 80}
        mailbox = assert_mailbox_agrees(server, final, all_final=True)
        assert all(len(copies) == 1 for copies in mailbox.values())


def test_a_second_sigint_cuts_in_flight_never_failed_and_resume_completes(
    tmp_path: Path,
) -> None:
    """Two SIGINTs: exit 130 at once; a message cut in flight is uncertain or pending,
    never failed; the resume sends everyone, twice only someone recorded uncertain."""
    book = write_book(tmp_path / "contacts.csv", 40)
    handler = SlowHandler(tmp_path / "received", delay=1.0)  # long in-flight window
    with LocalServer(handler.maildir, handler=handler) as server:
        write_config(tmp_path, server.port, connections=2)
        child = start(tmp_path, *send_args(book))
        assert wait_until(lambda: len(server.received) >= 3, timeout=30)
        child.signal(signal.SIGINT)
        time.sleep(0.2)
        child.signal(signal.SIGINT)
        stopped = finish(child, timeout=30)
        assert stopped.code == 130, stopped.out
        assert "Traceback" not in stopped.out
        view = read_journal(tmp_path / "incident.db")
        assert view.intact
        assert "failed" not in view.counts
        assert "sending" not in view.counts
        assert_mailbox_agrees(server, view, all_final=False)
        handler.delay = 0.0
        resumed = notify(tmp_path, *send_args(book))
        assert resumed.code == 0, resumed.text
        final = read_journal(tmp_path / "incident.db")
        assert dict(final.counts) == {"sent": 40}
        mailbox = assert_mailbox_agrees(server, final, all_final=True)
        assert {a for a, c in mailbox.items() if len(c) > 1} <= final.ever_uncertain
