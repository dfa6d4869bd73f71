//! The real GnuPG with a keyring of its own: keys generated without passphrase, exported
//! as `gpg --export --armor` makes them, and a `gpg` wrapper for `git -c gpg.program=…`
//! and `SOPS_GPG_EXEC` that uses this keyring.
//!
//! Each [`Gpg`] has its own `GNUPGHOME` in a temporary folder (test set-up: the secret
//! keys live there as they would in a user's keyring) and stops its `gpg-agent` when
//! dropped. [`Gpg::at`] freezes gpg's clock at a past time, to make keys that have expired
//! since and signatures made while they were valid.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::{Error, Result, tool};

/// A GnuPG home with its own keys.
#[derive(Debug)]
pub struct Gpg {
    home: tempfile::TempDir,
    gpg: PathBuf,
    wrapper: PathBuf,
    faked_time: Option<String>,
}

impl Gpg {
    /// An empty keyring, with gpg's clock running.
    ///
    /// # Errors
    /// [`Error::NotInstalled`] without `gpg`; [`Error::Io`] if the home cannot be made.
    pub fn new() -> Result<Self> {
        Self::with_time(None)
    }

    /// An empty keyring whose gpg believes it is `time` (`20200101T000000`), clock stopped.
    ///
    /// # Errors
    /// As [`Self::new`].
    pub fn at(time: &str) -> Result<Self> {
        Self::with_time(Some(time.to_owned()))
    }

