#!/usr/bin/env bash
# Side-by-side benchmarks of `lockstep` against the reference tools, in ONE run, with
# hyperfine; the numbers and ratios go into BENCHMARKS.md by hand (issues 3 and 4: speed
# targets are benchmarks compared with the reference tool, never timed assertions in tests).
#
#   sops encrypt/decrypt  vs lockstep encrypt/decrypt   (age key; small Secret, 10,000 values)
#   kubeseal --cert       vs lockstep seal --cert       (1,000 Secrets: one multi-document
#                                                        input, and a loop of 1,000 processes)
#   sops rotate -i loop   vs lockstep rotate            (1,000 files of every format, one run each)
#
# Idempotent. Needs the reference tools from scripts/install-testenv.sh (~/.cache/lockstep/bin)
# and installs hyperfine from Debian if missing. Inputs are generated in a temp dir and hold
# canary values only; hyperfine's JSON exports (timings and command lines, no secrets) are
# kept in $BENCH_OUT (default ~/.cache/lockstep/bench/<UTC timestamp>).
#
# Knobs: BENCH_RUNS (runs of the per-process benchmarks, default 30), BENCH_LOOP_RUNS (runs
# of the 1,000-process loops, default 3), BENCH_SKIP_BUILD=1 (use the existing release build),
# LOCKSTEP_BIN (another lockstep binary; only to try the script out, not for numbers),
# BENCH_ROTATE_RUNS (runs of the 1,000-file rotation, default 3).
# Controller unsealing throughput (last, needs the test environment's control plane):
# BENCH_UNSEAL_SECRETS (default 500), BENCH_UNSEAL_SECRETS_RATE_LIMITED (upstream with its
# default client rate limit, default 100), BENCH_SKIP_UNSEAL=1, BENCH_SKIP_UPSTREAM=1 (do not
# build/run the Bitnami controller, go install'ed once into $cache like the installer's tools).
# Sync controller at scale (last): SYNC_SCALE_N (default 1000), SYNC_SCALE_CONCURRENT (16),
# SYNC_SCALE_INTERVAL (seconds, 60), BENCH_SKIP_SYNC=1.
# Flux's controllers against lockstep-controller --flux on the same Kustomizations (last):
# FLUX_SCALE_N (default 1000), FLUX_SCALE_CONCURRENT (16), FLUX_SCALE_INTERVAL (seconds, 120),
# BENCH_SKIP_FLUX=1.
# ESO and lockstep-controller --external-secrets on the same ExternalSecrets (last):
# ESO_SCALE_N (default 1000), ESO_SCALE_CONCURRENT (16), ESO_SCALE_REFRESH (seconds, 60),
# BENCH_SKIP_ESO=1.
# Helm render, OCI pull and HelmReleases at scale: HELM_RENDER_RUNS (20), HELM_SCALE_N (200),
# HELM_SCALE_CONCURRENT (16), HELM_SCALE_INTERVAL (seconds, 60), BENCH_SKIP_HELM=1.
# The web UI's overview at scale (last): UI_SCALE_N (10000), UI_SCALE_ROUNDS (20), BENCH_SKIP_UI=1.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${LOCKSTEP_CACHE:-$HOME/.cache/lockstep}
bin=$cache/bin
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$cache/target-release}
runs=${BENCH_RUNS:-30}
nsecrets=${BENCH_SECRETS:-1000}
loop_runs=${BENCH_LOOP_RUNS:-3}
rotate_runs=${BENCH_ROTATE_RUNS:-3}
out=${BENCH_OUT:-$cache/bench/$(date -u +%Y%m%dT%H%M%SZ)}
mkdir -p "$out"

log() { printf 'bench: %s\n' "$*" >&2; }

for tool in sops kubeseal; do
  [ -x "$bin/$tool" ] || { log "missing $bin/$tool: run scripts/install-testenv.sh first"; exit 1; }
done

if ! command -v hyperfine >/dev/null; then
  log "installing hyperfine (Debian)"
  apt-get update -qq && apt-get install -y -qq hyperfine >/dev/null
fi
for tool in jq openssl; do
  command -v "$tool" >/dev/null || { log "missing $tool"; exit 1; }
done

