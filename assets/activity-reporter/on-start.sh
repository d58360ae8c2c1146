#!/bin/bash
# studio-operator activity reporter: Studio lifecycle configuration (see README.md beside it).
# Writes reporter.py (embedded below by the operator) and starts it in the background, so the
# app start is not blocked. Never fails the app start because of the reporter.
set -u
dir="${ACTIVITY_REPORTER_DIR:-/tmp/studio-operator}"
mkdir -p "$dir" || exit 0
cat >"$dir/reporter.py" <<'STUDIO_OPERATOR_REPORTER_EOF'
__REPORTER_PY__
STUDIO_OPERATOR_REPORTER_EOF

# SageMaker Distribution and Studio images ship boto3 in /opt/conda.
py=""
for c in ${ACTIVITY_REPORTER_PYTHON:-} /opt/conda/bin/python3 python3; do
    if "$c" -c 'import boto3' >/dev/null 2>&1; then py="$c"; break; fi
done
if [ -z "$py" ]; then
    echo "activity reporter not started: no python3 with boto3" >&2
    exit 0
fi

# One reporter per app, even if the script runs twice.
if [ -f "$dir/reporter.pid" ] && kill -0 "$(cat "$dir/reporter.pid")" 2>/dev/null; then
    exit 0
fi
ACTIVITY_STATE_FILE="${ACTIVITY_STATE_FILE:-$dir/state.json}" \
    nohup "$py" "$dir/reporter.py" </dev/null >>"$dir/reporter.log" 2>&1 &
echo $! >"$dir/reporter.pid"
echo "activity reporter started: pid $!, log $dir/reporter.log"
