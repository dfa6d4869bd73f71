//! The node's configuration: `node.env` for `node.sh`, and the files containerd, the CNI
//! bridge, kubelet and kube-proxy read.

use std::path::Path;

use super::{CNI_BIN_DIR, CONTAINERD_SOCKET, PAUSE_IMAGE, Slot};
use crate::{Error, Result, pki, tool};

/// The credentials the node's components authenticate with (tokens of the API server's
/// token file), and where they connect.
pub(crate) struct Access<'a> {
    pub(crate) server_url: &'a str,
    pub(crate) pki: &'a pki::Pki,
    pub(crate) kubelet_token: &'a str,
    pub(crate) proxy_token: &'a str,
}

/// Writes `node.env` and the components' configuration files into `dir`.
pub(super) fn write_config(slot: &Slot, dir: &Path, access: &Access<'_>) -> Result<()> {
    let path = |name: &str| dir.join(name).display().to_string();
    let bin = crate::bin_dir();
    let pause = tool("pause.oci.tar")?;
    let env = format!(
        "NODE_DIR={dir}\nNODE_NAME={name}\nNODE_IP={node_ip}\nHOST_IP={host_ip}\n\
         POD_CIDR={pods}\nCGROUP_ROOT={cgroup_root}\nCONTAINERD_SOCKET={CONTAINERD_SOCKET}\nPAUSE_IMAGE={pause}\n\
         TESTPOD_IMAGE={testpod}\n\
         PATH={bin}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin\nexport PATH\n",
        dir = dir.display(),
        name = slot.name(),
        node_ip = slot.node_ip(),
        host_ip = slot.host_ip(),
        pods = slot.pod_range(),
        cgroup_root = slot.cgroup_root(),
        pause = pause.display(),
        testpod = tool("testpod.oci.tar")?.display(),
        bin = bin.display(),
    );
    pki::write_file(&dir.join("node.env"), &env)?;

    let containerd = format!(
        r#"version = 2
root = "{root}"
state = "/run/lockstep/containerd"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]
[grpc]
  address = "{CONTAINERD_SOCKET}"
[plugins."io.containerd.internal.v1.opt"]
  path = "{opt}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{PAUSE_IMAGE}"
  # kubelet asks for negative OOM scores (-998 for every sandbox); lowering a score needs
  # CAP_SYS_RESOURCE, which sandboxed machines (this project's among them) withhold.
  # Clamp them to containerd's own score instead, as rootless setups do.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN_DIR}"
    conf_dir = "{cni}"
"#,
        root = path("containerd"),
        opt = path("containerd/opt"),
        cni = path("cni"),
    );
    pki::write_file(&dir.join("containerd.toml"), &containerd)?;

    let cni_dir = dir.join("cni");
    std::fs::create_dir_all(&cni_dir).map_err(Error::io("creating the CNI folder"))?;
    let cni = format!(
        r#"{{"cniVersion": "0.4.0", "name": "lockstep", "plugins": [
  {{"type": "bridge", "bridge": "cni0", "isGateway": true, "ipMasq": true, "hairpinMode": true,
   "ipam": {{"type": "host-local", "ranges": [[{{"subnet": "{pods}"}}]], "routes": [{{"dst": "0.0.0.0/0"}}],
             "dataDir": "/run/lockstep/cni-ipam"}}}},
  {{"type": "portmap", "capabilities": {{"portMappings": true}}}}
]}}
"#,
        pods = slot.pod_range()
    );
    pki::write_file(&cni_dir.join("10-lockstep.conflist"), &cni)?;

    let kubelet = format!(
        r#"apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: {node_ip}
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
authentication:
  anonymous: {{enabled: false}}
  webhook: {{enabled: true}}
  x509: {{clientCAFile: {ca}}}
authorization: {{mode: Webhook}}
containerRuntimeEndpoint: unix://{CONTAINERD_SOCKET}
cgroupDriver: cgroupfs
cgroupRoot: /{cgroup_root}
failCgroupV1: false
failSwapOn: false
podLogsDir: {pod_logs}
# The test machine's disk may be fuller than a real node's: never evict or collect
# images because of it (our images come from archives and cannot be pulled again).
evictionHard: {{memory.available: 50Mi, nodefs.available: "1%", imagefs.available: "1%", nodefs.inodesFree: "1%"}}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
serializeImagePulls: false
resolvConf: /etc/resolv.conf
shutdownGracePeriod: 0s
"#,
        node_ip = slot.node_ip(),
        ca = access.pki.ca_cert.display(),
        cgroup_root = slot.cgroup_root(),
        pod_logs = path("pods"),
    );
    pki::write_file(&dir.join("kubelet.yaml"), &kubelet)?;
    let kubeconfig =
        |token: &str| crate::kube::kubeconfig(access.server_url, &access.pki.ca_cert, token);
    pki::write_file(
        &dir.join("kubelet.kubeconfig"),
        &kubeconfig(access.kubelet_token),
    )?;
    pki::write_file(
        &dir.join("kube-proxy.kubeconfig"),
        &kubeconfig(access.proxy_token),
    )?;

    let proxy = format!(
        r#"apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {{kubeconfig: {kubeconfig}}}
hostnameOverride: {name}
mode: iptables
# Pod → ClusterIP → a Pod on the same bridge: the reply goes bridge-local, and only reaches
# conntrack (to be un-DNATed) when br_netfilter is loaded, which a fresh machine may not have.
# Masquerading every Service connection sends replies back through the node either way.
iptables: {{masqueradeAll: true}}
clusterCIDR: {pods}
bindAddress: {node_ip}
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
# Conntrack table sizes are the kernel's, shared with the machine: leave them alone.
conntrack: {{maxPerCore: 0, min: 0}}
"#,
        kubeconfig = path("kube-proxy.kubeconfig"),
        name = slot.name(),
        pods = slot.pod_range(),
        node_ip = slot.node_ip(),
    );
    pki::write_file(&dir.join("kube-proxy.yaml"), &proxy)?;
    Ok(())
}
