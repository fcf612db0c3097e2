#!/usr/bin/env bash
# Set up and run the whole test suite on a fresh machine: a venv with the project and its dev
# tools, Debian's Chromium, Mosquitto and nginx for the tests that drive them, the pinned
# TypeScript tools for the generated-client test, then pytest (extra arguments go to pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

make_venv dev
ensure_debian_packages "the browser, MQTT and reverse-proxy tests drive them" \
    chromium mosquitto nginx \
    || echo "test.sh: the tests that need them will skip" >&2
# openapi-typescript and tsc, pinned by package-lock.json, for the generated-client test.
ensure_debian_packages "the generated-client test runs openapi-typescript" npm \
    || echo "test.sh: the generated-client test will fail without npm" >&2
if command -v npm >/dev/null 2>&1; then
    (cd tests/contract/client && npm ci --silent --no-audit --no-fund)
fi

exec .venv/bin/python -m pytest "$@"
