//! Git over SSH: the real OpenSSH `sshd` on a free loopback port (or a test node's host
//! address), run as the current user with a configuration, host key and client key pair of
//! its own, serving the bare repositories under its root as
//! `ssh://<user>@127.0.0.1:<port>/<path>.git`.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::process::{Process, free_port};
use crate::{Error, GitRepo, LogDir, Result, tool};

/// A running `sshd` that accepts only its own client key; stops when dropped.
#[derive(Debug)]
pub struct GitSshServer {
    root: PathBuf,
    keys: PathBuf,
    host: IpAddr,
    port: u16,
    user: String,
    _server: Process,
}

impl GitSshServer {
    /// Generates a host key and a client key pair (`ssh-keygen`), writes an `sshd_config`
    /// that trusts only that client key, and starts `sshd -D` on a free loopback port.
    ///
    /// # Errors
    /// [`Error::NotInstalled`] without `sshd`, `ssh-keygen` or `git`;
    /// [`Error::NotReady`] if it does not listen.
    pub async fn start() -> Result<Self> {
        Self::start_on(Ipv4Addr::LOCALHOST.into()).await
    }

    /// [`Self::start`], listening on `host`: a test node's
    /// [`host_address`](crate::Node::host_address), for Pods to fetch from.
    ///
    /// # Errors
    /// As [`Self::start`].
    pub async fn start_on(host: IpAddr) -> Result<Self> {
        let sshd = tool("sshd")?;
        tool("git")?;
        let logs = LogDir::for_server("sshd")?;
        let root = logs.join("repos");
        let keys = logs.join("keys");
        for dir in [&root, &keys] {
            std::fs::create_dir_all(dir).map_err(Error::io("creating the sshd folders"))?;
        }
        keygen(&keys.join("host_key"))?;
        keygen(&keys.join("client_key"))?;
        std::fs::copy(keys.join("client_key.pub"), keys.join("authorized_keys"))
            .map_err(Error::io("writing authorized_keys"))?;
        // Run as root, sshd wants its privilege separation folder (made at boot by systemd).
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = free_port()?;
        let config = keys.join("sshd_config");
        let at = |name: &str| keys.join(name).display().to_string();
        let text = format!(
            "ListenAddress {host}:{port}\n\
             HostKey {host_key}\n\
             AuthorizedKeysFile {authorized}\n\
             PidFile {pid}\n\
             PermitRootLogin prohibit-password\n\
             PubkeyAuthentication yes\n\
             PasswordAuthentication no\n\
             KbdInteractiveAuthentication no\n\
             StrictModes no\n\
             UsePAM no\n\
             AcceptEnv GIT_PROTOCOL\n",
            host_key = at("host_key"),
            authorized = at("authorized_keys"),
            pid = at("sshd.pid"),
        );
        std::fs::write(&config, text).map_err(Error::io("writing sshd_config"))?;
        let args = [
            "-D".to_owned(),
            "-e".to_owned(),
            "-f".to_owned(),
            at("sshd_config"),
        ];
        let mut server = Process::start("sshd", &sshd, &args, &[], &logs)?;
        server
            .wait_ready(Duration::from_secs(30), || async move {
                tokio::net::TcpStream::connect((host, port)).await.is_ok()
            })
            .await?;
        Ok(Self {
            root,
            keys,
            host,
            port,
            user: run("id", &["-un"])?.trim().to_owned(),
            _server: server,
        })
    }

    /// Creates the bare repository `<name>.git` under the server's root with one commit
    /// holding the files of `from` (or an empty commit).
    ///
    /// # Errors
    /// As [`GitRepo::create`].
    pub fn create_repo(&self, name: &str, from: Option<&Path>) -> Result<GitRepo> {
        GitRepo::create(&self.root, name, from)
    }

    /// `ssh://<user>@127.0.0.1:<port>/<root>/<name>.git`.
    pub fn url(&self, name: &str) -> String {
        format!(
            "ssh://{}@{}:{}{}",
            self.user,
            self.host,
            self.port,
            self.root.join(format!("{name}.git")).display()
        )
    }

    /// The client's OpenSSH private key, the only one the server accepts.
    ///
    /// # Errors
    /// [`Error::Io`] when the generated key cannot be read.
    pub fn client_key(&self) -> Result<String> {
        let path = self.keys.join("client_key");
        std::fs::read_to_string(&path).map_err(Error::io(format!("reading {}", path.display())))
    }

    /// The `known_hosts` line for the server's host key (`[127.0.0.1]:<port> ssh-ed25519 …`).
    ///
    /// # Errors
    /// [`Error::Io`] when the generated host key cannot be read.
    pub fn known_hosts(&self) -> Result<String> {
        let path = self.keys.join("host_key.pub");
        let public = std::fs::read_to_string(&path)
            .map_err(Error::io(format!("reading {}", path.display())))?;
        let mut fields = public.split_whitespace();
        let (kind, key) = (fields.next().unwrap_or(""), fields.next().unwrap_or(""));
        Ok(format!("[{}]:{} {kind} {key}\n", self.host, self.port))
    }
}

fn keygen(path: &Path) -> Result<()> {
    let file = path.display().to_string();
    let args = [
        "-q",
        "-t",
        "ed25519",
        "-N",
        "",
        "-C",
        "lockstep-test",
        "-f",
        &file,
    ];
    run(&tool("ssh-keygen")?.display().to_string(), &args).map(drop)
}

fn run(program: &str, args: &[&str]) -> Result<String> {
    let output = Command::new(program)
        .args(args)
        .output()
        .map_err(Error::io(format!("running {program}")))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(Error::Setup {
            step: format!("{program} {}", args.join(" ")),
            detail: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}
