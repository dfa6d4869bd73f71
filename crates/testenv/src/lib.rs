//! The real servers Lockstep's tests run against, started on free loopback ports.
//!
//! Nothing here is a mock: every type starts the real program that
//! `scripts/install-testenv.sh` installed (pinned versions, cached under
//! `~/.cache/lockstep/bin`, or `$LOCKSTEP_BIN_DIR`), waits until it answers, and stops it
//! when dropped. Each server writes its log to a folder per test under
//! `target/testenv-logs/<test>/`, so a failing test leaves something to read.
//!
//! Which type for which job:
//! - [`ControlPlane`]: etcd + kube-apiserver (+ kube-controller-manager on request) with
//!   generated certificates and an admin kubeconfig; [`ControlPlane::shared`] gives one
//!   control plane to every test of a binary, and [`ControlPlane::namespace`] a namespace
//!   of its own to each test. With [`ControlPlaneOptions::node`] it also has a scheduler and
//!   a real [`Node`] (containerd, runc, CNI bridge, kubelet, kube-proxy) where Pods run.
//! - [`Vault`]: an OpenBao dev server with KV v2 at `secret/` and transit at `transit/`.
//! - [`ExternalSecretsOperator`]: the real External Secrets Operator with its own CRDs,
//!   the reference for Lockstep's ExternalSecret front-end.
//! - [`Flux`]: the real Flux source-controller and kustomize-controller with Flux's own
//!   CRDs, the reference for Lockstep's Flux front-end; [`flux_cli`] runs the real `flux`.
//! - [`Kms`]: moto's server as an AWS KMS endpoint, with [`Kms::create_key`].
//! - [`GitServer`]: `git daemon` serving bare repositories, with [`GitRepo`] to commit and
//!   push from a work tree; `file://` URLs work on the same repositories.
//! - [`GitHttpServer`]: `git http-backend` over HTTP behind basic or bearer authentication.
//! - [`GitSshServer`]: OpenSSH's `sshd` serving repositories over `ssh://` to one client
//!   key, with a `known_hosts` line for its host key.
//! - [`Browser`]: headless Chromium driven through `chromedriver`'s WebDriver API, to test
//!   a web UI end to end as a user's browser sees it.
//! - [`Gpg`]: the real GnuPG with a keyring of its own, to make OpenPGP keys and signed
//!   commits and tags.
//! - [`tool`]: the path of a reference peer (`sops`, `kubeseal`, `age`).
//! - [`Process`]: any other program, such as a binary under test, supervised the same way.
//! - [`Relay`]: a TCP relay in front of a server, to take it down and back on one address.
//! - [`Canaries`]: a test's secret values, searched for in every form a leak takes.
//!
//! A missing server is [`Error::NotInstalled`], a kernel that refuses one (no namespaces,
//! no overlayfs) [`Error::Unsupported`]. Tests wrap a start in [`need!`]: under CI
//! (`LOCKSTEP_REQUIRE_SERVERS=1`, set by `.ci/run`) either fails the test; on a developer
//! machine the test returns early with a loud message on stderr.

pub mod browser;
mod canary;
mod eso;
mod flux;
mod git;
mod git_http;
mod git_ssh;
mod gpg;
mod helm_repo;
pub mod http;
mod kms;
mod kube;
mod logs;
pub mod manifests;
mod node;
mod oci_registry;
mod oci_token;
mod pki;
mod process;
mod relay;
pub mod service;
mod vault;

use std::path::{Path, PathBuf};

pub use crate::browser::Browser;
pub use crate::canary::Canaries;
pub use crate::eso::ExternalSecretsOperator;
pub use crate::flux::{Flux, flux_cli};
pub use crate::git::{GitRepo, GitServer};
pub use crate::git_http::{GitHttpServer, HttpAuth};
pub use crate::git_ssh::GitSshServer;
pub use crate::gpg::Gpg;
pub use crate::helm_repo::HelmRepoServer;
pub use crate::kms::Kms;
pub use crate::kube::{ControlPlane, Options as ControlPlaneOptions};
pub use crate::logs::LogDir;
pub use crate::node::{Node, PAUSE_IMAGE, TESTPOD_IMAGE};
pub use crate::oci_registry::OciRegistry;
pub use crate::process::{Process, free_port};
pub use crate::relay::Relay;
pub use crate::vault::{TokenAuth, Vault};

