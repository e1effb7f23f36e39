"""The Sent-folder benchmark runs, with a tiny size, and prints its figures."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parent.parent / "bench" / "bench_sentfolder.py"


@pytest.mark.bench
def test_bench_sentfolder_runs_and_prints_its_figures() -> None:
    """--n 20 exits 0 and prints messages, messages/second and peak RSS as numbers."""
    result = subprocess.run(
        [sys.executable, str(BENCH), "--n", "20", "--attachment-kb", "8"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert re.search(r"^messages: 20$", result.stdout, re.MULTILINE)
    rate = re.search(r"^messages/second: (\d+)$", result.stdout, re.MULTILINE)
    assert rate is not None
    assert int(rate.group(1)) > 0
    rss = re.search(r"^peak RSS: (\d+\.\d) MiB$", result.stdout, re.MULTILINE)
    assert rss is not None
    assert float(rss.group(1)) > 0
    recipients = re.search(r"^recipients: (\d+)$", result.stdout, re.MULTILINE)
    assert recipients is not None
    assert int(recipients.group(1)) > 0
    assert re.search(r"^problems: 0$", result.stdout, re.MULTILINE)
