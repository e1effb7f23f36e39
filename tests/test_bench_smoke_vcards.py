"""The vCard benchmark script runs and prints its figures (with a tiny size)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent.parent / "bench" / "bench_vcards.py"


@pytest.mark.bench
def test_bench_vcards_runs_with_50_cards() -> None:
    """bench/bench_vcards.py --n 50 exits 0 and prints cards/second and peak RSS."""
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--n", "50"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"^cards: 50 ", result.stdout, re.MULTILINE)
    assert re.search(r"^cards/second: \d+$", result.stdout, re.MULTILINE)
    assert re.search(r"^peak RSS: \d+\.\d MiB$", result.stdout, re.MULTILINE)