if [ -z "${BENCH_SKIP_BUILD:-}" ]; then
  log "building lockstep (release) into $CARGO_TARGET_DIR (nice 19: the cores are shared)"
  (cd "$repo" && nice -n 19 cargo build --release -q -p lockstep-cli)
fi
lockstep=${LOCKSTEP_BIN:-$CARGO_TARGET_DIR/release/lockstep}
sops=$bin/sops
kubeseal=$bin/kubeseal
[ -x "$lockstep" ] || { log "no release build at $lockstep"; exit 1; }

tmp=$(mktemp -d -t lockstep-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
cd "$tmp"

# --- Inputs (deterministic, canary values only) -------------------------------------------
"$lockstep" age-keygen -o key.txt 2>/dev/null
chmod 600 key.txt
recipient=$("$lockstep" age-keygen -y key.txt)
export SOPS_AGE_KEY_FILE=$tmp/key.txt
# Neither tool may find a .sops.yaml above the temp dir or a Vault/AWS setup to consult.
unset SOPS_AGE_KEY SOPS_AGE_KEY_CMD SOPS_CONFIG VAULT_ADDR VAULT_TOKEN AWS_PROFILE

cat > small.yaml <<'EOF'
apiVersion: v1
kind: Secret
metadata:
  name: app-credentials
  namespace: bench
type: Opaque
stringData:
  username: canary-user
  password: canary-password-0000
  api-token: canary-token-0000000000000000
EOF

# 10,000 values: 100 sections of 100 keys each.
awk 'BEGIN { for (s = 0; s < 100; s++) { printf "section%03d:\n", s;
       for (k = 0; k < 100; k++) printf "  key%03d: canary-value-%03d-%03d\n", k, s, k } }' > big.yaml
[ "$(grep -c ': canary-value-' big.yaml)" = 10000 ]

# Encrypted inputs for the decrypt benchmarks: the same sops-written file for both tools
# (what a team switching from sops has in Git), and lockstep's own output as a cross-check.
for f in small big; do
  "$sops" encrypt --age "$recipient" "$f.yaml" > "$f.sops.yaml"
  "$lockstep" encrypt --age "$recipient" "$f.yaml" > "$f.lockstep.yaml"
  # Correctness before speed: each tool opens the other's file, with the same output as
  # sops' own (sops re-indents YAML to 4 spaces, so compare with sops, not the input).
  "$sops" decrypt "$f.sops.yaml" > "$f.plain.yaml"
  cmp -s <("$lockstep" decrypt "$f.sops.yaml") "$f.plain.yaml" || { log "lockstep opens sops' $f differently"; exit 1; }
  cmp -s <("$sops" decrypt "$f.lockstep.yaml") "$f.plain.yaml" || { log "sops opens lockstep's $f differently"; exit 1; }
done

# Sealing: a self-signed RSA-4096 certificate, as the controllers generate.
openssl req -x509 -newkey rsa:4096 -nodes -keyout seal-key.pem -out seal-cert.pem \
  -days 30 -subj /CN=sealed-secret/O=sealed-secret 2>/dev/null
mkdir secrets
for i in $(seq -w 0 $(( nsecrets - 1 ))); do
  cat > "secrets/s$i.yaml" <<EOF
apiVersion: v1
kind: Secret
metadata:
  name: secret-$i
  namespace: bench
type: Opaque
stringData:
  username: canary-user-$i
  password: canary-password-$i
