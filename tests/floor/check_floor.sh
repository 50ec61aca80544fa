#!/usr/bin/env bash
# Opt-in (`make check-floor`, not part of CI): run the test suite on the oldest torch/torchvision
# that requirements.txt states. The floor is read from the `torch>=X.Y` and `torchvision>=A.B`
# lines and installed exactly (X.Y.0, A.B.0) in a throw-away venv outside the repository, in place
# of those two lines; every other requirement at the newest release pip resolves next to them.
#
#   FLOOR_VENV    where the venv goes (default /tmp/rwsr-floor; reused when its torch matches)
#   FLOOR_PYTHON  the interpreter that creates it (default python3)
#   FLOOR_EXTRA   extra pins for the floor venv only, e.g. "numpy<2" (space separated)
#   FLOOR_TORCH, FLOOR_TORCHVISION  try other versions than requirements.txt states
#   PYTEST_ARGS   passed to pytest (default: -q tests)
#
# Old PyPI wheels for Linux are CUDA builds: the first run downloads several GB.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
cd "$ROOT"

floor_of() {  # the version after `NAME>=` in requirements.txt, completed to three parts
    local version
    version=$(sed -n "s/^$1>=\([0-9][0-9.]*\).*/\1/p" requirements.txt | head -n 1)
    if [ -z "$version" ]; then
        echo "error: requirements.txt has no '$1>=' line; state the floor there" >&2
        exit 2
    fi
    case "$version" in *.*.*) ;; *) version="$version.0" ;; esac
    echo "$version"
}

TORCH=${FLOOR_TORCH:-$(floor_of torch)}
TORCHVISION=${FLOOR_TORCHVISION:-$(floor_of torchvision)}
VENV=${FLOOR_VENV:-/tmp/rwsr-floor}
case "$(cd "$(dirname "$VENV")" 2>/dev/null && pwd)/" in
    "$ROOT"/*) echo "error: FLOOR_VENV must lie outside the repository ($VENV)" >&2; exit 2 ;;
esac
PY="$VENV/bin/python"

wanted="torch==$TORCH torchvision==$TORCHVISION${FLOOR_EXTRA:+ $FLOOR_EXTRA}"
if [ -e "$VENV" ] && [ ! -e "$VENV/pyvenv.cfg" ]; then
    echo "error: $VENV exists and is not a venv; set FLOOR_VENV to a new folder" >&2
    exit 2
fi
pip_install() { "$PY" -m pip install -q --disable-pip-version-check "$@"; }
if [ "$(cat "$VENV/.floor-installed" 2>/dev/null)" != "$wanted" ]; then
    echo "floor venv $VENV: $wanted (first run: several GB)"
    rm -rf "$VENV"
    "${FLOOR_PYTHON:-python3}" -m venv "$VENV"
    pip_install --upgrade pip setuptools wheel  # the editable install below needs a recent setuptools
fi
# every run: requirements added since the venv was made; the pins replace the torch lines
grep -vE '^(torch|torchvision)([<>=!~ ;[]|$)' requirements.txt > "$VENV/floor-requirements.txt"
printf '%s\n' $wanted >> "$VENV/floor-requirements.txt"
pip_install -r "$VENV/floor-requirements.txt"
pip_install --no-deps --no-build-isolation -e .
echo "$wanted" > "$VENV/.floor-installed"

"$PY" - <<'EOF'
import platform, numpy, torch, torchvision
print(f"floor run: python {platform.python_version()}, torch {torch.__version__}, "
      f"torchvision {torchvision.__version__}, numpy {numpy.__version__}")
EOF
# shellcheck disable=SC2086
exec "$PY" -m pytest ${PYTEST_ARGS:--q tests}
