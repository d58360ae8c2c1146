#!/usr/bin/env bash
# Tests the Helm chart charts/studio-operator:
#   (a) helm lint --strict (default values and every ci/*-values.yaml)
#   (b) the chart's crds/ is identical to crds/studio-operator.io.yaml
#   (c) helm template with the default values and every ci/*-values.yaml, plus content checks
#   (d) values that must fail values.schema.json, with a message naming the field
#   (e) against hack/bin/kube-testenv: CRDs applied for real, every rendering applied with
#       `kubectl apply --server-side --dry-run=server`, then a real `helm install` + `helm uninstall`
#   (f) RBAC of the operator's ServiceAccount with `kubectl auth can-i`: needed verbs allowed,
#       everything else (secrets, ConfigMaps and Leases outside the release namespace,
#       wildcards, ...) denied
#   (g) admission: the chart's ValidatingAdmissionPolicy with real RBAC, `kubectl --as`: a tenant with
#       the built-in `edit` ClusterRole in its namespace (which the chart's aggregated ClusterRoles
#       extend to StudioDomain, UserProfile and SharedSpace) creates and edits resources but is
#       refused, with the policy's exact message, setting spec.adopt, an approval annotation
#       (studio-operator.io/approve-*), deletionPolicy Retain -> Delete or efsRetention Delete; a
#       member of the approver group is allowed the same; the operator's ServiceAccount sets,
#       changes and removes approval annotations
#   (h) RBAC proven by running: the real operator binary, with the installed Deployment's args,
#       as the chart's ServiceAccount (a `kubectl create token` kubeconfig) against the AWS
#       emulator: a StudioDomain, UserProfile, SharedSpace and Guardrail become Ready (the
#       Guardrail's policy ConfigMap in the release namespace), are deleted, and the operator log
#       holds no `forbidden`/403; its /metrics (--metrics-auth=kubernetes) answers 401 without a
#       token, 403 to a ServiceAccount without the metrics-reader ClusterRole, 200 to one bound to it
#   (i) a namespace-scoped second install (operator.watchNamespaces): its ServiceAccount reaches the
#       namespaced kinds only in the watched namespace (can-i), and its real operator makes a
#       StudioDomain and a UserProfile there Ready with no forbidden call
# Prints a summary; exits non-zero on any failure.
#
# Needs hack/bin/kube-testenv and hack/bin/kubectl (`make testenv`); (h) builds the operator and the
# emulator with cargo. Builds hack/bin/helm with hack/build-helm.sh (cached; FORCE_HELM=1 always
# rebuilds).
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
BIN="$ROOT/hack/bin"
HELM="$BIN/helm"
KUBECTL="$BIN/kubectl"
TESTENV="$BIN/kube-testenv"
CHART=charts/studio-operator
RELEASE=studio-operator
NS=studio-system
SA="system:serviceaccount:$NS:$RELEASE"

log() { echo "chart-test: $*" >&2; }

hack/build-helm.sh
for b in "$KUBECTL" "$TESTENV"; do
  [ -x "$b" ] || { log "$b is missing: run 'make testenv'"; exit 1; }
done

WORK="$(mktemp -d "${TMPDIR:-/tmp}/chart-test.XXXXXX")"
# Keep helm's config/cache/data out of $HOME.
export HELM_CONFIG_HOME="$WORK/helm/config" HELM_CACHE_HOME="$WORK/helm/cache" HELM_DATA_HOME="$WORK/helm/data"
unset KUBECONFIG

