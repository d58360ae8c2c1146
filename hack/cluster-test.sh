#!/usr/bin/env bash
# `make cluster-test`: the Helm chart and the image `make image` built, running as pods on
# kube-testenv's node (kube-testenv --with-node: kubelet, containerd, runc, CNI, kube-proxy),
# against the AWS emulator on the host:
#   (a) helm install (image imported into the node, pullPolicy Never): the pod is Running and
#       Ready through its probes, and talks to the API server with the token the kubelet
#       projected for the chart's ServiceAccount (no other credential is given to it)
#   (b) the operator reaches the emulator at the host's address and reconciles a StudioDomain,
#       UserProfile, SharedSpace and Guardrail to Ready
#   (c) inside the container (hack/node/probe, run with kubectl exec) and outside it (/proc of
#       its process on the node): user 65532, no capabilities, no_new_privs, seccomp, the root
#       file system read-only; the pod's log holds no credential
#   (d) 2 replicas: exactly one leads (Lease, Ready, studio_operator_leader); deleting the
#       leader's pod hands over within the lease duration; a profile created then becomes Ready
#   (e) helm upgrade to a second image tag replaces the pods; the emulator's call log shows no
#       duplicate Create call
#   (f) helm uninstall leaves AWS untouched (no Delete call, the domain, profile and space stay)
# Prints a summary ("N passed, N failed"); exits non-zero on any failure.
#
# Needs (built by `make cluster-test`): hack/bin/kube-testenv and kubectl (make testenv),
# hack/bin/node (hack/node/build.sh), the image archive (make image), target/debug/aws-emulator;
# builds hack/bin/helm (hack/build-helm.sh). Runs as root (the node needs it).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
BIN="$ROOT/hack/bin"
HELM="$BIN/helm"
KUBECTL="$BIN/kubectl"
PROBE="$BIN/node/probe"
ARCHIVE="${IMAGE_ARCHIVE:-$BIN/images/studio-operator.oci.tar}"
CHART=charts/studio-operator
RELEASE=studio-operator
NS=studio-system
RUN_NS=cluster-test
SELECTOR="app.kubernetes.io/name=studio-operator,app.kubernetes.io/instance=$RELEASE"
LEASE_SECONDS=15

log() { echo "cluster-test: $*" >&2; }
# shellcheck source=hack/node/incluster.sh
. hack/node/incluster.sh

