# shellcheck shell=bash
# Helpers shared by hack/image/build.sh (the operator image) and hack/node/build.sh (the pause
# image): build umoci from hack/image/go.mod, and turn a root filesystem directory into a
# single-layer OCI image archive without a container engine.
#
# Sourced, not executed. Needs: go, GNU tar, sha256sum.

IMAGE_HACK="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
UMOCI="$IMAGE_HACK/bin/umoci"

image_log() { echo "image: $*" >&2; }

# newer_than BIN FILE...: true when BIN exists and is newer than every FILE.
newer_than() {
  local bin="$1" f
  shift
  [ -e "$bin" ] || return 1
  for f in "$@"; do
    [ "$f" -nt "$bin" ] && return 1
  done
  return 0
}

# ensure_umoci: hack/bin/umoci from the version pinned in hack/image/go.mod (cached).
ensure_umoci() {
  local mod="$IMAGE_HACK/image"
  if [ "${FORCE:-0}" != 1 ] && newer_than "$UMOCI" "$mod/go.mod" "$mod/go.sum" "$mod/tools.go"; then
    return 0
  fi
  image_log "building $UMOCI ..."
  mkdir -p "$IMAGE_HACK/bin"
  (cd "$mod" && CGO_ENABLED=0 go build -ldflags "-s -w" -o "$UMOCI.tmp" github.com/opencontainers/umoci/cmd/umoci)
  mv -f "$UMOCI.tmp" "$UMOCI"
}

# deterministic_tar DIR OUT EPOCH: a tar of DIR's contents (entries named ./...), sorted,
# every mtime EPOCH, no atime/ctime: the same tree always gives
# the same bytes, so the same inputs give the same image digest. Every entry is owned by root.
deterministic_tar() {
  local dir="$1" out="$2" epoch="$3"
  tar --sort=name --owner=0 --group=0 --numeric-owner --mtime="@$epoch" --format=pax \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -C "$dir" -cf "$out" .
}

# oci_archive ROOTFS OUT REF EPOCH [umoci config flags...]: a one-layer OCI image of ROOTFS with
# the given config (user, entrypoint, ...), written as an OCI archive (a tar of an OCI image
# layout, what `skopeo`'s oci-archive:, `ctr images import` and `docker load` read) to OUT.
# REF is the full image name, e.g. ghcr.io/studio-operator/studio-operator:0.1.0: index.json
# names the manifest with it (io.containerd.image.name, what `ctr images import` and `docker load`
# use) and with its tag (org.opencontainers.image.ref.name, as the OCI layout spec wants).
oci_archive() {
  local rootfs="$1" out="$2" ref="$3" epoch="$4" work created
  shift 4
  work="$(mktemp -d "${TMPDIR:-/tmp}/oci-archive.XXXXXX")"
  created="$(date -u -d "@$epoch" +%Y-%m-%dT%H:%M:%SZ)"
  deterministic_tar "$rootfs" "$work/layer.tar" "$epoch"
  "$UMOCI" init --layout "$work/layout"
  "$UMOCI" new --image "$work/layout:build"
  "$UMOCI" raw add-layer --image "$work/layout:build" --compress gzip \
    --history.created "$created" --history.created_by "hack/image/lib.sh oci_archive" "$work/layer.tar"
  "$UMOCI" config --image "$work/layout:build" --created "$created" --no-history \
    --os linux --architecture amd64 "$@"
  "$UMOCI" gc --layout "$work/layout"
  python3 - "$work/layout/index.json" "$ref" <<'PY'
import json, sys
path, ref = sys.argv[1], sys.argv[2]
index = json.load(open(path))
assert len(index["manifests"]) == 1, index
index["manifests"][0]["annotations"] = {
    "io.containerd.image.name": ref,
    "org.opencontainers.image.ref.name": ref.rsplit(":", 1)[1],
}
json.dump(index, open(path, "w"), separators=(",", ":"))
PY
  find "$work/layout" -exec touch -h -d "@$epoch" {} +
  mkdir -p "$(dirname "$out")"
  deterministic_tar "$work/layout" "$out.tmp" "$epoch"
  mv -f "$out.tmp" "$out"
  rm -rf "$work"
}
