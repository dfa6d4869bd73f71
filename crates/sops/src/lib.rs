//! The SOPS file format: stores (YAML, JSON, dotenv, INI, binary), value encryption, the
//! MAC, metadata and key groups, compatible with files written by sops 3.7 to 3.13.
//!
//! Which type for which job:
//! - [`Tree`]: a document as ordered items (comments included); plaintext or encrypted.
//! - [`stores::load`] / [`stores::emit`]: plaintext files in any [`Format`], so a file
//!   read as one format can be written as another.
//! - [`EncryptedFile`]: an encrypted file's tree and its [`Metadata`];
//!   [`EncryptedFile::load`] and [`EncryptedFile::emit`] read and write it.
//! - [`decrypt`]: recovers the data key through a [`KeyResolver`] (e.g. [`AgeResolver`]),
//!   decrypts every value and verifies the MAC, giving a [`Decrypted`].
//! - [`encrypt`]: encrypts a plaintext tree for [`EncryptOptions::key_groups`] of
//!   [`Recipient`]s; [`reencrypt`] does it again with an existing data key and the
//!   [`IvStash`] of a previous decrypt, so unchanged values keep their ciphertext.
//! - [`merge`]: three-way merge of plaintext trees (the Git merge driver); [`redact`]: a
//!   tree with its encrypted values replaced by keyed fingerprints (`git diff` textconv).
//! - [`config`]: `.sops.yaml` — which keys and rules a new file gets.
//! - [`ServiceResolver`]: the resolver for age, AWS KMS (feature `kms`), Vault transit
//!   (feature `vault`) and OpenPGP (feature `pgp`, decryption only) keys that the CLI and
//!   the sync engine share.
//!
//! ```
//! use std::sync::Arc;
//! use lockstep_keys::age::{AgeIdentities, generate};
//! use lockstep_sops::{AgeResolver, EmitOptions, EncryptOptions, EncryptedFile, Format, Recipient, stores};
//! use secrecy::ExposeSecret;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let (recipient, identity) = generate();
//! let plain = stores::load(b"db:\n    password: hunter2\n", Format::Yaml)?;
//! let opts = EncryptOptions {
//!     key_groups: vec![vec![Recipient::age(&recipient)?]],
//!     shamir_threshold: 0,
//!     rule: None,
//!     mac_only_encrypted: false,
//! };
//! let encrypted = lockstep_sops::encrypt(plain, Format::Yaml, opts)?.emit(Format::Yaml, &EmitOptions::default())?;
//!
//! let file = EncryptedFile::load(&encrypted, Format::Yaml)?;
//! let identities = Arc::new(AgeIdentities::parse(identity.expose_secret(), "example")?);
//! let decrypted = lockstep_sops::decrypt(file, &AgeResolver::new(identities), &Default::default())?;
//! let text = stores::emit(&decrypted.tree, Format::Yaml, &EmitOptions::default())?;
//! assert_eq!(text, b"db:\n    password: hunter2\n");
//! # Ok(())
//! # }
//! ```
//!
//! Output follows the layout of sops [`SOPS_VERSION`]. Errors ([`LoadError`],
//! [`DecryptError`], [`EncryptError`], [`EmitError`]) carry locations and key names, never
//! values; [`codes::Code`] is the sops exit code of each.

pub mod cipher;
pub mod codes;
pub mod config;
pub mod error;
pub mod file;
pub mod gofmt;
pub mod keygroups;
pub mod merge;
pub mod metadata;
pub mod path;
pub mod redact;
pub mod resolver;
pub mod rules;
pub mod stores;
pub mod tree;
mod walk;

use lockstep_keys::DataKey;
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

pub use cipher::IvStash;
pub use codes::Code;
pub use error::{DecryptError, EmitError, EncryptError, KeyAttempt, LoadError, PathError};
pub use file::EncryptedFile;
pub use keygroups::{AgeResolver, KeyResolver, Recipient, wrap_data_key};
pub use metadata::{Field, KeyGroup, KeyType, MasterKey, Metadata, SOPS_VERSION};
pub use resolver::ServiceResolver;
pub use rules::Rule;
pub use stores::{EmitOptions, Format};
pub use tree::{Comment, Item, Scalar, Tree, Value};