hack/build-helm.sh
for f in "$KUBECTL" "$BIN/kube-testenv" "$PROBE" "$ARCHIVE" target/debug/aws-emulator; do
  [ -e "$f" ] || { log "$f is missing: run 'make cluster-test' (it builds everything)"; exit 1; }
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/cluster-test.XXXXXX")"
export HELM_CONFIG_HOME="$WORK/helm/config" HELM_CACHE_HOME="$WORK/helm/cache" HELM_DATA_HOME="$WORK/helm/data"
unset KUBECONFIG
cleanup() {
  local rc=$?
  if [ "$rc" != 0 ] && [ -n "${TESTENV_DIR:-}" ] && [ -d "$TESTENV_DIR/node/logs" ]; then
    for f in "$TESTENV_DIR"/node/logs/*.log; do log "$f (last lines):"; tail -8 "$f" | sed 's/^/        | /' >&2; done
  fi
  incluster_stop
  if [ "${KEEP_WORK:-0}" = 1 ]; then log "work dir kept: $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

PASSED=0
FAILED=0
FAILURES=()
pass() { PASSED=$((PASSED + 1)); echo "  ok    $*"; }
fail() { FAILED=$((FAILED + 1)); FAILURES+=("$*"); echo "  FAIL  $*"; }
check() { # NAME CMD...: CMD's output is shown when it fails
  local name="$1"
  shift
  if "$@" >"$WORK/last.log" 2>&1; then pass "$name"; else fail "$name"; sed 's/^/        | /' "$WORK/last.log" | tail -25; fi
}
wait_until() { # SECONDS CMD...: polls CMD every second
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    [ $SECONDS -lt $deadline ] || return 1
    sleep 1
  done
}
K() { "$KUBECTL" --request-timeout=60s "$@"; }
H() { "$HELM" --namespace "$NS" "$@"; }
pods() { K -n "$NS" get pods -l "$SELECTOR" -o json; }
# pod_field JSONPATH [POD]: a field of one pod
pod_field() { K -n "$NS" get pod "$2" -o jsonpath="$1"; }

# ---------------------------------------------------------------------------------------------
REF="$(incluster_image_ref "$ARCHIVE")"
REPO="${REF%:*}"
TAG="${REF##*:}"
TAG2="$TAG-upgrade"
incluster_variant "$ARCHIVE" "$REPO:$TAG2" "$WORK/second-tag.oci.tar"
log "image $REF (and $REPO:$TAG2 for the upgrade), from $ARCHIVE"

echo "== kube-testenv --with-node, the emulator on the host's node address"
t0=$SECONDS
incluster_start "$WORK" "$ARCHIVE" "$WORK/second-tag.oci.tar"
pass "kube-testenv with a Ready node in $((SECONDS - t0))s"
NODE_DIR="$TESTENV_DIR/node"
CTR=("$BIN/node/ctr" --address "$NODE_DIR/containerd/containerd.sock" --namespace k8s.io)
one_ready_node() { [ "$(K get nodes -o jsonpath='{range .items[*]}{.metadata.name}={.status.conditions[?(@.type=="Ready")].status} {end}')" = "kube-testenv-node=True " ]; }
check "node kube-testenv-node: one node, Ready" one_ready_node
images_imported() {
  local names
  names="$("${CTR[@]}" images ls -q 2>/dev/null)"
  grep -qx "$REF" <<<"$names" && grep -qx "$REPO:$TAG2" <<<"$names"
}
check "both image tags imported into the node's containerd" images_imported
incluster_emulator "$WORK"
pass "emulator on $EMU"
check "KMS key alias/cluster-test in the emulator" incluster_kms_alias alias/cluster-test

# ---------------------------------------------------------------------------------------------
echo "== (a) helm install with the built image"
SECRET_KEY="cluster-test-secret-$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
ACCESS_KEY="AKIACLUSTERTEST$(head -c 4 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr a-f A-F)"
check "namespace $NS" K create namespace "$NS"
check "AWS credentials in Secret aws-credentials" K -n "$NS" create secret generic aws-credentials \
  --from-literal=access-key-id="$ACCESS_KEY" --from-literal=secret-access-key="$SECRET_KEY"
cat >"$WORK/values.yaml" <<EOF
image:
  repository: $REPO
  tag: "$TAG"
  pullPolicy: Never
operator:
  clusterId: cluster-test
  pollInterval: 1s
  resyncInterval: 20s
leaderElection:
  leaseDuration: ${LEASE_SECONDS}s
  renewDeadline: 10s
extraEnv:
  - name: AWS_ENDPOINT_URL
    value: "$EMU"
  - name: AWS_ACCESS_KEY_ID
    valueFrom: {secretKeyRef: {name: aws-credentials, key: access-key-id}}
  - name: AWS_SECRET_ACCESS_KEY
    valueFrom: {secretKeyRef: {name: aws-credentials, key: secret-access-key}}
EOF
check "helm install $RELEASE (image $REF, pullPolicy Never)" H install "$RELEASE" "$CHART" -f "$WORK/values.yaml" --wait=false
pod_ready() { # POD: Ready=True
  [ "$(pod_field '{.status.conditions[?(@.type=="Ready")].status}' "$1")" = True ]
}
one_pod() { pods | python3 -c 'import json,sys; p=[i["metadata"]["name"] for i in json.load(sys.stdin)["items"] if not i["metadata"].get("deletionTimestamp")]; assert len(p)==1, p; print(p[0])'; }
has_pod() { [ -n "$(K -n "$NS" get pods -l "$SELECTOR" -o name)" ]; }
wait_until 120 has_pod || true
POD="$(one_pod)" || POD=""
log "pod: $POD"
check "pod $POD Running and Ready within 120 s" wait_until 120 pod_ready "$POD"
pod_placed() {
  local s
  s="$(pod_field '{.status.phase} {.spec.nodeName} {.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].image}' "$POD")"
  echo "$s"
  [ "$s" = "Running kube-testenv-node 0 $REF" ]
}
check "pod on kube-testenv-node, no restart, image $REF" pod_placed
POD_IP="$(pod_field '{.status.podIP}' "$POD")"
probes_defined() { [ "$(pod_field '{.spec.containers[0].livenessProbe.httpGet.path} {.spec.containers[0].readinessProbe.httpGet.path}' "$POD")" = "/healthz /readyz" ]; }
check "probes: liveness /healthz and readiness /readyz on http-metrics" probes_defined
readyz_200() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://$POD_IP:8080/readyz")" = 200 ]; }
check "/readyz of $POD_IP:8080 answers 200 from the host (pod network)" readyz_200
env_names_emulator() { pod_field '{.spec.containers[0].env}' "$POD" | grep -qF "$EMU"; }
check "the pod's environment names the emulator as AWS_ENDPOINT_URL" env_names_emulator

# The credential the operator talks to the API server with: the kubelet's projected token.
token_file() { ls "$NODE_DIR"/kubelet/pods/"$(pod_field '{.metadata.uid}' "$POD")"/volumes/kubernetes.io~projected/kube-api-access-*/token; }
projected_volume() {
  K -n "$NS" get pod "$POD" -o json | python3 -c '
import json, sys
pod = json.load(sys.stdin)
vol = [v for v in pod["spec"]["volumes"] if v["name"].startswith("kube-api-access-")]
assert len(vol) == 1, pod["spec"]["volumes"]
srcs = vol[0]["projected"]["sources"]
assert any("serviceAccountToken" in s for s in srcs), srcs
assert any(s.get("configMap", {}).get("name") == "kube-root-ca.crt" for s in srcs), srcs
mounts = pod["spec"]["containers"][0]["volumeMounts"]
assert any(m["mountPath"] == "/var/run/secrets/kubernetes.io/serviceaccount" for m in mounts), mounts
'
}
check "kube-api-access projected volume (serviceAccountToken, kube-root-ca.crt) mounted" projected_volume
TOKEN_FILE="$(token_file 2>/dev/null || true)"
token_claims() {
  python3 - "$TOKEN_FILE" "$NS" "$RELEASE" "$POD" <<'PY'
import base64, json, sys, time
token = open(sys.argv[1]).read().strip()
payload = token.split(".")[1]
claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
k8s = claims["kubernetes.io"]
print(json.dumps({"sub": claims["sub"], "pod": k8s["pod"]["name"], "node": k8s.get("node", {}).get("name"), "ttl": claims["exp"] - int(time.time())}))
assert claims["sub"] == f"system:serviceaccount:{sys.argv[2]}:{sys.argv[3]}", claims["sub"]
assert k8s["pod"]["name"] == sys.argv[4], k8s
assert k8s.get("node", {}).get("name") == "kube-testenv-node", k8s
PY
}
check "the projected token is bound to $POD on kube-testenv-node, for system:serviceaccount:$NS:$RELEASE" token_claims
whoami_token() { [ "$(K --token="$(cat "$TOKEN_FILE")" auth whoami -o jsonpath='{.status.userInfo.username}')" = "system:serviceaccount:$NS:$RELEASE" ]; }
check "the API server authenticates that token as system:serviceaccount:$NS:$RELEASE" whoami_token
holder_identity() { K -n "$NS" get lease "$RELEASE" -o jsonpath='{.spec.holderIdentity}'; }
holder_pod() { holder_identity | sed 's/_.*//'; } # the identity is <pod name>_<random>
held_by_pod() { [ "$(holder_pod)" = "$POD" ]; }
check "the Lease $NS/$RELEASE is held by $POD (it reached the API server from the pod)" held_by_pod

