#!/usr/bin/env bash
# Builds the node that `kube-testenv --with-node` runs (see hack/kube-testenv/README.md) into
# hack/bin/node/:
#   kubelet, kube-proxy          k8s.io/kubernetes, the version kube-testenv serves (hack/kube-testenv/go.mod)
#   containerd, containerd-shim-runc-v2, ctr    github.com/containerd/containerd/v2 (hack/node/go.mod)
#   runc                         github.com/opencontainers/runc, with seccomp (cgo, libseccomp)
#   cni/bridge, cni/host-local, cni/loopback    github.com/containernetworking/plugins
#   images/pause.oci.tar         the pause image, built here from build/pause/linux/pause.c of the
#                                k8s.io/kubernetes module source (gcc -static) and umoci
#   probe                        hack/node/probe.c (gcc -static): what `make cluster-test` runs
#                                inside the operator's container
# and installs the Debian packages the node needs when missing: nftables (kube-proxy's nftables
# mode runs `nft`), and gcc's static libc, libseccomp-dev and pkg-config to build runc.
#
# Incremental like hack/build-testenv.sh: a binary newer than all of its inputs is not rebuilt;
# otherwise Go's build cache makes a rebuild cheap. FORCE=1 rebuilds everything.
set -euo pipefail

HACK="$(cd "$(dirname "$0")/.." && pwd)"
NODE_MOD="$HACK/node"
KUBE_MOD="$HACK/kube-testenv"
OUT="$HACK/bin/node"
mkdir -p "$OUT/cni" "$OUT/images"
# shellcheck source=hack/image/lib.sh
. "$HACK/image/lib.sh"

log() { echo "build-node: $*" >&2; }

