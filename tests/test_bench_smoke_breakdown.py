"""The breakdown benchmark runs end to end at a tiny size and prints every part."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[1] / "bench" / "breakdown.py"
RATE = r"[\d,]+ msg/s, [\d.]+ s, CPU [\d.]+ ms/msg"


@pytest.mark.bench
def test_bench_breakdown_prints_each_part_and_a_budget() -> None:
    """--n 12 --repeat 1 --connections 1,2: every part measured, one budget per count."""
    argv = [sys.executable, str(BENCH), "--n", "12", "--repeat", "1", "--connections", "1,2"]
    done = subprocess.run(
        [*argv, "--no-install"], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    out = done.stdout
    assert re.search(r"^breakdown: N=12, connections \[1, 2\]", out, re.M), out
    assert re.search(rf"^compose \(in this process\): {RATE}$", out, re.M), out
    assert re.search(r"^start-up \(notify send of 10\): [\d.]+ s, CPU [\d.]+ s$", out, re.M), out
    for conn in (1, 2):
        for part in ("engine alone", "engine \\+ journal", "notify send"):
            assert re.search(rf"^{part}, {conn} conn: {RATE}$", out, re.M), out
        budget = (
            rf"^budget, {conn} conn, ms/msg of wall clock: notify send [\d.]+ = engine [\d.]+ "
            r"\+ journal [\d.]+ \+ compose [\d.]+ \+ start-up/N [\d.]+ \+ rest [+-][\d.]+$"
        )
        assert re.search(budget, out, re.M), out
    assert done.stderr == ""