# ---------------------------------------------------------------------------------------------
echo "== (b) the operator reconciles against the emulator"
cat >"$WORK/studio.yaml" <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: $RUN_NS
---
apiVersion: studio-operator.io/v1alpha1
kind: Guardrail
metadata:
  name: cluster-test
spec:
  selector:
    namespaceSelector:
      matchLabels:
        kubernetes.io/metadata.name: $RUN_NS
  enforcement: Audit
  rules:
    requireCustomerManagedKey: true
    allowedInstanceTypes: ["ml.t3.*", "ml.m5.*"]
---
apiVersion: studio-operator.io/v1alpha1
kind: StudioDomain
metadata:
  name: studio
  namespace: $RUN_NS
spec:
  aws:
    region: us-east-1
  network:
    vpcId: vpc-0a1b2c3d4e5f67890
    subnetIds: [subnet-0a1b2c3d4e5f67891]
  encryption:
    kmsKeyId: alias/cluster-test
  defaultUserSettings:
    executionRole: arn:aws:iam::123456789012:role/StudioDefault
  defaultSpaceSettings:
    executionRole: arn:aws:iam::123456789012:role/StudioSpace
  deletionPolicy: Delete
---
apiVersion: studio-operator.io/v1alpha1
kind: UserProfile
metadata:
  name: alice
  namespace: $RUN_NS
