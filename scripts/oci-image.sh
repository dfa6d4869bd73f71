#!/usr/bin/env bash
# Packs a root filesystem folder into a single-layer OCI image archive (an OCI image layout
# in a tar, what `ctr images import` and `docker load`/`podman load` read), with no
# container daemon, no base image and no registry. The result is byte-for-byte reproducible:
# entries sorted, owned by root, mtime 0, gzip without a timestamp.
#
#   scripts/oci-image.sh --rootfs DIR --name REF --out FILE.tar \
#       [--user UID:GID] [--entrypoint JSON-ARRAY] [--cmd JSON-ARRAY] [--env K=V]... [--workdir DIR]
#
# REF is the full image name (e.g. lockstep.test/pause:1); it is recorded as the
# `io.containerd.image.name` annotation, and its tag as `org.opencontainers.image.ref.name`.
set -euo pipefail

rootfs= name= out= user= entrypoint=null cmd=null workdir=/
envs=()
while [ $# -gt 0 ]; do
    case $1 in
    --rootfs) rootfs=$2 ;;
    --name) name=$2 ;;
    --out) out=$2 ;;
    --user) user=$2 ;;
    --entrypoint) entrypoint=$2 ;;
    --cmd) cmd=$2 ;;
    --env) envs+=("$2") ;;
    --workdir) workdir=$2 ;;
    *) echo "oci-image.sh: unknown argument $1" >&2; exit 2 ;;
    esac
    shift 2
done
if [ -z "$rootfs" ] || [ -z "$name" ] || [ -z "$out" ]; then
    echo "usage: oci-image.sh --rootfs DIR --name REF --out FILE.tar [--user U] [--entrypoint JSON] [--cmd JSON] [--env K=V]... [--workdir DIR]" >&2
    exit 2
fi
[ -d "$rootfs" ] || { echo "oci-image.sh: $rootfs is not a folder" >&2; exit 1; }

layout=$(mktemp -d)
trap 'rm -rf "$layout"' EXIT
blobs=$layout/blobs/sha256
mkdir -p "$blobs"

# Writes stdin as a blob; prints "sha256:<hex> <size>".
put_blob() {
    local tmp=$layout/blob.tmp digest
    cat >"$tmp"
    digest=$(sha256sum "$tmp" | cut -d' ' -f1)
    mv "$tmp" "$blobs/$digest"
    echo "sha256:$digest $(stat -c %s "$blobs/$digest")"
}

json_string() { python3 -c 'import json,sys; print(json.dumps(sys.argv[1]))' "$1"; }

# The layer: the folder's contents as root-owned entries in name order, times zeroed.
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --format=posix \
    --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime \
    -C "$rootfs" -cf "$layout/layer.tar" .
diff_id=sha256:$(sha256sum "$layout/layer.tar" | cut -d' ' -f1)
read -r layer_digest layer_size < <(gzip -n -6 <"$layout/layer.tar" | put_blob)
rm "$layout/layer.tar"

env_json=$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' \
    "PATH=/usr/local/bin:/usr/bin:/bin" "${envs[@]}")
user_json=$(json_string "$user")
workdir_json=$(json_string "$workdir")
read -r config_digest config_size < <(printf '%s' \
    "{\"architecture\":\"amd64\",\"os\":\"linux\",\"config\":{\"User\":$user_json,\"Env\":$env_json,\"Entrypoint\":$entrypoint,\"Cmd\":$cmd,\"WorkingDir\":$workdir_json},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[\"$diff_id\"]}}" |
    put_blob)

read -r manifest_digest manifest_size < <(printf '%s' \
    "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"$config_digest\",\"size\":$config_size},\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"$layer_digest\",\"size\":$layer_size}]}" |
    put_blob)

tag=${name##*:}
name_json=$(json_string "$name")
tag_json=$(json_string "$tag")
printf '%s' '{"imageLayoutVersion":"1.0.0"}' >"$layout/oci-layout"
printf '%s' "{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"$manifest_digest\",\"size\":$manifest_size,\"platform\":{\"architecture\":\"amd64\",\"os\":\"linux\"},\"annotations\":{\"io.containerd.image.name\":$name_json,\"org.opencontainers.image.ref.name\":$tag_json}}]}" \
    >"$layout/index.json"

mkdir -p "$(dirname "$out")"
tar --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner -C "$layout" \
    -cf "$out.tmp" oci-layout index.json blobs
mv "$out.tmp" "$out"
