//! A real node for the test control plane, where Pods run: containerd with runc and the
//! CNI bridge (Debian's packages), kubelet and kube-proxy (built from the same Kubernetes
//! module as the API server), started by [`ControlPlane::start`](crate::ControlPlane::start)
//! with [`Options::node`](crate::ControlPlaneOptions::node).
//!
//! The node lives in namespaces of its own (PID, mount, network; `node.sh` is their first
//! process), joined to this machine by a veth pair: the host end carries the address the
//! API server listens on and Pods reach this machine by ([`Node::host_address`]); a route
//! sends the node's Pod range through it, so the API server's service proxy reaches Pods.
//! So kube-proxy's iptables rules, the bridge and every mount stay inside, several nodes
//! (of parallel test binaries) never meet, and dropping the node ends all of it: the
//! kernel kills the whole PID namespace. Only kubelet's cgroups are outside; the drop
//! removes them.
//!
//! Images come from archives, never a registry: the installer builds the sandbox (pause)
//! image and a tiny app image from `crates/testenv/images/testpod`, and tests import
//! their own with [`Node::import_image`].

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::Node as NodeObject;
use kube::api::Api;

use crate::process::Process;
use crate::{Error, LogDir, Result, pki, tool};

pub(crate) use config::Access;
use config::write_config;
pub(crate) use slot::Slot;

mod config;
mod slot;

/// The sandbox image every Pod's namespaces are held by, imported when the node starts.
pub const PAUSE_IMAGE: &str = "lockstep.test/pause:1";
/// The app image the installer builds: `/testpod serve ADDR TEXT` answers HTTP requests
/// with TEXT (the default command serves `hello` on :8080), `/testpod get URL` prints a
/// GET's body.
pub const TESTPOD_IMAGE: &str = "lockstep.test/testpod:1";
/// The Service range of the test control plane; its first address is the `kubernetes`
/// Service, which the API server's certificate names.
pub(crate) const SERVICE_RANGE: &str = "10.96.0.0/16";

const SCRIPT: &str = include_str!("node.sh");
const CNI_BIN_DIR: &str = "/usr/lib/cni";
/// Sockets and runtime state live in the node's private `/run` (see `node.sh`).
const CONTAINERD_SOCKET: &str = "/run/lockstep/containerd.sock";
/// A running node. Dropping it stops everything in it.
#[derive(Debug)]
pub struct Node {
    name: String,
    host_ip: Ipv4Addr,
    logs: LogDir,
    cgroup_root: String,
    process: Option<Process>,
    // Released last: another node may take the addresses only once this one is gone.
    _slot: Slot,
}

impl Node {
    /// Refuses early, with the reason, on a machine where the node cannot run: not root,
    /// no namespaces, no overlayfs, cgroups not writable.
    ///
    /// # Errors
    /// [`Error::NotInstalled`] for a missing program, [`Error::Unsupported`] for the kernel.
    pub(crate) fn check() -> Result<()> {
        for program in ["containerd", "ctr", "runc", "kubelet", "kube-proxy"] {
            tool(program)?;
        }
        let bridge = Path::new(CNI_BIN_DIR).join("bridge");
        if !bridge.exists() {
            return Err(Error::NotInstalled {
                program: "the CNI plugins (bridge, host-local)".into(),
                dir: CNI_BIN_DIR.into(),
            });
        }
        let filesystems = std::fs::read_to_string("/proc/filesystems").unwrap_or_default();
        if !filesystems.contains("overlay") {
            return Err(unsupported("the kernel has no overlay filesystem"));
        }
        let probe = Command::new("unshare")
            .args(["--fork", "--pid", "--net", "--mount", "true"])
            .output()
            .map_err(Error::io("running unshare"))?;
        if !probe.status.success() {
            return Err(unsupported(&format!(
                "cannot make PID, mount and network namespaces (unshare: {})",
                String::from_utf8_lossy(&probe.stderr).trim()
            )));
        }
        let cgroups = Path::new("/sys/fs/cgroup/pids");
        let cgroups = if cgroups.exists() {
            cgroups
        } else {
            Path::new("/sys/fs/cgroup")
        };
        let probe = cgroups.join(format!("lockstep-probe-{}", std::process::id()));
        std::fs::create_dir(&probe)
            .and_then(|()| std::fs::remove_dir(&probe))
            .map_err(|err| {
                unsupported(&format!(
                    "cannot create cgroups in {}: {err}",
                    cgroups.display()
                ))
            })?;
        Ok(())
    }

