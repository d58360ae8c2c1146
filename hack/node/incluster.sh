# shellcheck shell=bash
# The operator as it runs in production, on kube-testenv's node: helpers shared by
# hack/cluster-test.sh (`make cluster-test`) and hack/run-local.sh (`make run IN_CLUSTER=1`).
# Sourced, not executed; the caller sets ROOT (the repository) and calls incluster_stop on exit.
#
#   incluster_start WORK ARCHIVE...   kube-testenv --with-node, the archives imported into the
#                                     node: exports KUBECONFIG, sets NODE_HOST_IP, TESTENV_DIR
#   incluster_emulator WORK           target/debug/aws-emulator on NODE_HOST_IP (where pods reach
#                                     the host): sets EMU (its URL)
#   incluster_kms_alias ALIAS         a customer managed KMS key in the emulator, named ALIAS
#   incluster_image_ref ARCHIVE       the image name an OCI archive carries
#   incluster_variant ARCHIVE REF OUT a second image REF with ARCHIVE's layer and a config that
#                                     differs (label org.opencontainers.image.version=<tag>): a
#                                     new image ID, as a real release would have
#   incluster_stop                    stops the emulator and kube-testenv (the node goes with it)

INCLUSTER_TESTENV_PID=""
INCLUSTER_EMU_PID=""

incluster_log() { echo "incluster: $*" >&2; }

incluster_start() {
  local work="$1" args=() img t0
  shift
  for img in "$@"; do args+=(--node-image "$img"); done
  TESTENV_DIR="$work/testenv"
  mkfifo "$work/testenv.stdin"
  exec 3<>"$work/testenv.stdin" # kept open until incluster_stop: EOF stops kube-testenv
  "$ROOT/hack/bin/kube-testenv" --dir "$TESTENV_DIR" --with-node "${args[@]}" \
    <"$work/testenv.stdin" >"$work/testenv.out" 2>"$work/testenv.err" 3>&- &
  INCLUSTER_TESTENV_PID=$!
  t0=$SECONDS
  until [ -s "$work/testenv.out" ]; do
    if ! kill -0 "$INCLUSTER_TESTENV_PID" 2>/dev/null || [ $((SECONDS - t0)) -gt 420 ]; then
      incluster_log "kube-testenv --with-node did not become ready; its log:"
      tail -30 "$work/testenv.err" >&2
      for f in "$TESTENV_DIR"/node/logs/*.log; do
        [ -e "$f" ] && { incluster_log "$f:"; tail -15 "$f" >&2; }
      done
      return 1
    fi
    sleep 0.5
  done
  KUBECONFIG="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["kubeconfig"])' "$work/testenv.out")"
  NODE_HOST_IP="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["hostIP"])' "$work/testenv.out")"
  export KUBECONFIG
  incluster_log "kube-testenv with its node ready in $((SECONDS - t0))s (pods reach the host at $NODE_HOST_IP)"
}

incluster_emulator() {
  local work="$1" port
  port="$(python3 -c 'import socket,sys; s=socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' "$NODE_HOST_IP")"
  "$ROOT/target/debug/aws-emulator" --host "$NODE_HOST_IP" --port "$port" 2>"$work/emulator.log" &
  INCLUSTER_EMU_PID=$!
  EMU="http://$NODE_HOST_IP:$port"
  for _ in $(seq 1 100); do (echo >"/dev/tcp/$NODE_HOST_IP/$port") 2>/dev/null && return 0; sleep 0.1; done
  incluster_log "the emulator did not listen on $EMU"
  return 1
}

# incluster_aws SERVICE TARGET JSON: one AWS JSON 1.1 call to the emulator (a SigV4 header with
# the right scope is all it checks).
incluster_aws() {
  curl -sf "$EMU/" -H "X-Amz-Target: $2" -H 'Content-Type: application/x-amz-json-1.1' \
    -H "Authorization: AWS4-HMAC-SHA256 Credential=incluster/$(date -u +%Y%m%d)/us-east-1/$1/aws4_request, SignedHeaders=host, Signature=0" \
    -d "$3"
}

incluster_kms_alias() {
  local key_id
  key_id="$(incluster_aws kms TrentService.CreateKey '{"Description":"in-cluster run"}' |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["KeyMetadata"]["KeyId"])')" || return 1
  incluster_aws kms TrentService.CreateAlias "{\"AliasName\":\"$1\",\"TargetKeyId\":\"$key_id\"}" >/dev/null
}

incluster_image_ref() {
  tar -xOf "$1" ./index.json | python3 -c 'import json,sys; print(json.load(sys.stdin)["manifests"][0]["annotations"]["io.containerd.image.name"])'
}

incluster_variant() {
  local archive="$1" ref="$2" out="$3" dir
  dir="$(mktemp -d "${TMPDIR:-/tmp}/variant.XXXXXX")"
  tar -xf "$archive" -C "$dir"
  python3 - "$dir" "$ref" <<'PY'
import hashlib, json, os, sys
layout, ref = sys.argv[1], sys.argv[2]

def read_blob(digest):
    return open(os.path.join(layout, "blobs", *digest.split(":", 1)), "rb").read()

def write_blob(data):
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    open(os.path.join(layout, "blobs", *digest.split(":", 1)), "wb").write(data)
    return {"digest": digest, "size": len(data)}

index = json.load(open(os.path.join(layout, "index.json")))
manifest_desc = index["manifests"][0]
manifest = json.loads(read_blob(manifest_desc["digest"]))
config = json.loads(read_blob(manifest["config"]["digest"]))
tag = ref.rsplit(":", 1)[1]
config["config"].setdefault("Labels", {})["org.opencontainers.image.version"] = tag
manifest["config"].update(write_blob(json.dumps(config, separators=(",", ":")).encode()))
manifest_desc.update(write_blob(json.dumps(manifest, separators=(",", ":")).encode()))
manifest_desc["annotations"] = {"io.containerd.image.name": ref, "org.opencontainers.image.ref.name": tag}
json.dump(index, open(os.path.join(layout, "index.json"), "w"), separators=(",", ":"))
PY
  tar -C "$dir" -cf "$out" .
  rm -rf "$dir"
}

incluster_stop() {
  if [ -n "$INCLUSTER_EMU_PID" ]; then
    kill "$INCLUSTER_EMU_PID" 2>/dev/null || true
    wait "$INCLUSTER_EMU_PID" 2>/dev/null || true
    INCLUSTER_EMU_PID=""
  fi
  if [ -n "$INCLUSTER_TESTENV_PID" ]; then
    exec 3>&- # stdin EOF: kube-testenv stops the node, then itself
    for _ in $(seq 120); do kill -0 "$INCLUSTER_TESTENV_PID" 2>/dev/null || break; sleep 0.5; done
    kill "$INCLUSTER_TESTENV_PID" 2>/dev/null || true
    wait "$INCLUSTER_TESTENV_PID" 2>/dev/null || true
    INCLUSTER_TESTENV_PID=""
  fi
}
