#!/usr/bin/env bash
# Runs the space backup agent's tests: the agent as a subprocess (and its lifecycle script), a
# real Jupyter server, the aws-emulator binary as SageMaker and moto's standalone server as S3
# behind a small fault-injecting proxy in the test.
#
#   tests/space-backup/run.sh [pytest args...]
#
# The virtualenv comes from venv.sh (pinned packages); the emulator is built with cargo (a no-op
# when it is up to date); then pytest runs. Works from any directory; the exit code is pytest's.
#
# Environment: PYTHON (interpreter for the venv, default python3), CARGO_TARGET_DIR (honoured),
# AWS_EMULATOR_BIN (use this binary instead of building target/debug/aws-emulator).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"
venv_python="$("$here/venv.sh")"
venv="${venv_python%/bin/python}"

if [[ -z "${AWS_EMULATOR_BIN:-}" ]]; then
    (cd "$repo" && cargo build -q -p aws-emulator)
    export AWS_EMULATOR_BIN="$target/debug/aws-emulator"
fi

# Hermetic boto3 and Jupyter: no user profile, credentials or Jupyter config leak into the test.
unset AWS_PROFILE AWS_DEFAULT_PROFILE AWS_ENDPOINT_URL AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_SESSION_TOKEN
unset AWS_ENDPOINT_URL_S3 AWS_ENDPOINT_URL_SAGEMAKER
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
