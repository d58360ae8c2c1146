#!/usr/bin/env bash
# The virtualenv of the space backup agent's tests, $CARGO_TARGET_DIR/space-backup-venv (default
# target/), with its pinned packages (hack/pinned-venv.sh); prints the path of its python. Used by
# run.sh and by the e2e test that runs the operator's rendered lifecycle script
# (tests/e2e/agent.rs).
#
# Environment: PYTHON (interpreter for the venv, default python3), CARGO_TARGET_DIR (honoured).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
target="${CARGO_TARGET_DIR:-$repo/target}"

# The activity reporter's pins (its test helpers are reused), plus moto's server for S3; moto
# matches the emulator's conformance suite.
pins=(jupyter_server==2.21.1 ipykernel==7.4.0 boto3==1.44.8 botocore==1.44.8 pytest==9.2.0 "moto[server]==5.2.1")

exec "$repo/hack/pinned-venv.sh" "$target/space-backup-venv" "${pins[@]}"
