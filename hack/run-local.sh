#!/usr/bin/env bash
# `make run`: the operator's main job on the embedded defaults. Starts a real kube-apiserver
# (hack/bin/kube-testenv), the AWS emulator (hack/aws-emulator) with a customer managed KMS key
# named alias/studio-domain, installs the CRDs, applies examples/, runs the operator against both
# and prints `kubectl get studio -A -o wide` until every example is Ready. Ctrl-C stops everything.
#
# RUN_ONCE=1 exits once every example is Ready (used by `make test` as a smoke test).
#
# IN_CLUSTER=1 runs the operator as it runs in production instead: the image (`make image`) on
# kube-testenv's node (`kube-testenv --with-node`: kubelet, containerd, kube-proxy), installed
# with the Helm chart, its pod reaching the emulator at the host's node address. Needs root.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
ROOT="$root"
cd "$root"
in_cluster="${IN_CLUSTER:-0}"
if [ "$in_cluster" = 1 ] && [ "$(id -u)" != 0 ]; then
  echo "IN_CLUSTER=1 runs a kubelet and containerd: run it as root" >&2
  exit 1
fi

port="${EMULATOR_PORT:-4566}"
metrics="${METRICS_ADDR:-127.0.0.1:8080}"
work="$(mktemp -d -t studio-operator-run.XXXXXX)"
pids=()

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
# shellcheck source=hack/node/incluster.sh
. hack/node/incluster.sh
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  incluster_stop
  exec 3>&- 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

if [ "$in_cluster" = 1 ]; then
  log "building the emulator (the operator runs from its image)"
  cargo build -q -p aws-emulator
else
  log "building the operator and the emulator"
  cargo build -q -p studio-operator --bin studio-operator && cargo build -q -p aws-emulator
fi
hack/build-testenv.sh
kubectl() { "$root/hack/bin/kubectl" "$@"; }

kms() { # operation json-body: an unverified SigV4 header is enough for the emulator
  curl -sf "$AWS_ENDPOINT_URL/" -H "X-Amz-Target: TrentService.$1" -H 'Content-Type: application/x-amz-json-1.1' \
    -H "Authorization: AWS4-HMAC-SHA256 Credential=local/$(date -u +%Y%m%d)/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=0" \
    -d "$2"
}

if [ "$in_cluster" = 1 ]; then
  log "building the image (release build), the node and helm"
  hack/image/build.sh
  hack/node/build.sh
  hack/build-helm.sh
  archive="$root/hack/bin/images/studio-operator.oci.tar"
  ref="$(incluster_image_ref "$archive")"
  log "starting kube-testenv with its node (kubelet, containerd, kube-proxy), image $ref imported"
  incluster_start "$work" "$archive"
  incluster_emulator "$work"
  export AWS_ENDPOINT_URL="$EMU"
  log "AWS emulator on $EMU (the host, as pods see it)"
else
log "starting kube-testenv (kube-apiserver + etcd)"
mkfifo "$work/testenv.stdin"
exec 3<>"$work/testenv.stdin" # kube-testenv exits when this closes
hack/bin/kube-testenv --dir "$work/testenv" <&3 >"$work/ready.json" 2>"$work/testenv.log" &
pids+=($!)
for _ in $(seq 1 240); do [ -s "$work/ready.json" ] && break; sleep 0.5; done
[ -s "$work/ready.json" ] || { echo "kube-testenv did not start; see its log:" >&2; tail -20 "$work/testenv.log" >&2; exit 1; }
export KUBECONFIG
KUBECONFIG="$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["kubeconfig"])' "$work/ready.json")"

log "starting the AWS emulator on http://127.0.0.1:$port"
target/debug/aws-emulator --port "$port" 2>"$work/emulator.log" &
pids+=($!)
for _ in $(seq 1 100); do (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
export AWS_ENDPOINT_URL="http://127.0.0.1:$port"
fi
export AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local AWS_REGION=us-east-1

key_id="$(kms CreateKey '{"Description":"studio-operator local run"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["KeyMetadata"]["KeyId"])')"
kms CreateAlias "{\"AliasName\":\"alias/studio-domain\",\"TargetKeyId\":\"$key_id\"}" >/dev/null
log "created customer managed KMS key $key_id as alias/studio-domain"

# examples/reference-setups/40-team-account.yaml: a domain in a team account, reached through a
# role whose trust pins the ExternalId to the cluster and namespace; its key lives in that account.
team_role=arn:aws:iam::210987654321:role/studio-operator-team
curl -sf "$AWS_ENDPOINT_URL/_emulator/sts/trust" -H 'Content-Type: application/json' \
  -d "{\"role_arn\":\"$team_role\",\"external_id\":\"local/studio-team-account\",\"required_session_tags\":[]}" >/dev/null
team_key="$(curl -sf "$AWS_ENDPOINT_URL/" -H 'Content-Type: application/x-www-form-urlencoded' \
  -H "Authorization: AWS4-HMAC-SHA256 Credential=local/$(date -u +%Y%m%d)/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=0" \
  -d "Action=AssumeRole&Version=2011-06-15&RoleArn=$team_role&RoleSessionName=run-local&ExternalId=local/studio-team-account" |
  sed -n 's:.*<AccessKeyId>\(.*\)</AccessKeyId>.*:\1:p')"
