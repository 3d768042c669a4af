#!/usr/bin/env bash
# Install what oiofs needs on a fresh Debian machine, then oiofs itself (editable).
#   ./install.sh                # runtime: Debian packages + Python dependencies + oiofs
#   ./install.sh --with-tests   # also what the test suite uses (pytest, swift client...)
# Safe to run again: it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")"

WITH_TESTS=0
[ "${1:-}" = "--with-tests" ] && WITH_TESTS=1

PY=${PYTHON:-python3}
SUDO=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"

# Debian packages: redis-server (account service backend and its tests), rclone (real
# client in the tests), attr (getfattr/setfattr for operators inspecting object metadata).
DEB_PACKAGES="redis-server attr"
[ "$WITH_TESTS" = 1 ] && DEB_PACKAGES="$DEB_PACKAGES rclone"
missing=""
for pkg in $DEB_PACKAGES; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
    echo "installing Debian packages:$missing"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $missing >/dev/null
fi

PIP_FLAGS="-q --disable-pip-version-check"
$PY -m pip install $PIP_FLAGS -r requirements.txt
[ "$WITH_TESTS" = 1 ] && $PY -m pip install $PIP_FLAGS -r test-requirements.txt
$PY -m pip install $PIP_FLAGS --no-deps -e .
command -v pyenv >/dev/null 2>&1 && pyenv rehash || true
echo "oiofs installed"