EOF
done
# The same Secrets as one multi-document stream (both tools take it).
for f in secrets/*.yaml; do echo '---'; cat "$f"; done > secrets-all.yaml
# (No `ls | head`: with pipefail, head closing the pipe early fails the script with SIGPIPE.)
secret_files=(secrets/*.yaml)
first=${secret_files[0]}
first_name=$(awk '/^  name:/ { print $2; exit }' "$first")
[ "$("$kubeseal" --cert seal-cert.pem -o yaml -f secrets-all.yaml | grep -c '^kind: SealedSecret')" = "$nsecrets" ]
[ "$("$lockstep" seal --cert seal-cert.pem -o yaml -f secrets-all.yaml | grep -c '^kind: SealedSecret')" = "$nsecrets" ]
# Both tools' one-Secret output unseals with the key (lockstep's through kubeseal).
"$lockstep" seal --cert seal-cert.pem -o yaml -f "$first" > first.sealed.yaml
"$kubeseal" --recovery-unseal --recovery-private-key seal-key.pem -f first.sealed.yaml -o yaml \
  > first.unsealed.yaml
grep -q "name: $first_name" first.unsealed.yaml || { log "kubeseal cannot unseal lockstep's output"; exit 1; }

cat > seal-loop.sh <<'EOF'
#!/bin/sh
# $1: the sealing command (kubeseal or "lockstep seal"); one process per Secret.
for f in secrets/*.yaml; do $1 --cert seal-cert.pem -f "$f" > /dev/null || exit 1; done
EOF
chmod +x seal-loop.sh

# --- Benchmarks -------------------------------------------------------------------------
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average before: $load_before"

# bench NAME HYPERFINE-ARGS... : reference first, lockstep second, in one hyperfine run.
bench() {
  local name=$1; shift
  log "$name"
  hyperfine -N --style basic --export-json "$out/$name.json" "$@" >&2
}
bench encrypt-small --warmup 5 --runs "$runs" \
  -n sops "$sops encrypt --age $recipient small.yaml" \
  -n lockstep "$lockstep encrypt --age $recipient small.yaml"
bench decrypt-small --warmup 5 --runs "$runs" \
  -n sops "$sops decrypt small.sops.yaml" \
  -n lockstep "$lockstep decrypt small.sops.yaml"
bench encrypt-10k --warmup 2 --runs "$(( runs / 2 ))" \
  -n sops "$sops encrypt --age $recipient big.yaml" \
  -n lockstep "$lockstep encrypt --age $recipient big.yaml"
bench decrypt-10k --warmup 2 --runs "$(( runs / 2 ))" \
  -n sops "$sops decrypt big.sops.yaml" \
  -n lockstep "$lockstep decrypt big.sops.yaml"
bench decrypt-10k-own --warmup 2 --runs "$(( runs / 2 ))" \
  -n sops "$sops decrypt big.lockstep.yaml" \
  -n lockstep "$lockstep decrypt big.lockstep.yaml"
bench seal-one --warmup 5 --runs "$runs" \
  -n kubeseal "$kubeseal --cert seal-cert.pem -f $first" \
  -n lockstep "$lockstep seal --cert seal-cert.pem -f $first"
bench seal-1000-stream --warmup 2 --runs "$(( runs / 3 ))" \
  -n kubeseal "$kubeseal --cert seal-cert.pem -f secrets-all.yaml" \
  -n lockstep "$lockstep seal --cert seal-cert.pem -f secrets-all.yaml"
bench seal-1000-loop --warmup 1 --runs "$loop_runs" \
  -n kubeseal "./seal-loop.sh $kubeseal" \
  -n lockstep "./seal-loop.sh '$lockstep seal'"

# Repository rotation: 1,000 SOPS files (200 each of YAML, JSON, dotenv, INI and binary,
# encrypted by sops to the age key, in 10 folders) rotated by one `lockstep rotate` and by
# the shell loop teams write around `sops rotate -i`; each run starts from a fresh copy.
mkdir -p rotate-orig
printf 'db:\n  password: canary-rotate-0000\n  port: 5432\n' > rotate-orig/t.yaml
printf '{"password": "canary-rotate-0000", "port": 5432}\n' > rotate-orig/t.json
printf 'PASSWORD=canary-rotate-0000\nPORT=5432\n' > rotate-orig/t.env
printf '[db]\npassword = canary-rotate-0000\nport = 5432\n' > rotate-orig/t.ini
printf 'raw canary-rotate-0000\n' > rotate-orig/t.bin
for ext in yaml json env ini bin; do
  "$sops" encrypt -i --age "$recipient" "rotate-orig/t.$ext"
  for i in $(seq 1 200); do
    mkdir -p "rotate-orig/team-$(( i % 10 ))"
    cp "rotate-orig/t.$ext" "rotate-orig/team-$(( i % 10 ))/s$i.enc.$ext"
  done
  rm "rotate-orig/t.$ext"
done
cat > rotate-loop.sh <<'LOOP'
#!/bin/sh
# $1: sops; one `sops rotate -i` process per file, as a team's script does.
find rotate -type f -name '*.enc.*' | while read -r f; do "$1" rotate -i "$f" || exit 1; done
LOOP
chmod +x rotate-loop.sh
bench rotate-1000 --warmup 0 --runs "$rotate_runs" \
  --prepare "sh -c 'rm -rf rotate && cp -r rotate-orig rotate'" \
  -n sops "./rotate-loop.sh $sops" \
  -n lockstep "$lockstep rotate --yes rotate"
# The tree lockstep left opens with sops.
"$sops" decrypt rotate/team-1/s1.enc.yaml > rotate-check.txt
grep canary-rotate-0000 rotate-check.txt > /dev/null

load_after=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average after: $load_after"

# --- Ratios -------------------------------------------------------------------------------
{
  echo
  echo "load average before: $load_before   after: $load_after   (nproc: $(nproc))"
  echo "$("$sops" --version --disable-version-check 2>/dev/null | head -1) | kubeseal $("$kubeseal" --version | awk '{print $NF}') | lockstep $(git -C "$repo" rev-parse --short HEAD)$(git -C "$repo" diff --quiet HEAD -- cli keys crates || echo '+dirty')"
  echo
  printf '%-18s %22s %22s %9s\n' benchmark "reference mean±σ" "lockstep mean±σ" speedup
  for f in encrypt-small decrypt-small encrypt-10k decrypt-10k decrypt-10k-own seal-one seal-1000-stream seal-1000-loop rotate-1000; do
    jq -r --arg n "$f" '
      def ms: if . >= 1 then "\(. * 1000 | round) ms" else "\(. * 10000 | round / 10) ms" end;
      .results as [$r, $l]
      | [$n, "\($r.mean | ms) ± \($r.stddev // 0 | ms)", "\($l.mean | ms) ± \($l.stddev // 0 | ms)",
         "\($r.mean / $l.mean * 100 | round / 100)x"] | @tsv' "$out/$f.json"
  done | awk -F'\t' '{ printf "%-18s %22s %22s %9s\n", $1, $2, $3, $4 }'
  echo
  echo "speedup = reference mean / lockstep mean (>1: lockstep is faster). JSON: $out"
}

# --- Unsealing throughput in the controller ---------------------------------------------
# N SealedSecrets sealed to one 4096-bit key wait in a namespace of the test control plane;
# the harness (controller/tests/sealed/throughput.rs, an ignored test) times each controller
# from its start until a watch has seen all N Secrets. Upstream's controller reads only the
# in-cluster service account; the harness gives it one in a private mount namespace.
if [ -z "${BENCH_SKIP_UNSEAL:-}" ]; then
  upstream_controller=
  if [ -z "${BENCH_SKIP_UPSTREAM:-}" ]; then
    gobin=$cache/gobin-sealed-secrets-controller-v0.36.6
    if [ ! -x "$gobin/controller" ]; then
      log "go install github.com/bitnami-labs/sealed-secrets/cmd/controller@v0.36.6"
      GOBIN=$gobin.tmp nice -n 19 go install -trimpath -ldflags='-s -w' \
        github.com/bitnami-labs/sealed-secrets/cmd/controller@v0.36.6
      rm -rf "$gobin" && mv "$gobin.tmp" "$gobin"
    fi
    upstream_controller=$gobin/controller
  fi
  log "unsealing throughput (release build of the controller and its test harness)"
  (cd "$repo" && nice -n 19 cargo test --release -q -p lockstep-controller --test tests --no-run)
  unseal_load_before=$(cut -d' ' -f1-3 /proc/loadavg)
  (cd "$repo" && BENCH_UPSTREAM_CONTROLLER=$upstream_controller \
    cargo test --release -q -p lockstep-controller --test tests -- \
    --ignored --nocapture --exact sealed::throughput::unseal_throughput) > "$out/unseal-throughput.txt" 2>&1 \
    || { cat "$out/unseal-throughput.txt" >&2; exit 1; }
  {
    echo
    echo "unsealing throughput (load average before: $unseal_load_before   after: $(cut -d' ' -f1-3 /proc/loadavg))"
    grep '^unseal-throughput' "$out/unseal-throughput.txt"
  }
fi

# --- Controllers at scale ------------------------------------------------------------------
# scale_example NAME TITLE: builds the release controller and tests/examples/NAME.rs, runs it
# (it starts its own control plane and peers) and prints its key=value results with the load
# average around the run.
scale_example() {
  local name=$1 title=$2 before
  log "$title (release build of the controller and the harness)"
  (cd "$repo" && nice -n 19 cargo build --release -q --locked -p lockstep-controller \
    -p lockstep-e2e --bin lockstep-controller --example "$name")
  before=$(cut -d' ' -f1-3 /proc/loadavg)
  "$CARGO_TARGET_DIR/release/examples/$name" > "$out/$name.txt" 2>"$out/$name.log" \
    || { cat "$out/$name.log" >&2; exit 1; }
  echo
  echo "$title (load average before: $before   after: $(cut -d' ' -f1-3 /proc/loadavg))"
  cat "$out/$name.txt"
}

# Flux's benchmark shape: SYNC_SCALE_N (default 1,000) Syncs of four objects each (Deployment
# with replicas 0, ServiceAccount, Service, ConfigMap) from one repository, wait: true, on
# the test environment's control plane (etcd, kube-apiserver, kube-controller-manager on the
# same cores). tests/examples/sync_scale.rs reports the time until each is Ready, the
# controller's peak RSS, and the API writes of one interval of no-change reconciles.
[ -n "${BENCH_SKIP_SYNC:-}" ] || scale_example sync_scale "sync controller at scale"

# The same shape as Flux Kustomizations of one GitRepository: Flux's source- and
# kustomize-controller (built by the test installer) first, then lockstep-controller --flux,
# on one control plane in one run. tests/examples/flux_scale.rs reports, per side, the time
# until each is Ready, CPU seconds, peak RSS, the API server's and etcd's CPU seconds and
# requests, and the API writes of no-change reconciles (FLUX_SCALE_BACKLOG=1: all created
# before the controllers start, timed from their start).
[ -n "${BENCH_SKIP_FLUX:-}" ] ||
  scale_example flux_scale "Flux and lockstep-controller on the same Kustomizations"

# ESO_SCALE_N (default 1,000) ExternalSecrets of three keys each against OpenBao KV v2: ESO
# v0.16.2 (built by the test installer) with its default flags, ESO tuned, then
# lockstep-controller --external-secrets, on one control plane and one OpenBao in one run.
# tests/examples/eso_scale.rs reports, per side, the time until each is Ready, CPU seconds,
# peak RSS, the API server's and etcd's CPU seconds and requests, OpenBao requests, and what
# a no-change refresh costs and writes (ESO_SCALE_BACKLOG=1: all created before the
# controller starts, timed from its start).
[ -n "${BENCH_SKIP_ESO:-}" ] ||
  scale_example eso_scale "ESO and lockstep-controller on the same ExternalSecrets"

# Helm (issue 17): a chart of three dependencies rendered by `helm template` and by
# Lockstep's render (HELM_RENDER_RUNS, default 20, alternating), the same chart pulled from an
# OCI registry behind a token service by `helm pull` and fetched by Lockstep (as many runs,
# alternating), then HELM_SCALE_N (default 200) Flux HelmReleases of one small chart from a Helm HTTP repository served by
# lockstep-controller --flux. Flux's helm-controller is not built here: its published
# figure is the comparison. tests/examples/helm_scale.rs reports the render times, the time
# until each HelmRelease is Ready, CPU seconds, peak RSS and the no-change writes.
[ -n "${BENCH_SKIP_HELM:-}" ] ||
  scale_example helm_scale "Helm: render against helm template, HelmReleases at scale"

# The web UI (issue 18): UI_SCALE_N (default 10,000) Syncs created directly (no Git), a tenth
# failing, served by lockstep-controller --listen-ui-addr; the overview's first page unfiltered,
# filtered to the failing ones and by text, UI_SCALE_ROUNDS (default 20) times each.
# tests/examples/ui_scale.rs reports the server time (Server-Timing) and the time to the
# whole answer, and the controller's peak RSS with and without the UI. No peer runs here:
# Argo CD's published list times are the comparison.
[ -n "${BENCH_SKIP_UI:-}" ] || scale_example ui_scale "web UI overview at 10,000 Syncs"
