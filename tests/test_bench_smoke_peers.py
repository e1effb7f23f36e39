"""The peer, latency, scale and import benchmarks run end to end at a tiny size.

They never install anything here (``--no-install``): a peer that is missing is skipped
with a line saying so, and the script still exits 0 with notify's own figures.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).parents[1] / "bench"


def run(script: str, *args: str, timeout: float = 120) -> str:
    """Run bench/``script`` with this interpreter; assert exit 0; return stdout."""
    result = subprocess.run(
        [sys.executable, str(BENCH / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def rate(out: str, label: str) -> float:
    """The median msg/s of ``label`` in a peers.py table."""
    found = re.search(rf"^\| {re.escape(label)} \| ([\d,]+) \|", out, re.M)
    assert found is not None, out
    return float(found.group(1).replace(",", ""))


def peer_present(out: str, label: str, skipped_as: str) -> bool:
    """True when the peer has figures; else it must be reported as skipped."""
    if f"| {label} |" in out and f"skipped: {skipped_as}" not in out:
        return True
    assert f"skipped: {skipped_as}: " in out, out
    return False


@pytest.mark.bench
def test_peers_prints_every_figure_and_the_ratios() -> None:
    """peers.py --n 20: notify and bare figures, mailmerge and smtp-source or a skip line."""
    out = run("peers.py", "--n", "20", "--repeat", "1", "--no-install")
    assert re.search(r"^messages: 20 per run, \d+ bytes each", out, re.M)
    for connections in (1, 4):
        assert rate(out, f"notify send, {connections} conn") > 0
        assert rate(out, f"bare aiosmtplib, {connections} conn") > 0
        assert re.search(rf"^ratio: notify {connections} conn / bare aiosmtplib", out, re.M)
        target = f"target: notify {connections} conn >= bare aiosmtplib {connections} conn: "
        assert re.search(rf"^{target}(met|not met)$", out, re.M)
    if peer_present(out, "mailmerge", "mailmerge"):
        assert rate(out, "mailmerge") > 0
        assert re.search(r"^target: notify 4 conn >= 3 x mailmerge: (met|not met)$", out, re.M)
    assert "20 x mailmerge" not in out  # a target behind the delay proxy only
    if peer_present(out, "smtp-source, 4 conn", "smtp-source"):
        assert rate(out, "smtp-source, 4 conn") > 0
    assert "error:" not in out


@pytest.mark.bench
def test_peers_through_the_delay_proxy_with_starttls_and_auth() -> None:
    """peers.py --server tls --delay-ms 2: notify logs in over STARTTLS through the proxy,
    and pipelines when the server offers it."""
    out = run(
        "peers.py",
        *("--n", "8", "--repeat", "1", "--no-install", "--server", "tls"),
        *("--delay-ms", "2", "--peers", "notify,bare,smtp-source", "--server-pipelining"),
    )
    assert "(STARTTLS, AUTH), offering PIPELINING behind a 2 ms each-way delay proxy" in out
    assert rate(out, "notify send, 4 conn") > 0
    assert rate(out, "bare aiosmtplib, 1 conn") > 0
    assert "skipped: smtp-source: it speaks neither STARTTLS nor AUTH" in out
    assert "error:" not in out


@pytest.mark.bench
def test_scale_prints_time_rss_flatness_and_resume() -> None:
    """scale.py --sizes 10,20: preview and send figures, RSS flatness, time to resume."""
    out = run("scale.py", "--sizes", "10,20", "--no-install")
    for n in (10, 20):
        for what in ("preview", r"send \(4 conn\)"):
            assert re.search(
                rf"^{what}, N={n}: [\d.]+ s, [\d,]+ msg/s, peak RSS \d+ MiB, CPU [\d.]+ s$",
                out,
                re.M,
            )
        for way in ("with the sources", "without sources"):
            assert re.search(
                rf"^resume {way}, N={n} \(\d+ already sent\): first new message after "
                r"[\d.]+ s; until stopped: CPU [\d.]+ s, peak RSS \d+ MiB$",
                out,
                re.M,
            )
    assert re.search(r"^send RSS flat in N: (yes|no) ", out, re.M)
    assert "error:" not in out


@pytest.mark.bench
def test_import_ratio_prints_both_ratios() -> None:
    """import_ratio.py: vCard and CSV rates for notify and the bare parsers, and ratios."""
    out = run("import_ratio.py", "--vcards", "20", "--rows", "50")
    assert re.search(r"^CSV simple \(50 rows\): ratio: \d+\.\d\d \(target under 1\.5: ", out, re.M)
    assert re.search(r"^vCard \(20 cards\): notify load_contacts: 20 recipients", out, re.M)
    assert re.search(r"^vCard \(20 cards\): (ratio: \d+\.\d\d|skipped)", out, re.M) or (
        "skipped: vCard" in out
    )
    assert re.search(r"^peak RSS: \d+ MiB$", out, re.M)


@pytest.mark.bench
def test_delayproxy_delays_each_way_and_keeps_order() -> None:
    """delayproxy.py --delay-ms 50: an echo round trip takes about 100 ms, bytes in order."""
    import socket  # noqa: PLC0415
    import threading  # noqa: PLC0415
    import time  # noqa: PLC0415

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        target = listener.getsockname()[1]

        def echo() -> None:
            conn, _ = listener.accept()
            with conn:
                while data := conn.recv(65536):
                    conn.sendall(data)

        threading.Thread(target=echo, daemon=True).start()
        with subprocess.Popen(
            [
                *(sys.executable, str(BENCH / "delayproxy.py"), "--target-port", str(target)),
                *("--delay-ms", "50", "--max-seconds", "30"),
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        ) as proxy:
            try:
                assert proxy.stdout is not None
                port = int(proxy.stdout.readline().split()[1])
                with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
                    started = time.monotonic()
                    payload = b"".join(b"%05d," % i for i in range(2000))
                    client.sendall(payload)
                    got = b""
                    while len(got) < len(payload):
                        got += client.recv(65536)
                    took = time.monotonic() - started
            finally:
                proxy.terminate()
                remaining = proxy.communicate(timeout=10)[0]
    assert "Traceback" not in remaining
    assert got == payload
    assert 0.09 <= took < 2.0