spec:
  domainRef:
    name: studio
---
apiVersion: studio-operator.io/v1alpha1
kind: SharedSpace
metadata:
  name: team
  namespace: $RUN_NS
spec:
  domainRef:
    name: studio
  sharing:
    type: Shared
    ownerProfile: alice
  appType: JupyterLab
EOF
check "apply a Guardrail, StudioDomain, UserProfile and SharedSpace" K apply --server-side -f "$WORK/studio.yaml"
for r in studiodomain/studio userprofile/alice sharedspace/team; do
  check "$r Ready" K -n "$RUN_NS" wait --for=condition=Ready --timeout=180s "$r"
done
check "guardrail/cluster-test Ready" K wait --for=condition=Ready --timeout=60s guardrail/cluster-test
check "ConfigMap guardrail-cluster-test-policies written in $NS" K -n "$NS" get configmap guardrail-cluster-test-policies
calls() { curl -sf "$EMU/_emulator/calls"; }
made_create_domain() { calls | python3 -c 'import json,sys; c=[r for r in json.load(sys.stdin) if r["operation"]=="CreateDomain" and r["outcome"]=="ok"]; assert len(c)==1, c'; }
check "the emulator's call log has the operator's CreateDomain (from the pod, over the pod network)" made_create_domain

# ---------------------------------------------------------------------------------------------
echo "== (c) security of the running container"
POD_UID="$(pod_field '{.metadata.uid}' "$POD")"
TMP_VOL="$NODE_DIR/kubelet/pods/$POD_UID/volumes/kubernetes.io~empty-dir/tmp"
# The image has no shell and no tools: the static probe goes into the pod's writable /tmp volume
# from the node's side, then runs inside the container with its user, capabilities and seccomp.
check "copy hack/node/probe into the pod's /tmp volume" install -m 0755 "$PROBE" "$TMP_VOL/probe"
if K -n "$NS" exec "$POD" -c operator -- /tmp/probe >"$WORK/probe.out" 2>"$WORK/probe.err"; then
  pass "kubectl exec $POD -- /tmp/probe"
else
  fail "kubectl exec $POD -- /tmp/probe"; sed 's/^/        | /' "$WORK/probe.err" | tail -10
