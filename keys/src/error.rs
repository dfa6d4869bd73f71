//! The one error type of the key services: each variant names the key involved and the step
//! that failed, never key bytes or plaintext.

use crate::RemoteFailure;

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
    /// Reading a secret from AWS Secrets Manager or a parameter from Parameter Store failed.
    #[error("AWS {service} {name}: reading failed: {failure}: {detail}")]
    AwsRead {
        /// The service.
        service: crate::AwsService,
        /// The secret or parameter name.
        name: String,
        /// The kind of failure, for retry decisions.
        failure: RemoteFailure,
        /// What AWS (or the network) said.
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
