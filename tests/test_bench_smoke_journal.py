"""The journal benchmark runs and prints its figures (tiny size)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parent.parent / "bench" / "bench_journal.py"


@pytest.mark.bench
def test_the_journal_benchmark_prints_messages_per_second(tmp_path: Path) -> None:
    """bench_journal.py --n 50 exits 0 and prints a rate for batches of 1 and 50."""
    done = subprocess.run(
        [sys.executable, str(BENCH), "--n", "50", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for batch in (1, 50):
        match = re.search(
            rf"^batch {batch}: 50 messages in [\d.]+ s: (\d+) messages/second$",
            done.stdout,
            re.MULTILINE,
        )
        assert match is not None, done.stdout
        assert int(match.group(1)) > 0
    assert re.search(r"^verify: 204 events", done.stdout, re.MULTILINE)
