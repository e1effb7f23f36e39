"""The compose benchmark runs, with a tiny size, and prints its figures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "bench_compose.py"


@pytest.mark.bench
def test_bench_compose_runs_and_prints_its_figures() -> None:
    """bench_compose.py --n 20 exits 0 and prints messages/second and µs/message."""
    result = subprocess.run(
        [sys.executable, str(BENCH), "--n", "20"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "messages: 20," in result.stdout
    rate = re.search(r"^messages/second: (\d+)$", result.stdout, re.MULTILINE)
    micro = re.search(r"^µs/message: (\d+\.\d)$", result.stdout, re.MULTILINE)
    assert rate is not None
    assert micro is not None
    assert int(rate.group(1)) > 0
    assert float(micro.group(1)) > 0
