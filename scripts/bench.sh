#!/usr/bin/env bash
# Run the benchmark on a fresh machine: the venv with the bench extras, Debian's nginx and wrk
# (installed when missing and run as root), then bench/run.py (arguments go to it).
set -euo pipefail
cd "$(dirname "$0")/.."

python3 -m venv .venv
.venv/bin/pip install --quiet --upgrade pip
.venv/bin/pip install --quiet -e '.[bench]'

missing=()
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx)
if [ ${#missing[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "bench.sh: installing ${missing[*]}"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
        # Debian starts nginx on port 80 after installing it; the benchmark runs its own.
        (service nginx stop || nginx -s stop) >/dev/null 2>&1 || true
    else
        echo "bench.sh: please install ${missing[*]} (Debian: apt-get install ${missing[*]})" >&2
        exit 1
    fi
fi

exec .venv/bin/python bench/run.py "$@"
