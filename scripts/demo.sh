#!/usr/bin/env bash
# The main job in one command. Part 1: Git reconciled into a real API server — with no
# cluster configured it starts the test environment's control plane, commits examples/app/
# to a local Git repository, runs lockstep-controller against it and prints the objects and
# conditions that result (set LOCKSTEP_DEMO_KUBECONFIG=path to use a cluster of yours).
# examples/secret.yaml goes in too, SOPS-encrypted to a fresh age key, and the controller
# decrypts it in memory into a Secret (the demo checks the value without printing it).
# Part 2: a Secret from examples/ encrypted in the SOPS format with a fresh age key and
# decrypted by lockstep and by the real sops, to show both read the same file.
# The servers come from scripts/install-testenv.sh (idempotent, cached in ~/.cache/lockstep);
# nothing is written outside that cache, the Cargo target folder and a temporary folder.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lockstep/target}"

echo "==> installing the pinned servers (cached after the first run)"
./scripts/install-testenv.sh >/dev/null

echo "==> building lockstep, lockstep-controller and the quick start"
cargo build --quiet --locked -p lockstep-cli -p lockstep-controller
cargo build --quiet --locked -p lockstep-e2e --example quickstart
"$CARGO_TARGET_DIR/debug/examples/quickstart"

lockstep=$CARGO_TARGET_DIR/debug/lockstep
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

echo "==> lockstep age-keygen"
"$lockstep" age-keygen -o "$work/key.txt" 2>/dev/null
recipient=$("$lockstep" age-keygen -y "$work/key.txt")
echo "recipient: $recipient"

echo "==> lockstep encrypt --age $recipient examples/secret.yaml"
"$lockstep" encrypt --age "$recipient" --encrypted-regex '^(data|stringData)$' \
    examples/secret.yaml >"$work/secret.enc.yaml"
sed -n '1,14p' "$work/secret.enc.yaml"
echo "    ... (sops metadata: the age-wrapped data key, lastmodified, mac)"

export SOPS_AGE_KEY_FILE=$work/key.txt
echo "==> lockstep decrypt"
"$lockstep" decrypt "$work/secret.enc.yaml" >"$work/by-lockstep.yaml"
cat "$work/by-lockstep.yaml"

sops=${LOCKSTEP_BIN_DIR:-${LOCKSTEP_CACHE:-$HOME/.cache/lockstep}/bin}/sops
if [ -x "$sops" ]; then
    echo "==> the real sops ($("$sops" --version --disable-version-check | head -n1)) decrypts the same file"
    "$sops" decrypt "$work/secret.enc.yaml" >"$work/by-sops.yaml"
    if cmp -s "$work/by-lockstep.yaml" "$work/by-sops.yaml"; then
        echo "identical output from sops and lockstep"
    else
        echo "sops and lockstep disagree:" && diff "$work/by-sops.yaml" "$work/by-lockstep.yaml"
        exit 1
    fi
else
    echo "==> (run ./scripts/test.sh once to install the reference sops and compare with it)"
fi
