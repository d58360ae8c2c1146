#!/usr/bin/env bash
# Lints every IAM policy the operator renders with parliament (PyPI), an established IAM policy
# linter: the operator's own `iam-policy` output and the policies of every Guardrail under
# examples/guardrails/ and tests/fixtures/policies/. Each finding must be explained in
# hack/policy-lint/accepted.yaml. Installs parliament into target/policy-lint-venv on first use.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"
VENV=target/policy-lint-venv
PARLIAMENT_VERSION=1.6.4

if ! "$VENV/bin/python" -c "import parliament, yaml" 2>/dev/null \
  || [ "$("$VENV/bin/python" -c 'import parliament; print(parliament.__version__)')" != "$PARLIAMENT_VERSION" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q "parliament==$PARLIAMENT_VERSION" pyyaml
fi

cargo build -q --bin studio-operator
BIN="${CARGO_TARGET_DIR:-target}/debug/studio-operator"
WORK="$(mktemp -d "${TMPDIR:-/tmp}/policy-lint.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT

"$BIN" iam-policy --cluster-id lint \
  --execution-role-arn arn:aws:iam::123456789012:role/studio-execution \
  --role-arn-pattern 'arn:aws:iam::*:role/studio-operator-*' \
  --backup-bucket acme-studio-backups >"$WORK/operator.json"

# `policy render` prints each policy after a `# file-name` line.
render() {
  local file="$1" prefix="$2" name
  name="$(awk '/^  name:/ {print $2; exit}' "$file")"
  "$BIN" policy render "$name" -f "$file" | awk -v dir="$WORK" -v prefix="$prefix" '
    /^# / { out = dir "/" prefix "-" $2; next }
    out { print > out }'
}
for file in examples/guardrails/*.yaml; do
  render "$file" "example-$(basename "$file" .yaml)"
done
for file in tests/fixtures/policies/*/guardrail.yaml; do
  render "$file" "fixture-$(basename "$(dirname "$file")")"
done

"$VENV/bin/python" hack/policy-lint/lint.py hack/policy-lint/accepted.yaml "$WORK"/*.json
