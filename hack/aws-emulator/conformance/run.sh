#!/usr/bin/env bash
# Runs the boto3 conformance and moto parity suites against the aws-emulator binary.
#
#   hack/aws-emulator/conformance/run.sh [pytest args...]
#
# Creates (or reuses) a virtualenv in hack/aws-emulator/conformance/.venv, installs the pinned
# requirements when requirements.txt changed, builds the emulator with cargo and runs pytest.
# Works from any directory; the exit code is pytest's.
#
# Environment: PYTHON (interpreter for the venv, default python3), CARGO_TARGET_DIR (honoured),
# AWS_EMULATOR_BIN (use this binary instead of building target/debug/aws-emulator).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../../.." && pwd)"
venv="$here/.venv"
python="${PYTHON:-python3}"

if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi

stamp="$venv/.requirements.sha256"
want="$( (cat "$here/requirements.txt"; "$venv/bin/python" -c 'import sys; print(sys.version)') | sha256sum | cut -d' ' -f1)"
if [[ ! -f "$stamp" || "$(cat "$stamp")" != "$want" ]]; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check --upgrade pip
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check -r "$here/requirements.txt"
    echo "$want" >"$stamp"
fi

if [[ -z "${AWS_EMULATOR_BIN:-}" ]]; then
    (cd "$repo" && cargo build -q -p aws-emulator)
fi

# Hermetic boto3: no user profile, config or credentials leak into the clients.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
export PYTHONDONTWRITEBYTECODE=1

cd "$here"
set +e
"$venv/bin/python" -m pytest -q "$@"
status=$?
set -e
exit "$status"
