//! What an ExternalSecret's reconcile tells: its status, and events with ESO's reasons.

use kube::Resource;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::events::EventType;
use lockstep_api::ExternalSecret;
use lockstep_api::external_secrets::ExternalSecretStatus;

use super::Ctx;

/// Why an event about an ExternalSecret is published, with ESO's reason names.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum EventReason {
    /// The provider's values could not be read (a Warning).
    UpdateFailed,
    /// A `data` entry names a key the provider does not have.
    MissingProviderSecret,
    /// The target Secret was created.
    Created,
    /// The target Secret was updated.
    Updated,
    /// The target Secret was deleted (`deletionPolicy: Delete`, or orphaned).
    Deleted,
}

impl EventReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::UpdateFailed => "UpdateFailed",
            Self::MissingProviderSecret => "MissingProviderSecret",
            Self::Created => "Created",
            Self::Updated => "Updated",
            Self::Deleted => "Deleted",
        }
    }
}

/// The `action` of every ExternalSecret event.
const EVENT_ACTION: &str = "Reconcile";

/// Writes `status` as a merge patch of the status subresource.
pub(super) async fn write_status(
    ctx: &Ctx,
    es: &ExternalSecret,
    status: &ExternalSecretStatus,
) -> Result<(), kube::Error> {
    let namespace = es.metadata.namespace.as_deref().unwrap_or_default();
    let name = es.metadata.name.as_deref().unwrap_or_default();
    let api: Api<ExternalSecret> = Api::namespaced(ctx.shared.client.clone(), namespace);
    let patch = serde_json::json!({ "status": status });
    api.patch_status(name, &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .map(drop)
}

/// Queues one event about `es` (published in the background; a failure is logged).
pub(super) async fn publish(
    ctx: &Ctx,
    es: &ExternalSecret,
    type_: EventType,
    reason: EventReason,
    note: &(impl std::fmt::Display + ?Sized),
) {
    let reference = es.object_ref(&());
    ctx.events
        .publish(
            reference,
            type_,
            reason.as_str(),
            EVENT_ACTION,
            note.to_string(),
        )
        .await;
}
