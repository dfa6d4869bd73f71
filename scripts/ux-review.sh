#!/usr/bin/env bash
# Reruns the commands of the December 2026 UX review (defects D1–D26 of
# shared/reviews/ux-2026-12.md) with this checkout's binaries, and prints what they answer
# now as Markdown: `scripts/ux-review.sh > docs/ux-review-rerun.md`.
# Without KUBECONFIG it runs itself again against the test environment's control plane
# (tests/examples/with_cluster.rs); the controller part also needs `git daemon`.
# Everything it makes is in a temporary folder, removed at the end.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/lockstep/target}"
cache="$HOME/.cache/lockstep"

if [[ -z "${KUBECONFIG:-}" ]]; then
    ./scripts/install-testenv.sh >/dev/null
    cargo build --quiet --locked -p lockstep-cli -p lockstep-controller >&2
    cargo build --quiet --locked -p lockstep-e2e --example with_cluster >&2
    exec "$CARGO_TARGET_DIR/debug/examples/with_cluster" "$0"
fi

repo=$PWD
export PATH="$CARGO_TARGET_DIR/debug:$cache/bin:$PATH"
scratch=$(mktemp -d)
controller_pid=
daemon_pid=
cleanup() {
    [[ -n $controller_pid ]] && kill "$controller_pid" 2>/dev/null
    [[ -n $daemon_pid ]] && kill "$daemon_pid" 2>/dev/null
    wait 2>/dev/null
    rm -rf "$scratch"
}
trap cleanup EXIT
cd "$scratch" || exit 1
export HOME="$scratch/home" XDG_CONFIG_HOME="$scratch/home/.config"
mkdir -p "$HOME"
unset SOPS_AGE_KEY_FILE SOPS_AGE_KEY

