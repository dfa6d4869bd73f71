//! The error enums of the crate, one per operation.
//!
//! Every error carries locations (line and column, key paths like `data:password`), key
//! names and counts, never a value, a comment's text or key material. [`crate::codes`] maps
//! them to sops' exit codes.

use crate::stores::Format;

/// Reading a file failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LoadError {
    /// The text is not valid in its format.
    #[error("invalid {format} at line {line}, column {column}: {reason}")]
    Syntax {
        /// The format being read.
        format: Format,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// What is wrong (never the text itself).
        reason: String,
    },
    /// The text parses but does not have the shape sops needs.
    #[error("{format} at line {line}, column {column} (key path `{path}`): {reason}")]
    Structure {
        /// The format being read.
        format: Format,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// Map keys from the root, joined with `:`.
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The input exceeds a limit on untrusted input (aliases that expand too far, nesting
    /// too deep): see [`lockstep_limits::LIMITS`].
    #[error("{format} at line {line}, column {column}: {exceeded}")]
    Limit {
        /// The format being read.
        format: Format,
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
        /// Which limit.
        exceeded: lockstep_limits::Exceeded,
    },
    /// The `sops` metadata is malformed.
    #[error("invalid sops metadata at `{path}`: {reason}")]
    Metadata {
        /// The metadata key at fault.
        path: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// The `sops` metadata exceeds a limit on untrusted input (dotenv and INI keys that
    /// nest too deep).
    #[error("invalid sops metadata at `{path}`: {exceeded}")]
    MetadataLimit {
        /// The metadata key at fault (its start, when long).
        path: String,
        /// Which limit.
        exceeded: lockstep_limits::Exceeded,
    },
    /// The file has no `sops` metadata: it is not encrypted.
    #[error("sops metadata not found")]
    NoMetadata,
}

/// Writing a file failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EmitError {
    /// The tree holds something the output format cannot hold.
    #[error("cannot write {what} at `{path}` as {format}")]
    Unrepresentable {
        /// The output format.
        format: Format,
        /// Key path of the value.
        path: String,
        /// What cannot be written.
        what: &'static str,
    },
}

/// One key of the file that was tried while looking for the data key.
#[derive(Debug, Clone)]
pub struct KeyAttempt {
    /// Index of the key group.
    pub group: usize,
    /// The key's public name (age recipient, ARN, Vault URI).
    pub key: String,
    /// Why it did not give the data key: no identity or credential for it, or the error
    /// its service reported.
    pub reason: String,
}

impl std::fmt::Display for KeyAttempt {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "group {}: {}: {}", self.group, self.key, self.reason)
    }
}

fn list(attempts: &[KeyAttempt]) -> String {
    attempts.iter().map(|a| format!("\n  - {a}")).collect()
}

/// Decrypting a file failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecryptError {
    /// No key of the file gave the data key (or too few key groups for the Shamir
    /// threshold). sops exit code 128.
    #[error("could not retrieve the data key: {recovered} of {needed} key groups decrypted; tried:{}", list(.tried))]
    NoKey {
        /// Key groups whose key (or share) was recovered.
        recovered: usize,
        /// Key groups needed.
        needed: usize,
        /// Every key tried, with the reason it failed.
        tried: Vec<KeyAttempt>,
    },
    /// Combining the Shamir shares failed (malformed shares).
    #[error("could not combine the key group shares")]
    Shamir(#[source] lockstep_keys::Error),
    /// A value does not decrypt: tampered, moved to another key, or a wrong data key.
    /// sops exit code 25.
    #[error("could not decrypt the value at `{path}`: {reason}")]
    Value {
        /// Key path of the value (`data:password`).
        path: String,
        /// What failed.
        reason: &'static str,
    },
    /// The MAC does not match the values. sops exit code 51.
    #[error("MAC mismatch: the file was modified outside sops or is corrupt")]
    MacMismatch,
    /// The file has no MAC. sops exit code 51.
    #[error("the file has no MAC")]
    MacMissing,
    /// The MAC itself does not decrypt. sops exit code 51.
    #[error("could not decrypt the MAC: {reason}")]
    MacUndecryptable {
        /// What failed.
        reason: &'static str,
    },
}

/// Encrypting a tree failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EncryptError {
    /// The input already has sops metadata. sops exit code 203.
    #[error("the file is already encrypted")]
    AlreadyEncrypted,
    /// The input has no document. sops exit code 92.
    #[error("the file cannot be completely empty, it must contain at least one document")]
    Empty,
    /// No key group, or an empty one.
    #[error("no keys to encrypt with: {reason}")]
    NoKeys {
        /// Which part is empty.
        reason: &'static str,
    },
    /// The Shamir threshold does not fit the number of key groups.
    #[error("shamir threshold {threshold} is invalid for {groups} key groups")]
    Threshold {
        /// Requested threshold.
        threshold: usize,
        /// Number of key groups.
        groups: usize,
    },
    /// A key service could not wrap the data key.
    #[error("could not wrap the data key for {key}")]
    Wrap {
        /// The key's public name.
        key: String,
        /// The service's error.
        #[source]
        source: lockstep_keys::Error,
    },
    /// An encryption rule is invalid (bad regex, more than one rule).
    #[error("invalid encryption rule: {reason}")]
    Rule {
        /// What is wrong.
        reason: String,
    },
    /// An encrypted comment would match `unencrypted_comment_regex`, so it could not be
    /// decrypted later.
    #[error("an encrypted comment at `{path}` matches unencrypted_comment_regex")]
    CommentMatchesUnencryptedRegex {
        /// Key path of the comment.
        path: String,
    },
    /// A key of the data is reserved for sops metadata.
    #[error("the key `{key}` is reserved for sops metadata")]
    ReservedKey {
        /// The key.
        key: String,
    },
    /// A float is NaN or infinite where the format cannot carry it, or similar.
    #[error(transparent)]
    Emit(#[from] EmitError),
}

/// A tree path (`--extract`, `set`, `unset`) is malformed or does not lead anywhere.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PathError {
    /// The path text is malformed.
    #[error("invalid tree path at byte {position}: expected [\"key\"] or [index] steps")]
    Syntax {
        /// Byte offset of the problem.
        position: usize,
    },
    /// A key or index of the path is not in the tree (`unset --idempotent` accepts this).
    #[error("component {step} not found")]
    NotFound {
        /// The missing step as written (`["key"]`, `[3]`).
        step: String,
    },
    /// A step does not fit the value it is applied to: a key into a list or a scalar, an
    /// index into a scalar (or, for `set`, into a mapping).
    #[error("component {step} cannot be applied to {found}")]
    Mismatch {
        /// The step as written.
        step: String,
        /// What is there: "a mapping", "a list", "a scalar", "a comment".
        found: &'static str,
    },
    /// The path leads to a comment, which has no value to print.
    #[error("component {step} is a comment, not a value")]
    Comment {
        /// The step as written.
        step: String,
    },
    /// The value given to `set` is not JSON.
    #[error("the value is not valid JSON (line {line}, column {column})")]
    Value {
        /// 1-based line.
        line: usize,
        /// 1-based column.
        column: usize,
    },
}
