#!/usr/bin/env bash
# cargo deny check: licenses, duplicate versions, sources and RustSec advisories (deny.toml).
#
# Installs cargo-deny (pinned) when missing. The advisory database is cloned from GitHub; a
# machine without a route to GitHub clones it from a local mirror instead (ADVISORY_DB_MIRROR, a
# git repository of github.com/rustsec/advisory-db; default the workplace's mirror). Without
# either, the advisories check is skipped with a warning, and the other checks still run.
set -euo pipefail
cd "$(dirname "$0")/.."

version=0.20.2
if ! cargo deny --version 2>/dev/null | grep -q "$version"; then
    echo "deny.sh: installing cargo-deny $version (a few minutes, once)" >&2
    cargo install --locked --quiet "cargo-deny@$version"
fi

# --offline below needs every crate of every target platform in the local registry (a build
# fetches only the host's): fetch them first.
cargo fetch --locked --quiet
cargo deny --offline check licenses bans sources

db_root=target/advisory-dbs
# cargo-deny names the clone after the database URL.
db="$db_root/advisory-db-3157b0e258782691"
mirror="${ADVISORY_DB_MIRROR:-/work/.mirror/rustsec+advisory-db/repo}"
if cargo deny check advisories 2>/dev/null; then
    exit 0
fi
if [[ ! -d "$db/.git" && -d "$mirror" ]]; then
    mkdir -p "$db_root"
    git clone --quiet "$mirror" "$db"
fi
if [[ -d "$db/.git" ]]; then
    echo "deny.sh: advisories from the local copy of the RustSec database ($(git -C "$db" log -1 --format=%cs))" >&2
    cargo deny --offline check advisories
else
    echo "deny.sh: WARNING: the RustSec advisory database is unreachable (no network, no mirror): advisories not checked" >&2
fi
