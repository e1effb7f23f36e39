"""The journal's folder under faults: a full disk, a read-only folder, a second sender.

Each case must end with a clear message (exit 3), no traceback, a journal that opens
and verifies afterwards, and nobody sent twice (except a message the journal records
as uncertain, resent with the same Message-ID).

The full disk and the read-only folder are real mounts (a 4 MB tmpfs, a read-only
bind mount): the tests run as root, for whom file modes do not stop a write. They
skip, saying why, when mounting is not allowed.
"""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

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

from notify.localserver import LocalServer, MaildirHandler

pytestmark = [pytest.mark.chaos, pytest.mark.integration]


def _mount(*args: str) -> None:
    done = subprocess.run(["mount", *args], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount here ({done.stderr.strip()}): needs root in a VM or container")


def _umount(folder: Path) -> None:
    subprocess.run(["umount", str(folder)], check=True, timeout=30)


@contextmanager
def tiny_disk(folder: Path, size: str) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``folder`` (0700), unmounted afterwards."""
    folder.mkdir(mode=0o700)
    _mount("-t", "tmpfs", "-o", f"size={size},mode=0700", "tmpfs", str(folder))
    try:
        yield folder
    finally:
        _umount(folder)


@contextmanager
def read_only(folder: Path) -> Iterator[Path]:
    """``folder`` made read-only by a read-only bind mount over itself (works for root)."""
    _mount("--bind", str(folder), str(folder))
    try:
        _mount("-o", "remount,bind,ro", str(folder))
        yield folder
    finally:
        _umount(folder)


def assert_clean_error(run_text: str, pattern: str) -> None:
    """A message matching ``pattern``, what to do next, and no traceback."""
    assert "Traceback" not in run_text
    assert re.search(pattern, run_text), run_text


class FillingHandler(MaildirHandler):
    """Stores each message; once the ``after``-th is stored, fills ``disk`` to the last
    byte with a ballast file: the disk becomes full in the middle of the run, whatever
    the journal's files already hold (they keep the space they have)."""

    def __init__(self, maildir: Path, *, disk: Path, after: int) -> None:
        super().__init__(maildir)
        self.ballast = disk / "ballast"
        self.after = after

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Store, fill the disk at the ``after``-th message, then accept."""
        reply = await super().handle_DATA(server, session, envelope)
        if len(self.received) == self.after:
            with suppress(OSError), self.ballast.open("wb", buffering=0) as ballast:
                while True:  # until ENOSPC: the disk is full
                    ballast.write(bytes(64 * 1024))
        return reply


def test_a_full_disk_stops_with_exit_3_and_the_resume_sends_the_rest_once(
    tmp_path: Path,
) -> None:
    """The journal's disk fills up during the run (after the 40th message): exit 3
    saying the disk is full; the journal verifies; once space is freed the resume sends
    the rest, and a message sent but not recorded is resent only as uncertain."""
    book = write_book(tmp_path / "contacts.csv", 400)
    with tiny_disk(tmp_path / "disk", "4m") as disk:
        handler = FillingHandler(tmp_path / "received", disk=disk, after=40)
        with LocalServer(handler.maildir, handler=handler) as server:
            write_config(tmp_path, server.port)
            journal = ["--journal", str(disk / "incident.db")]
            full = notify(tmp_path, *journal, *send_args(book))
            assert full.code == 3, full.text
            assert_clean_error(
                full.err, r"journal .*incident\.db cannot be written: the disk is full"
            )
            assert "Free some disk space" in full.err
            sent_before = len(server.received)
            assert 40 <= sent_before < 400
            handler.ballast.unlink()
            handler.after = 0  # no more ballast
            verified = notify(tmp_path, *journal, "report", "--verify")
            assert verified.code == 0, verified.text
            view = read_journal(disk / "incident.db")
            assert view.intact
            assert_mailbox_agrees(server, view, all_final=False)
            resumed = notify(tmp_path, *journal, *send_args(book))
            assert resumed.code == 0, resumed.text
            final = read_journal(disk / "incident.db")
            assert dict(final.counts) == {"sent": 400}
            mailbox = assert_mailbox_agrees(server, final, all_final=True)
            twice = {a for a, copies in mailbox.items() if len(copies) > 1}
            assert twice <= final.ever_uncertain


def test_a_read_only_journal_folder_refuses_to_send_with_exit_3(tmp_path: Path) -> None:
    """The journal's folder is read-only: `notify send` stops before sending anything,
    exit 3, saying the folder is not writable; nothing is damaged."""
    folder = tmp_path / "journal"
    book = write_book(tmp_path / "contacts.csv", 5)
    handler = MaildirHandler(tmp_path / "received")
    with LocalServer(handler.maildir, handler=handler) as server:
        write_config(tmp_path, server.port)
        journal = ["--journal", str(folder / "incident.db")]
        assert notify(tmp_path, *journal, *send_args(book)).code == 0
        write_book(tmp_path / "contacts.csv", 10)
        with read_only(folder):
            refused = notify(tmp_path, *journal, *send_args(book))
            assert refused.code == 3, refused.text
            assert_clean_error(refused.err, r"journal .*incident\.db cannot be opened")
            assert "writ" in refused.err
            assert len(server.received) == 5
        resumed = notify(tmp_path, *journal, *send_args(book))
        assert resumed.code == 0, resumed.text
        view = read_journal(folder / "incident.db")
        assert view.intact
        assert dict(view.counts) == {"sent": 10}
        mailbox = assert_mailbox_agrees(server, view, all_final=True)
        assert all(len(copies) == 1 for copies in mailbox.values())


def test_a_journal_on_read_only_media_can_still_be_verified_and_reported(
    tmp_path: Path,
) -> None:
    """An archived journal (closed cleanly, then made read-only): `report --verify`
    says intact, `report` prints the record and `status` the counts, without writing
    anything."""
    folder = tmp_path / "journal"
    book = write_book(tmp_path / "contacts.csv", 5)
    handler = MaildirHandler(tmp_path / "received")
    with LocalServer(handler.maildir, handler=handler) as server:
        write_config(tmp_path, server.port)
        journal = ["--journal", str(folder / "incident.db")]
        assert notify(tmp_path, *journal, *send_args(book)).code == 0
    with read_only(folder):
        verified = notify(tmp_path, *journal, "report", "--verify")
        report = notify(tmp_path, *journal, "report", "--format", "json")
        status = notify(tmp_path, *journal, "status")
    assert (verified.code, "intact" in verified.out) == (0, True), verified.text
    assert report.code == 0, report.text
    assert status.code == 0, status.text
    assert "Traceback" not in verified.text + report.text + status.text


def test_a_second_sender_on_the_same_journal_exits_3_and_nobody_gets_two(
    tmp_path: Path,
) -> None:
    """While one `notify send` runs, a second one on the same journal stops at once
    with exit 3 naming the holder's pid; the first finishes; each person gets one."""
    book = write_book(tmp_path / "contacts.csv", 60)
    handler = SlowHandler(tmp_path / "received", delay=0.05)
    with LocalServer(handler.maildir, handler=handler) as server:
        write_config(tmp_path, server.port)
        first = start(tmp_path, *send_args(book))
        assert wait_until(lambda: len(server.received) >= 3, timeout=30)
        second = notify(tmp_path, *send_args(book))
        assert second.code == 3, second.text
        assert_clean_error(second.err, r"another notify is sending on journal incident\.db")
        assert f"pid {first.process.pid}" in second.err
        done = finish(first)
        assert done.code == 0, done.out
        view = read_journal(tmp_path / "incident.db")
        assert view.intact
        assert dict(view.counts) == {"sent": 60}
        mailbox = assert_mailbox_agrees(server, view, all_final=True)
        assert all(len(copies) == 1 for copies in mailbox.values())
        assert len(server.received) == 60
    assert os.stat(tmp_path / "incident.db.lock").st_mode & 0o077 == 0
