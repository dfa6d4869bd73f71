//! age recipients and identities, loaded the way sops loads them.
//!
//! A SOPS file stores, for each age recipient, the data key encrypted to that one recipient
//! as an ASCII-armored age file (the `enc` field). [`AgeKey`] is the [`KeyService`] for one
//! such entry: it wraps for its recipient (X25519 `age1…`, `ssh-ed25519 …`, `ssh-rsa …`)
//! and unwraps with the [`AgeIdentities`] it was given.
//!
//! Identities come from the same places as in sops ([`AgeIdentities::load`]): SSH keys
//! from `SOPS_AGE_SSH_PRIVATE_KEY_FILE`, the output of `SOPS_AGE_SSH_PRIVATE_KEY_CMD`,
//! `~/.ssh/id_ed25519` and `~/.ssh/id_rsa`,
//! `SOPS_AGE_KEY` (several keys per line allowed), `SOPS_AGE_KEY_FILE`, the output of
//! `SOPS_AGE_KEY_CMD` (run with `SOPS_AGE_RECIPIENT` set), and the default `keys.txt`
//! under the user's config directory. The environment is an explicit input
//! ([`AgeEnv`]) so tests never touch the process environment.
//!
//! Errors name the source (variable or path), the line and the recipient; never key
//! material or the content of a line.

mod identities;

use std::io::{Read, Write};
use std::str::FromStr;
use std::sync::Arc;

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use lockstep_limits::{Exceeded, LIMITS};
use zeroize::Zeroizing;

#[cfg(test)]
use identities::split_command;
pub use identities::{AgeEnv, AgeIdentities};

use crate::{DataKey, Error, KeyService, WrappedKey};

/// Parses a recipient as sops does (`age1…` X25519, `ssh-ed25519 …`, `ssh-rsa …`).
///
/// # Errors
/// [`Error::AgeRecipient`] naming the recipient: malformed, or a kind this build does not
/// support (post-quantum `age1pq1…`, plugins).
pub fn parse_recipient(recipient: &str) -> Result<Box<dyn age::Recipient + Send + Sync>, Error> {
    let r = recipient.trim();
    let err = |reason: &'static str| Error::AgeRecipient {
        recipient: r.to_owned(),
        reason,
    };
    if r.starts_with("age1pq1") {
        Err(err("post-quantum age recipients are not supported yet"))
    } else if r.starts_with("age1") && r.matches('1').count() > 1 {
        Err(err("age plugin recipients are not supported"))
    } else if r.starts_with("age1") {
        age::x25519::Recipient::from_str(r)
            .map(|x| Box::new(x) as _)
            .map_err(|_| err("malformed age recipient"))
    } else if r.starts_with("ssh-") {
        age::ssh::Recipient::from_str(r)
            .map(|x| Box::new(x) as _)
            .map_err(|_| err("malformed SSH recipient"))
    } else {
        Err(err("unknown recipient type"))
    }
}

/// A new X25519 identity: its recipient (`age1…`) and its secret key
/// (`AGE-SECRET-KEY-1…`), for `age-keygen`-like commands and tests.
pub fn generate() -> (String, secrecy::SecretString) {
    use age::secrecy::ExposeSecret;
    let id = age::x25519::Identity::generate();
    let secret = id.to_string();
    (
        id.to_public().to_string(),
        secrecy::SecretString::from(secret.expose_secret().to_owned()),
    )
}

/// One age entry of a SOPS file: a recipient, and the identities to try on its `enc`.
pub struct AgeKey {
    recipient: String,
    identities: Arc<AgeIdentities>,
}

impl AgeKey {
    /// The service for `recipient`, unwrapping with `identities`.
    pub fn new(recipient: &str, identities: Arc<AgeIdentities>) -> Self {
        AgeKey {
            recipient: recipient.trim().to_owned(),
            identities,
        }
    }

    /// A service that only wraps (no identities).
    ///
    /// # Errors
    /// [`Error::AgeRecipient`] when the recipient does not parse.
    pub fn recipient_only(recipient: &str) -> Result<Self, Error> {
        parse_recipient(recipient)?;
        Ok(Self::new(recipient, Arc::new(AgeIdentities::empty())))
    }