/// Errors from starting or talking to a test server.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// The program is not in the test environment's bin directory.
    #[error(
        "{program} is not installed in {dir}; run scripts/install-testenv.sh (or set LOCKSTEP_BIN_DIR)"
    )]
    NotInstalled {
        /// Program name.
        program: String,
        /// Where it was looked for.
        dir: PathBuf,
    },
    /// This machine cannot run the server (the kernel or the sandbox refuses).
    #[error("{what} cannot run on this machine: {reason}")]
    Unsupported {
        /// What was to be started.
        what: String,
        /// What refused.
        reason: String,
    },
    /// A file or process operation failed.
    #[error("{step}")]
    Io {
        /// What was being done.
        step: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The server did not become ready in time, or exited while starting.
    #[error("{server} did not become ready: {reason}; its log: {log}")]
    NotReady {
        /// Server name.
        server: String,
        /// Why waiting stopped.
        reason: String,
        /// Log file to read.
        log: PathBuf,
    },
    /// A setup command run against a started server failed.
    #[error("{step} failed: {detail}")]
    Setup {
        /// The setup step.
        step: String,
        /// What the server or command said.
        detail: String,
    },
    /// The Kubernetes client could not be built or used.
    #[error("kubernetes client: {0}")]
    Kube(#[from] ::kube::Error),
    /// Certificates could not be generated.
    #[error("generating certificates: {0}")]
    Pki(#[from] rcgen::Error),
}

/// `Result` with this crate's [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(step: impl Into<String>) -> impl FnOnce(std::io::Error) -> Error {
        let step = step.into();
        move |source| Error::Io { step, source }
    }
}

/// Environment variable that turns a missing server from a skip into a failure.
pub const REQUIRE_SERVERS_ENV: &str = "LOCKSTEP_REQUIRE_SERVERS";

/// The directory the installer links every program into.
pub fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("LOCKSTEP_BIN_DIR") {
        return PathBuf::from(dir);
    }
    let cache = std::env::var_os("LOCKSTEP_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default();
            home.join(".cache/lockstep")
        });
    cache.join("bin")
}

/// The path of an installed program, such as a reference peer (`sops`, `kubeseal`, `age`).
///
/// # Errors
/// [`Error::NotInstalled`] when the installer has not put it in [`bin_dir`].
pub fn tool(program: &str) -> Result<PathBuf> {
    let dir = bin_dir();
    let path = dir.join(program);
    if path.exists() {
        Ok(path)
    } else {
        Err(Error::NotInstalled {
            program: program.to_owned(),
            dir,
        })
    }
}

/// A new age identity from the real `age-keygen`: `(recipient, identity)`.
///
/// # Errors
/// [`Error::NotInstalled`] without `age-keygen`; [`Error::Setup`] when it fails.
pub fn age_keygen() -> Result<(String, String)> {
    let program = tool("age-keygen")?;
    let out = std::process::Command::new(&program)
        .output()
        .map_err(Error::io(format!("running {}", program.display())))?;
    let text = String::from_utf8_lossy(&out.stdout);
    let recipient = text.lines().find_map(|l| l.strip_prefix("# public key: "));
    let identity = text.lines().find(|l| l.starts_with("AGE-SECRET-KEY-"));
    match (out.status.success(), recipient, identity) {
        (true, Some(recipient), Some(identity)) => Ok((recipient.to_owned(), identity.to_owned())),
        _ => Err(Error::Setup {
            step: "age-keygen".into(),
            detail: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        }),
    }
}

/// Encrypts `file` (relative to `dir`) in place for the age `recipient`, with the real
/// `sops` run in `dir`, every value encrypted (sops' default).
///
/// # Errors
/// [`Error::NotInstalled`] without `sops`; [`Error::Setup`] when it fails.
pub fn sops_encrypt_age(dir: &Path, recipient: &str, file: &str) -> Result<()> {
    let program = tool("sops")?;
    let out = std::process::Command::new(&program)
        .current_dir(dir)
        .env_clear()
        .env("HOME", dir)
        .args(["--encrypt", "--in-place", "--age", recipient, file])
        .output()
        .map_err(Error::io(format!("running {}", program.display())))?;
    if out.status.success() {
        return Ok(());
    }
    Err(Error::Setup {
        step: format!("sops --encrypt {file}"),
        detail: String::from_utf8_lossy(&out.stderr).trim().to_owned(),
    })
}

/// Whether a missing server must fail the test rather than skip it.
pub fn servers_required() -> bool {
    std::env::var_os(REQUIRE_SERVERS_ENV).is_some_and(|v| v != "0" && !v.is_empty())
}

/// Decides what a test does with an error from starting a server: `Some(message)` means
/// "skip, after printing this", `None` means the error must fail the test.
pub fn skip_reason(err: &Error) -> Option<String> {
    match err {
        Error::NotInstalled { .. } | Error::Unsupported { .. } if !servers_required() => {
            Some(format!(
                "\n!!!!! SKIPPED: {err}\n!!!!! set {REQUIRE_SERVERS_ENV}=1 to make this a failure\n"
            ))
        }
        _ => None,
    }
}

/// Unwraps the result of starting a server inside a test.
///
/// A missing program skips the test with a loud message (returning from the test
/// function), unless `LOCKSTEP_REQUIRE_SERVERS` is set, as it is in CI; any other error
/// panics with the error and its log location.
#[macro_export]
macro_rules! need {
    ($start:expr) => {
        match $start {
            Ok(server) => server,
            Err(err) => match $crate::skip_reason(&err) {
                Some(message) => {
                    eprintln!("{message}");
                    return Default::default();
                }
                None => panic!("test server: {err}"),
            },
        }
    };
}
