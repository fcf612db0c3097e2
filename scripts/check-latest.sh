#!/usr/bin/env bash
# Run the suite on the newest versions pyproject.toml allows, ignoring the lock, in a throwaway
# venv: the check that finds the next breaking release before a user does. Not part of CI (a
# release we have not seen must not block a submission); run it on a schedule, or before
# `scripts/lock.sh`.
#
#   scripts/check-latest.sh            newest allowed versions
#   scripts/check-latest.sh --lowest   the lower bounds of our direct dependencies
#
# Further arguments go to pytest. Exit status is pytest's.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

resolution=highest
if [ "${1:-}" = "--lowest" ]; then
    resolution=lowest-direct
    shift
fi

bootstrap_uv
venv=$(mktemp -d "${TMPDIR:-/tmp}/iot-support-$resolution.XXXXXX")
trap 'rm -rf "$venv"' EXIT
.venv/bin/uv venv --quiet --python python3 "$venv"
# --no-config: no lock, no uv settings of ours; only the ranges in pyproject.toml.
VIRTUAL_ENV=$venv .venv/bin/uv pip install --quiet --no-config --resolution "$resolution" \
    --python "$venv/bin/python" -e '.[dev]'
echo "check-latest: $resolution versions:"
VIRTUAL_ENV=$venv .venv/bin/uv pip list --python "$venv/bin/python" | sed 's/^/    /'
ensure_debian_packages "the browser and MQTT tests drive them" chromium mosquitto \
    || echo "check-latest: the tests that need them will skip" >&2
"$venv/bin/python" -m pytest -p no:cacheprovider "$@"
