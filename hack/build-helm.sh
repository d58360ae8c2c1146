#!/usr/bin/env bash
# Builds hack/bin/helm from the pinned module in hack/tools (helm.sh/helm/v3) when it is missing or
# older than hack/tools/go.mod/go.sum/tools.go or this script (it holds the ldflags); FORCE_HELM=1
# always rebuilds. Cold build: ~3 min on 2 cores; a re-link with a warm GOCACHE: seconds.
# Used by hack/chart-test.sh, hack/cluster-test.sh and `make run IN_CLUSTER=1`.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
BIN="$ROOT/hack/bin"
HELM="$BIN/helm"
TOOLS="$ROOT/hack/tools"
log() { echo "build-helm: $*" >&2; }

newer_than() {
  local bin="$1" f
  shift
  [ -x "$bin" ] || return 1
  for f in "$@"; do
    [ "$f" -nt "$bin" ] && return 1
  done
  return 0
}
if [ "${FORCE_HELM:-0}" != 1 ] && newer_than "$HELM" "$TOOLS/go.mod" "$TOOLS/go.sum" "$TOOLS/tools.go" "$0"; then
  log "helm is up to date ($HELM)"
  exit 0
fi
# Stamp what helm's own Makefile stamps: its version, and the Kubernetes version of its
# client-go (the default .Capabilities.KubeVersion of `helm template`/`helm lint`; unstamped it
# is v1.20.0, which fails charts with a kubeVersion constraint).
hver="$(cd "$TOOLS" && go list -m -f '{{.Version}}' helm.sh/helm/v3)"   # v3.22.0
cgo="$(cd "$TOOLS" && go list -m -f '{{.Version}}' k8s.io/client-go)"   # v0.35.x
kmaj=1 kmin="${cgo#v0.}"; kmin="${kmin%%.*}"                          # client-go v0.N = Kubernetes 1.N
ldflags="-s -w -X helm.sh/helm/v3/internal/version.version=$hver -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
for p in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  ldflags+=" -X $p.k8sVersionMajor=$kmaj -X $p.k8sVersionMinor=$kmin"
done
log "building $HELM ($hver, Kubernetes $kmaj.$kmin) from $TOOLS ..."
t0=$(date +%s)
mkdir -p "$BIN"
(cd "$TOOLS" && CGO_ENABLED=0 go build -ldflags="$ldflags" -o "$HELM.tmp" helm.sh/helm/v3/cmd/helm)
mv -f "$HELM.tmp" "$HELM"
log "built $HELM in $(($(date +%s) - t0))s"
