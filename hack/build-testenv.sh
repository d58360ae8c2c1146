#!/usr/bin/env bash
# Build hack/bin/kube-testenv (kube-apiserver + embedded etcd + namespace/GC
# controllers, see hack/kube-testenv/README.md) and hack/bin/kubectl from the
# pinned module graph in hack/kube-testenv/go.mod.
#
# Incremental: skips `go build` when a binary is newer than all of its inputs,
# and otherwise relies on Go's build cache (never cleaned here). A cold build
# (empty GOCACHE) takes ~15 min on 2 cores and ~3 GB RAM; a warm one seconds.
# Set FORCE=1 to always invoke `go build`.
set -euo pipefail

HACK="$(cd "$(dirname "$0")" && pwd)"
MOD="$HACK/kube-testenv"
BIN="$HACK/bin"
mkdir -p "$BIN"

log() { echo "build-testenv: $*" >&2; }

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

cd "$MOD"
# Pure Go, static binaries. -trimpath is deliberately not used.
export CGO_ENABLED="${CGO_ENABLED:-0}"

build() {
  local name="$1" pkg="$2" t0 kver maj min pkgs ldflags
  shift 2
  if [ "${FORCE:-0}" != 1 ] && newer_than "$BIN/$name" "$@"; then
    log "$name is up to date ($BIN/$name)"
    return 0
  fi
  # Stamp the real version (otherwise /version reports v0.0.0-master+$Format:%H$,
  # which kubectl and version-parsing clients reject).
  kver="$(go list -m -f '{{.Version}}' k8s.io/kubernetes)"      # v1.37.2
  maj="${kver#v}"; maj="${maj%%.*}"
  min="${kver#v*.}"; min="${min%%.*}"
  ldflags="-s -w"
  for pkgs in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ldflags+=" -X $pkgs.gitVersion=$kver -X $pkgs.gitMajor=$maj -X $pkgs.gitMinor=$min -X $pkgs.gitTreeState=clean"
  done
  log "building $name ($pkg, $kver) ..."
  t0=$(date +%s)
  go build -ldflags="$ldflags" -o "$BIN/$name.tmp" "$pkg"
  mv -f "$BIN/$name.tmp" "$BIN/$name"
  log "built $BIN/$name in $(( $(date +%s) - t0 ))s"
}

build kube-testenv . "$MOD/go.mod" "$MOD/go.sum" "$MOD"/*.go "$HACK/build-testenv.sh"
build kubectl k8s.io/kubernetes/cmd/kubectl "$MOD/go.mod" "$MOD/go.sum" "$HACK/build-testenv.sh"
log "done"
