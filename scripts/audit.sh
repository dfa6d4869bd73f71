#!/usr/bin/env bash
# Checks Cargo.lock against the RustSec advisory database with cargo-audit (installed once
# under the cache). The database is a Git repository on GitHub: give a local copy with
# LOCKSTEP_ADVISORY_DB=DIR, or it is cloned into the cache when GitHub answers. Ignored
# advisories, each with its reason: .cargo/audit.toml.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cache=${LOCKSTEP_CACHE:-$HOME/.cache/lockstep}
db=${LOCKSTEP_ADVISORY_DB:-$cache/advisory-db}
export PATH=$cache/cargo-audit/bin:$PATH
log() { printf 'audit: %s\n' "$*" >&2; }

if ! command -v cargo-audit >/dev/null; then
    log "installing cargo-audit 0.22.2 (once)"
    cargo install cargo-audit@0.22.2 --locked --root "$cache/cargo-audit" --quiet
fi
if [[ ! -d $db/crates ]]; then
    if ! git clone --quiet --depth 1 https://github.com/rustsec/advisory-db "$db" 2>/dev/null; then
        log "SKIPPED: no advisory database (GitHub unreachable); set LOCKSTEP_ADVISORY_DB to a copy"
        [[ ${LOCKSTEP_REQUIRE_SERVERS:-0} == 1 ]] && exit 1
        exit 0
    fi
fi
log "database: $(git -C "$db" log -1 --format='%h of %cs')"
cargo audit --db "$db" --no-fetch --stale --deny warnings
