//! SOPS decryption of a render, in memory.
//!
//! [`decrypt`] takes a [`Rendered`] — the objects and the files render read or named —
//! finds the SOPS-encrypted files among them ([`sources`]: manifests, and for kustomize the
//! resources, patches and generator sources), decrypts each with the Sync's [`Keys`] — verifying its
//! MAC on the bytes in Git, before anything else is trusted — and rewrites the rendered
//! objects with the plaintext ([`substitute`]). Kustomize itself runs on the encrypted
//! files, so no plaintext is ever written to disk; generated Secrets and ConfigMaps are
//! rewritten afterwards.
//!
//! All or nothing: one file that does not decrypt, or one object that still holds an
//! encrypted value afterwards, fails the whole render, naming the file and the keys tried.
//! Decrypted values end up in the returned objects (they must be applied) and in the
//! [`Redactor`] that comes with them; the intermediate buffers are zeroized.

mod sources;
mod substitute;

use std::path::PathBuf;

use lockstep_api::SopsFileUsed;
use lockstep_sops::{DecryptOptions, EmitOptions, KeyResolver};
use tracing::instrument;
use zeroize::Zeroizing;

use crate::keys::Keys;
use crate::redact::Redactor;
use crate::render::{Manifest, Rendered, is_cluster_scoped_builtin};
use substitute::{Ciphertexts, Plaintexts};

/// Why decrypting a render failed. Names files and keys, never values.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DecryptError {
    /// A file could not be read.
    #[error("cannot read {file}")]
    Read {
        /// The file, relative to the artifact.
        file: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// A file carries SOPS metadata that does not load.
    #[error("{file}: not a valid SOPS file: {source}")]
    Load {
        /// The file, relative to the artifact.
        file: PathBuf,
        /// What is wrong.
        #[source]
        source: lockstep_sops::LoadError,
    },
    /// A file did not decrypt: no key gave its data key (the message lists each key tried
    /// and why), a value or the MAC does not verify.
    #[error("{file}: {source}")]
    Decrypt {
        /// The file, relative to the artifact.
        file: PathBuf,
        /// What failed.
        #[source]
        source: lockstep_sops::DecryptError,
    },
    /// A decrypted file could not be written back into its format (generator `files:`).
    #[error("{file}: cannot re-emit the decrypted file: {source}")]
    Emit {
        /// The file, relative to the artifact.
        file: PathBuf,
        /// What failed.
        #[source]
        source: lockstep_sops::EmitError,
    },
    /// A decrypted string is not UTF-8 and cannot go into a manifest.
    #[error("{file}: the value at `{path}` is not UTF-8 text")]
    NotText {
        /// The file, relative to the artifact.
        file: PathBuf,
        /// The value's key path.
        path: String,
    },
    /// A rendered object still holds encrypted values no encrypted file of the render
    /// explains (a remote base, or a value copied from elsewhere).
    #[error(
        "{object} (rendered from {file}) still holds SOPS-encrypted values that no encrypted file of this path decrypts"
    )]
    Unresolved {
        /// `kind/name` of the object.
        object: String,
        /// The file it was rendered from.
        file: PathBuf,
    },
    /// The blocking decryption task panicked or was cancelled.
    #[error("the decryption task failed: {0}")]
    Task(String),
}

/// Rendered objects with every SOPS value decrypted.
pub struct Decrypted {
    /// The objects, in render order. They hold plaintext: show them only through
    /// [`crate::redact`].
    pub manifests: Vec<Manifest>,
    /// Every plaintext value decrypted, to scrub from messages.
    pub redactor: Redactor,
    /// The encrypted files that were decrypted, relative to the artifact, with the keys
    /// each is encrypted to.
    pub files: Vec<SopsFileUsed>,
    /// The render's Helm hooks, as rendered (a chart's SOPS values are decrypted before
    /// it renders, so its hooks hold no SOPS values).
    pub hooks: Vec<crate::hooks::Hook>,
    /// The render's Helm release, as rendered ([`Rendered::release`]).
    pub release: Option<crate::release::ReleaseParts>,
}

impl std::fmt::Debug for Decrypted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Decrypted")
            .field("manifests", &self.manifests.len())
            .field("files", &self.files)
            .field("redactor", &self.redactor)
            .field("hooks", &self.hooks.len())
            .finish()
    }
}

/// [`decrypt_blocking`] on tokio's blocking pool (KMS and Vault calls block).
///
/// # Errors
/// As [`decrypt_blocking`], and [`DecryptError::Task`].
pub async fn decrypt(rendered: Rendered, keys: Keys) -> Result<Decrypted, DecryptError> {
    tokio::task::spawn_blocking(move || decrypt_blocking(rendered, &keys))
        .await
        .map_err(|e| DecryptError::Task(e.to_string()))?
}

