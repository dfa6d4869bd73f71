//! `ssh://` remotes with a Secret's private key that never touches the disk.
//!
//! gix's SSH transport runs the `ssh` program, which reads keys from files or an agent.
//! So each fetch with an `identity` starts a private `ssh-agent` on a socket in a fresh
//! 0700 folder, hands it the key over `ssh-add -`'s stdin, and runs `ssh -F <config>`
//! with a config of its own: that agent only, the Secret's `known_hosts` only, strict
//! host key checking, no prompts. Neither the user's `~/.ssh` nor `/etc/ssh` is read.
//! The agent is killed and the folder removed when the [`Agent`] is dropped.

use std::ffi::OsString;
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use secrecy::{ExposeSecret, SecretString};

use super::{Credentials, FetchError};

/// Why the SSH agent for a fetch could not be set up; never holds key material.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SshError {
    /// A file or process step failed (`ssh-agent` not installed, folder not writable).
    #[error("cannot {step}")]
    Io {
        /// What was being done.
        step: &'static str,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// `ssh-agent` did not create its socket in time.
    #[error("ssh-agent did not start")]
    AgentNotReady,
    /// `ssh-add` refused the key (not an OpenSSH private key, or protected by a passphrase).
    #[error("the identity is not a usable unencrypted OpenSSH private key")]
    BadIdentity,
}

/// A running private `ssh-agent` holding one key, and the `ssh` configuration using it.
#[derive(Debug)]
pub(super) struct Agent {
    child: Child,
    dir: tempfile::TempDir,
}

impl Agent {
    /// The agent for a fetch with SSH `credentials`; `None` for any other credentials.
    pub(super) fn for_credentials(
        credentials: Option<&Credentials>,
        url: &str,
    ) -> Result<Option<Self>, FetchError> {
        match credentials {
            Some(Credentials::Ssh {
                identity,
                known_hosts,
            }) => Self::start(identity, known_hosts)
                .map(Some)
                .map_err(|source| FetchError::SshAgent {
                    url: url.to_owned(),
                    source,
                }),
            _ => Ok(None),
        }
    }

    /// Starts an agent, loads `identity` into it and writes the (public) `known_hosts`.
    fn start(identity: &SecretString, known_hosts: &str) -> Result<Self, SshError> {
        let io = |step| move |source| SshError::Io { step, source };
        // tempfile creates folders 0700: only this user reaches the socket.
        let dir = tempfile::Builder::new()
            .prefix("lockstep-ssh-")
            .tempdir()
            .map_err(io("create the SSH agent folder"))?;
        let socket = dir.path().join("agent.sock");
        let child = Command::new("ssh-agent")
            .arg("-D")
            .arg("-a")
            .arg(&socket)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(io("run ssh-agent"))?;
        let mut agent = Self { child, dir };
        let deadline = Instant::now() + Duration::from_secs(5);
        // The socket file appears at `bind`, before the agent `listen`s: wait until it
        // takes a connection, or `ssh-add` may find nobody there (and look like a bad key).
        while std::os::unix::net::UnixStream::connect(&socket).is_err() {
            let exited = agent.child.try_wait().is_ok_and(|status| status.is_some());
            if exited || Instant::now() > deadline {
                return Err(SshError::AgentNotReady);
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        agent.add(identity)?;
        std::fs::write(agent.path("known_hosts"), known_hosts).map_err(io("write known_hosts"))?;
        std::fs::write(agent.path("config"), agent.config())
            .map_err(io("write the ssh configuration"))?;
        Ok(agent)
    }

    /// Loads the key through `ssh-add -`'s stdin: it exists only in the agent's memory.
    fn add(&self, identity: &SecretString) -> Result<(), SshError> {
        let mut add = Command::new("ssh-add")
            .arg("-q")
            .arg("-")
            .env("SSH_AUTH_SOCK", self.path("agent.sock"))
            .env_remove("SSH_ASKPASS")
            .env_remove("DISPLAY")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| SshError::Io {
                step: "run ssh-add",
                source,
            })?;
        if let Some(mut stdin) = add.stdin.take() {
            let key = identity.expose_secret();
            // A key pasted without its final newline is still a key.
            let written =
                stdin
                    .write_all(key.as_bytes())
                    .and_then(|()| match key.ends_with('\n') {
                        true => Ok(()),
                        false => stdin.write_all(b"\n"),
                    });
            drop(stdin);
            if written.is_err() {
                let _ = add.wait();
                return Err(SshError::BadIdentity);
            }
        }
        match add.wait() {
            Ok(status) if status.success() => Ok(()),
            // ssh-add's exit status 2: it could not reach the agent, whatever the key.
            Ok(status) if status.code() == Some(2) => Err(SshError::AgentNotReady),
            _ => Err(SshError::BadIdentity),
        }
    }

    /// The command gix runs for `ssh`: the generated configuration, diagnostics to a log
    /// read by [`Agent::failure`] instead of the controller's stderr.
    pub(super) fn command(&self) -> OsString {
        let quote = |p: PathBuf| format!("'{}'", p.display().to_string().replace('\'', r"'\''"));
        format!(
            "ssh -F {} -E {}",
            quote(self.path("config")),
            quote(self.path("ssh.log"))
        )
        .into()
    }

    /// A failed connection as `ssh` explained it (gix only sees the connection close):
    /// a host key or an authentication failure, else `None`. ssh's messages name the host
    /// and key type, never key material.
    pub(super) fn failure(&self, url: &str) -> Option<FetchError> {
        let said = std::fs::read_to_string(self.path("ssh.log")).unwrap_or_default();
        let detail = || {
            let lines = said.lines().map(str::trim).filter(|l| !l.is_empty());
            lines.collect::<Vec<_>>().join("; ")
        };
        if said.contains("Host key verification failed") {
            Some(FetchError::HostKey {
                url: url.to_owned(),
                detail: detail(),
            })
        } else if said.contains("Permission denied") {
            Some(FetchError::Authentication {
                url: url.to_owned(),
                source: detail().into(),
            })
        } else {
            None
        }
    }

    /// Every path is inside the private folder; `absent` is never created there, so no
    /// system known_hosts and no default key file (`~/.ssh/id_*`) is ever read.
    fn config(&self) -> String {
        let path = |name| self.path(name).display().to_string();
        format!(
            "Host *\n\
             \tBatchMode yes\n\
             \tStrictHostKeyChecking yes\n\
             \tUpdateHostKeys no\n\
             \tUserKnownHostsFile \"{known_hosts}\"\n\
             \tGlobalKnownHostsFile \"{absent}\"\n\
             \tIdentityAgent \"{socket}\"\n\
             \tIdentityFile \"{absent}\"\n\
             \tIdentitiesOnly no\n\
             \tPasswordAuthentication no\n\
             \tKbdInteractiveAuthentication no\n\
             \tLogLevel ERROR\n",
            known_hosts = path("known_hosts"),
            absent = path("absent"),
            socket = path("agent.sock"),
        )
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
