#!/usr/bin/env bash
# Set up a fresh machine: system packages, the Python virtualenv with the project
# installed, and the local stack's servers (built and cached on first use).
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-python3.11}
APT_PACKAGES=(postgresql-15 redis-server bubblewrap runsc python3-doc chromium openjdk-17-jre-headless maven acl prometheus)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "setup: missing Debian packages (${missing[*]}); run as root or install them" >&2
        exit 1
    fi
    echo "setup: installing ${missing[*]} (apt)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -q
    apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

command -v go >/dev/null || [[ -x /usr/local/go/bin/go ]] || {
    echo "setup: the Go toolchain is missing (needed to build OPA and OpenFGA)" >&2; exit 1; }

if [[ ! -x .venv/bin/python ]]; then
    echo "setup: creating .venv with $PY"
    "$PY" -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [[ ! -f $stamp ]]; then
    echo "setup: installing Python dependencies into .venv"
    .venv/bin/pip install -q --upgrade pip
    .venv/bin/pip install -q -e '.[dev]'
    rm -f .venv/.installed-*
    touch "$stamp"
fi
echo "setup: done"
