//! The secrets stage, between render and apply, the same for the controller and for
//! `lockstep apply`/`diff`: with the caller's [`Keys`], SOPS values are decrypted in
//! memory ([`crate::decrypt`]), then Vault and KMS references resolved ([`crate::refs`]),
//! and every plaintext value seen lands in one [`Redactor`].
//!
//! The callers differ only in where the keys come from: a Sync's decryption Secret over
//! the controller's identity, or the user's own identity for the CLI.

use std::time::Duration;

use lockstep_api::{ReferenceUsed, SECRETS_LIMIT, SecretsUsed, SopsFileUsed};

use crate::decrypt::{DecryptError, decrypt};
use crate::hooks::Hook;
use crate::keys::Keys;
use crate::redact::{self, Held, Redactor};
use crate::refs::{RefError, Resolver, refresh_interval};
use crate::render::{Manifest, Rendered};

/// Rendered objects once secrets are in.
pub struct Prepared {
    /// The objects, with plaintext values: apply them, never show them.
    pub manifests: Vec<Manifest>,
    /// Every plaintext value (and the key material given), to scrub from messages.
    pub redactor: Redactor,
    /// How soon references must be resolved again, when there are any.
    pub refresh: Option<Duration>,
    /// A chart's Helm hooks, to run around the apply ([`crate::hooks`]). References in
    /// them are not resolved.
    pub hooks: Vec<Hook>,
    /// A chart's release, to record once applied ([`crate::release`]).
    pub release: Option<crate::release::ReleaseParts>,
    /// Where the secrets came from: files and keys, references ([`SecretsUsed`]).
    pub used: SecretsUsed,
    /// The values held for log scrubbing while the caller uses them (until this
    /// `Prepared` is dropped: kube-client logs a refused apply's `Status`, values and all).
    _held: Held,
}

impl std::fmt::Debug for Prepared {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prepared")
            .field("manifests", &self.manifests.len())
            .field("redactor", &self.redactor)
            .field("refresh", &self.refresh)
            .field("hooks", &self.hooks.len())
            .finish_non_exhaustive()
    }
}

/// Why the secrets stage failed; names the file, Secret or reference, never a value.
/// Nothing of the render may be applied then.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SecretsError {
    /// A SOPS file did not decrypt.
    #[error(transparent)]
    Decrypt(#[from] DecryptError),
    /// A Vault or KMS reference did not resolve.
    #[error(transparent)]
    Reference(#[from] RefError),
}

/// Decrypts and resolves the secrets of a render with `keys`; `known` holds what is secret already (the keys' own material) and becomes the
/// start of the returned redactor.
///
/// # Errors
/// [`SecretsError`]: the first file that does not decrypt or reference that does not
/// resolve.
pub async fn prepare(
    rendered: Rendered,
    keys: &Keys,
    known: Redactor,
) -> Result<Prepared, SecretsError> {
    let decrypted = decrypt(rendered, keys.clone()).await?;
    let mut manifests = decrypted.manifests;
    let mut redactor = known;
    redactor.extend(&decrypted.redactor);
    let refresh = refresh_interval(&manifests);
    let references = match refresh {
        Some(_) => {
            Resolver::from_keys(keys)?
                .resolve(&mut manifests, &mut redactor)
                .await?
        }
        None => Vec::new(),
    };
    let hooks = decrypted.hooks;
    for manifest in manifests.iter().chain(hooks.iter().map(|h| &h.manifest)) {
        redactor.add_secret(&manifest.object);
    }
    let _held = redact::hold(&redactor);
    Ok(Prepared {
        manifests,
        redactor,
        refresh,
        hooks,
        release: decrypted.release,
        used: used(decrypted.files, references),
        _held,
    })
}

/// `files` and `references` as `status.secrets` lists them: sorted, at most
/// [`SECRETS_LIMIT`] of each, the rest counted.
fn used(mut files: Vec<SopsFileUsed>, mut references: Vec<ReferenceUsed>) -> SecretsUsed {
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files.dedup_by(|a, b| a.path == b.path);
    references.sort_by(|a, b| (&a.secret, &a.key).cmp(&(&b.secret, &b.key)));
    let omitted =
        files.len().saturating_sub(SECRETS_LIMIT) + references.len().saturating_sub(SECRETS_LIMIT);
    files.truncate(SECRETS_LIMIT);
    references.truncate(SECRETS_LIMIT);
    SecretsUsed {
        sops_files: files,
        references,
        omitted: (omitted > 0).then(|| u32::try_from(omitted).unwrap_or(u32::MAX)),
    }
}
