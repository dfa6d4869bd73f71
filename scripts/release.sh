#!/usr/bin/env bash
# Builds the release binaries (`lockstep`, `lockstep-controller`) with the locked
# dependencies, and writes them with SHA-256 checksums, shell completions and man pages to
# a folder named for the version and the platform:
#
#   scripts/release.sh            # → dist/lockstep-0.1.0-x86_64-unknown-linux-gnu/
#   scripts/release.sh OUT_DIR
#
# Verify a download with `sha256sum -c SHA256SUMS` inside that folder.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
version=$(cargo metadata --no-deps --format-version 1 |
    python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "lockstep-cli"))')
host=$(rustc -vV | sed -n 's/^host: //p')
out=${1:-dist/lockstep-$version-$host}
target=${CARGO_TARGET_DIR:-target}

cargo build --release --locked -p lockstep-cli -p lockstep-controller
mkdir -p "$out/completions" "$out/man"
cp "$target/release/lockstep" "$target/release/lockstep-controller" "$out/"
for shell in bash zsh fish; do
    "$out/lockstep" completion "$shell" >"$out/completions/lockstep.$shell"
done
"$out/lockstep" man "$out/man" >/dev/null
(cd "$out" && sha256sum lockstep lockstep-controller completions/* man/* >SHA256SUMS)
printf "release: %s (%s)\n" "$out" "$("$out/lockstep" --version)" >&2
