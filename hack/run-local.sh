#!/usr/bin/env bash
# `make run`: the operator's main job on the embedded defaults. Starts a real kube-apiserver
# (hack/bin/kube-testenv), the AWS emulator (hack/aws-emulator) with a customer managed KMS key
# named alias/studio-domain, installs the CRDs, applies examples/, runs the operator against both
# and prints `kubectl get studio -A -o wide` until every example is Ready. Ctrl-C stops everything.
#
# RUN_ONCE=1 exits once every example is Ready (used by `make test` as a smoke test).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

port="${EMULATOR_PORT:-4566}"
metrics="${METRICS_ADDR:-127.0.0.1:8080}"
work="$(mktemp -d -t studio-operator-run.XXXXXX)"
pids=()

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  exec 3>&- 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log "building the operator and the emulator"
cargo build -q -p studio-operator --bin studio-operator && cargo build -q -p aws-emulator
hack/build-testenv.sh

log "starting kube-testenv (kube-apiserver + etcd)"
mkfifo "$work/testenv.stdin"
exec 3<>"$work/testenv.stdin" # kube-testenv exits when this closes
hack/bin/kube-testenv --dir "$work/testenv" <&3 >"$work/ready.json" 2>"$work/testenv.log" &
pids+=($!)
for _ in $(seq 1 240); do [ -s "$work/ready.json" ] && break; sleep 0.5; done
[ -s "$work/ready.json" ] || { echo "kube-testenv did not start; see its log:" >&2; tail -20 "$work/testenv.log" >&2; exit 1; }
export KUBECONFIG
KUBECONFIG="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["kubeconfig"])' "$work/ready.json")"
kubectl() { "$root/hack/bin/kubectl" "$@"; }

log "starting the AWS emulator on http://127.0.0.1:$port"
target/debug/aws-emulator --port "$port" 2>"$work/emulator.log" &
pids+=($!)
for _ in $(seq 1 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1

kms() { # operation json-body: an unverified SigV4 header is enough for the emulator
  curl -sf "$AWS_ENDPOINT_URL/" -H "X-Amz-Target: TrentService.$1" -H 'Content-Type: application/x-amz-json-1.1' \
    -H "Authorization: AWS4-HMAC-SHA256 Credential=local/$(date -u +%Y%m%d)/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=0" \
    -d "$2"
}
key_id="$(kms CreateKey '{"Description":"studio-operator local run"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["KeyMetadata"]["KeyId"])')"
kms CreateAlias "{\"AliasName\":\"alias/studio-domain\",\"TargetKeyId\":\"$key_id\"}" >/dev/null
log "created customer managed KMS key $key_id as alias/studio-domain"

log "installing CRDs and applying examples/"
kubectl apply --server-side -f crds/ >/dev/null
kubectl wait --for=condition=Established --timeout=60s crd/studiodomains.studio-operator.io \
  crd/userprofiles.studio-operator.io crd/sharedspaces.studio-operator.io crd/guardrails.studio-operator.io >/dev/null
# The operator's own namespace, where Guardrails' rendered policies go.
kubectl create namespace studio-operator --dry-run=client -o yaml | kubectl apply --server-side -f - >/dev/null
# examples/gitops needs Argo CD or Flux, which this local cluster does not run.
for dir in examples/*/; do
  [ "$dir" = examples/gitops/ ] || kubectl apply --server-side -R -f "$dir"
done

log "running the operator (log: $work/operator.log, metrics: http://$metrics/metrics)"
target/debug/studio-operator run --log-format text --metrics-addr "$metrics" --resync-interval 1m --poll-interval 2s \
  --cluster-id local --policy-namespace studio-operator 2>"$work/operator.log" &
pids+=($!)

not_ready() { # names of domains, profiles, spaces and guardrails whose Ready condition is not True
  kubectl get studiodomains,userprofiles,sharedspaces,guardrails -A -o jsonpath='{range .items[*]}{.kind}/{.metadata.namespace}/{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' 2>/dev/null |
    grep -v '=True$' || true
}
deadline=$((SECONDS + 240))
while [ -n "$(not_ready)" ]; do
  kubectl get studio -A -o wide 2>/dev/null | sed 's/^/    /' >&2 || true
  if [ $SECONDS -gt $deadline ]; then
    echo "not Ready after 4 minutes: $(not_ready | tr '\n' ' ')" >&2
    echo "operator log:" >&2
    tail -30 "$work/operator.log" >&2
    exit 1
  fi
  sleep 3
done
log "every example domain, profile and space is Ready"
kubectl get studio -A -o wide
[ "${RUN_ONCE:-0}" = 1 ] && exit 0

cat >&2 <<MSG

The operator is running. In another shell:
  export KUBECONFIG=$KUBECONFIG AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL
  hack/bin/kubectl get studio -A -o wide
  hack/bin/kubectl describe studiodomain ml-platform
Press Ctrl-C to stop (everything started here is removed).
MSG
while true; do
  sleep 30
  kubectl get studio -A -o wide
done
