#!/bin/bash
# studio-operator space backup: lifecycle configuration for JupyterLab and Code Editor apps (see
# README.md). Unpacks the agent, starts it once in the background and waits, at most the restore
# budget, while it restores a new space's home. Never fails the app start.
set -u
export SPACE_BACKUP_S3_URI="${SPACE_BACKUP_S3_URI:-__S3_URI__}"
export SPACE_BACKUP_KMS_KEY_ID="${SPACE_BACKUP_KMS_KEY_ID:-__KMS_KEY_ID__}"
export SPACE_BACKUP_INTERVAL_SECONDS="${SPACE_BACKUP_INTERVAL_SECONDS:-__INTERVAL_SECONDS__}"
dir="${SPACE_BACKUP_DIR:-/tmp/studio-operator-backup}"
budget="${SPACE_BACKUP_RESTORE_BUDGET_SECONDS:-240}"
mkdir -p "$dir" || exit 0
py=""
for c in ${SPACE_BACKUP_PYTHON:-} /opt/conda/bin/python3 python3; do
    if "$c" -c 'import boto3, lzma' >/dev/null 2>&1; then py="$c"; break; fi
done
if [ -z "$py" ]; then echo "space backup not started: no python3 with boto3" >&2; exit 0; fi
# One agent per app, even if the script runs twice (a dead or reused pid has another cmdline).
if [ -f "$dir/agent.pid" ] && grep -qs agent.py "/proc/$(cat "$dir/agent.pid")/cmdline"; then exit 0; fi
"$py" -c '
import base64, lzma, os, sys
p = lzma.decompress(base64.b85decode(sys.stdin.read().strip())).decode().split("\0")
for name, text in zip(p[::2], p[1::2]):
    open(os.path.join(sys.argv[1], name), "w").write(text)
' "$dir" <<'STUDIO_OPERATOR_PAYLOAD_EOF' || exit 0
__AGENT_PAYLOAD__
STUDIO_OPERATOR_PAYLOAD_EOF
# Low priority for CPU and disk; the restore at start has the machine to itself anyway.
prio=(nice -n 10)
if ionice -c 2 -n 7 true 2>/dev/null; then prio+=(ionice -c 2 -n 7); fi
rm -f "$dir/ready"
nohup "${prio[@]}" "$py" "$dir/agent.py" run --ready-file "$dir/ready" </dev/null >>"$dir/agent.log" 2>&1 &
pid=$!
echo "$pid" >"$dir/agent.pid"
end=$((SECONDS + budget))
while [ ! -e "$dir/ready" ] && kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$end" ]; do sleep 0.2; done
echo "space backup agent: pid $pid, log $dir/agent.log"