TESTENV_PID=""
BG_PIDS=() # operator and emulator of (h)
cleanup() {
  local rc=$?
  local pid
  for pid in "${BG_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${BG_PIDS[@]}"; do wait "$pid" 2>/dev/null || true; done
  if [ -n "$TESTENV_PID" ]; then
    exec 3>&- # stdin EOF: kube-testenv shuts down (~3 s)
    for _ in $(seq 40); do kill -0 "$TESTENV_PID" 2>/dev/null || break; sleep 0.25; done
    kill "$TESTENV_PID" 2>/dev/null || true
    wait "$TESTENV_PID" 2>/dev/null || true
  fi
  if [ "${KEEP_WORK:-0}" = 1 ]; then log "work dir kept: $WORK"; else rm -rf "$WORK"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
# Result bookkeeping.
PASSED=0
FAILED=0
FAILURES=()
pass() { PASSED=$((PASSED + 1)); echo "  ok    $*"; }
fail() { FAILED=$((FAILED + 1)); FAILURES+=("$*"); echo "  FAIL  $*"; }
# check NAME CMD...: runs CMD, output to $WORK/last.log; shown on failure.
check() {
  local name="$1"
  shift
  if "$@" >"$WORK/last.log" 2>&1; then
    pass "$name"
  else
    fail "$name"
    sed 's/^/        | /' "$WORK/last.log" | tail -25
  fi
}
# contains FILE REGEX / lacks FILE REGEX (grep -E).
contains() { grep -Eq -- "$2" "$1"; }
lacks() { ! grep -Eq -- "$2" "$1"; }

VALUE_SETS=(default)
for f in "$CHART"/ci/*-values.yaml; do
  VALUE_SETS+=("$f")
done
# operator.clusterId has no default (every install names its cluster): each render sets one.
ID="--set operator.clusterId=chart-test"
values_args() { echo "$ID"; [ "$1" = default ] || echo "-f $1"; }
set_name() { if [ "$1" = default ]; then echo default; else basename "$1" -values.yaml; fi; }

# ---------------------------------------------------------------------------------------------
echo "== (a) helm lint --strict"
for v in "${VALUE_SETS[@]}"; do
  # shellcheck disable=SC2046
  check "lint $(set_name "$v")" "$HELM" lint --strict "$CHART" --namespace "$NS" $(values_args "$v")
done

echo "== (b) CRDs in the chart are identical to crds/"
check "diff crds/studio-operator.io.yaml $CHART/crds/studio-operator.io.yaml" \
  diff -u crds/studio-operator.io.yaml "$CHART/crds/studio-operator.io.yaml"

echo "== (c) helm template"
for v in "${VALUE_SETS[@]}"; do
  n="$(set_name "$v")"
  # shellcheck disable=SC2046
  check "template $n" sh -c '"$@" > "'"$WORK/render-$n.yaml"'"' _ \
    "$HELM" template "$RELEASE" "$CHART" --namespace "$NS" $(values_args "$v")
done
R="$WORK/render-default.yaml"
check "default: Deployment with 1 replica and strategy Recreate" \
  sh -c "grep -Eq '^  replicas: 1$' '$R' && grep -Eq '^    type: Recreate$' '$R'"
check "default: no PodDisruptionBudget, ServiceMonitor or NetworkPolicy" \
  lacks "$R" '^kind: (PodDisruptionBudget|ServiceMonitor|NetworkPolicy)$'
check "default: image ghcr.io/studio-operator/studio-operator:<appVersion>" \
  contains "$R" "image: \"ghcr.io/studio-operator/studio-operator:$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' "$CHART/Chart.yaml")\""
check "default: args --resync-interval=5m --log-format=json --cluster-id=chart-test --sweep-interval=5m --tag-audit-interval=6h --aws-max-rate=50, no --watch-namespace or --guardrail-selector" \
  sh -c "grep -q -- '- --resync-interval=5m$' '$R' && grep -q -- '- --log-format=json$' '$R' \
    && grep -q -- '- --cluster-id=chart-test$' '$R' && grep -q -- '- --sweep-interval=5m$' '$R' \
    && grep -q -- '- --tag-audit-interval=6h$' '$R' && grep -q -- '- --aws-max-rate=50$' '$R' \
    && ! grep -q -- '--watch-namespace' '$R' && ! grep -q -- '--guardrail-selector' '$R'"
check "default: leader election on, Lease $RELEASE, 15s/10s" \
  sh -c "grep -q -- '- --leader-election$' '$R' && grep -q -- '- --leader-election-lease=$RELEASE$' '$R' \
    && grep -q -- '- --leader-election-lease-duration=15s$' '$R' && grep -q -- '- --leader-election-renew-deadline=10s$' '$R'"
check "default: no fallback to the node's instance role (AWS_EC2_METADATA_DISABLED=true)" \
  sh -c "grep -A1 -- '- name: AWS_EC2_METADATA_DISABLED$' '$R' | grep -q 'value: \"true\"'"
check "default: POD_NAMESPACE and POD_NAME from the downward API" \
  sh -c "grep -A3 'name: POD_NAMESPACE' '$R' | grep -q 'fieldPath: metadata.namespace' \
    && grep -A3 'name: POD_NAME$' '$R' | grep -q 'fieldPath: metadata.name'"
check "default: ConfigMaps (but get) and Leases only in the namespaced Role, not in the ClusterRole" python3 -c '
import re, sys
docs = open(sys.argv[1]).read().split("\n---\n")
kind = lambda d: (re.search(r"^kind: (\w+)$", d, re.M) or [None, None])[1]
roles = [d for d in docs if kind(d) == "Role"]
assert len(roles) == 1 and re.search(r"^  namespace: %s$" % sys.argv[2], roles[0], re.M), roles
assert "\"configmaps\"" in roles[0] and "\"leases\"" in roles[0], roles[0]
for d in docs:
    if kind(d) == "ClusterRole":
        # Only `get` of ConfigMaps (for the scriptFrom of a StudioLifecycleConfig), never list or watch.
        rules = re.findall(r"resources: \[\"configmaps\"\]\n\s+verbs: (.*)", d)
        assert rules in ([], ["[\"get\"]"]) and "leases" not in d, d
' "$R" "$NS"
check "default: AWS_REGION us-east-1" sh -c "grep -A1 'name: AWS_REGION' '$R' | grep -q 'value: \"us-east-1\"'"
check "default: restricted securityContext" sh -c "grep -q 'runAsNonRoot: true' '$R' && grep -q 'runAsUser: 65532' '$R' \
    && grep -q 'readOnlyRootFilesystem: true' '$R' && grep -q 'allowPrivilegeEscalation: false' '$R' \
    && grep -A1 'drop:' '$R' | grep -q -- '- ALL' && grep -q 'type: RuntimeDefault' '$R'"
check "default: probes /healthz and /readyz on http-metrics" sh -c "grep -A2 'livenessProbe:' '$R' | grep -q 'path: /healthz' \
    && grep -A2 'readinessProbe:' '$R' | grep -q 'path: /readyz' && grep -q 'port: http-metrics' '$R'"
check "default: metrics Service port 8080 named http-metrics" sh -c "grep -B1 'port: 8080$' '$R' | grep -q 'name: http-metrics'"
check "default: RBAC has no wildcard and no secrets" sh -c "! grep -Eq '\"\\*\"|secrets' '$R'"
check "default: ValidatingAdmissionPolicy + binding $RELEASE-restricted-changes (Deny) on the three kinds, not their subresources, exempting $SA and studio-operator:approvers" python3 -c '
import re, sys
docs = open(sys.argv[1]).read().split("\n---\n")
kind = lambda d: (re.search(r"^kind: (\w+)$", d, re.M) or [None, None])[1]
vap, = [d for d in docs if kind(d) == "ValidatingAdmissionPolicy"]
binding, = [d for d in docs if kind(d) == "ValidatingAdmissionPolicyBinding"]
name = sys.argv[2] + "-restricted-changes"
assert "\n  name: %s\n" % name in vap and "\n  policyName: %s\n" % name in binding, (vap, binding)
assert re.search(r"^  validationActions:\n    - Deny\n", binding + "\n", re.M), binding
assert "failurePolicy: Fail" in vap, vap
assert re.findall(r"^ *resources: (.*)$", vap, re.M) == ["[\"studiodomains\", \"userprofiles\", \"sharedspaces\"]"], vap
assert "operations: [\"CREATE\", \"UPDATE\"]" in vap, vap
assert "request.userInfo.username != \"%s\"" % sys.argv[3] in vap, vap
assert "request.userInfo.groups.exists(g, g in [\"studio-operator:approvers\"])" in vap, vap
assert vap.count("reason: Forbidden") == 4 and vap.count("messageExpression:") == 4, vap
' "$R" "$RELEASE" "$SA"
check "default: ClusterRoles $RELEASE-edit (aggregate-to-edit, -admin) and $RELEASE-view (aggregate-to-view), no Guardrails" python3 -c '
import re, sys
docs = open(sys.argv[1]).read().split("\n---\n")
name = lambda d: (re.search(r"^  name: (\S+)$", d, re.M) or [None, None])[1]
roles = {name(d): d for d in docs if re.search(r"^kind: ClusterRole$", d, re.M)}
edit, view = roles[sys.argv[2] + "-edit"], roles[sys.argv[2] + "-view"]
for label in ("aggregate-to-edit", "aggregate-to-admin"):
    assert "rbac.authorization.k8s.io/%s: \"true\"" % label in edit, edit
assert "rbac.authorization.k8s.io/aggregate-to-view: \"true\"" in view, view
for d in (edit, view):
    assert "guardrails" not in d and "/status" not in d, d
' "$R" "$RELEASE"
check "admission.enabled=false, rbac.aggregateToDefaultRoles=false, metrics.authentication.enabled=false: no policy, no aggregated or metrics ClusterRoles, --metrics-auth=none" \
  sh -c "'$HELM' template '$RELEASE' '$CHART' --namespace '$NS' $ID --set admission.enabled=false --set rbac.aggregateToDefaultRoles=false \
    --set metrics.authentication.enabled=false >'$WORK/render-noadmission.yaml' && grep -q -- '- --metrics-auth=none$' '$WORK/render-noadmission.yaml' \
    && ! grep -q '^kind: ValidatingAdmissionPolicy' '$WORK/render-noadmission.yaml' \
    && [ \"\$(grep -c '^kind: ClusterRole$' '$WORK/render-noadmission.yaml')\" = 1 ]"
check "admission.approverGroups=[]: only the operator (the messages say so); two groups: both named; another ServiceAccount" \
  sh -c "'$HELM' template '$RELEASE' '$CHART' --namespace '$NS' $ID --set-json 'admission.approverGroups=[]' >'$WORK/render-noapprovers.yaml' \
    && grep -Fq 'g in [])' '$WORK/render-noapprovers.yaml' \
    && grep -q 'only the operator itself may do this (admission.approverGroups is empty)' '$WORK/render-noapprovers.yaml' \
    && '$HELM' template '$RELEASE' '$CHART' --namespace '$NS' $ID --set-json 'admission.approverGroups=[\"ml-admins\",\"platform\"]' \
       --set serviceAccount.create=false --set serviceAccount.name=studio-sa >'$WORK/render-approvers.yaml' \
    && grep -Fq 'g in [\"ml-admins\",\"platform\"]' '$WORK/render-approvers.yaml' \
    && grep -q 'only members of the groups ml-admins, platform may do this' '$WORK/render-approvers.yaml' \
    && grep -Fq 'request.userInfo.username != \"system:serviceaccount:$NS:studio-sa\"' '$WORK/render-approvers.yaml'"
check "admission.validationActions=[Warn,Audit] in the binding" \
  sh -c "'$HELM' template '$RELEASE' '$CHART' --namespace '$NS' $ID --set-json 'admission.validationActions=[\"Warn\",\"Audit\"]' \
    | grep -A2 '^  validationActions:$' | tr -d '\n' | grep -q -- '- Warn    - Audit'"
R="$WORK/render-ha.yaml"
check "ha: 2 replicas with leader election: Recreate and no PodDisruptionBudget (only the leader is Ready)" \
  sh -c "grep -Eq '^  replicas: 2$' '$R' && grep -q '^    type: Recreate$' '$R' && ! grep -q '^kind: PodDisruptionBudget$' '$R' \
    && grep -q -- '- --leader-election$' '$R' && grep -q -- '- --leader-election-lease-duration=20s$' '$R'"
check "2 replicas without leader election: refused, naming leaderElection" \
  sh -c "! '$HELM' template '$RELEASE' '$CHART' --namespace '$NS' $ID --set replicaCount=2 --set leaderElection.enabled=false >'$WORK/render-noelection.log' 2>&1 \
    && grep -q 'replicaCount > 1 needs leaderElection.enabled: true' '$WORK/render-noelection.log'"
R="$WORK/render-monitoring.yaml"
check "monitoring: ServiceMonitor and NetworkPolicy (ingress to http-metrics only)" \
  sh -c "grep -q '^kind: ServiceMonitor$' '$R' && grep -q '^kind: NetworkPolicy$' '$R' && grep -A4 'ingress:' '$R' | grep -q 'port: http-metrics'"
check "default: /metrics authenticated (--metrics-auth=kubernetes, no TLS); ClusterRole $RELEASE-metrics-auth (create tokenreviews, subjectaccessreviews) bound to the ServiceAccount; ClusterRole $RELEASE-metrics-reader (get /metrics)" python3 -c '
import re, sys
text = open(sys.argv[1]).read()
assert "- --metrics-auth=kubernetes\n" in text and "--metrics-tls" not in text, "args"
key = lambda d: tuple(re.search(r"^%s: (\S+)$" % f, d, re.M).group(1) for f in ("kind", "  name"))
objs = {key(d): d for d in text.split("\n---\n") if re.search(r"^kind: ", d, re.M)}
auth = objs[("ClusterRole", sys.argv[2] + "-metrics-auth")]
rules = re.findall(r"- apiGroups: (.*)\n\s+resources: (.*)\n\s+verbs: (.*)", auth)
assert rules == [("[\"authentication.k8s.io\"]", "[\"tokenreviews\"]", "[\"create\"]"),
                 ("[\"authorization.k8s.io\"]", "[\"subjectaccessreviews\"]", "[\"create\"]")], rules
binding = objs[("ClusterRoleBinding", sys.argv[2] + "-metrics-auth")]
assert "  name: %s-metrics-auth\n" % sys.argv[2] in binding and "kind: ServiceAccount\n    name: %s\n" % sys.argv[2] in binding, binding
reader = objs[("ClusterRole", sys.argv[2] + "-metrics-reader")]
assert re.findall(r"^  - (.*)\n\s+verbs: (.*)", reader, re.M) == [("nonResourceURLs: [\"/metrics\"]", "[\"get\"]")], reader
' "$WORK/render-default.yaml" "$RELEASE"
check "monitoring: the ServiceMonitor sends the Prometheus ServiceAccount token (bearerTokenFile) over http" \
  sh -c "grep -q 'bearerTokenFile: /var/run/secrets/kubernetes.io/serviceaccount/token$' '$R' && ! grep -q 'scheme: https' '$R'"
R="$WORK/render-metrics-tls.yaml"
check "metrics-tls: HTTPS on https-metrics from the mounted Secret (args, probes), ServiceMonitor with its ca.crt and the given authorization" \
  sh -c "grep -q -- '- --metrics-tls-cert=/etc/studio-operator/metrics-tls/tls.crt$' '$R' \
    && grep -q -- '- --metrics-tls-key=/etc/studio-operator/metrics-tls/tls.key$' '$R' && grep -q 'secretName: studio-operator-metrics-tls$' '$R' \
    && [ \"\$(grep -c 'scheme: HTTPS$' '$R')\" = 2 ] && grep -q 'scheme: https$' '$R' && ! grep -q 'http-metrics' '$R' \
    && grep -A5 'tlsConfig:' '$R' | grep -q 'key: ca.crt' && grep -A4 '^      authorization:' '$R' | grep -q 'name: prometheus-token' \
    && ! grep -q bearerTokenFile '$R'"
R="$WORK/render-irsa.yaml"
check "irsa: role-arn annotation, --watch-namespace=ml-platform,team-a, AWS_REGION eu-west-1" \
  sh -c "grep -q 'eks.amazonaws.com/role-arn: arn:aws:iam::111122223333:role/studio-operator' '$R' \
    && grep -q -- '- --watch-namespace=ml-platform,team-a$' '$R' && grep -A1 'name: AWS_REGION' '$R' | grep -q 'eu-west-1'"
check "irsa: --sweep-interval=10m and the quoted --guardrail-selector" \
  sh -c "grep -q -- '- --sweep-interval=10m$' '$R' && grep -q -- '- \"--guardrail-selector=tier in (prod,staging)\"$' '$R'"
check "irsa: --tag-audit-interval=1h --aws-max-rate=20" \
  sh -c "grep -q -- '- --tag-audit-interval=1h$' '$R' && grep -q -- '- --aws-max-rate=20$' '$R'"
check "irsa (watchNamespaces): the namespaced kinds in a Role $RELEASE-watch per watched namespace, Events also in default; the ClusterRole keeps Guardrails and Namespaces only" python3 -c '
import re, sys
docs = open(sys.argv[1]).read().split("\n---\n")
field = lambda d, f: (re.search(r"^%s: (\S+)$" % f, d, re.M) or [None, None])[1]
kinds = "studiodomains", "userprofiles", "sharedspaces", "studiolifecycleconfigs", "studioimages"
cluster, = [d for d in docs if field(d, "kind") == "ClusterRole" and field(d, "  name") == sys.argv[2]]
assert not any(k in cluster for k in kinds) and "events" not in cluster and "configmaps" not in cluster, cluster
assert "\"guardrails\"" in cluster and "\"namespaces\"" in cluster, cluster
watch = {field(d, "  namespace"): d for d in docs if field(d, "kind") == "Role" and field(d, "  name") == sys.argv[2] + "-watch"}
assert sorted(watch) == ["default", "ml-platform", "team-a"], sorted(watch)
for ns in ("ml-platform", "team-a"):
    assert all(k in watch[ns] for k in kinds) and "\"events\"" in watch[ns], watch[ns]
    assert re.findall(r"resources: \[\"configmaps\"\]\n\s+verbs: (.*)", watch[ns]) == ["[\"get\"]"], watch[ns]
assert not any(k in watch["default"] for k in kinds) and "\"events\"" in watch["default"], watch["default"]
bindings = [field(d, "  namespace") for d in docs if field(d, "kind") == "RoleBinding" and field(d, "  name") == sys.argv[2] + "-watch"]
assert sorted(bindings) == ["default", "ml-platform", "team-a"], bindings
' "$R" "$RELEASE"

echo "== (d) invalid values fail values.schema.json"
# invalid NAME FIELD YAML: helm template must fail and its message must name FIELD.
invalid() {
  local name="$1" field="$2" yaml="$3" out
  printf '%s\n' "$yaml" > "$WORK/invalid-$name.yaml"
  # shellcheck disable=SC2086
  if out="$("$HELM" template "$RELEASE" "$CHART" --namespace "$NS" ${4-$ID} -f "$WORK/invalid-$name.yaml" 2>&1)"; then
    fail "invalid $name: helm template succeeded"
  elif ! grep -q 'values don.t meet the specifications of the schema' <<<"$out"; then
    fail "invalid $name: failed, but not by the schema"; sed 's/^/        | /' <<<"$out" | tail -10
  elif ! grep -q -- "$field" <<<"$out"; then
    fail "invalid $name: message does not name '$field'"; sed 's/^/        | /' <<<"$out" | tail -10
  else
    pass "invalid $name rejected: $(grep -m1 -- "$field" <<<"$out" | sed 's/^[- ]*//')"
  fi
}
invalid logformat "logFormat" $'operator:\n  logFormat: xml'
invalid replicas "replicaCount" 'replicaCount: 0'
invalid duration "resyncInterval" $'operator:\n  resyncInterval: 5 minutes'
invalid unknown-key "leaseName" $'leaderElection:\n  enabled: true\n  leaseName: other'
invalid lease-duration "leaseDuration" $'leaderElection:\n  enabled: true\n  leaseDuration: 1500ms'
invalid election-flag "enabled" $'leaderElection:\n  enabled: "yes"'
invalid sweep "sweepInterval" $'operator:\n  sweepInterval: daily'
invalid audit "tagAuditInterval" $'operator:\n  tagAuditInterval: 6 hours'
invalid rate "awsMaxRate" $'operator:\n  awsMaxRate: 0.5'
invalid selector "guardrailSelector" $'operator:\n  guardrailSelector: "tier=prod; rm -rf /"'
invalid pullpolicy "pullPolicy" $'image:\n  pullPolicy: Sometimes'
invalid region "region" $'aws:\n  region: ""'
invalid namespaces "watchNamespaces" $'operator:\n  watchNamespaces: ["Team_A"]'
invalid approver-group "approverGroups" $'admission:\n  enabled: true\n  approverGroups: ["ml admins"]'
invalid deny-and-warn "validationActions" $'admission:\n  enabled: true\n  validationActions: [Deny, Warn]'
invalid no-action "validationActions" $'admission:\n  enabled: true\n  validationActions: []'
invalid admission-flag "enabled" $'admission:\n  enabled: "yes"'
invalid aggregate "aggregateToDefaultRoles" $'rbac:\n  aggregateToDefaultRoles: "true"'
invalid metrics-auth "authentication" $'metrics:\n  authentication:\n    enabled: "yes"'
invalid metrics-tls "secretName" $'metrics:\n  tls:\n    secretName: Metrics_TLS'
invalid cluster-id-missing "clusterId" '{}' ''
invalid cluster-id-default "clusterId" $'operator:\n  clusterId: default' ''

