#!/usr/bin/env bash
# Every figure of BENCHMARKS.md, one after the other (never two at once: 2 cores).
#   bench/run_all.sh [N] [LATENCY_N] [REPEAT] [LATENCY_REPEAT]   defaults: 10000 300 3 3
# SCALE="--sizes 10000,100000,1000000" for the million (about an hour more).
# Behind the delay proxy: LCONN (default 1,4) connections; the aiosmtpd runs with
# TLS_N messages (default LATENCY_N); TLS_PLAIN=0 skips the one without PIPELINING.
# Installs what is missing (Debian postfix with no daemon, mailmerge in its own venv
# under ~/.cache/notify-bench) unless NO_INSTALL=1. Output: also in $OUT
# (default ~/.cache/notify-bench/results.txt).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
N=${1:-10000}
LN=${2:-300}
REPEAT=${3:-3}
LREPEAT=${4:-$REPEAT}
LCONN=${LCONN:-1,4}
TLS_N=${TLS_N:-$LN}
INSTALL=()
OUT=${OUT:-$HOME/.cache/notify-bench/results.txt}
mkdir -p "$(dirname "$OUT")"
[ "${NO_INSTALL:-0}" = 1 ] && INSTALL=(--no-install)
{
  echo "## machine"
  echo "nproc: $(nproc); cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-)"
  echo "python: $($PY -V 2>&1); notify: $($PY -c 'import notify; print(notify.__version__)')"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  # As pip does when it installs a package: without bytecode (PYTHONDONTWRITEBYTECODE,
  # a read-only tree) every notify run would compile its modules again, ~0.6 s.
  $PY -m compileall -q notify
  echo "## peers, loopback, smtp-sink"
  $PY bench/peers.py --n "$N" --repeat "$REPEAT" "${INSTALL[@]}"
  echo "## where the time goes, loopback, smtp-sink"
  $PY bench/breakdown.py --n "$N" --repeat "$REPEAT" "${INSTALL[@]}"
  LATENCY=(--repeat "$LREPEAT" --delay-ms 10 --connections "$LCONN" "${INSTALL[@]}")
  echo "## peers, 10 ms each way, smtp-sink"
  $PY bench/peers.py --n "$LN" "${LATENCY[@]}"
  if [ "${TLS_PLAIN:-1}" = 1 ]; then
    echo "## peers, 10 ms each way, aiosmtpd with STARTTLS and AUTH"
    $PY bench/peers.py --n "$TLS_N" "${LATENCY[@]}" --server tls
  fi
  echo "## peers, 10 ms each way, aiosmtpd with STARTTLS and AUTH, offering PIPELINING"
  $PY bench/peers.py --n "$TLS_N" "${LATENCY[@]}" --server tls --server-pipelining
  echo "## scale"
  # shellcheck disable=SC2086
  $PY bench/scale.py ${SCALE:---sizes 10000,100000} --send-by-resume "${INSTALL[@]}"
  echo "## import"
  $PY bench/import_ratio.py --vcards 100000 --rows 1000000
  echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
} 2>&1 | tee "$OUT"
