//! The `Synced` condition and `observedGeneration`, written only when they change (a
//! status write is itself a watch event; writing every time would loop).

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::{Api, Patch, PatchParams};
use lockstep_api::ConditionStatus;
use lockstep_sealed::{SealedSecretCondition, SealedSecretStatus};

use super::error::Error;
use super::reconcile::Outcome;
use super::{SealedSecretObject, api_resource};
use crate::context::Ctx;

/// Writes the status for `outcome`; returns whether it changed.
///
/// # Errors
/// [`Error::WriteStatus`] when the status subresource cannot be patched.
pub(super) async fn write(
    ctx: &Ctx,
    object: &SealedSecretObject,
    outcome: &Outcome,
) -> Result<bool, Error> {
    let (status, message) = match outcome {
        Outcome::Synced { message, .. } => (ConditionStatus::True, Some(message.clone())),
        Outcome::Failed { message, .. } => (ConditionStatus::False, Some(message.clone())),
    };
    let previous = object
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Synced"));
    let generation = object.metadata.generation;
    let observed = object.status.as_ref().and_then(|s| s.observed_generation);
    let same = previous.is_some_and(|p| p.status == status.as_str() && p.message == message);
    if same && observed == generation {
        return Ok(false);
    }

    let now = Time(jiff::Timestamp::now());
    let transition = match previous {
        Some(p) if p.status == status.as_str() => p.last_transition_time.clone(),
        _ => Some(now.clone()),
    };
    let next = SealedSecretStatus {
        conditions: Some(vec![SealedSecretCondition {
            last_transition_time: transition,
            last_update_time: Some(now),
            message,
            reason: None,
            status: status.as_str().into(),
            type_: "Synced".into(),
        }]),
        observed_generation: generation,
    };
    let namespace = object.metadata.namespace.as_deref().unwrap_or_default();
    let name = object.metadata.name.as_deref().unwrap_or_default();
    let api: Api<SealedSecretObject> =
        Api::namespaced_with(ctx.client.clone(), namespace, &api_resource());
    let patch = serde_json::json!({ "status": next });
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map_err(|source| Error::WriteStatus {
            name: format!("{namespace}/{name}"),
            source,
        })?;
    Ok(true)
}
