"""The preview benchmark runs, with a tiny size, and prints its figures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "bench_preview.py"


@pytest.mark.bench
def test_bench_preview_runs_and_prints_its_figures() -> None:
    """bench_preview.py --n 30 exits 0 and prints the rate and the peak memory."""
    result = subprocess.run(
        [sys.executable, str(BENCH), "--n", "30"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "recipients: 30, messages: 30" in result.stdout
    rate = re.search(r"^messages/second: (\d+)$", result.stdout, re.MULTILINE)
    memory = re.search(
        r"^RSS after import: (\d+) MB; peak RSS: (\d+) MB$", result.stdout, re.MULTILINE
    )
    assert rate is not None
    assert memory is not None
    assert int(rate.group(1)) > 0
    assert int(memory.group(2)) >= int(memory.group(1)) > 0