# run COMMAND: the command as typed, then what it printed (both streams, at most 30 lines,
# the scratch folder shown as <scratch>) and its exit code.
run() {
    printf '```\n$ %s\n' "$*"
    (eval "$@") 2>&1 | sed -e "s|$scratch|<scratch>|g" -e $'s/\e\\[[0-9;]*m//g' | head -n 30
    printf '(rc %s)\n```\n\n' "${PIPESTATUS[0]}"
}
section() { printf '## %s\n\n' "$*"; }
note() { printf '%s\n\n' "$*"; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Test data: an age key, an RSA and an EC certificate, Secrets and a ConfigMap.
lockstep age-keygen -o key.txt 2>/dev/null
recipient=$(lockstep age-keygen -y key.txt)
lockstep age-keygen -o other.txt 2>/dev/null
openssl req -x509 -nodes -newkey rsa:2048 -keyout tls.key -out tls.crt -subj /CN=ux -days 2 2>/dev/null
openssl req -x509 -nodes -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -keyout ec.key \
    -out ec.crt -subj /CN=ux -days 2 2>/dev/null
printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: shop\nstringData:\n  password: not-a-real-secret\n' >s.yaml
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: c\n  namespace: shop\ndata:\n  a: b\n' >cm.yaml
printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: nons\nstringData:\n  a: b\n' >nons.yaml
printf 'apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: shop\nstringData:\n  token: t0k3n\n' >add.yaml
mkdir -p plain enc empty
printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ux\n' >plain/ns.yaml
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\n  namespace: ux\ndata:\n  mode: fast\n' >plain/cm.yaml
cp s.yaml enc/secret.yaml
sed -i 's/namespace: shop/namespace: ux/' enc/secret.yaml
SOPS_AGE_KEY_FILE=key.txt lockstep encrypt -i --age "$recipient" enc/secret.yaml

cat <<EOF
# The December 2026 UX review, rerun

What the commands of the review (\`shared/reviews/ux-2026-12.md\`, defects D1–D26) answer
now. Made by \`scripts/ux-review.sh\` on $(date -u +%Y-%m-%d) at commit
\`$(git -C "$repo" rev-parse --short=12 HEAD)\`, against a real kube-apiserver and etcd from the
test environment; sops $(sops --version 2>/dev/null | head -n 1 | grep -o '[0-9.]*' | head -n 1) and kubeseal $(kubeseal --version 2>/dev/null | grep -o '[0-9][0-9.]*' | head -n 1) beside it.
Each block is the command as typed, its output (both streams, scratch folder as
\`<scratch>\`) and its exit code.

EOF

section "Version, help, completion"
run lockstep --version
run "lockstep --help | head -n 24"
run "lockstep completion bash | head -n 2"
run "lockstep diff --help | tail -n 5"

section "D1. seal without --cert and no controller Service"
run lockstep seal -f s.yaml
section "D2. a ConfigMap given to seal"
run lockstep seal --cert tls.crt -f cm.yaml
section "D3. an EC certificate"
run lockstep seal --cert ec.crt -f s.yaml
section "D4. a Secret without a namespace"
run lockstep seal --cert tls.crt -o yaml -f nons.yaml
note "Cluster-wide needs none:"
run "lockstep seal --cert tls.crt --scope cluster-wide -o yaml -f nons.yaml | grep -c encryptedData"

section "D5. --merge-into a YAML file kubeseal wrote"
kubeseal --cert tls.crt -o yaml -f s.yaml >m.yaml 2>/dev/null
cp m.yaml m.orig
run lockstep seal --cert tls.crt --merge-into m.yaml -f add.yaml
run "diff m.orig m.yaml | cut -c1-60"

section "D6. hints chosen by the error"
run "echo 'a: b' | lockstep encrypt"
cp -r enc enc-mac
sed -i 's/mac: ENC\[AES256_GCM,data:./mac: ENC[AES256_GCM,data:A/' enc-mac/secret.yaml
run SOPS_AGE_KEY_FILE=key.txt lockstep diff --name enc enc-mac
run lockstep filestatus nope.yaml

section "D7. a decryption error said once"
run lockstep diff --name enc enc

section "D8. apply's exit codes (1 for every error, as documented)"
run lockstep apply --name enc enc
run SOPS_AGE_KEY_FILE=key.txt lockstep apply --name enc enc-mac

section "D9. apply checks everything before the first write, and takes nobody's objects"
run lockstep apply --name ux-plain plain --no-wait
cp -r plain bad
printf 'apiVersion: example.com/v1\nkind: Widget\nmetadata:\n  name: w\n  namespace: ux\n' >bad/widget.yaml
run lockstep apply --name b2 bad --no-wait
note "Nothing of it was written, so the name b2 holds nothing, and the objects stay ux-plain's:"
run lockstep diff --name b2 plain
mkdir steal && cp plain/cm.yaml steal/
run lockstep apply --name thief steal --no-wait

section "D10. a namespace missing from the cluster and the source"
mkdir lonely
printf 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: lonely\n  namespace: missing-ns\n' >lonely/cm.yaml
run lockstep diff --name lonely lonely
run lockstep apply --name lonely lonely --no-wait

section "D11. an immutable field changed"
mkdir job
printf 'apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: once\n  namespace: ux\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers: [{name: c, image: registry.invalid/a:1}]\n' >job/job.yaml
lockstep apply --name job job --no-wait >/dev/null 2>&1
sed -i 's|a:1|a:2|' job/job.yaml
run "lockstep diff --name job job | head -n 12"
run lockstep apply --name job job --no-wait

section "D12. the health wait and its timeout"
mkdir dep
printf 'apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: ux\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec: {containers: [{name: web, image: registry.invalid/web:1}]}\n' >dep/dep.yaml
run "/usr/bin/time -f 'waited %es' lockstep apply --name dep dep --timeout 4s"

section "D13, D14. render paths, a single file, empty renders"
run lockstep render nope
run lockstep render plain/cm.yaml
run lockstep render empty
run lockstep diff --name fresh empty

section "D15. filestatus on stdin and a file without an extension"
run "lockstep filestatus - < enc/secret.yaml"
cp enc/secret.yaml enc-noext
run lockstep filestatus enc-noext

section "D16. edit: a failing editor, and an edit that no longer parses"
run "EDITOR=false SOPS_AGE_KEY_FILE=key.txt lockstep edit enc/secret.yaml"
note "On a terminal an edit that no longer parses reopens the editor with your text, as sops does (tested in \`cli/tests/sops_cli.rs\` with a pseudo-terminal); without one, nothing is written:"
printf '#!/bin/sh\nprintf "a: [\\n" > "$1"\n' >break.sh && chmod +x break.sh
run "EDITOR=./break.sh SOPS_AGE_KEY_FILE=key.txt lockstep edit enc/secret.yaml </dev/null"

section "D17, D18. the controller's log"
ctl_ns=ux-ctl
printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: %s\n' "$ctl_ns" >ctl-ns.yaml
lockstep apply --name ux-crds "$repo/deploy/crds" --no-wait >/dev/null 2>&1
lockstep apply --name ux-ctl-ns ctl-ns.yaml --no-wait >/dev/null 2>&1
git init -q -b main git-src && cp plain/cm.yaml git-src/ && sed -i 's/namespace: ux/namespace: ux-ctl/' git-src/cm.yaml
git -C git-src add . && git -C git-src -c user.name=ux -c user.email=ux@example.com commit -qm "one"
git clone -q --bare git-src served/app.git
git_port=$(free_port)
git daemon --base-path="$scratch/served" --export-all --reuseaddr --listen=127.0.0.1 --port="$git_port" "$scratch/served" >/dev/null 2>&1 &
daemon_pid=$!
cat >sync.yaml <<YAML
apiVersion: lockstep.dev/v1alpha1
kind: GitSource
metadata: {name: app, namespace: $ctl_ns}
spec: {url: "git://127.0.0.1:$git_port/app.git", interval: 1m, ref: {branch: main}}
---
apiVersion: lockstep.dev/v1alpha1
kind: Sync
metadata: {name: app, namespace: $ctl_ns}
spec: {sourceRef: {name: app}, path: ".", interval: 1m, prune: true}
YAML
lockstep apply --name ux-sync sync.yaml --no-wait >/dev/null 2>&1
lockstep-controller --namespace "$ctl_ns" --key-size 2048 --listen-addr "127.0.0.1:$(free_port)" \
    --listen-metrics-addr "127.0.0.1:$(free_port)" --artifact-dir "$scratch/artifacts" \
    --log-format text >controller.log 2>&1 &
controller_pid=$!
for _ in $(seq 60); do
    lockstep get syncs -n "$ctl_ns" 2>/dev/null | grep -q 'True' && break
    sleep 1
done
run lockstep get syncs -n "$ctl_ns"
note "Its INFO lines, from the start to the Sync applied (the listeners, the Lease and the sealing key left out):"
run "grep -E 'INFO' controller.log | grep -Ev 'serving|leader|sealing key|Lease' | cut -c29-220 | head -n 12"
run "grep -c \$'\\e' controller.log"
kill "$controller_pid" 2>/dev/null
wait "$controller_pid" 2>/dev/null
controller_pid=

section "D19. no kubeconfig, and a server that does not answer"
run "KUBECONFIG=/nonexistent lockstep diff --name x plain"
printf 'apiVersion: v1\nkind: Config\ncurrent-context: dead\nclusters:\n- name: c\n  cluster: {server: "https://127.0.0.1:1"}\ncontexts:\n- name: dead\n  context: {cluster: c, user: u}\nusers:\n- name: u\n  user: {token: t}\n' >dead.kubeconfig
run "KUBECONFIG=dead.kubeconfig lockstep apply --name x plain"

section "D20. a wrong key and a missing key"
run SOPS_AGE_KEY_FILE=other.txt lockstep decrypt enc/secret.yaml
run lockstep decrypt enc/secret.yaml

section "D21. the same flags everywhere"
run "lockstep render --help | grep -A1 inventory-namespace"
run "lockstep keys --help | grep -E 'kubeconfig|context' | head -n 2"
run "lockstep keys renew --help | grep -A1 timeout"
run "lockstep keys list -n $ctl_ns -o json | head -n 8"

section "D22. updatekeys' noun"
printf 'creation_rules:\n  - age: %s,%s\n' "$recipient" "$(lockstep age-keygen -y other.txt)" >.sops.yaml
run "SOPS_AGE_KEY_FILE=key.txt lockstep updatekeys enc/secret.yaml </dev/null"
rm .sops.yaml

section "D23. raw mode wording"
run "echo -n x | lockstep seal --cert tls.crt --raw -n shop"

section "D24. object names in apply and diff"
run lockstep apply --name ux-plain plain --no-wait

section "D25. a bare rotate"
git init -q rot && cp enc/secret.yaml rot/
run "cd rot && SOPS_AGE_KEY_FILE=../key.txt lockstep rotate </dev/null"

section "D26. sops' older command forms"
cp enc/secret.yaml legacy.yaml
run "SOPS_AGE_KEY_FILE=key.txt lockstep -d legacy.yaml"
run "SOPS_AGE_KEY_FILE=key.txt lockstep --set '[\"stringData\"][\"password\"] \"changed\"' legacy.yaml && SOPS_AGE_KEY_FILE=key.txt lockstep -d --extract '[\"stringData\"][\"password\"]' legacy.yaml"
run lockstep aply

section "Printer columns"
run "lockstep get syncs -A"
