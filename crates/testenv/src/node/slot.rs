//! The addresses of one test node (its veth pair, Pod range and cgroup), reserved by a lock
//! file so that parallel test processes never share them.

use std::fs::File;
use std::net::Ipv4Addr;
use std::process::Command;

use super::command_output;
use crate::{Error, Result};

/// How many nodes may run on one machine at once.
const SLOTS: u8 = 64;

/// The addresses of one node, reserved on this machine for as long as the node lives.
#[derive(Debug)]
pub(crate) struct Slot {
    n: u8,
    _lock: File,
}

impl Slot {
    /// Takes the first slot that no other test process holds and whose addresses no route
    /// of this machine uses.
    pub(crate) fn reserve() -> Result<Self> {
        let dir = std::env::temp_dir().join("lockstep-testenv-nodes");
        std::fs::create_dir_all(&dir).map_err(Error::io(format!("creating {}", dir.display())))?;
        let routes = command_output(Command::new("ip").args(["-4", "route", "show"]))?;
        for n in 0..SLOTS {
            let lock_path = dir.join(format!("{n}.lock"));
            let lock = File::create(&lock_path)
                .map_err(Error::io(format!("creating {}", lock_path.display())))?;
            if lock.try_lock().is_err() {
                continue;
            }
            let slot = Self { n, _lock: lock };
            let link_prefix = format!("10.254.{n}.");
            let pod_prefix = format!("10.244.{n}.");
            if routes.contains(&link_prefix) || routes.contains(&pod_prefix) {
                continue;
            }
            return Ok(slot);
        }
        Err(Error::Setup {
            step: "reserving addresses for a test node".into(),
            detail: format!("all {SLOTS} slots are taken"),
        })
    }

    /// This machine's end of the veth: where the API server listens and Pods reach us.
    pub(crate) fn host_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 254, self.n, 1)
    }

    pub(super) fn node_ip(&self) -> Ipv4Addr {
        Ipv4Addr::new(10, 254, self.n, 2)
    }

    pub(super) fn pod_range(&self) -> String {
        format!("10.244.{}.0/24", self.n)
    }

    pub(crate) fn name(&self) -> String {
        format!("lockstep-node-{}", self.n)
    }

    pub(super) fn veth(&self) -> String {
        format!("lsnode{}", self.n)
    }

    pub(super) fn cgroup_root(&self) -> String {
        format!("lockstep-node-{}", self.n)
    }
}
