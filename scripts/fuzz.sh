#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer via cargo-fuzz) of the parsers that read what a user or
# an attacker controls: the SOPS stores and metadata, SOPS decryption, `.sops.yaml` and the
# path syntax, SealedSecret/Secret documents and unsealing (fuzz/fuzz_targets/); and, apart,
# rendering a repository folder with the kustomization walk (fuzz/engine/: the engine's
# build is too long for CI's short pass, so only a named run builds it).
#
#   scripts/fuzz.sh                 every target of fuzz/ for FUZZ_SECONDS (default 30) each
#   scripts/fuzz.sh sealed 3600     one target for an hour
#   scripts/fuzz.sh render 3600     the engine's render target for an hour
#
# Runs on rustup's nightly toolchain when there is one (or it can be installed), otherwise on
# stable with RUSTC_BOOTSTRAP=1 (cargo-fuzz passes -Z flags). cargo-fuzz is installed once
# under the cache; the build, the corpora (seeded from the test fixtures, kept and grown
# across runs) and any crashing input live under $LOCKSTEP_CACHE/fuzz, never in the clone.
# A crash fails the run and names the input to turn into a test.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
cache=${LOCKSTEP_CACHE:-$HOME/.cache/lockstep}
work=$cache/fuzz
seconds=${2:-${FUZZ_SECONDS:-30}}
targets=(sops_stores sops_decrypt sops_config sealed)
[[ $# -ge 1 ]] && targets=("$1")
# The cargo-fuzz folder a target is built in.
fuzz_dir() { case $1 in render) echo fuzz/engine ;; *) echo fuzz ;; esac; }
export CARGO_TARGET_DIR=$work/target
export PATH=$cache/cargo-fuzz/bin:$PATH
log() { printf 'fuzz: %s\n' "$*" >&2; }

toolchain=+nightly
if ! rustup run nightly rustc --version >/dev/null 2>&1 &&
    ! rustup toolchain install nightly --profile minimal >/dev/null 2>&1; then
    log "no nightly toolchain: building on stable with RUSTC_BOOTSTRAP=1"
    toolchain=+stable
    export RUSTC_BOOTSTRAP=1
fi
if ! command -v cargo-fuzz >/dev/null; then
    log "installing cargo-fuzz 0.13.2 (once)"
    cargo install cargo-fuzz@0.13.2 --locked --root "$cache/cargo-fuzz" --quiet
fi

# seed TARGET SELECTOR FILE...: copies fixtures into TARGET's corpus, prefixed by the
# SELECTOR byte (given as octal, empty for none) that picks a format in sops_stores.
seed() {
    local target=$1 selector=$2 file
    shift 2
    mkdir -p "$work/corpus/$target"
    for file in "$@"; do
        { printf "$selector"; cat "$file"; } >"$work/corpus/$target/seed-$(basename "$file")"
    done
}
sops=crates/sops/tests/testdata/sops
sealed=crates/sealed/tests/testdata
shopt -s nullglob globstar
seed sops_stores '\000' $sops/**/*.yaml
seed sops_stores '\001' $sops/**/*.json
seed sops_stores '\002' $sops/**/*.env
seed sops_stores '\003' $sops/**/*.ini
seed sops_stores '\004' $sops/**/*.bin
seed sops_stores '\005' $sops/**/*.toml
seed sops_decrypt '' $sops/age/fluxcd_v3.*.yaml $sops/sops-3.13.3/*.enc.yaml $sops/sops-3.13.3/*.enc.json
seed sops_config '' $sops/sops-3.13.3/sops.yaml
seed sealed '' $sealed/**/*.yaml $sealed/**/*.json
# render's input is a small repository: the files of a seed folder, NUL-separated, in the
# order of FILES in fuzz/engine/fuzz_targets/render.rs (base/ files flattened there).
mkdir -p "$work/corpus/render"
for dir in fuzz/engine/seeds/*/; do
    for file in a.yaml c.json b.yaml d.yml patch.yaml env.txt base-kustomization.yaml \
        kustomization.yaml; do
        [[ -f $dir$file ]] && cat "$dir$file"
        printf '\000'
    done >"$work/corpus/render/seed-$(basename "$dir")"
done

dirs=$(for target in "${targets[@]}"; do fuzz_dir "$target"; done | sort -u)
for dir in $dirs; do
    log "building the targets of $dir"
    cargo "$toolchain" fuzz build --fuzz-dir "$dir" >"$work/build.log" 2>&1 || {
        tail -n 40 "$work/build.log" >&2
        exit 1
    }
done
for target in "${targets[@]}"; do
    mkdir -p "$work/artifacts/$target"
    started=$SECONDS
    if cargo "$toolchain" fuzz run --fuzz-dir "$(fuzz_dir "$target")" "$target" "$work/corpus/$target" -- \
        -max_total_time="$seconds" -rss_limit_mb=2048 -malloc_limit_mb=1024 -print_final_stats=1 \
        -artifact_prefix="$work/artifacts/$target/" >"$work/$target.log" 2>&1; then
        log "$target: $(grep -ao 'cov: [0-9]*' "$work/$target.log" | tail -n 1), $(grep -aEo 'stat::number_of_executed_units: [0-9]+' "$work/$target.log" | grep -Eo '[0-9]+') runs in $((SECONDS - started)) s, no crash"
    else
        log "$target: CRASH — the input is in $work/artifacts/$target/, the output in $work/$target.log"
        grep -aE '^(thread|==[0-9]+==ERROR|SUMMARY)' "$work/$target.log" | head -n 5 >&2
        exit 1
    fi
done
