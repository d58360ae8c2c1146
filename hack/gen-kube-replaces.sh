#!/usr/bin/env bash
# Generate the `replace` block of hack/kube-testenv/go.mod from the published
# go.mod of k8s.io/kubernetes. k8s.io/kubernetes requires its staging modules at
# the non-existent version v0.0.0 and replaces them with ./staging/..., which only
# works inside the kubernetes repo. Importers must replace every staging module
# with the matching published v0.X.Y tag. Never type this list by hand: it
# changes between releases.
#
# Usage: hack/gen-kube-replaces.sh [KUBE_VERSION]   (default v1.37.2)
set -euo pipefail

KUBE_VERSION="${1:-v1.37.2}"
# v1.37.2 -> v0.37.2
STAGING_VERSION="v0.${KUBE_VERSION#v1.}"
MODDIR="$(cd "$(dirname "$0")/kube-testenv" && pwd)"
cd "$MODDIR"

echo "gen-kube-replaces: k8s.io/kubernetes@${KUBE_VERSION}, staging modules @${STAGING_VERSION}" >&2

gomod="$(go mod download -json "k8s.io/kubernetes@${KUBE_VERSION}" |
  sed -n 's/^[[:space:]]*"GoMod":[[:space:]]*"\(.*\)",\{0,1\}$/\1/p')"
if [ -z "$gomod" ] || [ ! -f "$gomod" ]; then
  echo "gen-kube-replaces: could not locate go.mod of k8s.io/kubernetes@${KUBE_VERSION}" >&2
  exit 1
fi

mods="$(grep -oE '(k8s\.io/[A-Za-z0-9._-]+)[[:space:]]+=>[[:space:]]+\./staging' "$gomod" | awk '{print $1}' | sort -u)"
if [ -z "$mods" ]; then
  echo "gen-kube-replaces: no '=> ./staging' lines found in $gomod" >&2
  exit 1
fi

args=()
n=0
for m in $mods; do
  args+=("-replace=${m}=${m}@${STAGING_VERSION}")
  n=$((n + 1))
done
go mod edit "${args[@]}"
go mod edit -require="k8s.io/kubernetes@${KUBE_VERSION}"
echo "gen-kube-replaces: applied ${n} replace directives; running go mod tidy" >&2

go mod tidy
echo "gen-kube-replaces: done" >&2
