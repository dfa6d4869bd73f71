//! Writing the unsealed Secret, with upstream's ownership rules: a Secret that exists and
//! is neither controlled by this SealedSecret nor annotated `managed: "true"` or
//! `patch: "true"` is never touched. `patch` merges into the existing Secret; otherwise
//! data, labels, annotations and owner references are replaced. Nothing is written when the
//! Secret already matches.

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use lockstep_engine::redact::{self, Redactor};
use lockstep_sealed::{MANAGED_ANNOTATION, PATCH_ANNOTATION, UNSEAL_FIELD_MANAGER, UnsealedSecret};

use super::SealedSecretObject;
use super::error::Error;
use crate::context::Ctx;

/// How often a write that lost a race with another replica is tried again.
const CONFLICT_ATTEMPTS: u32 = 3;

/// Whether the Secret was written.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Written {
    /// Created or updated.
    Changed,
    /// Already as desired.
    Unchanged,
}

/// Why the Secret was not written; the user has to act.
pub(super) enum WriteError {
    /// A Secret of the same name exists and is not ours to change.
    Unmanaged,
    /// The API server refused the write (immutable Secret, type change, validation).
    Api(String),
}

/// Creates or updates the Secret for `unsealed`.
///
/// # Errors
/// The outer [`Error`] when the existing Secret cannot be read (retry); the inner
/// [`WriteError`] when the write is refused (report).
pub(super) async fn write(
    ctx: &Ctx,
    owner: &SealedSecretObject,
    unsealed: UnsealedSecret,
) -> Result<Result<Written, WriteError>, Error> {
    let namespace = owner.metadata.namespace.as_deref().unwrap_or_default();
    let name = owner.metadata.name.as_deref().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(ctx.client.clone(), namespace);
    let desired = unsealed.into_secret();
    let mut values = Redactor::new();
    for value in desired.data.iter().flat_map(|data| data.values()) {
        values.add(&value.0);
    }
    // kube-client logs a refused write's `Status` at debug; the values leave memory with
    // this function.
    let _held = redact::hold(&values);
    // A field manager of its own: the keyring never trusts a key Secret this wrote.
    let params = PostParams {
        field_manager: Some(UNSEAL_FIELD_MANAGER.to_owned()),
        ..PostParams::default()
    };

    // Every replica unseals (the Lease elects only the sync side's leader): when another
    // wrote the Secret between this one's read and write, the API server answers 409
    // Conflict (AlreadyExists on create). Read it again and decide anew: usually it is
    // already as desired.
    let mut attempts = 0;
    loop {
        attempts += 1;
        let existing = secrets
            .get_opt(name)
            .await
            .map_err(|source| Error::GetSecret {
                name: format!("{namespace}/{name}"),
                source,
            })?;
        let result = match existing {
            None => secrets
                .create(&params, &desired)
                .await
                .map(|_| Written::Changed),
            Some(existing) => {
                let Some(next) = updated(&existing, desired.clone(), owner) else {
                    return Ok(Err(WriteError::Unmanaged));
                };
                if next == existing {
                    return Ok(Ok(Written::Unchanged));
                }
                secrets
                    .replace(name, &params, &next)
                    .await
                    .map(|_| Written::Changed)
            }
        };
        match result {
            Err(kube::Error::Api(status)) if status.code == 409 && attempts < CONFLICT_ATTEMPTS => {
            }
            result => return Ok(result.map_err(|err| WriteError::Api(api_message(err)))),
        }
    }
}

/// The Secret to write over `existing`, or `None` when it is not ours to change.
fn updated(existing: &Secret, desired: Secret, owner: &SealedSecretObject) -> Option<Secret> {
    let annotation = |key: &str| {
        existing
            .metadata
            .annotations
            .as_ref()
            .and_then(|a| a.get(key))
            .is_some_and(|v| v == "true")
    };
    let controlled = existing
        .metadata
        .owner_references
        .iter()
        .flatten()
        .any(|r| r.controller == Some(true) && Some(&r.uid) == owner.metadata.uid.as_ref());
    let patch = annotation(PATCH_ANNOTATION);
    if !controlled && !annotation(MANAGED_ANNOTATION) && !patch {
        return None;
    }

    let mut next = existing.clone();
    next.type_ = desired.type_;
    if patch {
        next.data
            .get_or_insert_default()
            .extend(desired.data.unwrap_or_default());
        let meta = &mut next.metadata;
        meta.labels
            .get_or_insert_default()
            .extend(desired.metadata.labels.unwrap_or_default());
        meta.annotations
            .get_or_insert_default()
            .extend(desired.metadata.annotations.unwrap_or_default());
        if let Some(owners) = desired.metadata.owner_references {
            let refs = meta.owner_references.get_or_insert_default();
            for owner in owners {
                if !refs.iter().any(|r| r.uid == owner.uid) {
                    refs.push(owner);
                }
            }
        }
    } else {
        next.data = desired.data;
        next.immutable = desired.immutable.or(existing.immutable);
        next.metadata.labels = desired.metadata.labels;
        next.metadata.annotations = desired.metadata.annotations;
        next.metadata.owner_references = desired.metadata.owner_references;
    }
    Some(next)
}

/// The API server's own message. It names fields, never values: Secret data is not echoed
/// in validation messages for Secrets.
fn api_message(err: kube::Error) -> String {
    match err {
        kube::Error::Api(status) => status.message,
        other => other.to_string(),
    }
}