    /// Starts the node in `slot`: writes its configuration, starts its namespaces and the
    /// components in them, and joins its network to this machine. The API server may come
    /// up afterwards (on [`Slot::host_ip`]); the components wait for it. Call
    /// [`Self::wait_ready`] then.
    pub(crate) fn start(slot: Slot, access: &Access<'_>) -> Result<Self> {
        let logs = LogDir::for_server("node")?;
        let dir = logs.path().to_owned();
        let name = slot.name();
        remove_cgroups(&slot.cgroup_root());
        write_config(&slot, &dir, access)?;
        let script = logs.join("node.sh");
        pki::write_file(&script, SCRIPT)?;

        let args = [
            "--fork",
            "--pid",
            "--kill-child",
            "--mount-proc",
            "--net",
            "--mount",
            "--propagation",
            "private",
            "bash",
        ]
        .map(String::from)
        .into_iter()
        .chain([script.display().to_string(), dir.display().to_string()])
        .collect::<Vec<_>>();
        let process = Process::start("node", Path::new("unshare"), &args, &[], &logs)?;
        let node = Self {
            name,
            host_ip: slot.host_ip(),
            logs,
            cgroup_root: slot.cgroup_root(),
            process: Some(process),
            _slot: slot,
        };
        node.join_network()?;
        Ok(node)
    }

