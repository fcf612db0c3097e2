#!/usr/bin/env bash
# Set up and run the server on a fresh machine: a venv with the locked runtime dependencies
# (uv.lock), then iot-support on its defaults (arguments and the environment are passed on).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

make_venv
exec .venv/bin/iot-support "$@"
