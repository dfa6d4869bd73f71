# A test node: PID 1 of its own PID, mount and network namespaces, made by
#   unshare --fork --pid --kill-child --mount-proc --net --mount --propagation private
# (see node.rs). When the test drops the node, unshare dies and the kernel kills every
# process of the PID namespace — containerd, its shims, the Pods, kubelet, kube-proxy — and
# with the last of them the mounts and the network (bridge, veths, iptables rules) vanish.
# Nothing here touches the host's network, /run, /var or global kernel settings.
#
# $1 is the node's folder, holding node.env (written by node.rs) and the configurations.
set -euo pipefail
# shellcheck source=/dev/null
. "$1/node.env"
cd "$NODE_DIR"
say() { printf 'node: %s\n' "$*"; }

# Private copies of the places containerd, runc, CNI and kubelet insist on.
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /var/lib/cni /var/log/containers
mount -t tmpfs -o mode=0755 tmpfs /var/lib/cni
mount -t tmpfs -o mode=0755 tmpfs /var/log/containers
mkdir -p /run/lockstep /run/lockstep/sysctl

# kubelet sets these kernel-wide settings (overcommit, panic on oops, …) on start; give it
# private files to write instead, so the machine running the tests keeps its own.
for setting in vm/overcommit_memory vm/panic_on_oom kernel/panic kernel/panic_on_oops \
    kernel/keys/root_maxkeys kernel/keys/root_maxbytes; do
    shadow=/run/lockstep/sysctl/${setting//\//.}
    cat "/proc/sys/$setting" >"$shadow"
    mount --bind "$shadow" "/proc/sys/$setting"
done

# kubelet puts its cgroups (kubepods, …) under a root of this node's own, which must exist.
for hierarchy in /sys/fs/cgroup/*/; do
    mkdir -p "$hierarchy$CGROUP_ROOT"
done

# The host moves the other end of its veth in as eth0.
for _ in $(seq 300); do
    ip link show eth0 >/dev/null 2>&1 && break
    sleep 0.1
done
ip link set lo up
ip addr add "$NODE_IP/30" dev eth0
ip link set eth0 up
ip route add default via "$HOST_IP"
echo 1 >/proc/sys/net/ipv4/ip_forward
if [ -e /proc/sys/net/bridge/bridge-nf-call-iptables ]; then
    echo 1 >/proc/sys/net/bridge/bridge-nf-call-iptables
fi
say "network up: $NODE_IP via $HOST_IP, Pods in $POD_CIDR"

containerd --config "$NODE_DIR/containerd.toml" >"$NODE_DIR/containerd.log" 2>&1 &
for _ in $(seq 300); do
    ctr --address "$CONTAINERD_SOCKET" version >/dev/null 2>&1 && break
    sleep 0.1
done
for image in "$PAUSE_IMAGE" "$TESTPOD_IMAGE"; do
    ctr --address "$CONTAINERD_SOCKET" --namespace k8s.io images import "$image"
done
say "containerd up, the pause and testpod images imported"

kubelet --config="$NODE_DIR/kubelet.yaml" --kubeconfig="$NODE_DIR/kubelet.kubeconfig" \
    --root-dir=/run/lockstep/kubelet --hostname-override="$NODE_NAME" --node-ip="$NODE_IP" \
    --v=1 >"$NODE_DIR/kubelet.log" 2>&1 &
kube-proxy --config="$NODE_DIR/kube-proxy.yaml" --v=1 >"$NODE_DIR/kube-proxy.log" 2>&1 &
say "kubelet and kube-proxy started"

# Any of the three stopping is the node failing: say which, and let the namespace go.
set +e
wait -n
status=$?
for component in containerd kubelet kube-proxy; do
    if ! pgrep -x "$component" >/dev/null; then
        say "$component exited ($status); the end of its log:"
        tail -n 20 "$NODE_DIR/$component.log"
    fi
done
exit 1
