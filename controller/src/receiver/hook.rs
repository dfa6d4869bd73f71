//! `POST /hook/<digest>`: finds the Receiver whose `status.webhookPath` it is, checks the
//! sender holds its token ([`verify::check`]) and asks for a reconcile of its resources.
//!
//! | answer | when |
//! |---|---|
//! | 200 | accepted: every resource was asked to reconcile |
//! | 400 | the event is not in `spec.events` |
//! | 401 | the signature or token does not match (no detail; a Warning event on the Receiver) |
//! | 404 | no Receiver serves the path |
//! | 413 | the body exceeds [`MAX_BODY`] |
//! | 503 | the Receiver is suspended or not `Ready` |
//! | 500 | a resource could not be asked to reconcile |
//!
//! Flux answers 400 to a bad signature too; the 401 here tells a sender's misconfigured
//! secret from a filtered event. Nothing is reconciled unless the request was accepted.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use lockstep_api::ObjectKey;
use lockstep_api::flux::Receiver;
use serde_json::json;

use super::verify::{self, HOOK_PREFIX};
use super::{Reason, State as Shared, WireReason, targets, token};
use crate::sync::conditions::{self, READY};

/// The largest body read, as Flux's notification-controller (3 MiB): push payloads of
/// GitHub and GitLab are far smaller.
const MAX_BODY: usize = 3 * 1024 * 1024;

/// The webhook routes; any other path is 404.
pub fn router(state: Arc<Shared>) -> Router {
    Router::new()
        .route("/hook/{digest}", post(handle))
        .layer(DefaultBodyLimit::max(MAX_BODY))
        .with_state(state)
}

async fn handle(
    State(state): State<Arc<Shared>>,
    Path(digest): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> StatusCode {
    let path = format!("{HOOK_PREFIX}{digest}");
    let found = state.store.state().into_iter().find(|r| {
        let served = r.status.as_ref().and_then(|s| s.webhook_path.as_deref());
        served.is_some_and(|p| verify::same(p.as_bytes(), path.as_bytes()))
    });
    let Some(receiver) = found else {
        return StatusCode::NOT_FOUND;
    };
    let key = ObjectKey::of(&*receiver);
    let ready = receiver.status.as_ref().is_some_and(|s| {
        conditions::is_true(&s.conditions, READY)
            && s.observed_generation == receiver.meta().generation
    });
    let (Some(kind), true, false) = (receiver.receiver_type(), ready, receiver.spec.suspend) else {
        tracing::warn!(receiver = %key, "webhook refused: the Receiver is suspended or not ready");
        return StatusCode::SERVICE_UNAVAILABLE;
    };
    let Ok(token) = token(&state.client, &receiver).await else {
        return StatusCode::SERVICE_UNAVAILABLE;
    };
    // A rotated token moves the path at once, before the next reconcile writes it.
    let current = verify::webhook_path(&token, &receiver.name_any(), &key.namespace);
    if !verify::same(current.as_bytes(), path.as_bytes()) {
        return StatusCode::NOT_FOUND;
    }
    if let Err(refused) = verify::check(kind, &token, &receiver.spec.events, &headers, &body) {
        tracing::warn!(receiver = %key, %refused, "webhook refused");
        if !refused.unauthorized() {
            return StatusCode::BAD_REQUEST;
        }
        let reference = receiver.object_ref(&());
        let note = format!("webhook refused: {refused}");
        crate::event::publish(
            &state.recorder,
            &reference,
            EventType::Warning,
            Reason::ValidationFailed.as_str(),
            "Verify",
            &note,
        )
        .await;
        return StatusCode::UNAUTHORIZED;
    }
    match request(&state, &receiver).await {
        Ok(count) => {
            tracing::info!(receiver = %key, resources = count, "webhook accepted: reconcile requested");
            StatusCode::OK
        }
        Err(err) => {
            tracing::warn!(receiver = %key, error = %err, "webhook accepted, but a reconcile could not be requested");
            StatusCode::INTERNAL_SERVER_ERROR
        }
    }
}

/// Asks every resource of `receiver` to reconcile now, by setting the annotation its
/// reconciler reads to the time; returns how many were asked.
async fn request(state: &Shared, receiver: &Receiver) -> Result<usize, kube::Error> {
    let namespace = receiver.namespace().unwrap_or_default();
    // Validated by the reconciler; a spec changed since is not Ready (observedGeneration).
    let Ok(targets) = targets(receiver, state.flux) else {
        return Ok(0);
    };
    let at = jiff::Timestamp::now().to_string();
    let mut count = 0;
    for (resource, target) in receiver.spec.resources.iter().zip(targets) {
        let api: Api<DynamicObject> =
            Api::namespaced_with(state.client.clone(), &namespace, &target.resource());
        let names = if resource.name == "*" {
            let labels = resource.match_labels.iter().flatten();
            let selector: Vec<String> = labels.map(|(k, v)| format!("{k}={v}")).collect();
            let listed = api
                .list_metadata(&ListParams::default().labels(&selector.join(",")))
                .await?;
            listed.items.into_iter().map(|o| o.name_any()).collect()
        } else {
            vec![resource.name.clone()]
        };
        let patch = json!({"metadata": {"annotations": {target.annotation(): at}}});
        for name in names {
            api.patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
                .await?;
            count += 1;
        }
    }
    Ok(count)
}
