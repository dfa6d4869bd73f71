//! Secrets during a Sync: the decryption keys from the Sync's own namespace, handed to the
//! engine's secrets stage (SOPS values decrypted in memory, Vault/KMS references
//! resolved), all before anything is applied.
//!
//! The decryption Secret is a `LocalObjectReference`: it is always read from the Sync's
//! namespace, so one tenant cannot decrypt with another's keys. Without a `decryption`
//! block the controller's own identity (KMS/Vault from its environment) is all there is.
//! Every plaintext value seen lands in the returned [`Redactor`], which the reconciler
//! runs over every message it writes into status, events or logs.

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use lockstep_api::Sync;
use lockstep_engine::keys::{self, Ambient, Keys};
use lockstep_engine::redact::Redactor;
use lockstep_engine::render::Rendered;
use lockstep_engine::secrets::{self, Prepared, SecretsError};

use super::conditions::Reason;

/// Why secrets could not be prepared; the message names the Secret, file or reference,
/// never a value.
pub struct Failure {
    /// Condition reason.
    pub reason: Reason,
    /// Condition message.
    pub message: String,
}

/// The keys a Sync decrypts and resolves with, and their secret parts to scrub.
pub struct SyncKeys {
    /// The keys.
    pub keys: Keys,
    /// Their secret material, to scrub from messages.
    material: Redactor,
}

/// Decrypts and resolves the secrets of a render with the Sync's [`keys`]: the engine's
/// secrets stage. `known` holds values that are secret already (substituted from Secrets).
///
/// # Errors
/// [`Failure`]: `DecryptionFailed` (a file that does not decrypt) or `ReferenceFailed` (a
/// Vault or KMS reference that does not resolve). Nothing of the revision may be applied
/// then.
pub async fn prepare(
    keys: SyncKeys,
    rendered: Rendered,
    known: Redactor,
) -> Result<Prepared, Failure> {
    let SyncKeys { keys, mut material } = keys;
    material.extend(&known);
    // Not scrubbed: the errors name the file, Secret, key and reference and never a value,
    // and the redactor holds the references themselves (the render's Secret data), which
    // the message must show.
    secrets::prepare(rendered, &keys, material)
        .await
        .map_err(|err| Failure {
            reason: match err {
                SecretsError::Reference(_) => Reason::ReferenceFailed,
                _ => Reason::DecryptionFailed,
            },
            message: err.to_string(),
        })
}

/// The keys of the Sync's decryption Secret (in its own namespace) over the controller's
/// ambient identity, and their secret parts to scrub.
///
/// # Errors
/// [`Failure`] `DecryptionFailed`: the decryption Secret is missing or unusable.
pub async fn keys(client: &kube::Client, sync: &Sync) -> Result<SyncKeys, Failure> {
    let ambient = Ambient::from_process();
    let Some(secret_ref) = sync
        .spec
        .decryption
        .as_ref()
        .and_then(|d| d.secret_ref.as_ref())
    else {
        return Ok(SyncKeys {
            keys: Keys::ambient(ambient).confine_vault(),
            material: Redactor::new(),
        });
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
    keys::redact_entries(entries(), &mut material);
    let keys = Keys::from_secret(entries(), ambient)
        .map_err(|err| failure(format!("decryption Secret {namespace}/{name}: {err}")))?
        .confine_vault();
    Ok(SyncKeys { keys, material })
}