    fn with_time(faked_time: Option<String>) -> Result<Self> {
        let gpg = tool("gpg")?;
        // Short: gpg-agent's socket path must fit in 108 bytes.
        let home = tempfile::Builder::new()
            .prefix("gpg")
            .tempdir_in("/tmp")
            .map_err(Error::io("creating a GNUPGHOME"))?;
        std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700))
            .map_err(Error::io("securing the GNUPGHOME"))?;
        let wrapper = home.path().join("gpg-wrapper");
        let gpg_self = Self {
            home,
            gpg,
            wrapper,
            faked_time,
        };
        let args = gpg_self
            .base_args()
            .iter()
            .map(|a| format!("'{a}'"))
            .collect::<Vec<_>>()
            .join(" ");
        let script = format!(
            "#!/bin/sh\nexec '{}' {args} \"$@\"\n",
            gpg_self.gpg.display()
        );
        std::fs::write(&gpg_self.wrapper, script).map_err(Error::io("writing the gpg wrapper"))?;
        std::fs::set_permissions(&gpg_self.wrapper, std::fs::Permissions::from_mode(0o755))
            .map_err(Error::io("making the gpg wrapper executable"))?;
        Ok(gpg_self)
    }

    /// The `GNUPGHOME` folder.
    pub fn home(&self) -> &Path {
        self.home.path()
    }

    /// A `gpg` that uses this keyring (and clock): for `gpg.program` and `SOPS_GPG_EXEC`.
    pub fn program(&self) -> &Path {
        &self.wrapper
    }

    /// `git` options that sign with `key` through this keyring: put them before `commit
    /// -S` or `tag -s`.
    pub fn git_signing(&self, key: &str) -> Vec<String> {
        vec![
            "-c".into(),
            format!("gpg.program={}", self.wrapper.display()),
            "-c".into(),
            format!("user.signingkey={key}"),
        ]
    }

    /// Generates a signing-only ed25519 key for `uid`, no passphrase, expiring as gpg's
    /// `--quick-gen-key` reads `expire` (`never`, `1y`, `seconds=N`); returns its
    /// fingerprint.
    ///
    /// # Errors
    /// [`Error::Setup`] when gpg fails.
    pub fn generate(&self, uid: &str, expire: &str) -> Result<String> {
        self.generate_with(uid, "ed25519", "sign", expire)
    }

    /// Generates a key of `algo` (`ed25519`, `rsa3072`, `default` for ed25519 with a
    /// cv25519 encryption subkey) for `usage` (`sign`, `default`, …); returns its
    /// fingerprint.
    ///
    /// # Errors
    /// [`Error::Setup`] when gpg fails.
    pub fn generate_with(
        &self,
        uid: &str,
        algo: &str,
        usage: &str,
        expire: &str,
    ) -> Result<String> {
        let status = self.run(&[
            "--passphrase",
            "",
            "--status-fd",
            "1",
            "--quick-gen-key",
            uid,
            algo,
            usage,
            expire,
        ])?;
        status
            .lines()
            .find_map(|line| line.strip_prefix("[GNUPG:] KEY_CREATED "))
            .and_then(|rest| rest.split_whitespace().nth(1))
            .map(str::to_owned)
            .ok_or_else(|| Error::Setup {
                step: "gpg --quick-gen-key".into(),
                detail: format!("no KEY_CREATED status in: {status}"),
            })
    }

    /// `gpg --export --armor key`: the public key as a Secret's `*.asc` entry holds it.
    ///
    /// # Errors
    /// [`Error::Setup`] when gpg fails.
    pub fn export(&self, key: &str) -> Result<String> {
        self.run(&["--export", "--armor", key])
    }

    /// `gpg --export-secret-keys --armor key`: the private key, as Flux's decryption
    /// Secret holds it.
    ///
    /// # Errors
    /// [`Error::Setup`] when gpg fails.
    pub fn export_secret(&self, key: &str) -> Result<String> {
        self.run(&["--export-secret-keys", "--armor", key])
    }

    /// Revokes `key` with the revocation certificate gpg made when generating it.
    ///
    /// # Errors
    /// [`Error::Io`] when the certificate cannot be read or written, [`Error::Setup`] when
    /// gpg refuses it.
    pub fn revoke(&self, key: &str) -> Result<()> {
        let path = self
            .home()
            .join("openpgp-revocs.d")
            .join(format!("{key}.rev"));
        let certificate = std::fs::read_to_string(&path)
            .map_err(Error::io(format!("reading {}", path.display())))?;
        // gpg prefixes the armour line with ':' so the file is not imported by accident.
        let armour = certificate.replace(":-----BEGIN", "-----BEGIN");
        let armoured = self.home().join("revocation.asc");
        std::fs::write(&armoured, armour)
            .map_err(Error::io(format!("writing {}", armoured.display())))?;
        self.run(&["--import", &armoured.display().to_string()])
            .map(drop)
    }

    /// Runs gpg on this keyring (batch mode, no pinentry) and returns its stdout.
    ///
    /// # Errors
    /// [`Error::Setup`] with gpg's stderr when it fails.
    pub fn run(&self, args: &[&str]) -> Result<String> {
        let output = Command::new(&self.gpg)
            .args(self.base_args())
            .args(args)
            .output()
            .map_err(Error::io(format!("running gpg {}", args.join(" "))))?;
        if output.status.success() {
            Ok(String::from_utf8_lossy(&output.stdout).into_owned())
        } else {
            Err(Error::Setup {
                step: format!("gpg {}", args.join(" ")),
                detail: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
            })
        }
    }

    fn base_args(&self) -> Vec<String> {
        let mut args = vec![
            "--homedir".to_owned(),
            self.home().display().to_string(),
            "--batch".to_owned(),
            "--no-tty".to_owned(),
            "--pinentry-mode".to_owned(),
            "loopback".to_owned(),
        ];
        if let Some(time) = &self.faked_time {
            args.extend(["--faked-system-time".to_owned(), format!("{time}!")]);
        }
        args
    }
}

impl Drop for Gpg {
    fn drop(&mut self) {
        // gpg started an agent for this home; it would outlive the test.
        let Ok(gpgconf) = tool("gpgconf") else {
            return;
        };
        let _ = Command::new(gpgconf)
            .arg("--homedir")
            .arg(self.home())
            .args(["--kill", "all"])
            .output();
    }
}
