//! Publishing one Kubernetes event, the same way for every controller of this binary: the
//! note cut to what the API server keeps, and a failure to publish logged rather than
//! returned (an event is a report; the reconcile it reports on has already happened). With
//! `--alerts` the same event, note and all, is queued for the Alerts that listen to its
//! object ([`crate::alert`]).

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder};

/// The longest note kept: the API server refuses an event whose note exceeds 1 KiB.
const NOTE_CHARS: usize = 1000;

/// Publishes an event of `type_` with `reason` and `action` about `reference`; `revision`
/// (the Git revision it is about, if any) goes only to alerts, as Flux's event metadata.
pub async fn publish(
    recorder: &Recorder,
    reference: &ObjectReference,
    type_: EventType,
    reason: &str,
    action: &str,
    note: &str,
    revision: Option<&str>,
) {
    let note: String = note.chars().take(NOTE_CHARS).collect();
    crate::alert::notify(reference, type_, reason, &note, revision);
    let event = Event {
        type_,
        reason: reason.into(),
        note: Some(note),
        action: action.into(),
        secondary: None,
    };
    if let Err(err) = recorder.publish(&event, reference).await {
        tracing::warn!(error = %err, "could not publish the {reason} event");
    }
}
