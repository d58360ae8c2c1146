#!/usr/bin/env bash
# Creates (or reuses) the virtualenv of the space backup agent's tests in
# $CARGO_TARGET_DIR/space-backup-venv (default target/), installs the pinned packages when the
# pins change, and prints the path of its python. Used by run.sh and by the e2e test that runs
# the operator's rendered lifecycle script (tests/e2e/agent.rs).
#
# Environment: PYTHON (interpreter for the venv, default python3), CARGO_TARGET_DIR (honoured).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
venv="$target/space-backup-venv"
python="${PYTHON:-python3}"

# The activity reporter's pins (its test helpers are reused), plus moto's server for S3; moto
# matches the emulator's conformance suite.
pins=(jupyter_server==2.21.1 ipykernel==7.4.0 boto3==1.44.8 botocore==1.44.8 pytest==9.2.0 "moto[server]==5.2.1")

if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv" >&2
fi

stamp="$venv/.pins.sha256"
want="$( (printf '%s\n' "${pins[@]}"; "$venv/bin/python" -c 'import sys; print(sys.version)') | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "${pins[@]}" >&2
    echo "$want" >"$stamp"
fi
echo "$venv/bin/python"
