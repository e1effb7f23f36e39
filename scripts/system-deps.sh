#!/usr/bin/env bash
# Debian packages the test suite needs; installs only what is missing (needs root).
#   make, python3-venv   to build the virtual environment
#   dovecot-imapd        a real IMAP server for the bounce-reading tests (started by the
#                        tests themselves, as the current user, on 127.0.0.1 only)
# Without root, it says what is missing and goes on: the IMAP tests are then skipped.
set -euo pipefail
needed=()
command -v make >/dev/null 2>&1 || needed+=(make)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || needed+=(python3-venv)
command -v dovecot >/dev/null 2>&1 || needed+=(dovecot-imapd)
[ ${#needed[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "note: not installed: ${needed[*]} (as root on Debian: apt-get install ${needed[*]})" >&2
  exit 0
fi
# Never start a system service while installing: the tests start their own, on loopback.
policy=/usr/sbin/policy-rc.d
created_policy=0
if [ ! -e "$policy" ]; then
  printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && created_policy=1
fi
trap '[ "$created_policy" = 1 ] && rm -f "$policy"' EXIT
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${needed[@]}" >/dev/null
