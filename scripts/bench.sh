#!/usr/bin/env bash
# Run the benchmark on a fresh machine: the venv with the bench extras, Debian's nginx and wrk,
# then bench/run.py (arguments go to it).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

make_venv bench
ensure_debian_packages "the benchmark compares with nginx and loads with wrk" nginx wrk

exec .venv/bin/python bench/run.py "$@"