fi
probe() { sed -n "s|^$1=||p" "$WORK/probe.out"; }
expect() { # NAME KEY VALUE-REGEX
  local got
  got="$(probe "$2")"
  if grep -Eqx -- "$3" <<<"$got"; then pass "inside: $1 ($2=$got)"; else fail "inside: $1 ($2=$got, want $3)"; fi
}
expect "runs as uid 65532" uid 65532
expect "gid 65532" gid 65532
expect "supplementary group 65532 (fsGroup) only" groups 65532
expect "no effective capability" CapEff 0+
expect "no permitted capability" CapPrm 0+
expect "empty bounding set (drop ALL)" CapBnd 0+
expect "no ambient capability" CapAmb 0+
expect "no_new_privs (allowPrivilegeEscalation: false)" NoNewPrivs 1
expect "seccomp filter on (RuntimeDefault)" Seccomp 2
expect "root file system mounted read-only" root_mount 'ro(,.*)?'
expect "cannot create a file in /" "write:/" 'Read-only file system'
expect "cannot create a file in /etc" "write:/etc" 'Read-only file system'
expect "cannot create a file next to the binary" "write:/usr/local/bin" 'Read-only file system'
expect "can write /tmp (the emptyDir)" "write:/tmp" ok
expect "cannot setuid(0)" setuid0 'Operation not permitted'
expect "cannot chown to root" chown_root 'Operation not permitted'
expect "cannot mknod a device" mknod 'Operation not permitted'
expect "reads the projected ServiceAccount token" "read:/var/run/secrets/kubernetes.io/serviceaccount/token" 'ok [0-9]+'
expect "reads the cluster CA (kube-root-ca.crt)" "read:/var/run/secrets/kubernetes.io/serviceaccount/ca.crt" 'ok [0-9]+'
expect "has the image's CA bundle for TLS to AWS" "read:/etc/ssl/certs/ca-certificates.crt" 'ok [0-9]{5,}'
rm -f "$TMP_VOL/probe"

container_pid() {
  local cid
  cid="$(pod_field '{.status.containerStatuses[0].containerID}' "$POD")"
  cid="${cid#containerd://}"
  "${CTR[@]}" tasks ls 2>/dev/null | awk -v id="$cid" '$1 == id {print $2}'
}
CPID="$(container_pid)"
outside() { # NAME FIELD REGEX: a /proc/PID/status field of the operator's process
  local got
  got="$(awk -v f="$2:" '$1 == f {$1=""; sub(/^ /, ""); print}' "/proc/$CPID/status" 2>/dev/null)"
  if grep -Eqx -- "$3" <<<"$got"; then pass "outside: $1 ($2: $got)"; else fail "outside: $1 ($2: $got, want $3)"; fi
}
if [ -n "$CPID" ] && [ -r "/proc/$CPID/status" ]; then
  pass "the operator's process on the node: pid $CPID ($(tr '\0' ' ' <"/proc/$CPID/cmdline"))"
  outside "real/effective/saved uid 65532" Uid '65532[[:space:]]+65532[[:space:]]+65532[[:space:]]+65532'
  outside "gid 65532" Gid '65532[[:space:]]+65532[[:space:]]+65532[[:space:]]+65532'
  outside "no effective capability" CapEff '0+'
  outside "empty bounding set" CapBnd '0+'
  outside "no_new_privs" NoNewPrivs 1
  outside "seccomp filter mode" Seccomp 2
  root_ro() { awk '$5 == "/" {print $6}' "/proc/$CPID/mountinfo" | tail -1 | grep -Eq '^ro(,|$)'; }
  check "outside: its root mount is read-only (/proc/$CPID/mountinfo)" root_ro
  runs_entrypoint() { tr '\0' ' ' <"/proc/$CPID/cmdline" | grep -q '^/usr/local/bin/studio-operator run '; }
  check "outside: it runs /usr/local/bin/studio-operator run ..." runs_entrypoint
else
  fail "the operator's process on the node (containerd task of the pod's container) not found"
fi

