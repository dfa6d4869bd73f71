//! What a person asks of a [`Sync`](crate::Sync) — reconcile now, suspend, resume, approve
//! a plan, pin it to a revision it applied before — as the merge patches the controller
//! reads. `lockstep reconcile|suspend|resume|approve|rollback` and the web UI write these
//! same patches, so the two can never disagree about what a request is.

use serde_json::{Value, json};

use crate::{APPROVED_REVISION_ANNOTATION, PINNED_REVISION_ANNOTATION, REQUESTED_AT_ANNOTATION};

/// The field manager of the CLI's and the UI's writes.
pub const FIELD_MANAGER: &str = "lockstep-cli";

/// `patch` with a `requestedAt` token merged in: the controller reconciles on a new token
/// and copies it into `status.lastHandledRequestedAt` when it records the outcome, so the
/// caller can wait for the outcome of *its* request.
pub fn requested(mut patch: Value, token: &str) -> Value {
    patch["metadata"]["annotations"][REQUESTED_AT_ANNOTATION] = json!(token);
    patch
}

/// Sets `spec.suspend`.
pub fn suspend(suspended: bool) -> Value {
    json!({"spec": {"suspend": suspended}})
}

/// Approves the plan computed for `revision` (manual mode).
pub fn approve(revision: &str) -> Value {
    json!({"metadata": {"annotations": {APPROVED_REVISION_ANNOTATION: revision}}})
}

/// Pins the Sync to `revision`, or with `None` lifts the pin.
pub fn pin(revision: Option<&str>) -> Value {
    json!({"metadata": {"annotations": {PINNED_REVISION_ANNOTATION: revision}}})
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request token rides along with whatever else the patch writes; lifting a pin
    /// writes a null, which a merge patch reads as "remove the annotation".
    #[test]
    fn patches_carry_the_annotations_the_controller_reads() {
        let resume = requested(suspend(false), "t1");
        assert_eq!(resume["spec"]["suspend"], json!(false));
        assert_eq!(
            resume["metadata"]["annotations"][REQUESTED_AT_ANNOTATION],
            json!("t1")
        );
        let approval = requested(approve("main@sha1:ab"), "t2");
        let annotations = &approval["metadata"]["annotations"];
        assert_eq!(
            annotations[APPROVED_REVISION_ANNOTATION],
            json!("main@sha1:ab")
        );
        assert_eq!(annotations[REQUESTED_AT_ANNOTATION], json!("t2"));
        assert_eq!(
            pin(None)["metadata"]["annotations"][PINNED_REVISION_ANNOTATION],
            Value::Null
        );
        assert!(
            pin(None)["metadata"]["annotations"]
                .as_object()
                .unwrap()
                .contains_key(PINNED_REVISION_ANNOTATION)
        );
    }
}
