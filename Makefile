# studio-operator: build, generate, test, run.
# `make run` and `make test` are the two commands a new user needs (see README.md).

CARGO ?= cargo
PYTHON ?= python3
CRD_FILE := crds/studio-operator.io.yaml
CHART_CRD_FILE := charts/studio-operator/crds/studio-operator.io.yaml

.PHONY: all build testenv node image image-test cluster-test crds crds-check settings settings-check fmt-check clippy deny unit policy-lint e2e chaos bench pytests activity-reporter-test space-backup-test run-smoke chart-test kstatus-check kstatus-check-test argocd-health-test test run help

all: build

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/'

build: ## Build the operator and the emulator
	$(CARGO) build --workspace --bins

testenv: ## Build hack/bin/kube-testenv and hack/bin/kubectl from Go modules (cached)
	hack/build-testenv.sh

crds: ## Regenerate the CRD YAML from the Rust types (crds/ and the chart's copy)
	$(CARGO) run -q --bin studio-operator -- crd > $(CRD_FILE)
	cp $(CRD_FILE) $(CHART_CRD_FILE)

crds-check: ## Fail when crds/ is stale
	@$(CARGO) run -q --bin studio-operator -- crd > target/crds.check.yaml
	@diff -u $(CRD_FILE) target/crds.check.yaml > /dev/null || { \
		echo "crds/ is stale: run 'make crds' and commit the result" >&2; \
		diff -u $(CRD_FILE) target/crds.check.yaml | head -40 >&2; exit 1; }
	@cmp -s $(CRD_FILE) $(CHART_CRD_FILE) || { echo "$(CHART_CRD_FILE) differs from $(CRD_FILE): run 'make crds'" >&2; exit 1; }
	@echo "crds/ is up to date"

settings: ## Regenerate src/api/settings/generated.rs and the coverage test's leaves from the pinned botocore service model
	hack/settings-model/run.sh generate.py
	hack/settings-model/run.sh coverage.py

settings-check: ## Fail when src/api/settings/generated.rs or tests/fixtures/settings/leaves.tsv is stale
	hack/settings-model/run.sh generate.py --check
	hack/settings-model/run.sh coverage.py --check

fmt-check: ## cargo fmt --check
	$(CARGO) fmt --all -- --check

clippy: ## clippy with warnings as errors
	$(CARGO) clippy --workspace --all-targets -- -D warnings

deny: ## cargo deny: RustSec advisories, licenses, duplicate crate versions, sources (deny.toml)
	hack/deny.sh

unit: ## Unit tests (no cluster, no emulator)
	$(CARGO) test --workspace --lib --bins

e2e: testenv kstatus-check ## End-to-end tests: real kube-apiserver + AWS emulator
	$(CARGO) test --test e2e -- --test-threads=4

# The image's name; empty means ghcr.io/studio-operator/studio-operator:<Cargo.toml version>.
IMAGE ?=
image: ## The operator's OCI image without a container engine (release build + umoci): hack/bin/images/studio-operator.oci.tar
	hack/image/build.sh $(IMAGE)

image-test: image ## The Dockerfile and the built image have the same files, user, entrypoint, cmd, ports and labels
	$(PYTHON) hack/image/check.py hack/bin/images/studio-operator.oci.tar

node: testenv ## Build the node of `kube-testenv --with-node` into hack/bin/node: kubelet, kube-proxy, containerd, runc, CNI plugins, pause image (cached)
	hack/node/build.sh

cluster-test: testenv node image ## The chart and the image as pods on kube-testenv's node against the emulator (needs root)
	$(CARGO) build -q -p aws-emulator --bin aws-emulator
	hack/cluster-test.sh

chaos: testenv kstatus-check ## Chaos suite: CHAOS_RUNS seeded runs (default 20) of faults and SIGKILLs; report in target/chaos-report.json
	CHAOS_RUNS=$${CHAOS_RUNS:-20} $(CARGO) test --test e2e -- --nocapture chaos::

bench: testenv ## Scale benchmark (release build, ~25 min; BENCH_SCENARIOS=1,2 and BENCH_SCALE=0.1 to shorten): bench/results/, docs/performance.md
	$(CARGO) bench --bench scale

policy-lint: ## Lint every rendered IAM policy with parliament; each finding explained in hack/policy-lint/accepted.yaml
	hack/policy-lint.sh

pytests: ## boto3 and moto conformance suites of the emulator
	hack/aws-emulator/conformance/run.sh

activity-reporter-test: ## Activity reporter against a real Jupyter server and the AWS emulator
	tests/activity-reporter/run.sh

space-backup-test: ## Space backup agent against moto's S3 server, a real Jupyter server and the AWS emulator
	tests/space-backup/run.sh

run-smoke: testenv ## `make run` until the example domain is Ready, then exit
	RUN_ONCE=1 METRICS_ADDR=127.0.0.1:0 EMULATOR_PORT=$$($(PYTHON) -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])') hack/run-local.sh

# CI's image tests use the debug build the other tests compiled already (IMAGE_PROFILE=dev): an
# optimised build of every dependency would cost CI 20+ minutes on 2 cores.
test: export IMAGE_PROFILE ?= dev
test: fmt-check clippy deny crds-check settings-check unit policy-lint e2e pytests activity-reporter-test space-backup-test kstatus-check-test argocd-health-test run-smoke chart-test image-test cluster-test ## What CI runs

run: testenv ## Run the operator locally against kube-testenv and the AWS emulator (IN_CLUSTER=1: as a pod of the chart on kube-testenv's node)
	hack/run-local.sh

chart-test: testenv ## Helm chart: lint, template, schema, dry-run, install, RBAC (can-i and a run of the operator as its ServiceAccount), admission policy (kubectl --as tenant/approver) against kube-testenv
	hack/chart-test.sh

kstatus-check: ## Build hack/bin/kstatus-check: kstatus (Flux/kpt) verdict of a live object or of YAML (cached)
	hack/build-kstatus-check.sh

kstatus-check-test: ## kstatus verdicts on the operator's status shapes (go vet + go test in hack/kstatus-check)
	cd hack/kstatus-check && CGO_ENABLED=0 go vet ./... && CGO_ENABLED=0 go test -count=1 ./...

argocd-health-test: ## Argo CD health.lua checks in gitops/argocd against their health_test.yaml, and the argocd-cm snippet
	hack/argocd-health-test.sh
