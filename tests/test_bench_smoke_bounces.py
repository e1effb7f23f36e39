"""bench/bench_bounces.py runs on a small subset and prints its figures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "bench_bounces.py"


@pytest.mark.bench
def test_bench_bounces_runs_on_a_subset() -> None:
    """The benchmark exits 0 and prints three accuracy figures, misses and a throughput."""
    result = subprocess.run(
        [sys.executable, str(BENCH), "--limit", "8", "--seconds", "0.2"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    for name in ("recipient", "status", "permanent"):
        match = re.search(rf"^{name} accuracy: (\d+\.\d)% \(\d+/\d+\)$", result.stdout, re.M)
        assert match, result.stdout
        assert 0.0 <= float(match.group(1)) <= 100.0
    assert re.search(r"^misses: \d+$", result.stdout, re.M)
    assert re.search(r"^messages parsed per second: \d+ ", result.stdout, re.M)