check_log_clean() { # POD: the pod's log holds no credential and no forbidden
  local out="$WORK/log-$1.txt" token
  K -n "$NS" logs "$1" -c operator >"$out" || return 1
  token="$(cat "$TOKEN_FILE" 2>/dev/null || true)"
  [ -s "$out" ] || { echo "empty log"; return 1; }
  ! grep -F -- "$SECRET_KEY" "$out" || return 1
  ! grep -F -- "$ACCESS_KEY" "$out" || return 1
  [ -z "$token" ] || ! grep -F -- "$token" "$out" || return 1
  ! grep -Ei -- 'eyJ[A-Za-z0-9_-]{20,}\.|BEGIN [A-Z ]*PRIVATE KEY|aws_secret_access_key|authorization: (bearer|aws4)' "$out" || return 1
  ! grep -Eiq 'forbidden|(^|[^0-9.:])403([^0-9]|$)' "$out" || { grep -Ei 'forbidden|403' "$out" | head -5; return 1; }
  echo "$(wc -l <"$out") lines"
}
check "log of $POD: no secret key, access key id, ServiceAccount token, JWT or private key; no forbidden" check_log_clean "$POD"

# ---------------------------------------------------------------------------------------------
echo "== (d) 2 replicas: one leader, handover on deletion"
check "helm upgrade --set replicaCount=2" H upgrade "$RELEASE" "$CHART" --reuse-values --set replicaCount=2 --wait=false
two_running() { [ "$(pods | python3 -c 'import json,sys; print(sum(1 for i in json.load(sys.stdin)["items"] if i["status"].get("phase")=="Running" and not i["metadata"].get("deletionTimestamp")))')" = 2 ]; }
check "two pods Running" wait_until 120 two_running
# /metrics needs a token allowed get on /metrics (metrics.authentication.enabled, the default).
metrics_scraper() {
  K -n "$NS" create serviceaccount metrics-scraper &&
    K create clusterrolebinding metrics-scraper --clusterrole="$RELEASE-metrics-reader" --serviceaccount="$NS:metrics-scraper"
}
check "ServiceAccount metrics-scraper bound to $RELEASE-metrics-reader" metrics_scraper
METRICS_TOKEN="$(K -n "$NS" create token metrics-scraper --duration=1h)" || METRICS_TOKEN=""
export METRICS_TOKEN
leader_report() { # prints "READY_PODS LEADER_METRIC_PODS": pods whose Ready is True / whose metric says leader
  pods | python3 -c '
import json, os, sys, urllib.request
ready, leading = [], []
for p in json.load(sys.stdin)["items"]:
    if p["metadata"].get("deletionTimestamp") or p["status"].get("phase") != "Running":
        continue
    name = p["metadata"]["name"]
    if any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"].get("conditions", [])):
        ready.append(name)
    scrape = urllib.request.Request("http://%s:8080/metrics" % p["status"]["podIP"],
                                    headers={"Authorization": "Bearer " + os.environ["METRICS_TOKEN"]})
    metrics = urllib.request.urlopen(scrape, timeout=5).read().decode()
    if "studio_operator_leader 1" in metrics.splitlines():
        leading.append(name)
print(",".join(sorted(ready)), ",".join(sorted(leading)))
'
}
one_leader() {
  local report holder
  report="$(leader_report)" || return 1
  holder="$(holder_pod)"
  echo "ready/leader-metric: $report; lease holder: $holder"
  [ "$report" = "$holder $holder" ]
}
check "exactly one pod leads: the Lease holder is the only Ready pod and the only one with studio_operator_leader 1" wait_until 60 one_leader
LEADER="$(holder_pod)"
t_delete=$SECONDS
check "kubectl delete pod $LEADER (the leader)" K -n "$NS" delete pod "$LEADER" --wait=false
new_holder() { local h; h="$(holder_pod)"; [ -n "$h" ] && [ "$h" != "$LEADER" ]; }
if wait_until $((LEASE_SECONDS + 5)) new_holder; then
  took=$((SECONDS - t_delete))
  if [ "$took" -le "$LEASE_SECONDS" ]; then
    pass "lease handed over to $(holder_pod) in ${took}s (lease duration ${LEASE_SECONDS}s)"
  else
    fail "lease handed over to $(holder_pod) in ${took}s, more than the lease duration ${LEASE_SECONDS}s"
  fi
else
  fail "no new lease holder within $((LEASE_SECONDS + 5))s of deleting the leader"
