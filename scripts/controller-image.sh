#!/usr/bin/env bash
# The lockstep-controller image, with no container daemon, no base image and no registry:
# a root filesystem holding only
#   /usr/local/bin/lockstep-controller, /usr/local/bin/lockstep   the binaries (stripped)
#   /usr/local/bin/kustomize                                      Syncs whose path holds a
#                                                                 kustomization run it
#   /usr/local/bin/helm                                           Syncs, HelmReleases and
#                                                                 Applications of a chart
#                                                                 run `helm template`
#   /usr/bin/ssh, ssh-agent, ssh-add, /bin/sh                     `ssh://` GitSources (gix runs
#                                                                 ssh through sh)
#   the shared libraries these link (glibc, OpenSSL's libcrypto, …), collected with ldd
#   /etc/passwd, /etc/group (uid/gid 65532 `lockstep`: ssh refuses a uid without an entry),
#   /etc/nsswitch.conf, /etc/ssl/certs/ca-certificates.crt (HTTPS Git servers)
#   /tmp, /cache                                                  mount points (the root
#                                                                 filesystem is read-only)
# packed by scripts/oci-image.sh, running as 65532:65532. The binaries are the glibc ones
# cargo builds (no musl target or toolchain to add); their libraries come from this machine,
# which must be Debian 12 (bookworm) as the Dockerfile's build stage is.
#
#   scripts/controller-image.sh --controller BIN --cli BIN [--kustomize BIN] [--helm BIN]
#       --name REF
#       (--out FILE.tar | --cache DIR | --rootfs DIR)
#
# --out writes the OCI archive; --cache DIR writes DIR/lockstep-controller-<key>.oci.tar,
# keyed by every input, unless it is there, and prints its path (archives there unused for
# a day are deleted); --rootfs only assembles
# the folder (deploy/Dockerfile copies it into a `FROM scratch` image).
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

controller= cli= kustomize= helm= name= out= cache= rootfs=
while [ $# -gt 0 ]; do
    case $1 in
    --controller) controller=$2 ;;
    --cli) cli=$2 ;;
    --kustomize) kustomize=$2 ;;
    --helm) helm=$2 ;;
    --name) name=$2 ;;
    --out) out=$2 ;;
    --cache) cache=$2 ;;
    --rootfs) rootfs=$2 ;;
    *) echo "controller-image.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift 2
done
if [ -z "$kustomize" ]; then
    kustomize=$(command -v kustomize || echo "${LOCKSTEP_CACHE:-$HOME/.cache/lockstep}/bin/kustomize")
fi
if [ -z "$helm" ]; then
    helm=$(command -v helm || echo "${LOCKSTEP_CACHE:-$HOME/.cache/lockstep}/bin/helm")
fi
if [ -z "$controller" ] || [ -z "$cli" ] || { [ -z "$rootfs" ] && [ -z "$name" ]; } ||
    [ -z "$out$cache$rootfs" ]; then
    echo "usage: controller-image.sh --controller BIN --cli BIN [--kustomize BIN] [--helm BIN] --name REF (--out FILE.tar | --cache DIR | --rootfs DIR)" >&2
    exit 2
fi
programs=("$controller" "$cli" "$kustomize" "$helm" /usr/bin/ssh /usr/bin/ssh-agent /usr/bin/ssh-add /usr/bin/dash)
for program in "${programs[@]}"; do
    [ -x "$program" ] || { echo "controller-image.sh: $program is not an executable" >&2; exit 1; }
done

if [ -n "$cache" ]; then
    key=$( (echo "$name"; cat "${programs[@]}" "$0" "$repo/scripts/oci-image.sh") | sha256sum | cut -c1-16)
    out=$cache/lockstep-controller-$key.oci.tar
    if [ ! -f "$out" ]; then
        mkdir -p "$cache"
        # Every build of the binaries makes a new image; those unused for a day go.
        find "$cache" -maxdepth 1 -name 'lockstep-controller-*.oci.tar' -mtime +0 -delete
        "$0" --controller "$controller" --cli "$cli" --kustomize "$kustomize" --helm "$helm" \
            --name "$name" --out "$out"
    fi
    touch "$out"
    echo "$out"
    exit 0
fi

# Copies an executable to $2 (under the root filesystem) and every library it links to the
# same path under usr/ (the usrmerge layout: /lib and /lib64 are links into usr/).
install_program() {
    local from=$1 to=$2 lib
    install -D -m 0755 "$from" "$root$to"
    while read -r lib; do
        [ -e "$root/usr/${lib#/usr/}" ] || install -D -m 0755 "$(readlink -f "$lib")" "$root/usr/${lib#/usr/}"
    done < <(ldd "$from" | grep -o '/[^ ]*' | grep -v '^/.*:$' || true)
}

build_rootfs() {
    root=$1
    mkdir -p "$root/usr/bin" "$root/usr/lib" "$root/usr/lib64" "$root/usr/local/bin" \
        "$root/etc/ssl/certs" "$root/cache"
    install -d -m 1777 "$root/tmp"
    ln -sfn usr/bin "$root/bin"
    ln -sfn usr/lib "$root/lib"
    ln -sfn usr/lib64 "$root/lib64"
    install_program "$controller" /usr/local/bin/lockstep-controller
    install_program "$cli" /usr/local/bin/lockstep
    install_program "$kustomize" /usr/local/bin/kustomize
    install_program "$helm" /usr/local/bin/helm
    for program in ssh ssh-agent ssh-add dash; do
        install_program "/usr/bin/$program" "/usr/bin/$program"
    done
    ln -sfn dash "$root/usr/bin/sh"
    strip --strip-unneeded "$root/usr/local/bin/lockstep-controller" "$root/usr/local/bin/lockstep"
    printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nlockstep:x:65532:65532:lockstep:/nonexistent:/usr/sbin/nologin\n' \
        >"$root/etc/passwd"
    printf 'root:x:0:\nlockstep:x:65532:\n' >"$root/etc/group"
    printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
    cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
}

if [ -n "$rootfs" ]; then
    build_rootfs "$rootfs"
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
build_rootfs "$work/rootfs"
"$repo/scripts/oci-image.sh" --rootfs "$work/rootfs" --name "$name" --out "$out" \
    --user 65532:65532 --entrypoint '["/usr/local/bin/lockstep-controller"]' --env HOME=/nonexistent
