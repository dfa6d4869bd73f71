//! The credentials of the test control plane: tokens of the components' own identities, the
//! admin kubeconfig, random tokens.

use std::path::Path;

use crate::{Error, Result};

/// Tokens for the node's components and the scheduler, each its component's own identity.
pub(super) struct Identities {
    pub(super) kubelet: String,
    pub(super) proxy: String,
    pub(super) scheduler: String,
}

impl Identities {
    pub(super) fn new() -> Result<Self> {
        Ok(Self {
            kubelet: random_token()?,
            proxy: random_token()?,
            scheduler: random_token()?,
        })
    }

    /// Lines of the API server's token file (`token,user,uid,"group"`).
    pub(super) fn token_lines(&self, node_name: &str) -> String {
        format!(
            "{},system:node:{node_name},kubelet,system:nodes\n\
             {},system:kube-proxy,kube-proxy\n\
             {},system:kube-scheduler,kube-scheduler\n",
            self.kubelet, self.proxy, self.scheduler
        )
    }
}

pub(crate) fn kubeconfig(server: &str, ca: &Path, token: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: lockstep-testenv
  cluster:
    server: {server}
    certificate-authority: {ca}
users:
- name: lockstep-admin
  user:
    token: {token}
contexts:
- name: lockstep-testenv
  context:
    cluster: lockstep-testenv
    user: lockstep-admin
current-context: lockstep-testenv
",
        ca = ca.display()
    )
}

/// 32 hex characters from the OS's random source, for tokens and unique names.
pub(crate) fn random_token() -> Result<String> {
    use std::io::Read;
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut bytes))
        .map_err(Error::io("reading /dev/urandom"))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}