fi
cat >"$WORK/bob.yaml" <<EOF
apiVersion: studio-operator.io/v1alpha1
kind: UserProfile
metadata:
  name: bob
  namespace: $RUN_NS
spec:
  domainRef:
    name: studio
EOF
check "create UserProfile bob right after the handover" K apply --server-side -f "$WORK/bob.yaml"
check "userprofile/bob Ready (reconciled by the new leader)" K -n "$RUN_NS" wait --for=condition=Ready --timeout=120s userprofile/bob
check "two pods again (the Deployment replaced the deleted one)" wait_until 90 two_running
check "exactly one leader after the handover" wait_until 90 one_leader
# A crash: the leader's process is SIGKILLed on the node, so it cannot release the lease; another
# candidate takes it once it expires (lease duration after the last renewal) at its next attempt:
# the standby, or the killed container that the kubelet restarts meanwhile (same pod, new identity).
LEADER="$(holder_pod)"
CRASHED_IDENTITY="$(holder_identity)"
POD="$LEADER"
CPID="$(container_pid)"
if [ -n "$CPID" ] && kill -KILL "$CPID"; then
  t_kill=$SECONDS
  pass "SIGKILL the leader $LEADER's process (pid $CPID) on the node"
  new_identity() { local h; h="$(holder_identity)"; [ -n "$h" ] && [ "$h" != "$CRASHED_IDENTITY" ]; }
  if wait_until $((LEASE_SECONDS + 15)) new_identity; then
    took=$((SECONDS - t_kill))
    if [ "$took" -le $((LEASE_SECONDS + 5)) ]; then
      pass "after the crash the lease went to $(holder_identity) in ${took}s (lease duration ${LEASE_SECONDS}s + 5s for the next attempt)"
    else
      fail "after the crash the lease went to $(holder_identity) in ${took}s, more than ${LEASE_SECONDS}s + 5s"
    fi
  else
    fail "no new lease holder within $((LEASE_SECONDS + 15))s of killing the leader"
  fi
else
  fail "SIGKILL the leader $LEADER's process: not found on the node"
fi
restarted() { # the killed container counts a restart and runs again
  local s
  s="$(pod_field '{.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].state.running.startedAt}' "$LEADER")"
  echo "restarts, running since: $s"
  [ "${s%% *}" -ge 1 ] && [ -n "${s#* }" ]
}
check "the kubelet restarted the killed container of $LEADER" wait_until 60 restarted
check "exactly one leader after the crash" wait_until 90 one_leader

# ---------------------------------------------------------------------------------------------
echo "== (e) helm upgrade to $REPO:$TAG2"
OLD_PODS="$(pods | python3 -c 'import json,sys; print(" ".join(sorted(i["metadata"]["name"] for i in json.load(sys.stdin)["items"])))')"
OLD_IMAGE_ID="$(pods | python3 -c 'import json,sys; print({c["imageID"] for i in json.load(sys.stdin)["items"] for c in i["status"].get("containerStatuses", [])}.pop())')"
check "helm upgrade --set image.tag=$TAG2" H upgrade "$RELEASE" "$CHART" --reuse-values --set image.tag="$TAG2" --wait=false
replaced() {
  pods | python3 -c '
import json, sys
old = set(sys.argv[1].split())
items = json.load(sys.stdin)["items"]
names = {i["metadata"]["name"] for i in items}
running = [i for i in items if i["status"].get("phase") == "Running" and not i["metadata"].get("deletionTimestamp")]
images = {(c["image"], c["imageID"]) for i in running for c in i["status"].get("containerStatuses", [])}
print(sorted(names), images)
assert not (names & old), "old pods remain"
assert len(running) == 2 and len(images) == 1, "not yet two pods of one image"
image, image_id = images.pop()
assert image == sys.argv[2] and image_id != sys.argv[3], "not the new image (%s, %s)" % (image, image_id)
' "$OLD_PODS" "$REPO:$TAG2" "$OLD_IMAGE_ID"
}
check "the old pods are gone; two pods run $REPO:$TAG2 (a new image ID)" wait_until 180 replaced
check "exactly one leader after the upgrade" wait_until 90 one_leader
for r in studiodomain/studio userprofile/alice userprofile/bob sharedspace/team; do
  check "$r still Ready after the upgrade" K -n "$RUN_NS" wait --for=condition=Ready --timeout=60s "$r"
