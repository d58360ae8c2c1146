#!/usr/bin/env bash
# Build hack/bin/kstatus-check (see hack/kstatus-check/README.md) from hack/kstatus-check.
#
# Incremental like hack/build-testenv.sh: skips `go build` when the binary is newer than every
# input (go.mod, go.sum, *.go, this script). Its Kubernetes modules are those of
# hack/kube-testenv/go.mod, so with a warm GOCACHE (after `make testenv`) a build takes seconds;
# cold, about a minute. Set FORCE=1 to always invoke `go build`.
set -euo pipefail

HACK="$(cd "$(dirname "$0")" && pwd)"
MOD="$HACK/kstatus-check"
BIN="$HACK/bin"
OUT="$BIN/kstatus-check"
mkdir -p "$BIN"

log() { echo "build-kstatus-check: $*" >&2; }

# newer_than BIN FILE...: true when BIN exists and is newer than every FILE.
newer_than() {
  local bin="$1" f
  shift
  [ -x "$bin" ] || return 1
  for f in "$@"; do
    [ "$f" -nt "$bin" ] && return 1
  done
  return 0
}

# Same settings as hack/build-testenv.sh (static, no -trimpath), so the build cache is shared.
export CGO_ENABLED="${CGO_ENABLED:-0}"

inputs=("$MOD/go.mod" "$MOD/go.sum" "$HACK/build-kstatus-check.sh")
for f in "$MOD"/*.go; do
  case "$f" in *_test.go) ;; *) inputs+=("$f") ;; esac
done

if [ "${FORCE:-0}" != 1 ] && newer_than "$OUT" "${inputs[@]}"; then
  log "kstatus-check is up to date ($OUT)"
  exit 0
fi
log "building $OUT ..."
t0=$(date +%s)
(cd "$MOD" && go build -ldflags="-s -w" -o "$OUT.tmp" .)
mv -f "$OUT.tmp" "$OUT"
log "built $OUT in $(( $(date +%s) - t0 ))s"
