"""Huge inputs are streamed: a 1 GB line in a CSV, a 50 MB photo in a vCard.

The files are made on the fly in tmp_path (and removed at the end); `notify contacts`
runs as a real process under ``/usr/bin/time`` (its own peak RSS) with its address
space capped, so that a reader that holds a whole line fails fast instead of
exhausting the machine. The bar: under 200 MB of RSS, exit 0 or 2, no traceback,
the other contacts of the file still read.
"""

from __future__ import annotations

import base64
import os
import shutil
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from seckit import peak_rss_kb

pytestmark = [pytest.mark.security, pytest.mark.slow]

PEAK_LIMIT_KB = 200 * 1024
ADDRESS_SPACE = 1536 * 1024 * 1024  # fail fast rather than swap
MB = 1024 * 1024

needs_time = pytest.mark.skipif(
    not Path("/usr/bin/time").is_file() or sys.platform != "linux",
    reason="needs GNU time (/usr/bin/time) on Linux to measure the peak RSS",
)


@pytest.fixture
def scratch(tmp_path: Path) -> Iterator[Path]:
    """A folder removed at the end of the test (the files are large)."""
    folder = tmp_path / "huge"
    folder.mkdir()
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _write_csv_with_a_huge_line(path: Path, size: int) -> None:
    chunk = "x" * MB
    with path.open("w", encoding="utf-8") as stream:
        stream.write("email,first name,last name\n")
        stream.write("avant@exemple.fr,Anne,Avant\n")
        stream.write("long@exemple.fr,")
        for _ in range(size // MB):
            stream.write(chunk)
        stream.write(",Long\n")
        stream.write("apres@exemple.fr,Paul,Apres\n")


def _write_vcard_with_a_huge_photo(path: Path, size: int) -> None:
    line = base64.b64encode(os.urandom(54 * 1000)).decode("ascii")
    folded = "\r\n ".join(line[i : i + 74] for i in range(0, len(line), 74))
    with path.open("w", encoding="utf-8", newline="") as stream:
        stream.write("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Jean Photo\r\nN:Photo;Jean;;;\r\n")
        stream.write("EMAIL;TYPE=INTERNET:photo@exemple.fr\r\nPHOTO;ENCODING=b;TYPE=JPEG:")
        written = 0
        while written < size:
            stream.write(folded + "\r\n ")
            written += len(folded)
        stream.write("AAAA\r\nEND:VCARD\r\n")
        stream.write("BEGIN:VCARD\r\nVERSION:3.0\r\nFN:Anne Apres\r\n")
        stream.write("EMAIL:apres@exemple.fr\r\nEND:VCARD\r\n")


@needs_time
def test_a_50_mb_photo_in_a_vcard_is_streamed(scratch: Path) -> None:
    """A 50 MB PHOTO property: both contacts read, peak RSS under 200 MB."""
    book = scratch / "photo.vcf"
    _write_vcard_with_a_huge_photo(book, 50 * MB)
    run = peak_rss_kb(
        scratch, "contacts", "--format", "json", str(book), memory_limit=ADDRESS_SPACE
    )
    assert run.code == 0, run.err[-2000:]
    assert "Traceback" not in run.err
    assert "photo@exemple.fr" in run.out
    assert "apres@exemple.fr" in run.out
    assert run.max_rss_kb < PEAK_LIMIT_KB, f"peak RSS {run.max_rss_kb // 1024} MB"


@needs_time
def test_a_1_gb_line_in_a_csv_is_a_problem_not_a_memory_blowup(scratch: Path) -> None:
    """A CSV with a 1 GB line: the line is reported as a problem (file:line), the
    other rows are read, peak RSS stays under 200 MB, no traceback."""
    book = scratch / "huge-line.csv"
    _write_csv_with_a_huge_line(book, 1024 * MB)
    run = peak_rss_kb(
        scratch, "contacts", "--format", "json", str(book), memory_limit=ADDRESS_SPACE
    )
    book.unlink()
    assert "Traceback" not in run.err, run.err[-1500:]
    assert run.code in (0, 2), run.err[-2000:]
    assert "avant@exemple.fr" in run.out
    assert "apres@exemple.fr" in run.out
    assert run.max_rss_kb < PEAK_LIMIT_KB, f"peak RSS {run.max_rss_kb // 1024} MB"
