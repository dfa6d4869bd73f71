//! SOPS `pgp` entries: the data key (or a Shamir share of it) as an armoured OpenPGP
//! message, encrypted by gpg to the key named by the entry's `fp`, unwrapped with private
//! keys as Flux's decryption Secret holds them (`*.asc`, `gpg --export-secret-keys
//! --armor`).
//!
//! The private keys never leave this module: [`SecretKeys`] is neither `Clone` nor
//! `Debug` beyond a count, and rPGP zeroizes secret key material when a key is dropped.
//! Passphrase-protected keys are refused when they are used: the Secret has no place for a
//! passphrase (as in Flux).

use std::fmt;
use std::io::{BufReader, Read};
use std::sync::Arc;

use lockstep_limits::{Exceeded, LIMITS};
use pgp::composed::{Deserializable, Message, SignedSecretKey};
use pgp::types::{KeyDetails, Password};
use zeroize::Zeroizing;

use super::hex;
use crate::{DataKey, Error, KeyService, WrappedKey};

/// Private OpenPGP keys to unwrap with.
#[derive(Default)]
pub struct SecretKeys {
    keys: Vec<SignedSecretKey>,
}

impl fmt::Debug for SecretKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SecretKeys([redacted; {} keys])", self.keys.len())
    }
}

impl SecretKeys {
    /// No keys.
    pub fn empty() -> Self {
        Self::default()
    }

    /// Adds every private key of the armoured blocks in `data`; returns how many.
    /// `origin` (a Secret entry, a file, a command) names the block in errors.
    ///
    /// # Errors
    /// [`Error::PgpSecretKey`] when the block does not parse as private keys; the message
    /// names `origin` only, never anything read.
    pub fn add_armored(&mut self, data: &[u8], origin: &str) -> Result<usize, Error> {
        let fail = |reason: &'static str| Error::PgpSecretKey {
            origin: origin.to_owned(),
            reason,
        };
        let mut keys = Vec::new();
        // Public key blocks beside them (a keyring export often has both) are skipped.
        let private = super::blocks(data)
            .filter(|block| block.starts_with(b"-----BEGIN PGP PRIVATE KEY BLOCK-----"));
        for block in private {
            let (parsed, _) = SignedSecretKey::from_armor_many(BufReader::new(block))
                .map_err(|_| fail("not an ASCII-armoured OpenPGP private key block"))?;
            for key in parsed {
                keys.push(key.map_err(|_| fail("a private key in the block does not parse"))?);
            }
        }
        if keys.is_empty() {
            return Err(fail("holds no OpenPGP private key"));
        }
        let added = keys.len();
        self.keys.extend(keys);
        Ok(added)
    }

    /// Whether no key was added.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// The keys whose primary key or a subkey has a fingerprint ending in `fp` (sops
    /// writes the fingerprint it was given; a 16-digit key ID is the fingerprint's tail).
    fn matching(&self, fp: &str) -> Vec<&SignedSecretKey> {
        let fp: String = fp
            .chars()
            .filter(|c| !c.is_whitespace())
            .collect::<String>()
            .to_uppercase();
        if fp.is_empty() {
            return Vec::new();
        }
        self.keys
            .iter()
            .filter(|key| {
                std::iter::once(hex(&key.primary_key.fingerprint()))
                    .chain(key.secret_subkeys.iter().map(|s| hex(&s.key.fingerprint())))
                    .any(|own| own.ends_with(&fp))
            })
            .collect()
    }
}

/// One `pgp` entry of a SOPS file: its fingerprint, and the private keys to try on it.
pub struct PgpKey {
    fingerprint: String,
    keys: Arc<SecretKeys>,
}

impl PgpKey {
    /// The entry for `fingerprint`, unwrapped with `keys`.
    pub fn new(fingerprint: impl Into<String>, keys: Arc<SecretKeys>) -> Self {
        Self {
            fingerprint: fingerprint.into(),
            keys,
        }
    }

    /// The plaintext of `wrapped`, or `None` when no key here is the entry's.
    fn open(&self, wrapped: &WrappedKey) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        let keys = self.keys.matching(&self.fingerprint);
        if keys.is_empty() {
            return Ok(None);
        }
        let fail = |reason: String| Error::PgpUnwrap {
            fingerprint: self.fingerprint.clone(),
            reason,
        };
        if wrapped.0.len() > LIMITS.max_pgp_enc_bytes {
            return Err(fail(Exceeded::PgpEncBytes.to_string()));
        }
        if keys.iter().any(|key| is_protected(key)) {
            return Err(fail(
                "the private key is passphrase-protected, which is not supported".into(),
            ));
        }
        let (message, _) = Message::from_armor(BufReader::new(wrapped.0.as_bytes()))
            .map_err(|e| fail(format!("not an armoured OpenPGP message: {e}")))?;
        let empty = Password::empty();
        let passwords = vec![&empty; keys.len()];
        let mut message = message
            .decrypt_with_keys(passwords, keys)
            .map_err(|e| fail(format!("decryption failed: {e}")))?;
        if message.is_compressed() {
            message = message
                .decompress()
                .map_err(|e| fail(format!("decompression failed: {e}")))?;
        }
        // A data key is 32 bytes, a share 33: read one byte past what may be there.
        let mut plain = Zeroizing::new(Vec::with_capacity(65));
        message
            .take(65)
            .read_to_end(&mut plain)
            .map_err(|e| fail(format!("decryption failed: {e}")))?;
        if plain.len() > 64 {
            return Err(fail("the message holds more than a data key".into()));
        }
        Ok(Some(plain))
    }
}

fn is_protected(key: &SignedSecretKey) -> bool {
    let encrypted = |params: &pgp::types::SecretParams| {
        matches!(params, pgp::types::SecretParams::Encrypted(_))
    };
    encrypted(key.primary_key.secret_params())
        || key
            .secret_subkeys
            .iter()
            .any(|s| encrypted(s.key.secret_params()))
}

impl KeyService for PgpKey {
    fn describe(&self) -> String {
        self.fingerprint.clone()
    }

    fn not_found(&self) -> String {
        "no OpenPGP secret key with this fingerprint was given".to_owned()
    }

    fn wrap(&self, _: &DataKey) -> Result<WrappedKey, Error> {
        Err(Error::PgpWrap {
            fingerprint: self.fingerprint.clone(),
        })
    }

    fn unwrap(&self, wrapped: &WrappedKey) -> Result<Option<DataKey>, Error> {
        self.open(wrapped)?
            .map(|plain| DataKey::try_from_slice(&plain))
            .transpose()
    }

    fn wrap_share(&self, _: &[u8]) -> Result<WrappedKey, Error> {
        Err(Error::PgpWrap {
            fingerprint: self.fingerprint.clone(),
        })
    }

    fn unwrap_share(&self, wrapped: &WrappedKey) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        self.open(wrapped)
    }
}