done
sleep 5 # a resync of the new leader (resyncInterval 20s) may run; it must not create anything
no_duplicate_create() {
  calls | python3 -c '
import collections, json, sys
calls = json.load(sys.stdin)
creates = collections.Counter()
for c in calls:
    if c["operation"].startswith("Create") and c["service"] == "sagemaker":
        m = c["members"]
        key = (c["operation"], m.get("DomainName") or m.get("DomainId"), m.get("UserProfileName"), m.get("SpaceName"), m.get("StudioLifecycleConfigName"))
        creates[key] += 1
print({"/".join(str(x) for x in k if x): n for k, n in creates.items()})
dups = {k: n for k, n in creates.items() if n > 1}
assert not dups, "duplicate Create calls: %s" % dups
want = {"CreateDomain", "CreateUserProfile", "CreateSpace"}
assert want <= {k[0] for k in creates}, "missing creates"
assert sum(1 for k in creates if k[0] == "CreateUserProfile") == 2, "want 2 profiles (alice, bob)"
'
}
check "the emulator's call log: one Create call per domain, profile and space over the whole run" no_duplicate_create
for p in $(pods | python3 -c 'import json,sys; print(" ".join(i["metadata"]["name"] for i in json.load(sys.stdin)["items"] if i["status"].get("phase")=="Running"))'); do
  check "log of $p: no credential, no forbidden" check_log_clean "$p"
done

# ---------------------------------------------------------------------------------------------
echo "== (f) helm uninstall leaves AWS untouched"
BEFORE="$(calls | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))')"
check "helm uninstall $RELEASE" H uninstall "$RELEASE" --wait --timeout 2m
no_pods() { [ "$(pods | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["items"]))')" = 0 ]; }
check "the operator's pods are gone" wait_until 90 no_pods
sleep 3
untouched() {
  calls | python3 -c '
import json, sys
calls = json.load(sys.stdin)
before = int(sys.argv[1])
deletes = [c for c in calls if c["operation"].startswith("Delete")]
mutating_after = [c for c in calls[before:] if not c["operation"].startswith(("Describe", "List", "Get"))]
print("calls: %d before uninstall, %d after; deletes: %d" % (before, len(calls) - before, len(deletes)))
assert not deletes, deletes
assert not mutating_after, mutating_after
' "$BEFORE"
}
check "call log: no Delete call at all, no mutating call after the uninstall began" untouched
still_there() {
  local domain
  domain="$(incluster_aws sagemaker SageMaker.ListDomains '{}' | python3 -c 'import json,sys; d=json.load(sys.stdin)["Domains"]; assert len(d)==1, d; print(d[0]["DomainId"])')" || return 1
  incluster_aws sagemaker SageMaker.ListUserProfiles "{\"DomainIdEquals\":\"$domain\"}" | python3 -c 'import json,sys; n=sorted(p["UserProfileName"] for p in json.load(sys.stdin)["UserProfiles"]); print(n); assert len(n)==2, n'
  incluster_aws sagemaker SageMaker.ListSpaces "{\"DomainIdEquals\":\"$domain\"}" | python3 -c 'import json,sys; n=[p["SpaceName"] for p in json.load(sys.stdin)["Spaces"]]; print(n); assert len(n)==1, n'
}
check "the domain, both profiles and the space still exist in AWS (emulator)" still_there
check "the custom resources and CRDs stay (helm never deletes crds/)" K -n "$RUN_NS" get studiodomain/studio userprofile/alice userprofile/bob sharedspace/team

echo
echo "cluster-test summary: $PASSED passed, $FAILED failed"
if [ "$FAILED" -gt 0 ]; then
  printf '  failed: %s\n' "${FAILURES[@]}"
  exit 1
fi
echo "cluster-test: OK"