# Debian packages (CI runs as root on Debian 12, like the development machines).
need_pkgs=()
command -v nft >/dev/null || need_pkgs+=(nftables)
command -v pkg-config >/dev/null || need_pkgs+=(pkg-config)
[ -e /usr/include/seccomp.h ] || need_pkgs+=(libseccomp-dev)
[ -e /usr/lib/x86_64-linux-gnu/libc.a ] || need_pkgs+=(libc6-dev)
if [ ${#need_pkgs[@]} -gt 0 ]; then
  [ "$(id -u)" = 0 ] || { log "missing Debian packages ${need_pkgs[*]}: install them as root"; exit 1; }
  log "installing Debian packages: ${need_pkgs[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_pkgs[@]}" >/dev/null
fi

# build NAME MODULE_DIR PACKAGE CGO TAGS LDFLAGS INPUTS...
build() {
  local name="$1" mod="$2" pkg="$3" cgo="$4" tags="$5" ldflags="$6" t0
  shift 6
  if [ "${FORCE:-0}" != 1 ] && newer_than "$OUT/$name" "$@" "$0"; then
    log "$name is up to date"
    return 0
  fi
  log "building $name ($pkg) ..."
  t0=$SECONDS
  mkdir -p "$(dirname "$OUT/$name")"
  (cd "$mod" && CGO_ENABLED="$cgo" nice -n 10 go build -tags "$tags" -ldflags "$ldflags" -o "$OUT/$name.tmp" "$pkg")
  mv -f "$OUT/$name.tmp" "$OUT/$name"
  log "built $OUT/$name in $((SECONDS - t0))s"
}

node_inputs=("$NODE_MOD/go.mod" "$NODE_MOD/go.sum" "$NODE_MOD/tools.go")
mver() { (cd "$1" && go list -m -f '{{.Version}}' "$2"); }

ctrd_ver="$(mver "$NODE_MOD" github.com/containerd/containerd/v2)"
ctrd_ld="-s -w -X github.com/containerd/containerd/v2/version.Version=$ctrd_ver"
# containerd without the btrfs snapshotter (cgo, btrfs headers): overlayfs is what the node uses.
build containerd "$NODE_MOD" github.com/containerd/containerd/v2/cmd/containerd 0 no_btrfs "$ctrd_ld" "${node_inputs[@]}"
build containerd-shim-runc-v2 "$NODE_MOD" github.com/containerd/containerd/v2/cmd/containerd-shim-runc-v2 0 "" "$ctrd_ld" "${node_inputs[@]}"
build ctr "$NODE_MOD" github.com/containerd/containerd/v2/cmd/ctr 0 "" "$ctrd_ld" "${node_inputs[@]}"
# runc as its Makefile builds it, without libpathrs (a Rust library; runc falls back to its Go
# implementation); seccomp needs cgo and libseccomp.
build runc "$NODE_MOD" github.com/opencontainers/runc 1 "seccomp urfave_cli_no_docs" "-s -w" "${node_inputs[@]}"
cni_ver="$(mver "$NODE_MOD" github.com/containernetworking/plugins)"
cni_ld="-s -w -X github.com/containernetworking/plugins/pkg/utils/buildversion.BuildVersion=$cni_ver"
for p in main/bridge ipam/host-local main/loopback; do
  build "cni/${p#*/}" "$NODE_MOD" "github.com/containernetworking/plugins/plugins/$p" 0 "" "$cni_ld" "${node_inputs[@]}"
done

# kubelet and kube-proxy from kube-testenv's module graph: the same Kubernetes version as the
# API server, and mostly the same packages, so Go's build cache shares the work.
kver="$(mver "$KUBE_MOD" k8s.io/kubernetes)"
maj="${kver#v}"; maj="${maj%%.*}"
min="${kver#v*.}"; min="${min%%.*}"
kube_ld="-s -w"
for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  kube_ld+=" -X $p.gitVersion=$kver -X $p.gitMajor=$maj -X $p.gitMinor=$min -X $p.gitTreeState=clean"
done
kube_inputs=("$KUBE_MOD/go.mod" "$KUBE_MOD/go.sum" "$KUBE_MOD/tools.go")
build kubelet "$KUBE_MOD" k8s.io/kubernetes/cmd/kubelet 0 "" "$kube_ld" "${kube_inputs[@]}"
build kube-proxy "$KUBE_MOD" k8s.io/kubernetes/cmd/kube-proxy 0 "" "$kube_ld" "${kube_inputs[@]}"

# The pause image, from the Kubernetes source of that same version, as build/pause/Makefile
# builds it (gcc -Os -static), in an image like build/pause/Dockerfile's: FROM scratch, /pause,
# USER 65535:65535, ENTRYPOINT ["/pause"].
kdir="$(cd "$KUBE_MOD" && go mod download -json k8s.io/kubernetes | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
pause_tag="$(sed -n 's/^TAG ?= *//p' "$kdir/build/pause/Makefile")"
pause_ref="registry.k8s.io/pause:$pause_tag"
if [ "${FORCE:-0}" = 1 ] || ! newer_than "$OUT/images/pause.oci.tar" "$kdir/build/pause/linux/pause.c" "$HACK/image/lib.sh" "$0"; then
  ensure_umoci
  work="$(mktemp -d "${TMPDIR:-/tmp}/pause.XXXXXX")"
  mkdir -p "$work/rootfs"
  gcc -Os -Wall -Werror -static -DVERSION="v$pause_tag-$kver" -o "$work/rootfs/pause" "$kdir/build/pause/linux/pause.c"
  chmod 0755 "$work/rootfs" "$work/rootfs/pause"
  # The Kubernetes module's files are read-only in the module cache: the image's time is the
  # source's own.
  oci_archive "$work/rootfs" "$OUT/images/pause.oci.tar" "$pause_ref" "$(stat -c %Y "$kdir/build/pause/linux/pause.c")" \
    --config.user 65535:65535 --config.entrypoint /pause
  echo "$pause_ref" >"$OUT/images/pause.ref"
  rm -rf "$work"
  log "built $pause_ref -> $OUT/images/pause.oci.tar"
else
  log "pause image is up to date"
fi

if [ "${FORCE:-0}" = 1 ] || ! newer_than "$OUT/probe" "$NODE_MOD/probe.c" "$0"; then
  gcc -O2 -Wall -Werror -static -o "$OUT/probe.tmp" "$NODE_MOD/probe.c"
  mv -f "$OUT/probe.tmp" "$OUT/probe"
  log "built $OUT/probe"
fi
log "done: $OUT"
