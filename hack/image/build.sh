#!/usr/bin/env bash
# `make image`: the operator's OCI image, built without a container engine.
#
#   hack/image/build.sh [IMAGE]      IMAGE defaults to ghcr.io/studio-operator/studio-operator:<version>
#
# 1. the release binary: `cargo build --release --locked --bin studio-operator` (incremental;
#    IMAGE_PROFILE=dev takes the debug build instead, which `make test` uses so that CI does not
#    compile every dependency a second time with optimisations);
# 2. its root filesystem: hack/image/rootfs.sh (the same script the Dockerfile runs), i.e. the
#    binary, the glibc libraries it links, Debian's CA bundle, /etc/passwd and /etc/group;
# 3. one layer and the image config (user 65532:65532, entrypoint, cmd, port, labels: the same as
#    the Dockerfile's final stage, which hack/image/check.py verifies) with umoci, the Open
#    Container Initiative's own image tool, built from the Go module pinned in hack/image/go.mod;
# 4. an OCI archive (a tar of an OCI image layout): hack/bin/images/studio-operator.oci.tar.
#
# The image is reproducible: every timestamp is the last commit's time (SOURCE_DATE_EPOCH when
# set), so the same binary gives the same digest. Load it with `docker load -i`, copy it to a
# registry with `skopeo copy oci-archive:... docker://...`, or import it into containerd with
# `ctr images import` (kube-testenv --with-node --node-image does that).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
# shellcheck source=hack/image/lib.sh
. hack/image/lib.sh

version="$(sed -n 's/^version = "\(.*\)"$/\1/p' Cargo.toml | head -1)"
ref="${1:-${IMAGE:-ghcr.io/studio-operator/studio-operator:$version}}"
case "$ref" in
  *:*) ;;
  *) echo "image: '$ref' has no tag (want NAME:TAG)" >&2; exit 2 ;;
esac
out="${IMAGE_ARCHIVE:-$ROOT/hack/bin/images/studio-operator.oci.tar}"
epoch="${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || echo 0)}"
profile="${IMAGE_PROFILE:-release}"
case "$profile" in
  release) profile_dir=release ;;
  dev) profile_dir=debug ;;
  *) echo "image: IMAGE_PROFILE must be release or dev, not '$profile'" >&2; exit 2 ;;
esac
bin="${CARGO_TARGET_DIR:-$ROOT/target}/$profile_dir/studio-operator"

ensure_umoci
image_log "$profile build of studio-operator (cargo, incremental)"
t0=$SECONDS
nice -n 10 cargo build -q --profile "$profile" --locked --bin studio-operator
image_log "$profile binary ready in $((SECONDS - t0))s: $bin"

work="$(mktemp -d "${TMPDIR:-/tmp}/image-build.XXXXXX")"
trap 'rm -rf "$work"' EXIT
hack/image/rootfs.sh "$bin" "$work/rootfs"
oci_archive "$work/rootfs" "$out" "$ref" "$epoch" \
  --config.user 65532:65532 \
  --config.entrypoint /usr/local/bin/studio-operator \
  --config.cmd run \
  --config.exposedports 8080/tcp \
  --config.env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --config.label org.opencontainers.image.title=studio-operator \
  --config.label "org.opencontainers.image.description=Kubernetes operator for Amazon SageMaker AI Studio" \
  --config.label org.opencontainers.image.source=https://github.com/studio-operator/studio-operator \
  --config.label org.opencontainers.image.licenses=Apache-2.0
digest="$(tar -xOf "$out" ./index.json | python3 -c 'import json,sys; print(json.load(sys.stdin)["manifests"][0]["digest"])')"
image_log "$ref ($digest, $(du -h "$out" | cut -f1)) -> $out"
