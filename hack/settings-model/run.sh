#!/usr/bin/env bash
# Runs a settings-model tool with the pinned botocore (the service model the CRD types are
# generated from and the coverage test walks).
#
#   hack/settings-model/run.sh generate.py [--check]
#
# Creates (or reuses) the virtualenv target/settings-model-venv with the botocore version that
# settings_model.BOTOCORE_VERSION pins (the emulator's conformance suites pin the same one).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
venv="$repo/target/settings-model-venv"
python="${PYTHON:-python3}"
version="$(sed -n 's/^BOTOCORE_VERSION = "\(.*\)"$/\1/p' "$here/settings_model.py")"

if [[ ! -x "$venv/bin/python" ]]; then
    "$python" -m venv "$venv"
fi
if ! "$venv/bin/python" -c "import botocore, sys; sys.exit(botocore.__version__ != '$version')" 2>/dev/null; then
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "botocore==$version"
fi

tool="$1"
shift
exec "$venv/bin/python" "$here/$tool" "$@"
