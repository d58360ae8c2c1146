#!/usr/bin/env bash
# Runs the activity reporter's tests: a real Jupyter server and ipykernel, the reporter as a
# subprocess and the aws-emulator binary as SageMaker.
#
#   tests/activity-reporter/run.sh [pytest args...]
#
# Creates (or reuses) a virtualenv in target/activity-reporter-venv with the pinned packages
# (hack/pinned-venv.sh), builds the emulator with cargo (a no-op when it is up to date) and runs
# pytest. Works from any directory; the exit code is pytest's.
#
# Environment: PYTHON (interpreter for the venv, default python3), CARGO_TARGET_DIR (honoured),
# AWS_EMULATOR_BIN (use this binary instead of building target/debug/aws-emulator).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"

# boto3 matches the emulator's conformance suite; terminado and jupyter_client come with
# jupyter_server.
pins=(jupyter_server==2.21.1 ipykernel==7.4.0 boto3==1.44.8 botocore==1.44.8 pytest==9.2.0)
venv_python="$("$repo/hack/pinned-venv.sh" "$target/activity-reporter-venv" "${pins[@]}")"
venv="${venv_python%/bin/python}"

if [[ -z "${AWS_EMULATOR_BIN:-}" ]]; then
    (cd "$repo" && cargo build -q -p aws-emulator)
    export AWS_EMULATOR_BIN="$target/debug/aws-emulator"
fi

# Hermetic boto3 and Jupyter: no user profile, credentials or Jupyter config leak into the test.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
unset JUPYTER_TOKEN JUPYTER_CONFIG_DIR JUPYTER_DATA_DIR JUPYTER_RUNTIME_DIR
export AWS_CONFIG_FILE=/dev/null AWS_SHARED_CREDENTIALS_FILE=/dev/null AWS_EC2_METADATA_DISABLED=true
export PYTHONDONTWRITEBYTECODE=1
export PATH="$venv/bin:$PATH"

cd "$here"
set +e
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
status=$?
set -e
exit "$status"
