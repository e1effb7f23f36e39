#!/usr/bin/env bash
# Debian packages the test suite needs. Installs only what is missing; needs root for that.
set -euo pipefail
needed=()
command -v make >/dev/null 2>&1 || needed+=(make)
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || needed+=(python3-venv)
if [ ${#needed[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "Please install: ${needed[*]} (as root: apt-get install ${needed[*]})" >&2
    exit 1
  fi
  apt-get update -qq
  apt-get install -y -qq "${needed[@]}"
fi
