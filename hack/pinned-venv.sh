#!/usr/bin/env bash
# Creates (or reuses) a Python virtualenv with pinned packages and prints the path of its python.
# pip runs only when the pins or the interpreter changed (a stamp file holds their hash); its
# output goes to stderr.
#
#   hack/pinned-venv.sh DIR PIN...      e.g. hack/pinned-venv.sh target/x-venv boto3==1.44.8
#
# Environment: PYTHON (interpreter for the venv, default python3).
set -euo pipefail

venv="$1"
shift
python="${PYTHON:-python3}"

if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv" >&2
fi

stamp="$venv/.pins.sha256"
want="$( (printf '%s\n' "$@"; "$venv/bin/python" -c 'import sys; print(sys.version)') | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "$@" >&2
    echo "$want" >"$stamp"
fi
echo "$venv/bin/python"
