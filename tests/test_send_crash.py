"""`notify send` killed, interrupted, or run twice at once: nobody forgotten, nobody
warned twice but for messages the journal recorded as uncertain."""

from __future__ import annotations

import random
import signal
import time
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from sendhelpers import (
    Run,
    address,
    delivered,
    fault_server,
    finish,
    journal_states,
    notify,
    send_args,
    start,
    write_config,
    write_csv,
)
from smtpfaults import faults

from notify.journal import Journal
from notify.localserver import LocalServer

pytestmark = pytest.mark.integration
COUNT = 300  # recipients of the kill rounds
SMALL = 150  # recipients of the signal and lock tests


def wait_for(server: LocalServer, received: int, timeout: float = 30) -> None:
    """Wait until the server has accepted ``received`` messages."""
    deadline = time.monotonic() + timeout
    while len(server.received) < received:
        assert time.monotonic() < deadline, f"only {len(server.received)} messages arrived"
        time.sleep(0.02)


def slow_down(server: LocalServer, seconds: float, count: int) -> None:
    """Make the server take ``seconds`` to answer each recipient's content."""
    for n in range(count):
        faults(server).data_delay[address(n)] = seconds


def uncertain_marks(journal_path: Path) -> Counter[str]:
    """How many times the journal recorded each address as uncertain (events)."""
    marks: Counter[str] = Counter()
    with Journal.open(journal_path, create=False) as journal:
        (campaign,) = journal.campaigns()
        emails = {r.id: r.email for r in journal.iter_recipients(campaign.id)}
        for event in journal.events():
            if event.recipient_id is not None and event.state_to == "uncertain":
                marks[emails[event.recipient_id]] += 1
        assert journal.verify() is None
    return marks


def run_until_done(folder: Path, book: Path) -> list[Run]:
    """Rerun `notify send` until it exits 0 (at most 5 times)."""
    runs = []
    for _ in range(5):
        runs.append(notify(folder, *send_args(book)))
        if runs[-1].code == 0:
            return runs
    raise AssertionError(f"not done after 5 reruns: {runs[-1]}")


def kill_then_resume(folder: Path, seed: int) -> int:
    """One round: start sending, SIGKILL at a random moment, rerun until done, check.

    Even seeds kill at a random delay from the start (reading, journal set-up or
    sending); odd ones at a random delay after the first message arrived (sending,
    four connections in flight). Returns how many messages arrived before the kill.
    """
    folder.mkdir()
    book = write_csv(folder / "contacts.csv", range(COUNT))
    rng = random.Random(seed)
    with LocalServer(folder / "received") as server:
        write_config(folder, server.port, connections=4)
        child = start(folder, *send_args(book))
        if seed % 2:
            wait_for(server, 1)
        time.sleep(rng.uniform(0.0, 1.5) if seed % 2 else rng.uniform(0.2, 2.0))
        child.kill()
        finish(child)
        # On a fast machine the run may finish before the random moment: that round
        # is then a plain run (the test still requires kills that land mid-send).
        assert child.returncode in (-signal.SIGKILL, 0)
        before = len(server.received)
        run_until_done(folder, book)
    check_round(folder, f"seed {seed}")
    return before


def check_round(folder: Path, context: str) -> None:
    """Everyone got the message; more than once only if recorded uncertain, same bytes."""
    copies: defaultdict[str, list[bytes]] = defaultdict(list)
    for item in delivered(folder / "received"):
        copies[item.envelope_to].append(item.raw)
    marks = uncertain_marks(folder / "incident.db")
    assert set(copies) == {address(n) for n in range(COUNT)}, context
    for rcpt, raws in copies.items():
        assert len(raws) <= 1 + marks[rcpt], f"{context}: {rcpt} got {len(raws)}"
        assert len(set(raws)) == 1, f"{context}: {rcpt}: the resend differs"
    assert set(journal_states(folder / "incident.db").values()) == {"sent"}, context


@pytest.mark.slow
def test_killed_at_random_moments_nobody_forgotten_no_unrecorded_duplicate(
    tmp_path: Path,
) -> None:
    """Ten rounds of SIGKILL at a random moment then reruns: every recipient got the
    message; more than once only if the journal recorded them uncertain, and then the
    same bytes; the journal's hash chain verifies. Two rounds run at a time."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        before = list(pool.map(lambda s: kill_then_resume(tmp_path / f"r{s}", s), range(10)))
    assert any(0 < n < COUNT for n in before), f"no kill landed mid-send: {before}"
    marks = [sum(uncertain_marks(tmp_path / f"r{s}" / "incident.db").values()) for s in range(10)]
    print(f"received before the kill: {before}; recorded uncertain: {marks}")


@pytest.mark.slow
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_gracefully_and_the_rerun_completes(
    tmp_path: Path, signum: signal.Signals
) -> None:
    """SIGINT or SIGTERM mid-run: exit 130 with the resume message, nothing left in
    'sending'; the rerun sends the rest; everyone gets exactly one message."""
    book = write_csv(tmp_path / "contacts.csv", range(SMALL))
    with fault_server(tmp_path) as server:
        slow_down(server, 0.005, SMALL)
        write_config(tmp_path, server.port)
        child = start(tmp_path, *send_args(book))
        wait_for(server, 20)
        child.send_signal(signum)
        stopped = finish(child)
        assert stopped.code == 130, stopped.text
        assert stopped.err.endswith(
            "stopped: the messages in flight were finished and recorded. "
            "Run the same command again to resume.\n"
        )
        states = Counter(journal_states(tmp_path / "incident.db").values())
        assert set(states) == {"sent", "pending"}
        assert states["sent"] == len(server.received) < SMALL
        rerun = notify(tmp_path, *send_args(book))
        assert rerun.code == 0, rerun.text
    counts = Counter(item.envelope_to for item in delivered(tmp_path / "received"))
    assert counts == Counter(address(n) for n in range(SMALL))


@pytest.mark.slow
def test_a_second_send_on_the_same_journal_is_refused(tmp_path: Path) -> None:
    """Two `notify send` at once: the second exits 3 naming the other's pid and sends
    nothing; the first finishes; nobody receives two messages."""
    book = write_csv(tmp_path / "contacts.csv", range(SMALL))
    with fault_server(tmp_path) as server:
        slow_down(server, 0.02, SMALL)
        write_config(tmp_path, server.port)
        first = start(tmp_path, *send_args(book))
        wait_for(server, 1)
        second = notify(tmp_path, *send_args(book))
        done = finish(first)
    assert second.code == 3, second.text
    assert second.err.startswith(
        f"error: another notify is sending on journal incident.db (pid {first.pid} "
    )
    assert "two runs at once could send twice to the same person" in second.err
    assert second.out == ""
    assert done.code == 0, done.text
    counts = Counter(item.envelope_to for item in delivered(tmp_path / "received"))
    assert counts == Counter(address(n) for n in range(SMALL))
