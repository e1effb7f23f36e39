"""The pipelining benchmark runs end to end at a tiny size and prints its figures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[1] / "bench" / "bench_pipelining.py"


@pytest.mark.bench
def test_bench_pipelining_prints_rates_with_and_without() -> None:
    """--n 6 --delay-ms 1 --connections 1,2: three rates and a speed-up per count."""
    done = subprocess.run(
        [sys.executable, str(BENCH), "--n", "6", "--delay-ms", "1", "--connections", "1,2"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert re.search(r"^pipelining bench: 6 messages of [\d,]+ bytes, 1 ms each way", out, re.M)
    for conn in (1, 2):
        for mode in ("without pipelining", "pipelining, batch 1", "pipelining, batch 10"):
            line = (
                rf"^{conn} conn, {mode}: [\d,.]+ msg/s \([\d.]+ s, [\d.]+ round trips a message\)$"
            )
            assert re.search(line, out, re.M), out
        assert re.search(rf"^{conn} conn, speed-up: batch 1 [\d.]+ x, batch 10 [\d.]+ x", out, re.M)
    assert done.stderr == ""
