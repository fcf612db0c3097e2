#!/usr/bin/env bash
# Set up and run the whole test suite on a fresh machine: a venv with the project and its dev
# tools, Debian's Chromium and Mosquitto for the tests that drive them, then pytest (extra
# arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

make_venv dev
ensure_debian_packages "the browser and MQTT tests drive them" chromium mosquitto \
    || echo "test.sh: the tests that need them will skip" >&2

exec .venv/bin/python -m pytest "$@"
