//! SOPS `pgp` entries through the user's own GnuPG, as sops does by default: the data
//! key is piped to `gpg --encrypt` for the entry's fingerprint (gpg finds the public key in
//! the user's keyring) and the `enc` to `gpg --decrypt` (gpg-agent, pinentry and smartcards
//! work as they do for sops). The program is `$SOPS_GPG_EXEC`, else `gpg`; `GNUPGHOME` is
//! passed on. For the CLI; the controller uses [`super::PgpKey`] and no `gpg`.
//!
//! The data key travels through pipes only, never a file, and what gpg prints is read into
//! zeroized buffers.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Command, Stdio};

use lockstep_limits::{Exceeded, LIMITS};
use zeroize::Zeroizing;

use crate::{DataKey, Error, KeyService, WrappedKey};

/// The gpg sops would run: `$SOPS_GPG_EXEC`, else `gpg` from `PATH`.
pub fn gpg_program() -> PathBuf {
    std::env::var_os("SOPS_GPG_EXEC")
        .filter(|p| !p.is_empty())
        .map_or_else(|| PathBuf::from("gpg"), PathBuf::from)
}

/// One `pgp` entry, wrapped and unwrapped by a `gpg` program.
pub struct GpgKey {
    fingerprint: String,
    program: PathBuf,
}

impl GpgKey {
    /// The entry for `fingerprint`, run through `program` ([`gpg_program`]).
    pub fn new(fingerprint: impl Into<String>, program: PathBuf) -> Self {
        Self {
            fingerprint: fingerprint.into().split_whitespace().collect(),
            program,
        }
    }

    /// Runs gpg with `input` on stdin; returns its stdout, or gpg's last stderr line.
    fn run(&self, args: &[&str], input: &[u8]) -> Result<Zeroizing<Vec<u8>>, String> {
        let mut child = Command::new(&self.program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", self.program.display()))?;
        // Small inputs and outputs (a data key, an armoured message): no pipe fills up.
        let written = child
            .stdin
            .take()
            .map(|mut stdin| stdin.write_all(input))
            .transpose();
        let mut out = Zeroizing::new(Vec::new());
        if let Some(stdout) = child.stdout.take() {
            // Bounded: a data key, or an armoured message of one.
            let _ = stdout
                .take(LIMITS.max_pgp_enc_bytes as u64 + 1)
                .read_to_end(&mut out);
        }
        let mut err = String::new();
        if let Some(mut stderr) = child.stderr.take() {
            let _ = stderr.read_to_string(&mut err);
        }
        let status = child.wait().map_err(|e| e.to_string())?;
        if !status.success() || written.is_err() {
            let last = err.lines().rev().find(|l| !l.trim().is_empty());
            return Err(last.unwrap_or("gpg failed").trim().to_owned());
        }
        Ok(out)
    }

    fn open(&self, wrapped: &WrappedKey) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        let fail = |reason: String| Error::PgpUnwrap {
            fingerprint: self.fingerprint.clone(),
            reason,
        };
        if wrapped.0.len() > LIMITS.max_pgp_enc_bytes {
            return Err(fail(Exceeded::PgpEncBytes.to_string()));
        }
        match self.run(&["--use-agent", "--quiet", "-d"], wrapped.0.as_bytes()) {
            Ok(plain) if plain.len() <= 64 => Ok(Some(plain)),
            Ok(_) => Err(fail("the message holds more than a data key".into())),
            // Not ours to unwrap: the keyring has no secret key for this entry.
            Err(reason) if reason.contains("No secret key") => Ok(None),
            Err(reason) => Err(fail(format!("gpg: {reason}"))),
        }
    }

    fn seal(&self, plain: &[u8]) -> Result<WrappedKey, Error> {
        let fp = self.fingerprint.as_str();
        let trusted = &fp[fp.len().saturating_sub(16)..];
        let args = [
            "--no-default-recipient",
            "--yes",
            "--quiet",
            "--encrypt",
            "-a",
            "-r",
            fp,
            "--trusted-key",
            trusted,
            "--no-encrypt-to",
        ];
        let armoured = self.run(&args, plain).map_err(|reason| Error::PgpEncrypt {
            fingerprint: self.fingerprint.clone(),
            reason,
        })?;
        // sops trims the armour's trailing newline (YAML shows `enc: |-`).
        let armoured = String::from_utf8_lossy(&armoured);
        Ok(WrappedKey(armoured.trim_end().to_owned()))
    }
}

impl KeyService for GpgKey {
    fn describe(&self) -> String {
        self.fingerprint.clone()
    }

    fn not_found(&self) -> String {
        "gpg has no secret key for it (see `gpg --list-secret-keys`)".to_owned()
    }

    fn wrap(&self, key: &DataKey) -> Result<WrappedKey, Error> {
        self.seal(key.expose_secret())
    }

    fn unwrap(&self, wrapped: &WrappedKey) -> Result<Option<DataKey>, Error> {
        self.open(wrapped)?
            .map(|plain| DataKey::try_from_slice(&plain))
            .transpose()
    }

    fn wrap_share(&self, share: &[u8]) -> Result<WrappedKey, Error> {
        self.seal(share)
    }

    fn unwrap_share(&self, wrapped: &WrappedKey) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        self.open(wrapped)
    }
}
