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
//! keys), and `sealing` (RSA key pairs for sealed secrets, a different scheme that does
//! not use [`KeyService`]).

#[cfg(feature = "sealing")]
pub mod sealing;

use std::fmt;

use secrecy::{ExposeSecret, SecretBox};
use zeroize::Zeroizing;

#[cfg(feature = "age")]
pub mod age;
#[cfg(feature = "kms")]
pub mod kms;
#[cfg(feature = "pgp")]
pub mod openpgp;
pub mod shamir;
#[cfg(feature = "vault")]
pub mod vault;

#[cfg(feature = "kms")]
pub use kms::KmsKey;
pub use remote::RemoteFailure;
#[cfg(feature = "vault")]
pub use vault::{VaultAuth, VaultEnv, VaultSource, VaultTransitKey};

mod remote;

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

/// Errors of the key services. Each names the key involved (recipient, ARN, URI) and the
/// step that failed; none carries key bytes or plaintext.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A service returned a data key of the wrong length.
    #[error("data key has {found} bytes, expected 32")]
    DataKeyLength {
        /// Length that was found.
        found: usize,
    },
    /// The service cannot wrap or unwrap Shamir shares (files with several key groups).
    #[error("{key}: this key service does not support Shamir key group shares")]
    SharesUnsupported {
        /// The key.
        key: String,
    },
    /// An age recipient is malformed or of a kind this build does not support.
    #[error("age recipient {recipient}: {reason}")]
    AgeRecipient {
        /// The recipient as written.
        recipient: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// A line of an age identity source is not a usable identity.
    #[error("age identity in {origin} line {line}: {reason}")]
    AgeIdentity {
        /// The variable or file the identity came from.
        origin: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong (never the line's content).
        reason: &'static str,
    },
    /// An age identity file could not be read.
    #[error("cannot read age identities from {source_name}")]
    AgeIdentitySource {
        /// The file.
        source_name: String,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// `SOPS_AGE_KEY_CMD` (or the SSH variant) failed.
    #[error("{variable}: {reason}")]
    AgeKeyCommand {
        /// The variable holding the command.
        variable: &'static str,
        /// What failed (never the command's output).
        reason: String,
    },
    /// Encrypting a data key to an age recipient failed.
    #[error("age recipient {recipient}: could not wrap the data key: {reason}")]
    AgeWrap {
        /// The recipient.
        recipient: String,
        /// age's error.
        reason: String,
    },
    /// An identity matched the age stanza, but decryption failed (corrupt or tampered).
    #[error("age recipient {recipient}: could not unwrap the data key: {reason}")]
    AgeUnwrap {
        /// The recipient.
        recipient: String,
        /// age's error.
        reason: String,
    },
    /// An armoured block of OpenPGP private keys is unusable.
    #[error("OpenPGP private key in {origin}: {reason}")]
    PgpSecretKey {
        /// The Secret entry, file or command it came from.
        origin: String,
        /// What is wrong (never anything read from it).
        reason: &'static str,
    },
    /// A private key matched the pgp entry, but unwrapping failed (corrupt, tampered,
    /// passphrase-protected, too large).
    #[error("pgp key {fingerprint}: could not unwrap the data key: {reason}")]
    PgpUnwrap {
        /// The entry's fingerprint.
        fingerprint: String,
        /// What failed.
        reason: String,
    },
    /// `gpg --encrypt` for the key failed (no such public key in the keyring, unusable).
    #[error("pgp key {fingerprint}: could not wrap the data key: gpg: {reason}")]
    PgpEncrypt {
        /// The key's fingerprint.
        fingerprint: String,
        /// gpg's last line of error output.
        reason: String,
    },
    /// Encrypting a data key to an OpenPGP key without gpg is not implemented.
    #[error(
        "pgp key {fingerprint}: encrypting to OpenPGP keys is not supported yet; use age, KMS or Vault"
    )]
    PgpWrap {
        /// The key's fingerprint.
        fingerprint: String,
    },
    /// Shamir shares could not be split or combined.
    #[error("shamir secret sharing: {reason}")]
    Shamir {
        /// What is wrong.
        reason: &'static str,
    },
    /// The runtime the KMS and Vault clients run on could not be started or lost a call.
    #[error("key service runtime: {detail}")]
    KeyRuntime {
        /// What failed.
        detail: String,
    },
    /// A KMS key ARN (or sops `arn+role` string) is malformed.
    #[error("KMS key {arn}: {reason}")]
    KmsArn {
        /// The ARN as written.
        arn: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// Wrapping a data key with KMS (`kms:Encrypt`) failed.
    #[error("KMS key {arn}: Encrypt failed: {failure}: {detail}")]
    KmsEncrypt {
        /// The key ARN.
        arn: String,
        /// The kind of failure, for retry decisions.
        failure: RemoteFailure,
        /// What KMS (or the network) said.
        detail: String,
    },
    /// Unwrapping a data key with KMS (`kms:Decrypt`) failed.
    #[error("KMS key {arn}: Decrypt failed: {failure}: {detail}")]
    KmsDecrypt {
        /// The key ARN.
        arn: String,
        /// The kind of failure, for retry decisions.
        failure: RemoteFailure,
        /// What KMS (or the network) said.
        detail: String,
    },
    /// A Vault transit key URI (or address, engine path, key name) is malformed.
    #[error("Vault transit key {uri}: {reason}")]
    VaultKeyUri {
        /// The URI as written.
        uri: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The key names a Vault server its caller does not send tokens to. A sops file's
    /// metadata chooses the server, and nothing authenticates that metadata.
    #[error("Vault transit key {uri}: {}", not_allowed(allowed))]
    VaultAddressNotAllowed {
        /// The key URI (its server as the file names it).
        uri: String,
        /// The servers tokens may go to.
        allowed: Vec<String>,
    },
    /// Wrapping needs a Vault token and none was found.
    #[error("Vault transit key {uri}: no token (none given, VAULT_TOKEN unset, no ~/.vault-token)")]
    VaultNoToken {
        /// The key URI.
        uri: String,
    },
    /// `~/.vault-token` exists but could not be read.
    #[error("cannot read the Vault token file {}", path.display())]
    VaultTokenFile {
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The Vault HTTP client could not be built (TLS settings, CA files).
    #[error("Vault transit key {uri}: cannot build the client: {detail}")]
    VaultClient {
        /// The key URI.
        uri: String,
        /// What failed.
        detail: String,
    },
    /// Wrapping a data key with Vault transit (`encrypt`) failed.
    #[error("Vault transit key {uri}: encrypt failed: {failure}: {detail}")]
    VaultEncrypt {
        /// The key URI.
        uri: String,
        /// The kind of failure, for retry decisions.
        failure: RemoteFailure,
        /// What Vault (or the network) said.
        detail: String,
    },
    /// Unwrapping a data key with Vault transit (`decrypt`) failed.
    #[error("Vault transit key {uri}: decrypt failed: {failure}: {detail}")]
    VaultDecrypt {
        /// The key URI.
        uri: String,
        /// The kind of failure, for retry decisions.
        failure: RemoteFailure,
        /// What Vault (or the network) said.
        detail: String,
    },
    /// Logging in to Vault (for KV reads) failed.
    #[error("Vault {address}: login ({method}) failed: {failure}: {detail}")]
    VaultLogin {
        /// The server address.
        address: String,
        /// `token`, `approle` or `kubernetes`.
        method: &'static str,
        /// The kind of failure, for retry decisions.
        failure: RemoteFailure,
        /// What Vault (or the network) said.
        detail: String,
    },
    /// Reading a KV secret failed.
    #[error("Vault {address}: reading {path} failed: {failure}: {detail}")]
    VaultRead {
        /// The server address.
        address: String,
        /// `mount/path` of the secret.
        path: String,
        /// The kind of failure, for retry decisions.
        failure: RemoteFailure,
        /// What Vault (or the network) said.
        detail: String,
    },
    /// Re-wrapping a data key to the newest transit key version (`rewrap`) failed.
    #[error("Vault transit key {uri}: rewrap failed: {failure}: {detail}")]
    VaultRewrap {
        /// The key URI.
        uri: String,
        /// The kind of failure, for retry decisions.
        failure: RemoteFailure,
        /// What Vault (or the network) said.
        detail: String,
    },
}

/// The message of [`Error::VaultAddressNotAllowed`]: what is allowed, and where to name a
/// server when none is.
fn not_allowed(allowed: &[String]) -> String {
    if allowed.is_empty() {
        "no Vault server is named to send the token to (set VAULT_ADDR, or a Sync's \
         decryption Secret entry vault.address); a file cannot choose one"
            .to_owned()
    } else {
        format!(
            "the token is sent only to {}; a file cannot choose another server",
            allowed.join(", ")
        )
    }
}
