#!/usr/bin/env bash
# Set up and run the whole test suite on a fresh machine: a venv with the project and its dev
# tools, Debian's Chromium for the browser test, then pytest (extra arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet -e '.[dev]'

if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "test.sh: installing Debian's chromium for the browser test"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "test.sh: no chromium and no root to install it: the browser test will skip" >&2
    fi
fi

exec .venv/bin/python -m pytest "$@"
