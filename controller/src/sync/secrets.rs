//! Secrets during a Sync: the decryption keys from the Sync's own namespace, SOPS values
//! decrypted in memory and Vault/KMS references resolved, all before anything is applied.
//!
//! The decryption Secret is a `LocalObjectReference`: it is always read from the Sync's
//! namespace, so one tenant cannot decrypt with another's keys. Without a `decryption`
//! block the controller's own identity (KMS/Vault from its environment) is all there is.
//! Every plaintext value seen lands in the returned [`Redactor`], which the reconciler
//! runs over every message it writes into status, events or logs.

use std::path::PathBuf;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use lockstep_api::Sync;
use lockstep_engine::decrypt::{self, Ambient, Keys};
use lockstep_engine::redact::{self, Held, Redactor};
use lockstep_engine::refs;
use lockstep_engine::render::Manifest;

use super::conditions::Reason;

/// What a Sync's objects look like once secrets are in.
pub struct Prepared {
    /// The objects, with plaintext values: apply them, never show them.
    pub manifests: Vec<Manifest>,
    /// Every plaintext value, to scrub from messages.
    pub redactor: Redactor,
    /// How soon references must be resolved again, when there are any.
    pub refresh: Option<Duration>,
    /// The values held for log scrubbing while the reconcile uses them (until this
    /// `Prepared` is dropped: kube-client logs a refused apply's `Status`, values and all).
    _held: Held,
}

/// Why secrets could not be prepared; the message names the Secret, file or reference,
/// never a value.
pub struct Failure {
    /// Condition reason.
    pub reason: Reason,
    /// Condition message.
    pub message: String,
}

/// Decrypts and resolves the secrets of `manifests`, rendered from `root/path`.
///
/// # Errors
/// [`Failure`]: `DecryptionFailed` (missing or unusable decryption Secret, a file that
/// does not decrypt) or `ReferenceFailed` (a Vault or KMS reference that does not
/// resolve). Nothing of the revision may be applied then.
pub async fn prepare(
    client: &kube::Client,
    sync: &Sync,
    root: PathBuf,
    path: String,
    manifests: Vec<Manifest>,
) -> Result<Prepared, Failure> {
    let (keys, key_material) = keys(client, sync).await?;
    let decrypted = decrypt::decrypt(root, path, manifests, keys.clone())
        .await
        .map_err(|err| Failure {
            reason: Reason::DecryptionFailed,
            message: err.to_string(),
        })?;
    let mut manifests = decrypted.manifests;
    let mut redactor = decrypted.redactor;
    redactor.extend(&key_material);
    let refresh = refs::refresh_interval(&manifests);
    if refresh.is_some() {
        let resolver = refs::Resolver::from_keys(&keys).map_err(|err| Failure {
            reason: Reason::ReferenceFailed,
            message: err.to_string(),
        })?;
        // Not scrubbed: a `RefError` names the Secret, key and reference and never a
        // value, and the redactor holds the references themselves (the render's Secret
        // data), which the message must show.
        resolver
            .resolve(&mut manifests, &mut redactor)
            .await
            .map_err(|err| Failure {
                reason: Reason::ReferenceFailed,
                message: err.to_string(),
            })?;
    }
    for manifest in &manifests {
        redactor.add_secret(&manifest.object);
    }
    let _held = redact::hold(&redactor);
    Ok(Prepared {
        manifests,
        redactor,
        refresh,
        _held,
    })
}

/// The keys of the Sync's decryption Secret (in its own namespace) over the controller's
/// ambient identity, and their secret parts to scrub.
async fn keys(client: &kube::Client, sync: &Sync) -> Result<(Keys, Redactor), Failure> {
    let ambient = Ambient::from_process();
    let Some(secret_ref) = sync
        .spec
        .decryption
        .as_ref()
        .and_then(|d| d.secret_ref.as_ref())
    else {
        return Ok((Keys::ambient(ambient), Redactor::new()));
    };
    let namespace = sync.metadata.namespace.clone().unwrap_or_default();
    let name = &secret_ref.name;
    let failure = |message: String| Failure {
        reason: Reason::DecryptionFailed,
        message,
    };
    let secret = Api::<Secret>::namespaced(client.clone(), &namespace)
        .get_opt(name)
        .await
        .map_err(|err| failure(format!("decryption Secret {namespace}/{name}: {err}")))?
        .ok_or_else(|| {
            failure(format!(
                "decryption Secret {namespace}/{name} not found (it must be in the Sync's namespace)"
            ))
        })?;
    let data = secret.data.unwrap_or_default();
    let entries = || data.iter().map(|(k, v)| (k.as_str(), v.0.as_slice()));
    let mut material = Redactor::new();
    decrypt::redact_entries(entries(), &mut material);
    let keys = Keys::from_secret(entries(), ambient)
        .map_err(|err| failure(format!("decryption Secret {namespace}/{name}: {err}")))?;
    Ok((keys, material))
}