/// Decrypts the SOPS values of a render. Objects without encrypted values are returned as
/// they are; when none has any, no file is read.
///
/// # Errors
/// [`DecryptError`] naming the file; no objects are returned on any error.
#[instrument(skip_all)]
pub fn decrypt_blocking(rendered: Rendered, keys: &Keys) -> Result<Decrypted, DecryptError> {
    let Rendered {
        mut manifests,
        inputs,
        mut redactor,
        decrypted,
        hooks,
        release,
    } = rendered;
    let mut files = decrypted;
    if manifests
        .iter()
        .any(|m| substitute::still_encrypted(&m.object))
    {
        let resolver = keys.resolver();
        let mut plaintexts = Plaintexts::default();
        for source in sources::find(inputs)? {
            files.push(learn(source, &resolver, &mut plaintexts, &mut redactor)?);
        }
        for manifest in &mut manifests {
            let encrypted_kind = manifest.kind().starts_with("ENC[");
            manifest.holds_secrets |= plaintexts.apply(&mut manifest.object);
            if substitute::still_encrypted(&manifest.object) {
                return Err(DecryptError::Unresolved {
                    object: format!("{}/{}", manifest.kind(), manifest.name()),
                    file: manifest.file.clone(),
                });
            }
            // Render judged the scope on an encrypted `kind`; judge it again.
            if encrypted_kind
                && is_cluster_scoped_builtin(manifest.kind())
                && let Some(meta) = manifest.object["metadata"].as_object_mut()
            {
                meta.remove("namespace");
            }
        }
        tracing::debug!(files = files.len(), "decrypted");
    }
    for manifest in &manifests {
        redactor.add_secret(&manifest.object);
    }
    Ok(Decrypted {
        manifests,
        redactor,
        files,
        hooks,
        release,
    })
}

/// A file decrypted whole ([`decrypt_whole`]): its plaintext, and what `status.secrets`
/// lists of it.
pub type WholeFile = (Zeroizing<Vec<u8>>, SopsFileUsed);

/// A whole file decrypted in memory (a Helm values file, which the renderer reads before
/// any object exists): `bytes` of the file named `shown` in the source, in the format its
/// name says, with its MAC verified. Returns its plaintext in the same format and what
/// `status.secrets` lists of it, or `None` when the file is not SOPS-encrypted; every
/// decrypted value goes into `redactor`.
///
/// # Errors
/// [`DecryptError`] naming `shown`.
pub fn decrypt_whole(
    shown: PathBuf,
    bytes: Zeroizing<Vec<u8>>,
    keys: &Keys,
    redactor: &mut Redactor,
) -> Result<Option<WholeFile>, DecryptError> {
    let format = lockstep_sops::Format::from_path(&shown);
    let Some(source) = sources::load(shown, format, true, bytes)? else {
        return Ok(None);
    };
    let used = used(&source);
    let plain = open(
        source,
        &keys.resolver(),
        &mut Plaintexts::default(),
        redactor,
    )?;
    Ok(plain.map(|plain| (plain, used)))
}

/// What `status.secrets` lists of a SOPS file: its path and the keys it is encrypted to.
fn used(source: &sources::Source) -> SopsFileUsed {
    let metadata = &source.encrypted.metadata;
    SopsFileUsed {
        path: source.shown.display().to_string(),
        keys: metadata
            .key_groups
            .iter()
            .flatten()
            .map(|key| format!("{}:{}", key.kind.field(), key.describe()))
            .collect(),
        last_modified: Some(metadata.last_modified.clone()).filter(|t| !t.is_empty()),
    }
}

/// Verifies and decrypts one file, learns its values, and returns its name and keys.
fn learn(
    source: sources::Source,
    resolver: &dyn KeyResolver,
    plaintexts: &mut Plaintexts,
    redactor: &mut Redactor,
) -> Result<SopsFileUsed, DecryptError> {
    let used = used(&source);
    let encrypted = source.whole.then(|| source.bytes.to_vec());
    let whole = open(source, resolver, plaintexts, redactor)?;
    if let Some((encrypted, whole)) = encrypted.zip(whole) {
        plaintexts.learn_file(encrypted, whole, redactor);
    }
    Ok(used)
}

/// Verifies and decrypts one file and learns its values; returns the whole decrypted file
/// when a reader needs it whole.
fn open(
    source: sources::Source,
    resolver: &dyn KeyResolver,
    plaintexts: &mut Plaintexts,
    redactor: &mut Redactor,
) -> Result<Option<Zeroizing<Vec<u8>>>, DecryptError> {
    let file = || source.shown.clone();
    // `decrypt` consumes the loaded file: its ciphertexts are noted first.
    let ciphertexts = Ciphertexts::of(&source.encrypted.tree);
    let decrypted = lockstep_sops::decrypt(source.encrypted, resolver, &DecryptOptions::default())
        .map_err(|e| DecryptError::Decrypt {
            file: file(),
            source: e,
        })?;
    plaintexts
        .learn(ciphertexts, &decrypted.tree, redactor)
        .map_err(|path| DecryptError::NotText { file: file(), path })?;
    if !source.whole {
        return Ok(None);
    }
    let bytes =
        lockstep_sops::stores::emit(&decrypted.tree, source.format, &EmitOptions::default())
            .map_err(|e| DecryptError::Emit {
                file: file(),
                source: e,
            })?;
    Ok(Some(Zeroizing::new(bytes)))
}
