//! Key material and the services that wrap and unwrap data keys.
//!
//! A SOPS file is encrypted with one random 32-byte [`DataKey`]; each recipient (an age
//! identity, a KMS key, a Vault transit key) stores its own wrapped copy of it, a
//! [`WrappedKey`]. This crate owns that key and the services that wrap it, so the format
//! crates never see a KMS client or an age stanza: they see [`KeyService`].
//!
//! Which type for which job:
//! - [`DataKey`]: the plaintext data key. It cannot be printed, cloned or serialized; read it
//!   with [`DataKey::expose_secret`] only where it is used.
//! - [`WrappedKey`]: what a key service stores in the file's metadata (`enc`). Not secret.
//! - [`KeyService`]: one recipient, able to wrap a data key and to try to unwrap one.
//!
//! The services are modules behind cargo features so that a crate pays only for the
//! clients it uses: `age` (default), `kms`, `vault`, `pgp` (OpenPGP signatures and
//! keys), `aws-secrets` (Secrets Manager and Parameter Store reads, for External Secrets'
//! `aws` provider), and `sealing` (RSA key pairs for sealed secrets, a different scheme that does
//! not use [`KeyService`]).

#[cfg(feature = "sealing")]
pub mod sealing;

use std::fmt;

use secrecy::{ExposeSecret, SecretBox};
use zeroize::Zeroizing;

#[cfg(feature = "age")]
pub mod age;
#[cfg(feature = "aws")]
pub mod aws;
#[cfg(feature = "kms")]
pub mod kms;
#[cfg(feature = "pgp")]
pub mod openpgp;
pub mod shamir;
#[cfg(feature = "vault")]
pub mod vault;

#[cfg(feature = "kms")]
pub use kms::KmsKey;
pub use remote::{AwsService, RemoteFailure};
#[cfg(feature = "vault")]
pub use vault::{VaultAuth, VaultEnv, VaultSource, VaultTransitKey};

mod error;
mod remote;

pub use error::Error;

/// The 32-byte symmetric key that encrypts the values of one SOPS file.
///
/// Deliberately neither `Clone`, `Debug` (beyond a redacted form) nor `Serialize`: the key
/// bytes leave this type only through [`DataKey::expose_secret`], and are zeroized on drop.
pub struct DataKey(SecretBox<[u8; 32]>);

impl DataKey {
    /// Length of a data key in bytes (AES-256).
    pub const LEN: usize = 32;

    /// A fresh random key from the operating system's CSPRNG.
    pub fn generate() -> Self {
        use rand::RngCore;
        let mut bytes = Box::new([0u8; Self::LEN]);
        rand::rngs::OsRng.fill_bytes(bytes.as_mut());
        Self(SecretBox::new(bytes))
    }

    /// Takes ownership of key bytes recovered by a key service.
    pub fn from_bytes(bytes: Box<[u8; Self::LEN]>) -> Self {
        Self(SecretBox::new(bytes))
    }

    /// Copies a key out of a slice, for services that hand back a buffer of their own.
    ///
    /// # Errors
    /// [`Error::DataKeyLength`] when the slice is not exactly 32 bytes; the bytes themselves
    /// are never part of the error.
    pub fn try_from_slice(bytes: &[u8]) -> Result<Self, Error> {
        let array: [u8; Self::LEN] = bytes
            .try_into()
            .map_err(|_| Error::DataKeyLength { found: bytes.len() })?;
        Ok(Self::from_bytes(Box::new(array)))
    }

    /// The key bytes. Call this only in the function that encrypts or wraps with them.
    pub fn expose_secret(&self) -> &[u8; Self::LEN] {
        self.0.expose_secret()
    }
}

impl fmt::Debug for DataKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DataKey([redacted; {} bytes])", Self::LEN)
    }
}

/// A data key as one key service stored it: the `enc` field of a SOPS key entry.
///
/// This is ciphertext (an armored age file, a base64 KMS blob, a `vault:v1:` string), so it
/// may be shown and logged.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WrappedKey(pub String);

/// One recipient of a data key: an age recipient, a KMS key or a Vault transit key.
///
/// A service is built from the key entry it stands for (for unwrapping, from the entry in a
/// file's metadata), so [`KeyService::unwrap`] needs only the wrapped bytes.
pub trait KeyService: Send + Sync {
    /// A public name for this key, used in messages: the age recipient, the KMS ARN, the
    /// Vault key URI. Never secret.
    fn describe(&self) -> String;

    /// Wraps `key` for this recipient.
    ///
    /// # Errors
    /// Whatever the service reports (network, permissions, malformed recipient), as an
    /// [`Error`] that names the key but never the data key.
    fn wrap(&self, key: &DataKey) -> Result<WrappedKey, Error>;

    /// Tries to recover the data key from `wrapped`.
    ///
    /// The three outcomes mean different things to the caller, who tries each key of a file
    /// in turn:
    /// - `Ok(Some(key))`: this service unwrapped it.
    /// - `Ok(None)`: not mine: no identity or credential here matches this entry (for age,
    ///   none of the loaded identities is a recipient of this stanza). Try the next key.
    /// - `Err(_)`: this is my key, but unwrapping failed (denied, unreachable, corrupt).
    ///   The error says why; the caller still tries the next key and reports all failures.
    ///
    /// # Errors
    /// See above: an error means the service was the right one and failed.
    fn unwrap(&self, wrapped: &WrappedKey) -> Result<Option<DataKey>, Error>;

    /// Why [`KeyService::unwrap`] found nothing to unwrap with (`Ok(None)`), for the
    /// message that lists each key tried: what was looked for and where, so a missing key
    /// reads differently from a wrong one. Never secret.
    fn not_found(&self) -> String {
        "no matching identity or credential".to_owned()
    }

    /// Wraps a Shamir share of a data key (33 bytes: 32 y-values and the x-coordinate),
    /// for files with several key groups. Same contract as [`KeyService::wrap`].
    ///
    /// The default says the service does not support shares; services override it.
    ///
    /// # Errors
    /// As [`KeyService::wrap`]; by default [`Error::SharesUnsupported`].
    fn wrap_share(&self, share: &[u8]) -> Result<WrappedKey, Error> {
        let _ = share;
        Err(Error::SharesUnsupported {
            key: self.describe(),
        })
    }

    /// Unwraps a Shamir share. Same three outcomes as [`KeyService::unwrap`].
    ///
    /// # Errors
    /// As [`KeyService::unwrap`]; by default [`Error::SharesUnsupported`].
    fn unwrap_share(&self, wrapped: &WrappedKey) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        let _ = wrapped;
        Err(Error::SharesUnsupported {
            key: self.describe(),
        })
    }
}
