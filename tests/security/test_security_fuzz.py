"""Hostile address books and bounces through the command line: never a traceback, never
a hang, a clear message.

The parsers already have their own Hypothesis tests (tests/test_vcards.py,
test_csvbooks.py, test_sentfolder.py, test_bounces.py). These go one level up:
mutations of the real corpus files in tests/data (bit flips, cuts, inserted
delimiters, line breaks, NULs, repeated chunks) are given to `notify contacts` and
`notify bounces --dry-run`, run in this process through the same error handling as
``notify.cli.main``: the outcome must be exit 0 or 2, and the time is bounded.
A few are run as real processes to check that stderr holds no traceback.
"""

from __future__ import annotations

import random
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from seckit import notify_cli
from typer.testing import CliRunner

from notify.cli import app
from notify.errors import NotifyError

pytestmark = pytest.mark.security

DATA = Path(__file__).resolve().parent.parent / "data"
BOOKS = sorted(
    p
    for folder in ("vcards", "csv", "csv-own", "sent")
    for p in (DATA / folder).iterdir()
    if p.suffix in (".vcf", ".csv", ".mbox")
)
BOUNCES = sorted(p for f in ("bounces", "bounces-own") for p in (DATA / f).glob("*.eml"))
LIMIT = 10.0  # seconds one command may take on one mutated file
NASTY = [b"\r\n", b"\n", b"\r", b"\x00", b",", b";", b"\t", b'"', b"=", b":", b"\\",
         b"BEGIN:VCARD\r\n", b"END:VCARD\r\n", b"\r\n ", b"=\r\n", b"From \n", b"\xff\xfe",
         b"\xef\xbb\xbf", b"=?utf-8?q?", b"Content-Type: multipart/mixed; boundary=x\r\n",
         b"--x\r\n", b"\xc3", b"\x80" * 3]  # fmt: skip


class Hang(Exception):
    """A command ran past its time limit."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Raise :class:`Hang` in this (main) thread after ``seconds``."""

    def expired(signum: int, frame: FrameType | None) -> None:
        raise Hang(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def mutate(data: bytes, rng: random.Random) -> bytes:
    """One to eight random edits of ``data``: flips, cuts, insertions, repetitions."""
    buf = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        if not buf:
            buf.extend(rng.choice(NASTY))
            continue
        at = rng.randrange(len(buf))
        kind = rng.randrange(6)
        if kind == 0:
            buf[at] ^= 1 << rng.randrange(8)
        elif kind == 1:
            del buf[at : at + rng.randint(1, 200)]
        elif kind == 2:
            buf[at:at] = rng.choice(NASTY)
        elif kind == 3:
            buf[at:at] = buf[at : at + rng.randint(1, 300)] * rng.randint(2, 50)
        elif kind == 4:
            del buf[at:]
        else:
            buf[at:at] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 16)))
    return bytes(buf)


def run_in_process(*args: str) -> int:
    """Run the CLI as ``notify.cli.main`` does; return the exit code. An exception
    that is not a NotifyError is a traceback for the user: it fails the test."""
    runner = CliRunner()
    with time_limit(LIMIT):
        result = runner.invoke(app, list(args), catch_exceptions=True)
    exc = result.exception
    if isinstance(exc, NotifyError):
        return exc.exit_code
    if exc is not None and not isinstance(exc, SystemExit):
        raise exc
    return result.exit_code


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(index=st.integers(0, 10_000), seed=st.integers(0, 2**32))
def test_contacts_on_a_mutated_corpus_file_exits_0_or_2_in_bounded_time(
    tmp_path: Path, index: int, seed: int
) -> None:
    """`notify contacts --format json` on a mutated vCard, CSV or mbox: exit 0 or 2."""
    original = BOOKS[index % len(BOOKS)]
    target = tmp_path / f"mutated{original.suffix}"
    target.write_bytes(mutate(original.read_bytes(), random.Random(seed)))
    assert run_in_process("contacts", "--format", "json", str(target)) in (0, 2)


@settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(index=st.integers(0, 10_000), seed=st.integers(0, 2**32))
def test_bounces_dry_run_on_a_mutated_bounce_exits_0_or_2_in_bounded_time(
    tmp_path: Path, index: int, seed: int
) -> None:
    """`notify bounces --dry-run --format json` on a mutated bounce: exit 0 or 2."""
    original = BOUNCES[index % len(BOUNCES)]
    target = tmp_path / "mutated.eml"
    target.write_bytes(mutate(original.read_bytes(), random.Random(seed)))
    code = run_in_process("bounces", "--dry-run", "--format", "json", str(target))
    assert code in (0, 2)


@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.binary(max_size=3000), suffix=st.sampled_from([".vcf", ".csv", ".mbox"]))
def test_contacts_on_random_bytes_exits_0_or_2(tmp_path: Path, data: bytes, suffix: str) -> None:
    """Random bytes named like an address book: exit 0 or 2, never a traceback."""
    target = tmp_path / f"random{suffix}"
    target.write_bytes(data)
    assert run_in_process("contacts", "--format", "csv", str(target)) in (0, 2)


def test_mutated_books_as_real_processes_print_no_traceback(tmp_path: Path) -> None:
    """Twenty mutated files (every format) given at once to the real `notify contacts`:
    exit 0 or 2, and stderr holds messages, not a traceback."""
    rng = random.Random(7)
    paths = []
    for n in range(20):
        original = BOOKS[rng.randrange(len(BOOKS))]
        target = tmp_path / f"m{n:02d}{original.suffix}"
        target.write_bytes(mutate(original.read_bytes(), rng))
        paths.append(str(target))
    for chunk in (paths[:10], paths[10:]):
        run = notify_cli(tmp_path, "contacts", "--format", "json", *chunk, timeout=60)
        assert run.code in (0, 2), run.text
        assert "Traceback" not in run.err


def test_a_mutated_mbox_of_bounces_as_a_real_process_prints_no_traceback(
    tmp_path: Path,
) -> None:
    """An mbox of mutated bounces to the real `notify bounces --dry-run`: exit 0 or 2."""
    rng = random.Random(11)
    with (tmp_path / "bounces.mbox").open("wb") as box:
        for original in BOUNCES:
            box.write(b"From MAILER-DAEMON Thu Nov 27 10:00:00 2026\n")
            box.write(mutate(original.read_bytes(), rng).replace(b"\nFrom ", b"\n>From "))
            box.write(b"\n")
    run = notify_cli(tmp_path, "bounces", "--dry-run", "--format", "json", "bounces.mbox")
    assert run.code in (0, 2), run.text
    assert "Traceback" not in run.err
