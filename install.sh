#!/usr/bin/env bash
# Install what oiofs needs on a fresh Debian machine into a project virtual environment.
#   ./install.sh                # runtime: Debian packages + .venv with oiofs and its dependencies
#   ./install.sh --with-tests   # also what the test suite uses (pytest, ruff, python-swiftclient...)
# The system Python is never touched: everything Python goes into .venv at the top of the
# checkout (PEP 668 forbids pip into Debian's own Python). PYTHON=/path/to/python3 picks the
# interpreter the venv is made from (pyenv and the like). Safe to run again: it only installs
# what is missing. bin/* find .venv by themselves: nothing needs activating.
set -euo pipefail
cd "$(dirname "$0")"

WITH_TESTS=0
[ "${1:-}" = "--with-tests" ] && WITH_TESTS=1

PY=${PYTHON:-python3}
VENV=.venv
SUDO=""
[ "$(id -u)" -ne 0 ] && command -v sudo >/dev/null 2>&1 && SUDO="sudo"

say() { echo "install.sh: $*"; }

# Debian packages. redis-server: the Redis account service and its tests. attr: getfattr and
# setfattr for operators inspecting object metadata. python3-swiftclient: the `swift` command
# the README shows. fuse3: fusermount3 and libfuse3 for oiofs-mount (mfusepy loads libfuse
# through ctypes: no compiler, no -dev package). rclone: a second real client in the tests.
# python3-venv/python3-pip: only when the interpreter cannot make a virtual environment with
# pip (a fresh Debian).
DEB_PACKAGES="redis-server attr python3-swiftclient fuse3"
[ "$WITH_TESTS" = 1 ] && DEB_PACKAGES="$DEB_PACKAGES rclone"
if ! "$PY" -c "import venv, ensurepip" >/dev/null 2>&1; then
    DEB_PACKAGES="$DEB_PACKAGES python3-venv python3-pip"
fi
missing=""
for pkg in $DEB_PACKAGES; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing="$missing $pkg"
done
if [ -n "$missing" ]; then
    say "installing Debian packages:$missing"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
        $missing >/dev/null
fi

# The project's virtual environment, remade when it is broken or was made from another
# interpreter than the one asked for.
want=$("$PY" -c "import sys; print(sys.version_info[:2] >= (3, 11), sys.base_prefix)")
case "$want" in
    False*) say "$PY is older than Python 3.11"; exit 1 ;;
esac
if [ -x "$VENV/bin/python" ]; then
    have=$("$VENV/bin/python" -c "import sys; print(True, sys.base_prefix)" 2>/dev/null || true)
    if [ "$have" != "$want" ]; then
        say "remaking $VENV (it was made from another Python)"
        rm -rf "$VENV"
    fi
fi
if [ ! -x "$VENV/bin/python" ]; then
    say "creating $VENV with $("$PY" -c 'import sys; print(sys.executable)')"
    "$PY" -m venv "$VENV"
fi

PIP=("$VENV/bin/python" -m pip -q --disable-pip-version-check)
say "installing Python dependencies into $VENV"
"${PIP[@]}" install -r requirements.txt
[ "$WITH_TESTS" = 1 ] && "${PIP[@]}" install -r test-requirements.txt
# Editable: bin/* and the console scripts in .venv/bin run this checkout. The test suite also
# builds a wheel and installs it into a fresh environment, which catches files an editable
# install would hide.
"${PIP[@]}" install --no-deps -e .
say "oiofs installed in $VENV (bin/* use it; or: source $VENV/bin/activate)"