/// Options of [`decrypt`].
#[derive(Clone, Debug, Default)]
pub struct DecryptOptions {
    /// Skip the MAC check (`--ignore-mac`).
    pub ignore_mac: bool,
    /// Key types to try first, in this order (`--decryption-order`); empty means sops'
    /// default (age, then pgp, then the rest in file order).
    pub decryption_order: Vec<KeyType>,
}

/// A decrypted file: the plaintext tree, plus what re-encrypting it needs.
pub struct Decrypted {
    /// The plaintext.
    pub tree: Tree,
    /// The metadata of the file it came from.
    pub metadata: Metadata,
    /// The file's data key.
    pub data_key: DataKey,
    /// IVs of the values, for [`reencrypt`].
    pub stash: IvStash,
}

impl std::fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decrypted")
            .field("tree", &self.tree)
            .field("metadata", &self.metadata)
            .finish()
    }
}

/// Options of [`encrypt`].
pub struct EncryptOptions {
    /// The key groups; more than one means Shamir secret sharing.
    pub key_groups: Vec<Vec<Recipient>>,
    /// Groups needed to decrypt; 0 means all of them.
    pub shamir_threshold: usize,
    /// Which values to encrypt; `None` means sops' default (`unencrypted_suffix:
    /// _unencrypted`). Ignored for [`Format::Binary`], whose metadata records no rule.
    pub rule: Option<Rule>,
    /// Hash only encrypted values into the MAC.
    pub mac_only_encrypted: bool,
}

/// Go's `time.RFC3339` re-formatting of `lastmodified` (seconds, `Z` for UTC), used as the
/// MAC's AAD.
fn mac_aad(last_modified: &str) -> String {
    let Some(t) = last_modified.find(['T', 't']) else {
        return last_modified.to_owned();
    };
    let (date, time) = last_modified.split_at(t);
    let zone_at = time[1..]
        .find(['Z', 'z', '+', '-'])
        .map_or(time.len(), |i| i + 1);
    let (clock, zone) = time.split_at(zone_at);
    let clock = clock.split('.').next().unwrap_or(clock);
    let zone = match zone {
        "z" | "Z" | "+00:00" | "-00:00" => "Z",
        z => z,
    };
    format!("{date}{}{clock}{zone}", "").replacen('t', "T", 1)
}

fn now_rfc3339() -> String {
    jiff::Timestamp::now()
        .strftime("%Y-%m-%dT%H:%M:%SZ")
        .to_string()
}

/// Decrypts `file`: recovers the data key through `resolver`, decrypts every value and
/// verifies the MAC (unless [`DecryptOptions::ignore_mac`]).
///
/// # Errors
/// [`DecryptError::NoKey`] when no key (or too few key groups) could be unwrapped, listing
/// every key tried; [`DecryptError::Value`] naming the key path of a value that does not
/// decrypt; [`DecryptError::MacMismatch`], [`DecryptError::MacMissing`],
/// [`DecryptError::MacUndecryptable`].
pub fn decrypt(
    file: EncryptedFile,
    resolver: &dyn KeyResolver,
    opts: &DecryptOptions,
) -> Result<Decrypted, DecryptError> {
    let key = keygroups::recover(&file.metadata, resolver, &opts.decryption_order)?;
    decrypt_with_key(file, key, opts)
}

/// [`decrypt`] with a data key already at hand.
///
/// # Errors
/// As [`decrypt`], except [`DecryptError::NoKey`].
pub fn decrypt_with_key(
    file: EncryptedFile,
    key: DataKey,
    opts: &DecryptOptions,
) -> Result<Decrypted, DecryptError> {
    let EncryptedFile { mut tree, metadata } = file;
    let matcher =
        rules::Matcher::new(&metadata.effective_rule()).map_err(|_| DecryptError::Value {
            path: metadata.effective_rule().field().to_owned(),
            reason: "invalid encryption rule regex",
        })?;
    let mut stash = IvStash::default();
    let computed = walk::decrypt_tree(
        &mut tree,
        &key,
        &matcher,
        metadata.mac_only_encrypted,
        Some(&mut stash),
    )?;
    if !opts.ignore_mac {
        if metadata.mac.is_empty() {
            return Err(DecryptError::MacMissing);
        }
        let stored = cipher::decrypt(&key, &metadata.mac, &mac_aad(&metadata.last_modified))
            .map_err(|e| DecryptError::MacUndecryptable { reason: e.reason() })?;
        let stored = Zeroizing::new(match stored {
            Scalar::Str(b) => b.clone(),
            _ => Vec::new(),
        });
        if !bool::from(stored.as_slice().ct_eq(computed.as_bytes())) {
            return Err(DecryptError::MacMismatch);
        }
    }
    Ok(Decrypted {
        tree,
        metadata,
        data_key: key,
        stash,
    })
}