    /// The recipient string as stored in the file.
    pub fn recipient(&self) -> &str {
        &self.recipient
    }
}

impl KeyService for AgeKey {
    fn describe(&self) -> String {
        self.recipient.clone()
    }

    fn wrap(&self, key: &DataKey) -> Result<WrappedKey, Error> {
        self.wrap_share(key.expose_secret())
    }

    fn not_found(&self) -> String {
        self.identities.not_found()
    }

    fn unwrap(&self, wrapped: &WrappedKey) -> Result<Option<DataKey>, Error> {
        match self.unwrap_share(wrapped)? {
            None => Ok(None),
            Some(bytes) => DataKey::try_from_slice(&bytes).map(Some),
        }
    }

    fn wrap_share(&self, plain: &[u8]) -> Result<WrappedKey, Error> {
        let recipient = parse_recipient(&self.recipient)?;
        let fail = |reason: String| Error::AgeWrap {
            recipient: self.recipient.clone(),
            reason,
        };
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(&*recipient as &dyn age::Recipient))
                .map_err(|e| fail(e.to_string()))?;
        let mut out = Vec::new();
        let armor = ArmoredWriter::wrap_output(&mut out, Format::AsciiArmor)
            .map_err(|e| fail(e.to_string()))?;
        let mut writer = encryptor
            .wrap_output(armor)
            .map_err(|e| fail(e.to_string()))?;
        writer.write_all(plain).map_err(|e| fail(e.to_string()))?;
        writer
            .finish()
            .and_then(|a| a.finish())
            .map_err(|e| fail(e.to_string()))?;
        let mut text = String::from_utf8(out).map_err(|_| fail("armor is not UTF-8".into()))?;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        Ok(WrappedKey(text))
    }

    fn unwrap_share(&self, wrapped: &WrappedKey) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        if self.recipient.starts_with("age1pq1") {
            return Err(Error::AgeRecipient {
                recipient: self.recipient.clone(),
                reason: "post-quantum age recipients are not supported yet",
            });
        }
        let fail = |reason: String| Error::AgeUnwrap {
            recipient: self.recipient.clone(),
            reason,
        };
        let from_cmd = self.identities.cmd_identities(&self.recipient)?;
        let all: Vec<&dyn age::Identity> = self
            .identities
            .identities
            .iter()
            .chain(from_cmd.iter())
            .map(|i| &**i as &dyn age::Identity)
            .collect();
        if all.is_empty() {
            return Ok(None);
        }
        // sops writes one recipient per entry; a header with thousands of stanzas is an
        // attack on decryption time, not a file sops made. `new_buffered` reads the header
        // a line at a time (`new` re-parses it for every few bytes it reads).
        if wrapped.0.len() > LIMITS.max_age_enc_bytes {
            return Err(fail(Exceeded::AgeEncBytes.to_string()));
        }
        let decryptor = age::Decryptor::new_buffered(ArmoredReader::new(wrapped.0.as_bytes()))
            .map_err(|e| fail(e.to_string()))?;
        let mut stream = match decryptor.decrypt(all.into_iter()) {
            Ok(s) => s,
            Err(age::DecryptError::NoMatchingKeys) => return Ok(None),
            Err(e) => return Err(fail(e.to_string())),
        };
        let mut plain = Zeroizing::new(Vec::new());
        stream
            .read_to_end(&mut plain)
            .map_err(|e| fail(e.to_string()))?;
        Ok(Some(plain))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_and_unwraps_x25519() {
        let id = age::x25519::Identity::generate();
        let recipient = id.to_public().to_string();
        let text = {
            use age::secrecy::ExposeSecret;
            id.to_string().expose_secret().to_owned()
        };
        let ids = Arc::new(AgeIdentities::parse(&format!("# comment\n{text}\n"), "test").unwrap());
        let key = DataKey::generate();
        let svc = AgeKey::new(&recipient, ids);
        let wrapped = svc.wrap(&key).unwrap();
        assert!(
            wrapped
                .0
                .starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n")
        );
        assert!(wrapped.0.ends_with("-----END AGE ENCRYPTED FILE-----\n"));
        let back = svc.unwrap(&wrapped).unwrap().unwrap();
        assert_eq!(back.expose_secret(), key.expose_secret());
        let other = AgeKey::new(
            &recipient,
            Arc::new(
                AgeIdentities::parse(
                    &{
                        use age::secrecy::ExposeSecret;
                        age::x25519::Identity::generate()
                            .to_string()
                            .expose_secret()
                            .to_owned()
                    },
                    "other",
                )
                .unwrap(),
            ),
        );
        assert!(other.unwrap(&wrapped).unwrap().is_none());
    }

    /// An `enc` holding the data key for `ours` among `others` extra recipients, armored.
    fn wrapped_for_many(ours: &age::x25519::Identity, others: usize) -> WrappedKey {
        let recipients: Vec<age::x25519::Recipient> = std::iter::once(ours.to_public())
            .chain((0..others).map(|_| age::x25519::Identity::generate().to_public()))
            .collect();
        let encryptor =
            age::Encryptor::with_recipients(recipients.iter().map(|r| r as &dyn age::Recipient))
                .unwrap();
        let mut out = Vec::new();
        let armor = ArmoredWriter::wrap_output(&mut out, Format::AsciiArmor).unwrap();
        let mut writer = encryptor.wrap_output(armor).unwrap();
        writer.write_all(&[7; 32]).unwrap();
        writer.finish().and_then(|a| a.finish()).unwrap();
        WrappedKey(String::from_utf8(out).unwrap())
    }

    #[test]
    fn age_enc_with_many_stanzas_is_bounded() {
        let id = age::x25519::Identity::generate();
        let text = {
            use age::secrecy::ExposeSecret;
            id.to_string().expose_secret().to_owned()
        };
        let svc = AgeKey::new(
            &id.to_public().to_string(),
            Arc::new(AgeIdentities::parse(&text, "test").unwrap()),
        );
        // A few extra stanzas (rage adds grease) still decrypt, through the buffered reader.
        let small = wrapped_for_many(&id, 20);
        assert_eq!(&**svc.unwrap_share(&small).unwrap().unwrap(), &[7; 32]);
        // Hundreds are refused before age parses them (the probe: 500 took 60 s).
        let large = wrapped_for_many(&id, 300);
        assert!(large.0.len() > LIMITS.max_age_enc_bytes);
        let err = svc.unwrap_share(&large).unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("larger than 16 KiB"), "{msg}");
        assert!(msg.contains(&svc.recipient), "{msg}");
    }

    #[test]
    fn bad_identity_names_line_not_content() {
        let err =
            AgeIdentities::parse("# c\n\nAGE-SECRET-KEY-1NOTAKEYCANARY\n", "keys.txt").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("keys.txt") && msg.contains("line 3"), "{msg}");
        assert!(!msg.contains("CANARY") && !format!("{err:?}").contains("CANARY"));
    }

    #[test]
    fn env_sources_and_default_path() {
        let dir = tempfile::tempdir().unwrap();
        let text = {
            use age::secrecy::ExposeSecret;
            age::x25519::Identity::generate()
                .to_string()
                .expose_secret()
                .to_owned()
        };
        let text2 = {
            use age::secrecy::ExposeSecret;
            age::x25519::Identity::generate()
                .to_string()
                .expose_secret()
                .to_owned()
        };
        std::fs::create_dir_all(dir.path().join("cfg/sops/age")).unwrap();
        std::fs::write(
            dir.path().join("cfg/sops/age/keys.txt"),
            format!("{text}\n"),
        )
        .unwrap();
        let env = AgeEnv::new([
            ("HOME", dir.path().to_str().unwrap().to_owned()),
            (
                "XDG_CONFIG_HOME",
                dir.path().join("cfg").to_str().unwrap().to_owned(),
            ),
            ("SOPS_AGE_KEY", format!("{text} {text2}")),
        ]);
        let ids = AgeIdentities::load(&env);
        assert_eq!(ids.len(), 3, "{ids:?}");
        assert!(ids.problems().is_empty());
    }

    #[test]
    fn splits_commands_like_shlex() {
        assert_eq!(
            split_command("a 'b c' \"d\\\"e\" f\\ g").unwrap(),
            ["a", "b c", "d\"e", "f g"]
        );
    }
}
