"""The CSV benchmark script runs end to end at a tiny size."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[1] / "bench" / "bench_csv.py"


@pytest.mark.bench
def test_bench_csv_runs_and_prints_its_figures() -> None:
    """bench_csv.py --n 50 exits 0 and prints rows/s for both loops, the ratio and RSS."""
    result = subprocess.run(
        [sys.executable, str(BENCH), "--n", "50", "--repeat", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert re.search(r"^rows: 50 ", out, re.M)
    assert re.search(r"^csv\.reader: [\d,]+ rows/s", out, re.M)
    assert re.search(r"^read_csv: [\d,]+ rows/s", out, re.M)
    ratio = re.search(r"^ratio: (\d+\.\d\d)$", out, re.M)
    assert ratio is not None
    assert float(ratio.group(1)) > 0
    assert re.search(r"^peak RSS: \d+\.\d MB$", out, re.M)
