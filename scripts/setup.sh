# Shared by the scripts (sourced, not run).

# bootstrap_uv: the project's venv in .venv with the pinned uv in it (requirements/uv.txt,
# checked by hash), which installs everything else from uv.lock.
bootstrap_uv() {
    [ -x .venv/bin/python ] || python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check --require-hashes -r requirements/uv.txt
}

# make_venv [EXTRA...]: the project's venv in .venv with exactly the locked versions of the
# project's dependencies and the given extras (uv sync --frozen: the lock is used as it is, never
# re-resolved). --inexact keeps uv and pip, which the lock does not list, in the venv.
make_venv() {
    bootstrap_uv
    local extras=() extra
    for extra in "$@"; do
        extras+=(--extra "$extra")
    done
    .venv/bin/uv sync --quiet --frozen --inexact --python .venv/bin/python "${extras[@]}"
}

# ensure_debian_packages WHY PACKAGE...: install the Debian packages whose command is missing,
# when run as root with apt-get; otherwise say which are missing and return 1.
ensure_debian_packages() {
    local why=$1 missing=() package
    shift
    for package in "$@"; do
        command -v "$package" >/dev/null 2>&1 || [ -x "/usr/sbin/$package" ] || missing+=("$package")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
        echo "${missing[*]} missing and no root to install them ($why)" >&2
        return 1
    fi
    echo "installing ${missing[*]} ($why)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
    # Debian starts system-wide services after installing them; tests and benchmarks run
    # their own, on ports of their own.
    for package in "${missing[@]}"; do
        case $package in
            nginx|mosquitto) (service "$package" stop || pkill -x "$package") >/dev/null 2>&1 || true ;;
        esac
    done
}
