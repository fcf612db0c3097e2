#!/usr/bin/env bash
# Set up and run the whole test suite on a fresh machine: a venv with the project and its dev
# tools, Debian's Chromium and Mosquitto for the tests that drive them, then pytest (extra
# arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet -e '.[dev]'

# Debian packages that tests drive for real: Chromium (the docs page), Mosquitto (MQTT).
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test.sh: installing ${missing[*]} for the tests that drive them"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
        # Debian starts a system-wide broker after installing it; the tests run their own.
        (service mosquitto stop || pkill -x mosquitto) >/dev/null 2>&1 || true
    else
        echo "test.sh: ${missing[*]} missing and no root to install: those tests will skip" >&2
    fi
fi

exec .venv/bin/python -m pytest "$@"