[ -n "$team_key" ] || { echo "AssumeRole into the team account failed" >&2; exit 1; }
team_kms() { # operation json-body, as the team account's role
  curl -sf "$AWS_ENDPOINT_URL/" -H "X-Amz-Target: TrentService.$1" -H 'Content-Type: application/x-amz-json-1.1' \
    -H "Authorization: AWS4-HMAC-SHA256 Credential=$team_key/$(date -u +%Y%m%d)/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=0" \
    -d "$2"
}
team_key_id="$(team_kms CreateKey '{"Description":"team account key"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["KeyMetadata"]["KeyId"])')"
team_kms CreateAlias "{\"AliasName\":\"alias/studio-domain\",\"TargetKeyId\":\"$team_key_id\"}" >/dev/null
log "created the team account's key $team_key_id as alias/studio-domain (account 210987654321)"

log "installing CRDs and applying examples/"
kubectl apply --server-side -f crds/ >/dev/null
kubectl wait --for=condition=Established --timeout=60s crd/studiodomains.studio-operator.io \
  crd/userprofiles.studio-operator.io crd/sharedspaces.studio-operator.io crd/guardrails.studio-operator.io \
  crd/studiolifecycleconfigs.studio-operator.io crd/studioimages.studio-operator.io >/dev/null
# The operator's own namespace, where Guardrails' rendered policies go.
kubectl create namespace studio-operator --dry-run=client -o yaml | kubectl apply --server-side -f - >/dev/null
# examples/gitops needs Argo CD or Flux, which this local cluster does not run.
for dir in examples/*/; do
  [ "$dir" = examples/gitops/ ] || kubectl apply --server-side -R -f "$dir"
done

if [ "$in_cluster" = 1 ]; then
  log "helm install studio-operator (namespace studio-operator, image $ref)"
  kubectl -n studio-operator create secret generic aws-credentials \
    --from-literal=access-key-id="$AWS_ACCESS_KEY_ID" --from-literal=secret-access-key="$AWS_SECRET_ACCESS_KEY" >/dev/null
  cat >"$work/values.yaml" <<EOF
image:
  repository: ${ref%:*}
  tag: "${ref##*:}"
  pullPolicy: Never
operator:
  clusterId: local
  logFormat: text
  resyncInterval: 1m
  pollInterval: 2s
extraEnv:
  - name: AWS_ENDPOINT_URL
    value: "$AWS_ENDPOINT_URL"
  - name: AWS_ACCESS_KEY_ID
    valueFrom: {secretKeyRef: {name: aws-credentials, key: access-key-id}}
  - name: AWS_SECRET_ACCESS_KEY
    valueFrom: {secretKeyRef: {name: aws-credentials, key: secret-access-key}}
EOF
  export HELM_CONFIG_HOME="$work/helm/config" HELM_CACHE_HOME="$work/helm/cache" HELM_DATA_HOME="$work/helm/data"
  hack/bin/helm install studio-operator charts/studio-operator --namespace studio-operator -f "$work/values.yaml" >/dev/null
  kubectl -n studio-operator rollout status deployment/studio-operator --timeout=180s >&2
  kubectl -n studio-operator get pods -o wide >&2
else
log "running the operator (log: $work/operator.log, metrics: http://$metrics/metrics)"
target/debug/studio-operator run --log-format text --metrics-addr "$metrics" --resync-interval 1m --poll-interval 2s \
  --cluster-id local --policy-namespace studio-operator 2>"$work/operator.log" &
pids+=($!)
fi
operator_log() { # the operator's last lines, wherever it runs
  if [ "$in_cluster" = 1 ]; then
    kubectl -n studio-operator logs deployment/studio-operator --tail=30 2>&1 || true
  else
    tail -30 "$work/operator.log"
  fi
}

not_ready() { # names of domains, profiles, spaces and guardrails whose Ready condition is not True
  kubectl get studiodomains,userprofiles,sharedspaces,guardrails,studiolifecycleconfigs,studioimages -A -o jsonpath='{range .items[*]}{.kind}/{.metadata.namespace}/{.metadata.name}={.status.conditions[?(@.type=="Ready")].status}{"\n"}{end}' 2>/dev/null |
    grep -v '=True$' || true
}
deadline=$((SECONDS + 240))
while [ -n "$(not_ready)" ]; do
  kubectl get studio -A -o wide 2>/dev/null | sed 's/^/    /' >&2 || true
  if [ $SECONDS -gt $deadline ]; then
    echo "not Ready after 4 minutes: $(not_ready | tr '\n' ' ')" >&2
    echo "operator log:" >&2
    operator_log >&2
    exit 1
  fi
  sleep 3
done
log "every example domain, profile and space is Ready"
kubectl get studio -A -o wide
[ "${RUN_ONCE:-0}" = 1 ] && exit 0

if [ "$in_cluster" = 1 ]; then
  cat >&2 <<MSG

The operator runs as a pod of the chart's Deployment on kube-testenv's node. In another shell:
  export KUBECONFIG=$KUBECONFIG AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL
  hack/bin/kubectl get studio -A -o wide
  hack/bin/kubectl -n studio-operator get pods -o wide
  hack/bin/kubectl -n studio-operator logs deployment/studio-operator -f
Press Ctrl-C to stop (the node, its pods and everything started here are removed).
MSG
else
  cat >&2 <<MSG

The operator is running. In another shell:
  export KUBECONFIG=$KUBECONFIG AWS_ENDPOINT_URL=$AWS_ENDPOINT_URL
  hack/bin/kubectl get studio -A -o wide
  hack/bin/kubectl describe studiodomain ml-platform
Press Ctrl-C to stop (everything started here is removed).
MSG
fi
while true; do
  sleep 30
  kubectl get studio -A -o wide
done
