#!/usr/bin/env bash
# Refresh the lock: every dependency, transitive ones included, at the newest version the ranges
# in pyproject.toml allow, for Python 3.11 and 3.12, with hashes (uv.lock). Review the diff, run
# ./scripts/test.sh, commit. Arguments go to `uv lock` (e.g. `--upgrade-package msgspec` to move
# one package only; without arguments, everything is upgraded).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh

bootstrap_uv
if [ $# -eq 0 ]; then
    set -- --upgrade
fi
.venv/bin/uv lock "$@"
