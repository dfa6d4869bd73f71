//! Publishing one Kubernetes event, the same way for every controller of this binary: the
//! note cut to what the API server keeps, and a failure to publish logged rather than
//! returned (an event is a report; the reconcile it reports on has already happened). With
//! `--alerts` the same event, note and all, is queued for the Alerts that listen to its
//! object ([`crate::alert`]). A controller that should not wait for its events publishes
//! them through a [`Queue`].

use futures::StreamExt;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder};
use tokio::sync::mpsc;

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

/// Events published in the background, so a reconcile does not wait for the API server to
/// take its report: client-go's recorder, which ESO uses, queues them the same way. At
/// most [`QUEUED`] wait; a reconcile that finds the queue full waits for room.
pub struct Queue(mpsc::Sender<Queued>);

/// One event waiting to be published: [`publish`]'s arguments, owned.
struct Queued {
    reference: ObjectReference,
    type_: EventType,
    reason: &'static str,
    action: &'static str,
    note: String,
}

/// How many events may wait.
const QUEUED: usize = 1024;

/// How many are published at once.
const PUBLISHING: usize = 4;

impl Queue {
    /// Starts publishing what is queued through `recorder`, until every sender is dropped.
    pub fn start(recorder: Recorder) -> Self {
        let (sender, receiver) = mpsc::channel::<Queued>(QUEUED);
        let queued = futures::stream::unfold(receiver, async |mut receiver| {
            receiver.recv().await.map(|queued| (queued, receiver))
        });
        tokio::spawn(queued.for_each_concurrent(PUBLISHING, move |queued| {
            let recorder = recorder.clone();
            async move {
                let Queued {
                    reference,
                    type_,
                    reason,
                    action,
                    note,
                } = queued;
                publish(&recorder, &reference, type_, reason, action, &note, None).await;
            }
        }));
        Self(sender)
    }

    /// Queues an event of `type_` with `reason` and `action` about `reference`.
    pub async fn publish(
        &self,
        reference: ObjectReference,
        type_: EventType,
        reason: &'static str,
        action: &'static str,
        note: String,
    ) {
        let queued = Queued {
            reference,
            type_,
            reason,
            action,
            note,
        };
        if self.0.send(queued).await.is_err() {
            tracing::warn!("could not queue the {reason} event: no one publishes them");
        }
    }
}