echo "== (e) kube-testenv: dry-run apply and helm install"
mkfifo "$WORK/testenv.stdin"
exec 3<>"$WORK/testenv.stdin" # held open until cleanup; EOF stops kube-testenv
"$TESTENV" <"$WORK/testenv.stdin" >"$WORK/testenv.out" 2>"$WORK/testenv.err" 3>&- &
TESTENV_PID=$!
t0=$(date +%s)
until [ -s "$WORK/testenv.out" ]; do
  if ! kill -0 "$TESTENV_PID" 2>/dev/null || [ $(($(date +%s) - t0)) -gt 180 ]; then
    log "kube-testenv did not become ready:"; tail -20 "$WORK/testenv.err" >&2; exit 1
  fi
  sleep 0.5
done
KUBECONFIG="$(sed -n 's/.*"kubeconfig":"\([^"]*\)".*/\1/p' "$WORK/testenv.out")"
export KUBECONFIG
log "kube-testenv ready in $(($(date +%s) - t0))s (KUBECONFIG=$KUBECONFIG)"
K() { "$KUBECTL" --request-timeout=60s "$@"; }

check "kubectl apply --server-side -f crds/" K apply --server-side -f crds/
check "CRDs Established" K wait --for condition=Established --timeout=60s \
  crd/studiodomains.studio-operator.io crd/userprofiles.studio-operator.io \
  crd/sharedspaces.studio-operator.io crd/guardrails.studio-operator.io \
  crd/studiolifecycleconfigs.studio-operator.io crd/studioimages.studio-operator.io
# A stand-in for the Prometheus Operator's ServiceMonitor CRD (schema not checked here).
cat >"$WORK/servicemonitor-crd.yaml" <<'EOF'
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: servicemonitors.monitoring.coreos.com
spec:
  group: monitoring.coreos.com
  names: {kind: ServiceMonitor, listKind: ServiceMonitorList, plural: servicemonitors, singular: servicemonitor}
  scope: Namespaced
  versions:
    - name: v1
      served: true
      storage: true
      schema:
        openAPIV3Schema:
          type: object
          x-kubernetes-preserve-unknown-fields: true
EOF
check "minimal ServiceMonitor CRD" K apply --server-side -f "$WORK/servicemonitor-crd.yaml"
check "ServiceMonitor CRD Established" K wait --for condition=Established --timeout=60s crd/servicemonitors.monitoring.coreos.com
check "namespace $NS" K create namespace "$NS"
# The irsa rendering's watched namespaces: it has a Role in each.
check "namespaces ml-platform and team-a" sh -c "'$KUBECTL' create namespace ml-platform && '$KUBECTL' create namespace team-a"
for v in "${VALUE_SETS[@]}"; do
  n="$(set_name "$v")"
  check "dry-run=server apply of the $n rendering" \
    K apply --server-side --dry-run=server --field-manager=chart-test -f "$WORK/render-$n.yaml"
done

check "helm install $RELEASE (default values)" \
  "$HELM" install "$RELEASE" "$CHART" --namespace "$NS" $ID --create-namespace --wait=false --timeout 2m
check "helm list shows $RELEASE deployed" \
  sh -c "'$HELM' list --namespace '$NS' --deployed --short | grep -qx '$RELEASE'"
check "kubectl get deploy,sa,svc,role,rolebinding in $NS" \
  K get -n "$NS" "deploy/$RELEASE" "sa/$RELEASE" "svc/$RELEASE-metrics" "role/$RELEASE" "rolebinding/$RELEASE"
check "kubectl get clusterrole,clusterrolebinding $RELEASE" K get "clusterrole/$RELEASE" "clusterrolebinding/$RELEASE"
check "kubectl get clusterrole,clusterrolebinding $RELEASE-metrics-auth, clusterrole $RELEASE-metrics-reader" \
  K get "clusterrole/$RELEASE-metrics-auth" "clusterrolebinding/$RELEASE-metrics-auth" "clusterrole/$RELEASE-metrics-reader"
check "kubectl get clusterrole $RELEASE-edit $RELEASE-view, validatingadmissionpolicy(binding) $RELEASE-restricted-changes" \
  K get "clusterrole/$RELEASE-edit" "clusterrole/$RELEASE-view" "validatingadmissionpolicy/$RELEASE-restricted-changes" \
  "validatingadmissionpolicybinding/$RELEASE-restricted-changes"
check "installed Deployment: runAsNonRoot, readOnlyRootFilesystem, strategy Recreate" sh -c "
  [ \"\$('$KUBECTL' -n '$NS' get deploy '$RELEASE' -o jsonpath='{.spec.template.spec.securityContext.runAsNonRoot}/{.spec.template.spec.containers[0].securityContext.readOnlyRootFilesystem}/{.spec.strategy.type}/{.spec.template.spec.serviceAccountName}')\" \
    = 'true/true/Recreate/$RELEASE' ]"
check "installed ClusterRole has no wildcard and no secrets" sh -c "
  ! '$KUBECTL' get clusterrole '$RELEASE' -o jsonpath='{.rules}' | grep -Eq '\"\\*\"|secrets'"

echo "== (f) RBAC of $SA"
# can VERB RESOURCE [ARGS...]: must be allowed; cannot ...: must be denied.
can_i() {
  local want="$1" out
  shift
  # stdout is exactly yes/no (warnings such as "not namespace scoped" go to stderr).
  out="$("$KUBECTL" auth can-i --as="${CAN_AS:-$SA}" "$@" 2>"$WORK/can-i.err" || true)"
  if [ "$out" = "$want" ]; then
    pass "$([ "$want" = yes ] && echo can || echo cannot) $*"
  else
    fail "$([ "$want" = yes ] && echo can || echo cannot) $* (got: $out)"
  fi
}
can() { can_i yes "$@"; }
cannot() { can_i no "$@"; }
for r in studiodomains userprofiles sharedspaces studiolifecycleconfigs studioimages; do
  can list "$r.studio-operator.io" --all-namespaces
  can watch "$r.studio-operator.io" --all-namespaces
  can get "$r.studio-operator.io" -n team-a
  can patch "$r.studio-operator.io" -n team-a
  can patch "$r.studio-operator.io" --subresource=status -n team-a
  can update "$r.studio-operator.io" --subresource=finalizers -n team-a
  cannot create "$r.studio-operator.io" -n team-a
  cannot delete "$r.studio-operator.io" -n team-a
  cannot update "$r.studio-operator.io" --subresource=status -n team-a
done
can list guardrails.studio-operator.io
can watch guardrails.studio-operator.io
can patch guardrails.studio-operator.io --subresource=status
can update guardrails.studio-operator.io --subresource=finalizers
cannot delete guardrails.studio-operator.io
# The admission policies of Enforce Guardrails (operator.guardrailAdmissionPolicies, on).
for r in validatingadmissionpolicies validatingadmissionpolicybindings; do
  for v in get create patch delete; do can "$v" "$r.admissionregistration.k8s.io"; done
  cannot list "$r.admissionregistration.k8s.io"
done
cannot create validatingwebhookconfigurations.admissionregistration.k8s.io
cannot create mutatingwebhookconfigurations.admissionregistration.k8s.io
can create events.events.k8s.io -n team-a
# TokenReviews and SubjectAccessReviews: authentication and authorization of /metrics requests.
can create tokenreviews.authentication.k8s.io
can create subjectaccessreviews.authorization.k8s.io
can patch events.events.k8s.io -n team-a
can list namespaces
can watch namespaces
can get namespaces
# ConfigMaps (the Guardrails' policies) and Leases (leader election): the release namespace only.
for v in get list watch create update patch; do
  can "$v" configmaps -n "$NS"
done
cannot delete configmaps -n "$NS"
# The Lease: created when missing, then read and renewed by its name only.
can create leases.coordination.k8s.io -n "$NS"
can get "leases.coordination.k8s.io/$RELEASE" -n "$NS"
can patch "leases.coordination.k8s.io/$RELEASE" -n "$NS"
for v in get patch update delete; do cannot "$v" leases.coordination.k8s.io/another-lease -n "$NS"; done
cannot list leases.coordination.k8s.io -n "$NS"
cannot watch leases.coordination.k8s.io -n "$NS"
cannot delete "leases.coordination.k8s.io/$RELEASE" -n "$NS"
for other in team-a kube-system default; do
  # get by name only, for a StudioLifecycleConfig's scriptFrom in its own namespace.
  cannot list configmaps -n "$other"
  cannot watch configmaps -n "$other"
  cannot create configmaps -n "$other"
  cannot patch configmaps -n "$other"
  cannot create leases.coordination.k8s.io -n "$other"
  cannot update leases.coordination.k8s.io -n "$other"
done
cannot list configmaps --all-namespaces
cannot watch configmaps --all-namespaces
cannot list leases.coordination.k8s.io --all-namespaces
cannot get secrets -n "$NS"
cannot list secrets --all-namespaces
cannot list secrets -n team-a
cannot delete namespaces
cannot create namespaces
cannot create clusterroles.rbac.authorization.k8s.io
cannot create rolebindings.rbac.authorization.k8s.io -n "$NS"
cannot update customresourcedefinitions.apiextensions.k8s.io
cannot create pods -n "$NS"
cannot create serviceaccounts/token -n "$NS"
cannot '*' '*'
cannot '*' '*' -n "$NS"

echo "== (g) admission: the ValidatingAdmissionPolicy with real RBAC (kubectl --as)"
# A tenant with the built-in `edit` ClusterRole in its namespace (a RoleBinding; the chart's
# aggregated ClusterRoles give it the studio-operator.io kinds) makes ordinary changes but none of
# the restricted ones; an approver with the same rights in group $APPROVERS makes them; the
# operator's ServiceAccount sets, changes and removes approval annotations. Nothing reconciles
# here (the operator runs only in (h)), so nothing reaches AWS.
VAP="$RELEASE-restricted-changes"
APPROVERS=studio-operator:approvers
TENANT_NS=team-a
TENANT=tenant-a
APPROVER=approver-1
AS_TENANT=(--as "$TENANT")
AS_APPROVER=(--as "$APPROVER" --as-group "$APPROVERS")
AS_SA=(--as "$SA")
WHO="only members of the group $APPROVERS may do this"
check "ValidatingAdmissionPolicy and binding $VAP installed, binding with validationActions [Deny]" sh -c "
  [ \"\$('$KUBECTL' get validatingadmissionpolicybinding '$VAP' -o jsonpath='{.spec.policyName}/{.spec.validationActions}')\" = '$VAP/[\"Deny\"]' ]"
vap_type_checked() { # the status controller type-checks the CEL against the CRDs' schemas
  local status
  status="$(K get validatingadmissionpolicy "$VAP" -o jsonpath='{.status.observedGeneration}/{.status.typeChecking}')"
  [ "${status%%/*}" = "$(K get validatingadmissionpolicy "$VAP" -o jsonpath='{.metadata.generation}')" ] || return 1
  case "$status" in *expressionWarnings*) echo "$status"; return 2 ;; esac
}
poll() { # SECONDS CMD...: CMD until it succeeds; a status of 2 stops at once
  local deadline=$((SECONDS + $1)) rc
  shift
  while :; do
    "$@" && return 0
    rc=$?
    [ "$rc" = 2 ] && return 1
    [ $SECONDS -lt $deadline ] || { "$@"; return 1; }
    sleep 1
  done
}
check "$VAP type-checked against the CRDs with no expression warning" poll 60 vap_type_checked
check "namespace $TENANT_NS, RoleBindings of ClusterRole edit for $TENANT and $APPROVER" sh -c "
  '$KUBECTL' get namespace '$TENANT_NS' >/dev/null && '$KUBECTL' -n '$TENANT_NS' create rolebinding tenant-edit --clusterrole=edit --user='$TENANT' \
  && '$KUBECTL' -n '$TENANT_NS' create rolebinding approver-edit --clusterrole=edit --user='$APPROVER'"
edit_aggregated() { [ "$("$KUBECTL" auth can-i --as "$TENANT" create studiodomains.studio-operator.io -n "$TENANT_NS" 2>/dev/null)" = yes ]; }
check "ClusterRole edit aggregates $RELEASE-edit (clusterrole-aggregation controller)" poll 60 edit_aggregated
# tenant_can WANT VERB RESOURCE [ARGS...]: kubectl auth can-i as the tenant.
tenant_can() {
  local want="$1" out
  shift
  out="$("$KUBECTL" auth can-i --as "$TENANT" "$@" 2>/dev/null || true)"
  if [ "$out" = "$want" ]; then pass "$TENANT $([ "$want" = yes ] && echo can || echo cannot) $*"; else fail "$TENANT $([ "$want" = yes ] && echo can || echo cannot) $* (got: $out)"; fi
}
for r in studiodomains userprofiles sharedspaces studiolifecycleconfigs studioimages; do
  for v in get list watch create update patch delete; do
    tenant_can yes "$v" "$r.studio-operator.io" -n "$TENANT_NS"
  done
  tenant_can no create "$r.studio-operator.io" -n default
  tenant_can no patch "$r.studio-operator.io" --subresource=status -n "$TENANT_NS"
done
tenant_can no list guardrails.studio-operator.io
tenant_can no create guardrails.studio-operator.io
tenant_can no list studiodomains.studio-operator.io --all-namespaces

# refused NAME MESSAGE CMD...: CMD must fail, Forbidden by $VAP with exactly MESSAGE.
refused() {
  local name="$1" want="$2" out got
  shift 2
  if out="$("$@" 2>&1)"; then
    fail "$name: allowed"; sed 's/^/        | /' <<<"$out" | tail -5; return
  fi
  got="$(sed -n "s/^Error from server (Forbidden): .* is forbidden: ValidatingAdmissionPolicy '$VAP' with binding '$VAP' denied request: //p" <<<"$out")"
  if [ "$got" = "$want" ]; then
    pass "$name: refused"
  else
    fail "$name: not refused with the expected message"
    printf '        | want: %s\n' "$want"; sed 's/^/        | got:  /' <<<"$out" | tail -5
  fi
}
# Expected messages: refusal, reason, who may.
msg_adopt() { echo "$1: setting or changing spec.adopt is refused: adopting puts an existing $2 that this cluster did not create (and its data) under the control of this resource, which may then update, recreate or delete it; $WHO"; }
msg_approval() { echo "$1: setting or changing the annotation $2 is refused: an approval lets the operator delete and recreate AWS resources and their data; $WHO (removing an approval is allowed)"; }
msg_retain() { echo "$1: changing spec.deletionPolicy from Retain to Delete is refused: with Delete, deleting this resource deletes the $2 in AWS and the data in it; $WHO"; }
msg_efs() { echo "$1: setting spec.efsRetention to Delete is refused: the domain's home EFS volume, with every user's files, would be deleted with the domain; $WHO"; }

# tenant_objects FILE [EXTRA-DOMAIN-SPEC]: a StudioDomain, UserProfile and SharedSpace (Retain).
cat >"$WORK/tenant.yaml" <<EOF
apiVersion: studio-operator.io/v1alpha1
kind: StudioDomain
metadata:
  name: studio
  namespace: $TENANT_NS
spec:
  aws:
    region: us-east-1
  network:
    vpcId: vpc-0a1b2c3d4e5f67890
    subnetIds: [subnet-0a1b2c3d4e5f67891]
  encryption:
    kmsKeyId: alias/team-a
  defaultUserSettings:
    executionRole: arn:aws:iam::123456789012:role/StudioDefault
  defaultSpaceSettings:
    executionRole: arn:aws:iam::123456789012:role/StudioSpace
---
apiVersion: studio-operator.io/v1alpha1
kind: UserProfile
metadata:
  name: alice
  namespace: $TENANT_NS
spec:
  domainRef:
    name: studio
---
apiVersion: studio-operator.io/v1alpha1
kind: SharedSpace
metadata:
  name: team
  namespace: $TENANT_NS
spec:
  domainRef:
    name: studio
  sharing:
    type: Shared
    ownerProfile: alice
  appType: JupyterLab
  deletionPolicy: Retain
EOF
# variant FILE NAME SED-SCRIPT: $WORK/tenant-FILE.yaml, the StudioDomain of tenant.yaml named NAME,
# edited by SED-SCRIPT.
variant() {
  sed -n '1,/^---$/p' "$WORK/tenant.yaml" | sed '$d' | sed "s/^  name: studio$/  name: $2/; $3" >"$WORK/tenant-$1.yaml"
}
variant adopt studio-2 's/^spec:$/spec:\n  adopt:\n    domainId: d-victim000001/'
variant efs studio-2 's/^spec:$/spec:\n  efsRetention: Delete/'
variant approved studio-2 's/^  namespace: .*/&\n  annotations:\n    studio-operator.io\/approve-recreation: "1"/'
variant delete studio-2 's/^spec:$/spec:\n  deletionPolicy: Delete/'
variant efs-existing studio 's/^spec:$/spec:\n  efsRetention: Delete/'
DOM="StudioDomain $TENANT_NS/studio"
DOM2="StudioDomain $TENANT_NS/studio-2"
TK() { K "${AS_TENANT[@]}" -n "$TENANT_NS" "$@"; }
AK() { K "${AS_APPROVER[@]}" -n "$TENANT_NS" "$@"; }
SK() { K "${AS_SA[@]}" -n "$TENANT_NS" "$@"; }

# CREATE.
check "$TENANT creates a StudioDomain, UserProfile and SharedSpace (deletionPolicy Delete by default, Retain)" \
  TK apply --server-side -f "$WORK/tenant.yaml"
check "$TENANT may create a StudioDomain with an explicit deletionPolicy Delete (server dry-run)" \
  TK create --dry-run=server -f "$WORK/tenant-delete.yaml"
refused "$TENANT creates a StudioDomain with spec.adopt" "$(msg_adopt "$DOM2" "SageMaker domain")" \
  TK create --dry-run=server -f "$WORK/tenant-adopt.yaml"
refused "$TENANT creates a StudioDomain with efsRetention Delete" "$(msg_efs "$DOM2")" \
  TK create --dry-run=server -f "$WORK/tenant-efs.yaml"
refused "$TENANT creates a StudioDomain with an approval annotation" \
  "$(msg_approval "$DOM2" studio-operator.io/approve-recreation)" TK create --dry-run=server -f "$WORK/tenant-approved.yaml"
check "$APPROVER may create StudioDomains with spec.adopt, efsRetention Delete, an approval (server dry-run)" \
  sh -c '"$@" -f "$0/tenant-adopt.yaml" && "$@" -f "$0/tenant-efs.yaml" && "$@" -f "$0/tenant-approved.yaml"' "$WORK" \
  "$KUBECTL" "${AS_APPROVER[@]}" create --dry-run=server

# UPDATE by the tenant: ordinary changes allowed, restricted ones refused.
check "$TENANT may change an unrestricted field (spec.recreationPolicy) and add labels" \
  sh -c '"$@" patch studiodomain studio --type merge -p "{\"spec\":{\"recreationPolicy\":\"Never\"}}" && "$@" label userprofile alice team=a' \
  _ "$KUBECTL" "${AS_TENANT[@]}" -n "$TENANT_NS"
check "$TENANT may set a UserProfile's deletionPolicy to Retain" \
  TK patch userprofile alice --type merge -p '{"spec":{"deletionPolicy":"Retain"}}'
refused "$TENANT sets StudioDomain spec.adopt.domainId" "$(msg_adopt "$DOM" "SageMaker domain")" \
  TK patch studiodomain studio --type merge -p '{"spec":{"adopt":{"domainId":"d-victim000001"}}}'
refused "$TENANT sets SharedSpace spec.adopt: true" "$(msg_adopt "SharedSpace $TENANT_NS/team" "SageMaker space")" \
  TK patch sharedspace team --type merge -p '{"spec":{"adopt":true}}'
refused "$TENANT annotates the StudioDomain with studio-operator.io/approve-recreation" \
  "$(msg_approval "$DOM" studio-operator.io/approve-recreation)" \
  TK annotate studiodomain studio studio-operator.io/approve-recreation=1
refused "$TENANT annotates a UserProfile with any studio-operator.io/approve-* (approve-data-loss)" \
  "$(msg_approval "UserProfile $TENANT_NS/alice" studio-operator.io/approve-data-loss)" \
  TK annotate userprofile alice studio-operator.io/approve-data-loss=yes
refused "$TENANT switches the SharedSpace's deletionPolicy Retain -> Delete" \
  "$(msg_retain "SharedSpace $TENANT_NS/team" "SageMaker space")" \
  TK patch sharedspace team --type merge -p '{"spec":{"deletionPolicy":"Delete"}}'
refused "$TENANT removes the UserProfile's deletionPolicy Retain (the default is Delete)" \
  "$(msg_retain "UserProfile $TENANT_NS/alice" "SageMaker user profile")" \
  TK patch userprofile alice --type json -p '[{"op":"remove","path":"/spec/deletionPolicy"}]'
refused "$TENANT sets the StudioDomain's efsRetention to Delete" "$(msg_efs "$DOM")" \
  TK patch studiodomain studio --type merge -p '{"spec":{"efsRetention":"Delete"}}'
refused "$TENANT re-applies the StudioDomain with efsRetention Delete (server-side apply)" "$(msg_efs "$DOM")" \
  TK apply --server-side -f "$WORK/tenant-efs-existing.yaml"
refused "cluster-admin (system:masters, not an approver) sets the StudioDomain's efsRetention to Delete" "$(msg_efs "$DOM")" \
  K -n "$TENANT_NS" patch studiodomain studio --type merge -p '{"spec":{"efsRetention":"Delete"}}'

# The operator's ServiceAccount: sets, changes and removes approval annotations.
check "$SA sets the approval annotation" SK annotate studiodomain studio studio-operator.io/approve-recreation=token-1
check "$SA changes the approval annotation" SK annotate --overwrite studiodomain studio studio-operator.io/approve-recreation=token-2
refused "$TENANT changes the approval annotation the operator set" \
  "$(msg_approval "$DOM" studio-operator.io/approve-recreation)" \
  TK annotate --overwrite studiodomain studio studio-operator.io/approve-recreation=token-3
check "$TENANT may keep editing while the approval is there (a label)" TK label studiodomain studio team=a
check "$TENANT may remove the approval annotation (revoking is allowed)" \
  TK annotate studiodomain studio studio-operator.io/approve-recreation-
check "$SA removes an approval annotation" sh -c '"$@" annotate studiodomain studio studio-operator.io/approve-recreation=token-4 \
  && "$@" annotate studiodomain studio studio-operator.io/approve-recreation-' _ "$KUBECTL" "${AS_SA[@]}" -n "$TENANT_NS"

# The approver: the same restricted changes, allowed.
check "$APPROVER sets StudioDomain spec.adopt.domainId" \
  AK patch studiodomain studio --type merge -p '{"spec":{"adopt":{"domainId":"d-victim000001"}}}'
check "$APPROVER sets UserProfile and SharedSpace spec.adopt: true" sh -c \
  '"$@" patch userprofile alice --type merge -p "{\"spec\":{\"adopt\":true}}" && "$@" patch sharedspace team --type merge -p "{\"spec\":{\"adopt\":true}}"' \
  _ "$KUBECTL" "${AS_APPROVER[@]}" -n "$TENANT_NS"
check "$APPROVER annotates studio-operator.io/approve-recreation" \
  AK annotate studiodomain studio studio-operator.io/approve-recreation=token-5
check "$APPROVER switches the SharedSpace's deletionPolicy Retain -> Delete" \
  AK patch sharedspace team --type merge -p '{"spec":{"deletionPolicy":"Delete"}}'
check "$APPROVER sets the StudioDomain's efsRetention to Delete" \
  AK patch studiodomain studio --type merge -p '{"spec":{"efsRetention":"Delete"}}'
approved_state() {
  [ "$(K -n "$TENANT_NS" get studiodomain studio -o jsonpath='{.spec.adopt.domainId}/{.spec.efsRetention}/{.metadata.annotations.studio-operator\.io/approve-recreation}')" = d-victim000001/Delete/token-5 ] &&
    [ "$(K -n "$TENANT_NS" get sharedspace team -o jsonpath='{.spec.adopt}/{.spec.deletionPolicy}')" = true/Delete ]
}
check "the approver's changes are stored" approved_state
# What an approver set stays editable for the tenant; changing it again is not.
check "$TENANT may edit other fields of what the approver configured (unchanged adopt, efsRetention, approval)" \
  sh -c '"$@" patch studiodomain studio --type merge -p "{\"spec\":{\"recreationPolicy\":\"Manual\"}}" && "$@" label sharedspace team team=a' \
  _ "$KUBECTL" "${AS_TENANT[@]}" -n "$TENANT_NS"
refused "$TENANT changes the adopted domain id" "$(msg_adopt "$DOM" "SageMaker domain")" \
  TK patch studiodomain studio --type merge -p '{"spec":{"adopt":{"domainId":"d-victim000002"}}}'
check "$TENANT may clear spec.adopt and set efsRetention back to Retain" \
  TK patch studiodomain studio --type merge -p '{"spec":{"adopt":null,"efsRetention":"Retain"}}'
refused "a user in another group (studio-operator:viewers) annotates approve-recreation" \
  "$(msg_approval "$DOM" studio-operator.io/approve-recreation)" \
  K --as "$APPROVER" --as-group studio-operator:viewers -n "$TENANT_NS" annotate --overwrite studiodomain studio studio-operator.io/approve-recreation=token-6

# DELETE is not matched: the tenant deletes its own resources (none has a finalizer: no operator ran).
check "$TENANT deletes its SharedSpace, UserProfile and StudioDomain" \
  TK delete sharedspace/team userprofile/alice studiodomain/studio --timeout=60s
check "namespace $TENANT_NS deleted" K delete namespace "$TENANT_NS" --timeout=120s

echo "== (h) the real operator as $SA, with the chart's args, against the AWS emulator"
# Proves the RBAC by running: every call the operator makes (CRD checks, watches, status and
# finalizer patches, Events, Namespaces, the leader Lease, the Guardrail policy ConfigMap) is
# made with the ServiceAccount's token, and none may be forbidden.
RUN_NS=chart-run
log "building the operator and the emulator (cargo)"
if (cargo build -q -p studio-operator --bin studio-operator && cargo build -q -p aws-emulator --bin aws-emulator) \
  >"$WORK/cargo.log" 2>&1; then
  pass "cargo build of the operator and the emulator"
else
  fail "cargo build of the operator and the emulator"
  tail -25 "$WORK/cargo.log" | sed 's/^/        | /'
fi
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# make_sa_kubeconfig SERVICEACCOUNT FILE: a kubeconfig with a TokenRequest token of a
# ServiceAccount of $NS.
SA_KUBECONFIG="$WORK/sa.kubeconfig"
make_sa_kubeconfig() {
  local token server ca
  token="$(K -n "$NS" create token "$1" --duration=1h)" || return 1
  server="$(K config view --raw --minify -o jsonpath='{.clusters[0].cluster.server}')"
  ca="$(K config view --raw --minify -o jsonpath='{.clusters[0].cluster.certificate-authority-data}')"
  cat >"$2" <<EOF
apiVersion: v1
kind: Config
clusters:
  - name: testenv
    cluster: {server: "$server", certificate-authority-data: "$ca"}
users:
  - name: $1
    user: {token: "$token"}
contexts:
  - name: $1
    context: {cluster: testenv, user: $1, namespace: "$NS"}
current-context: $1
EOF
}
check "kubectl create token $RELEASE: a kubeconfig for the ServiceAccount" make_sa_kubeconfig "$RELEASE" "$SA_KUBECONFIG"
whoami_is_sa() {
  [ "$("$KUBECTL" --kubeconfig "$SA_KUBECONFIG" auth whoami -o jsonpath='{.status.userInfo.username}')" = "$SA" ]
}
check "the kubeconfig authenticates as $SA" whoami_is_sa

# The emulator, with a customer managed KMS key alias/chart-test.
EMU_PORT="$(free_port)"
target/debug/aws-emulator --port "$EMU_PORT" 2>"$WORK/emulator.log" &
BG_PIDS+=($!)
for _ in $(seq 1 100); do (echo >"/dev/tcp/127.0.0.1/$EMU_PORT") 2>/dev/null && break; sleep 0.1; done
EMU="http://127.0.0.1:$EMU_PORT"
kms() { # operation json-body: an unverified SigV4 header is enough for the emulator
  curl -sf "$EMU/" -H "X-Amz-Target: TrentService.$1" -H 'Content-Type: application/x-amz-json-1.1' \
    -H "Authorization: AWS4-HMAC-SHA256 Credential=chart/$(date -u +%Y%m%d)/us-east-1/kms/aws4_request, SignedHeaders=host, Signature=0" \
    -d "$2"
}
make_key() {
  local key_id
  key_id="$(kms CreateKey '{"Description":"chart-test"}' | python3 -c 'import json,sys; print(json.load(sys.stdin)["KeyMetadata"]["KeyId"])')" &&
    kms CreateAlias "{\"AliasName\":\"alias/chart-test\",\"TargetKeyId\":\"$key_id\"}" >/dev/null
}
check "emulator on $EMU with KMS key alias/chart-test" make_key

# start_operator DEPLOYMENT KUBECONFIG LOG: the installed Deployment's args, with the metrics
# address moved to a free local port ($METRICS_PORT) and faster polling, and its env as the kubelet
# would set it (POD_NAMESPACE from the downward API); the process is $OP_PID.
start_operator() {
  METRICS_PORT="$(free_port)"
  mapfile -t OP_ARGS < <(K -n "$NS" get deploy "$1" -o jsonpath='{.spec.template.spec.containers[0].args}' |
    python3 -c '
import json, sys
for arg in json.load(sys.stdin):
    if not arg.startswith(("--metrics-addr=", "--poll-interval=", "--resync-interval=")):
        print(arg)
print("--metrics-addr=127.0.0.1:" + sys.argv[1])
print("--poll-interval=1s")
print("--resync-interval=20s")
' "$METRICS_PORT")
  log "operator: studio-operator ${OP_ARGS[*]}"
  KUBECONFIG="$2" POD_NAMESPACE="$NS" POD_NAME=chart-test AWS_ENDPOINT_URL="$EMU" AWS_REGION=us-east-1 \
    AWS_ACCESS_KEY_ID=chart AWS_SECRET_ACCESS_KEY=chart RUST_LOG=info \
    target/debug/studio-operator "${OP_ARGS[@]}" >"$3" 2>&1 &
  OP_PID=$!
  BG_PIDS+=("$OP_PID")
}
start_operator "$RELEASE" "$SA_KUBECONFIG" "$WORK/operator.log"
runs_elected() { printf '%s\n' "${OP_ARGS[@]}" | grep -qx -- --leader-election; }
check "the Deployment's args include --leader-election" runs_elected
wait_until() { # SECONDS CMD...: polls CMD every second while the operator runs
  local deadline=$((SECONDS + $1))
  shift
  until "$@"; do
    kill -0 "$OP_PID" 2>/dev/null || { echo "the operator exited"; return 1; }
    [ $SECONDS -lt $deadline ] || return 1
    sleep 1
  done
}
ready() { [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$METRICS_PORT/readyz")" = 200 ]; }
check "operator Ready (leader lease held, caches synced)" wait_until 60 ready
# /metrics of the running operator (--metrics-auth=kubernetes, the chart's default): the API server
# authenticates the bearer token (TokenReview) and authorizes get on /metrics (SubjectAccessReview);
# only a ServiceAccount bound to $RELEASE-metrics-reader reads it. /readyz (above) needs no token.
metrics_scrapers() {
  K -n "$NS" create serviceaccount metrics-scraper && K -n "$NS" create serviceaccount metrics-intruder &&
    K create clusterrolebinding metrics-scraper --clusterrole="$RELEASE-metrics-reader" --serviceaccount="$NS:metrics-scraper"
}
check "ServiceAccounts metrics-scraper (bound to $RELEASE-metrics-reader) and metrics-intruder (not bound)" metrics_scrapers
SCRAPER_TOKEN="$(K -n "$NS" create token metrics-scraper --duration=1h)" || SCRAPER_TOKEN=""
INTRUDER_TOKEN="$(K -n "$NS" create token metrics-intruder --duration=1h)" || INTRUDER_TOKEN=""
metrics_answers() { # CODE [CURL-ARGS...]: GET /metrics answers CODE
  local want="$1" got
  shift
  got="$(curl -s -o /dev/null -w '%{http_code}' "$@" "http://127.0.0.1:$METRICS_PORT/metrics")"
  [ "$got" = "$want" ] || { echo "answered $got, not $want"; return 1; }
}
check "/metrics without a token: 401" metrics_answers 401
check "/metrics with a token of metrics-intruder: 403" metrics_answers 403 -H "Authorization: Bearer $INTRUDER_TOKEN"
check "/metrics with a token of metrics-scraper: 200" metrics_answers 200 -H "Authorization: Bearer $SCRAPER_TOKEN"
holds_lease() {
  local holder
  holder="$(K -n "$NS" get lease "$RELEASE" -o jsonpath='{.spec.holderIdentity}')"
  [ "${holder%%_*}" = chart-test ] || { echo "holder: $holder"; return 1; }
}
check "Lease $NS/$RELEASE held by the operator" holds_lease
is_leader() { curl -s -H "Authorization: Bearer $SCRAPER_TOKEN" "http://127.0.0.1:$METRICS_PORT/metrics" | grep -qx 'studio_operator_leader 1'; }
check "metric studio_operator_leader 1" is_leader

# domain_and_profile NAMESPACE: the StudioDomain studio (KMS alias/chart-test, deletionPolicy
# Delete) and the UserProfile alice in it.
domain_and_profile() {
  cat <<EOF
apiVersion: studio-operator.io/v1alpha1
kind: StudioDomain
metadata:
  name: studio
  namespace: $1
spec:
  aws:
    region: us-east-1
  network:
    vpcId: vpc-0a1b2c3d4e5f67890
    subnetIds: [subnet-0a1b2c3d4e5f67891]
  encryption:
    kmsKeyId: alias/chart-test
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
  namespace: $1
spec:
  domainRef:
    name: studio
EOF
}
cat >"$WORK/studio.yaml" <<EOF
apiVersion: v1
kind: Namespace
metadata:
  name: $RUN_NS
---
apiVersion: studio-operator.io/v1alpha1
kind: Guardrail
metadata:
  name: chart-test
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
$(domain_and_profile "$RUN_NS")
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
  check "$r Ready" "$KUBECTL" -n "$RUN_NS" wait --for=condition=Ready --timeout=180s "$r"
done
check "guardrail/chart-test Ready" K wait --for=condition=Ready --timeout=60s guardrail/chart-test
check "ConfigMap guardrail-chart-test-policies written in $NS" K -n "$NS" get configmap guardrail-chart-test-policies
# The space's home (JupyterLab: an EBS volume) has no backup: its deletion waits for the data-loss
# approval, which only an approver may give (the admission policy); the operator says how.
check "delete the SharedSpace: it waits for the data-loss approval (BackupPending)" sh -c "
  '$KUBECTL' -n '$RUN_NS' delete sharedspace/team --wait=false \
  && '$KUBECTL' -n '$RUN_NS' wait --for=condition=BackupPending --timeout=60s sharedspace/team"
DATA_LOSS_TOKEN="$("$KUBECTL" -n "$RUN_NS" get sharedspace/team -o jsonpath='{.status.spaceData.pendingApproval.token}')"
check "an approver approves the data loss with the token in status.spaceData.pendingApproval" sh -c "
  '$KUBECTL' -n '$RUN_NS' create rolebinding approver-edit --clusterrole=edit --user='$APPROVER' \
  && '$KUBECTL' -n '$RUN_NS' --as '$APPROVER' --as-group '$APPROVERS' annotate --overwrite sharedspace/team \
     'studio-operator.io/approve-data-loss=$DATA_LOSS_TOKEN'"
check "delete the SharedSpace, UserProfile and StudioDomain (the operator releases their finalizers)" \
  "$KUBECTL" -n "$RUN_NS" delete sharedspace/team userprofile/alice studiodomain/studio --timeout=180s
check "delete the Guardrail" K delete guardrail/chart-test --timeout=60s
# stop_operator LOG: SIGTERM; the operator exits 0, releases its lease, and LOG holds no
# forbidden/403 (the RBAC sufficed for every call).
stop_operator() {
  local failed_before="$FAILED"
  kill -TERM "$OP_PID" 2>/dev/null || true
  for _ in $(seq 60); do kill -0 "$OP_PID" 2>/dev/null || break; sleep 0.5; done
  if kill -0 "$OP_PID" 2>/dev/null; then
    fail "the operator did not exit within 30 s of SIGTERM"
  elif wait "$OP_PID"; then
    pass "SIGTERM: the operator exited 0"
  else
    fail "SIGTERM: the operator exited $?"
  fi
  check "operator log: released the leader lease" grep -q 'released the leader lease' "$1"
  # Kubernetes' Forbidden (403) answers say "forbidden"; a bare status 403 shows as 403 (not part
  # of a longer number or of a timestamp's fraction).
  local forbidden='forbidden|(^|[^0-9.:])403([^0-9]|$)'
  if grep -Eiq "$forbidden" "$1"; then
    fail "operator log has forbidden/403:"
    grep -Ei "$forbidden" "$1" | head -10 | sed 's/^/        | /'
  else
    pass "operator log has no forbidden/403 ($(wc -l <"$1") lines)"
  fi
  if [ "$FAILED" -gt "$failed_before" ]; then
    log "operator log (panics, then the last 30 lines):"
    grep -A4 'panicked at' "$1" | head -20 | sed 's/^/        | /' >&2 || true
    tail -30 "$1" | sed 's/^/        | /' >&2
  fi
}
stop_operator "$WORK/operator.log"

echo "== (i) a namespace-scoped install (operator.watchNamespaces) run as its own ServiceAccount"
# A second release whose operator watches one namespace: its rights to the namespaced kinds are a
# Role there (can-i), and the real operator, as that ServiceAccount with that Deployment's args,
# makes a StudioDomain and a UserProfile there Ready with no forbidden call.
SCOPED=scoped
SCOPED_FULL="$SCOPED-studio-operator"
SCOPED_NS=chart-scoped
check "helm install $SCOPED with operator.watchNamespaces={$SCOPED_NS}" sh -c "'$KUBECTL' create namespace '$SCOPED_NS' \
  && '$HELM' install '$SCOPED' '$CHART' --namespace '$NS' --set operator.clusterId=chart-scoped \
     --set 'operator.watchNamespaces={$SCOPED_NS}' --set admission.enabled=false --set rbac.aggregateToDefaultRoles=false \
     --wait=false --timeout 2m"
CAN_AS="system:serviceaccount:$NS:$SCOPED_FULL"
for r in studiodomains userprofiles sharedspaces studiolifecycleconfigs studioimages; do
  can list "$r.studio-operator.io" -n "$SCOPED_NS"
  can patch "$r.studio-operator.io" --subresource=status -n "$SCOPED_NS"
  cannot list "$r.studio-operator.io" --all-namespaces
  cannot get "$r.studio-operator.io" -n "$RUN_NS"
done
can list guardrails.studio-operator.io
can create events.events.k8s.io -n "$SCOPED_NS"
can create events.events.k8s.io -n default
cannot create events.events.k8s.io -n "$RUN_NS"
can get configmaps -n "$SCOPED_NS"
cannot get configmaps -n "$RUN_NS"
unset CAN_AS
check "kubectl create token $SCOPED_FULL: a kubeconfig" make_sa_kubeconfig "$SCOPED_FULL" "$WORK/scoped.kubeconfig"
start_operator "$SCOPED_FULL" "$WORK/scoped.kubeconfig" "$WORK/scoped-operator.log"
watches_one() { printf '%s\n' "${OP_ARGS[@]}" | grep -qx -- "--watch-namespace=$SCOPED_NS"; }
check "the scoped Deployment's args include --watch-namespace=$SCOPED_NS" watches_one
check "scoped operator Ready (CRD checks, caches and lease with its RBAC)" wait_until 60 ready
domain_and_profile "$SCOPED_NS" >"$WORK/scoped.yaml"
check "apply a StudioDomain and a UserProfile in $SCOPED_NS" K apply --server-side -f "$WORK/scoped.yaml"
for r in studiodomain/studio userprofile/alice; do
  check "$SCOPED_NS $r Ready" "$KUBECTL" -n "$SCOPED_NS" wait --for=condition=Ready --timeout=180s "$r"
done
check "delete them (the scoped operator releases their finalizers)" \
  "$KUBECTL" -n "$SCOPED_NS" delete userprofile/alice studiodomain/studio --timeout=180s
stop_operator "$WORK/scoped-operator.log"
check "helm uninstall $SCOPED: its Roles go with it" sh -c "'$HELM' uninstall '$SCOPED' --namespace '$NS' --wait=false --timeout 2m \
  && ! '$KUBECTL' -n '$SCOPED_NS' get role '$SCOPED_FULL-watch' 2>/dev/null"

echo "== helm uninstall"
check "helm uninstall $RELEASE" "$HELM" uninstall "$RELEASE" --namespace "$NS" --wait=false --timeout 2m
check "ClusterRoles gone after uninstall" sh -c "! '$KUBECTL' get clusterrole '$RELEASE' 2>/dev/null \
  && ! '$KUBECTL' get clusterrole '$RELEASE-edit' 2>/dev/null && ! '$KUBECTL' get clusterrole '$RELEASE-view' 2>/dev/null \
  && ! '$KUBECTL' get clusterrole '$RELEASE-metrics-auth' 2>/dev/null && ! '$KUBECTL' get clusterrole '$RELEASE-metrics-reader' 2>/dev/null"
check "ValidatingAdmissionPolicy and binding gone after uninstall" sh -c "! '$KUBECTL' get validatingadmissionpolicy '$RELEASE-restricted-changes' 2>/dev/null \
  && ! '$KUBECTL' get validatingadmissionpolicybinding '$RELEASE-restricted-changes' 2>/dev/null"
check "CRDs kept after uninstall (helm never deletes crds/)" K get crd studiodomains.studio-operator.io

echo
echo "chart-test summary: $PASSED passed, $FAILED failed"
if [ "$FAILED" -gt 0 ]; then
  printf '  failed: %s\n' "${FAILURES[@]}"
  exit 1
fi
echo "chart-test: OK"