fn check_plain(tree: &Tree, format: Format) -> Result<(), EncryptError> {
    if stores::has_metadata(tree, format) {
        return Err(EncryptError::AlreadyEncrypted);
    }
    if tree.branches.is_empty() {
        return Err(EncryptError::Empty);
    }
    for branch in &tree.branches[1..] {
        if let Some(Item::Entry(k, _)) = branch
            .iter()
            .find(|i| matches!(i, Item::Entry(k, _) if k == "sops"))
        {
            return Err(EncryptError::ReservedKey { key: k.clone() });
        }
    }
    Ok(())
}

fn seal(
    mut tree: Tree,
    key: &DataKey,
    mut metadata: Metadata,
    stash: Option<&IvStash>,
) -> Result<EncryptedFile, EncryptError> {
    let matcher = rules::Matcher::new(&metadata.effective_rule())?;
    let mac = walk::encrypt_tree(&mut tree, key, &matcher, metadata.mac_only_encrypted, stash)?;
    metadata.last_modified = now_rfc3339();
    metadata.mac = cipher::encrypt(key, mac.as_bytes(), "str", &metadata.last_modified, None);
    metadata.version = SOPS_VERSION.to_owned();
    Ok(EncryptedFile { tree, metadata })
}

/// Encrypts a plaintext tree (read with `format`) with a fresh data key.
///
/// # Errors
/// [`EncryptError::AlreadyEncrypted`] when the tree has sops metadata,
/// [`EncryptError::Empty`] without a document, [`EncryptError::NoKeys`] /
/// [`EncryptError::Threshold`] for bad key groups, [`EncryptError::Wrap`] when a key
/// service fails, [`EncryptError::Rule`] for a bad regex.
pub fn encrypt(
    tree: Tree,
    format: Format,
    opts: EncryptOptions,
) -> Result<EncryptedFile, EncryptError> {
    check_plain(&tree, format)?;
    let key = DataKey::generate();
    let key_groups = keygroups::wrap_data_key(&key, &opts.key_groups, opts.shamir_threshold)?;
    let shamir_threshold = if key_groups.len() > 1 {
        if opts.shamir_threshold == 0 {
            key_groups.len()
        } else {
            opts.shamir_threshold
        }
    } else {
        0
    };
    let rule = if format == Format::Binary {
        None
    } else {
        Some(opts.rule.unwrap_or_default())
    };
    let metadata = Metadata {
        key_groups,
        shamir_threshold,
        last_modified: String::new(),
        mac: String::new(),
        rule,
        mac_only_encrypted: opts.mac_only_encrypted,
        version: String::new(),
    };
    seal(tree, &key, metadata, None)
}

/// Encrypts a (possibly edited) plaintext tree again with an existing data key and key
/// groups (`edit`, `set`, `unset`): values whose key path and plaintext are in `stash`
/// keep their IV and so their ciphertext; `lastmodified`, `mac` and `version` are renewed.
///
/// # Errors
/// As [`encrypt`], without the key group errors.
pub fn reencrypt(
    tree: Tree,
    key: &DataKey,
    metadata: Metadata,
    stash: Option<&IvStash>,
) -> Result<EncryptedFile, EncryptError> {
    seal(tree, key, metadata, stash)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mac_aad_matches_go_rfc3339() {
        assert_eq!(mac_aad("2024-11-12T13:33:42Z"), "2024-11-12T13:33:42Z");
        assert_eq!(mac_aad("2024-11-12T13:33:42.123Z"), "2024-11-12T13:33:42Z");
        assert_eq!(
            mac_aad("2024-11-12T13:33:42+02:00"),
            "2024-11-12T13:33:42+02:00"
        );
        assert_eq!(mac_aad("2024-11-12T13:33:42+00:00"), "2024-11-12T13:33:42Z");
    }
}
