#!/usr/bin/env bash
# The main job, as far as it exists today: a Secret manifest from examples/ is encrypted in
# the SOPS format with a fresh age key, decrypted again by lockstep and, when the pinned
# reference sops is installed (scripts/install-testenv.sh), by the real sops too, so you can
# see that both tools read the same file. Nothing is written outside a temporary folder.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lockstep/target}"

echo "==> building lockstep"
cargo build --quiet --locked -p lockstep-cli
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