    /// Creates the veth pair once the node's process is in its own network namespace:
    /// `eth0` inside, `lsnode<n>` here with the host address and a route to the Pods.
    fn join_network(&self) -> Result<()> {
        let process = self.process.as_ref().expect("started");
        let own = std::fs::read_link("/proc/self/ns/net").ok();
        let deadline = Instant::now() + Duration::from_secs(10);
        let pid = loop {
            if let Some(pid) = process.pid() {
                let theirs = std::fs::read_link(format!("/proc/{pid}/ns/net")).ok();
                if theirs.is_some() && theirs != own {
                    break pid;
                }
            }
            if Instant::now() > deadline {
                return Err(Error::NotReady {
                    server: "node".into(),
                    reason: "its process never entered a network namespace of its own".into(),
                    log: process.log().to_owned(),
                });
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let slot = &self._slot;
        let veth = slot.veth();
        let host = format!("{}/30", slot.host_ip());
        let pid = pid.to_string();
        let node_ip = slot.node_ip().to_string();
        let pods = slot.pod_range();
        let steps: [&[&str]; 4] = [
            &[
                "link", "add", &veth, "type", "veth", "peer", "name", "eth0", "netns", &pid,
            ],
            &["addr", "add", &host, "dev", &veth],
            &["link", "set", &veth, "up"],
            &["route", "add", &pods, "via", &node_ip, "dev", &veth],
        ];
        for step in steps {
            command_output(Command::new("ip").args(step))?;
        }
        Ok(())
    }

    /// Waits until the node is registered and `Ready` (kubelet, runtime and network up).
    ///
    /// # Errors
    /// [`Error::NotReady`] naming the node's log folder, with the end of its script's log.
    pub(crate) async fn wait_ready(
        &mut self,
        client: &kube::Client,
        timeout: Duration,
    ) -> Result<()> {
        let nodes: Api<NodeObject> = Api::all(client.clone());
        let name = self.name.clone();
        let process = self.process.as_mut().expect("started");
        process
            .wait_ready(timeout, || {
                let nodes = nodes.clone();
                let name = name.clone();
                async move {
                    let Ok(Some(node)) = nodes.get_opt(&name).await else {
                        return false;
                    };
                    node.status
                        .and_then(|s| s.conditions)
                        .unwrap_or_default()
                        .iter()
                        .any(|c| c.type_ == "Ready" && c.status == "True")
                }
            })
            .await
    }

    /// The node's name (`lockstep-node-<n>`), as registered.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// This machine's address as Pods see it: the API server listens there, and a test
    /// server a Pod must reach (a Git server) should listen there too.
    pub fn host_address(&self) -> Ipv4Addr {
        self.host_ip
    }

    /// The folder with the node's configuration and its components' logs.
    pub fn logs(&self) -> &LogDir {
        &self.logs
    }

    /// Imports an image archive (OCI layout or `docker save` tar) into the node's
    /// containerd, under the name(s) recorded in it, for Pods with `imagePullPolicy:
    /// IfNotPresent` or `Never`.
    ///
    /// # Errors
    /// [`Error::Setup`] with `ctr`'s message.
    pub fn import_image(&self, archive: &Path) -> Result<()> {
        self.ctr(&["images", "import", &archive.display().to_string()])
            .map(drop)
    }

    /// Gives an imported image another name, as `docker tag` does.
    ///
    /// # Errors
    /// [`Error::Setup`] with `ctr`'s message.
    pub fn tag_image(&self, from: &str, to: &str) -> Result<()> {
        self.ctr(&["images", "tag", "--force", from, to]).map(drop)
    }

    /// Runs `ctr` against the node's containerd, in the node's mount namespace.
    fn ctr(&self, args: &[&str]) -> Result<String> {
        let process = self.process.as_ref().expect("started");
        let pid = process.pid().ok_or_else(|| Error::Setup {
            step: "finding the node's process".into(),
            detail: "it has not started".into(),
        })?;
        let ctr = tool("ctr")?;
        command_output(
            Command::new("nsenter")
                .arg(format!("--target={pid}"))
                .args(["--mount", "--net"])
                .arg(ctr)
                .args(["--address", CONTAINERD_SOCKET, "--namespace", "k8s.io"])
                .args(args),
        )
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        // Ends the PID namespace, and with it every process, mount and interface of it.
        drop(self.process.take());
        remove_cgroups(&self.cgroup_root);
        // Image layers and snapshots are large and of no use after the test; the logs
        // and configuration stay.
        let _ = std::fs::remove_dir_all(self.logs.join("containerd"));
    }
}

/// Removes the cgroups kubelet made under `root` in every hierarchy, deepest first. A
/// cgroup whose processes are still being reaped refuses for a moment; retry briefly.
fn remove_cgroups(root: &str) {
    let Ok(hierarchies) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    let mut dirs = Vec::new();
    for hierarchy in hierarchies.flatten() {
        collect_dirs(&hierarchy.path().join(root), &mut dirs);
    }
    dirs.sort_by_key(|dir| std::cmp::Reverse(dir.components().count()));
    let deadline = Instant::now() + Duration::from_secs(5);
    for dir in dirs {
        while std::fs::remove_dir(&dir).is_err() && dir.exists() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

fn collect_dirs(dir: &Path, out: &mut Vec<PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    out.push(dir.to_owned());
    for entry in entries.flatten() {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            collect_dirs(&entry.path(), out);
        }
    }
}

fn unsupported(reason: &str) -> Error {
    Error::Unsupported {
        what: "a test node".into(),
        reason: reason.to_owned(),
    }
}

/// Runs a setup command; its stderr becomes the error.
fn command_output(command: &mut Command) -> Result<String> {
    let step = format!("{command:?}");
    let output = command
        .output()
        .map_err(Error::io(format!("running {step}")))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(Error::Setup {
            step,
            detail: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}
