//! `POST /hook/<digest>`: finds the Receiver whose `status.webhookPath` it is, checks the
//! sender holds its token ([`verify::check`]) and asks for a reconcile of its resources.
//!
//! | answer | when |
//! |---|---|
//! | 200 | accepted: every resource was asked to reconcile |
//! | 400 | the event is not in `spec.events` |
//! | 401 | the signature or token does not match (no detail; a Warning event on the Receiver) |
//! | 404 | no Receiver serves the path |
//! | 409 | a signed body this Receiver accepted before: a replay ([`super::replay`]) |
//! | 413 | the body exceeds [`MAX_BODY`] |
//! | 429 | over the Receiver's rate limit ([`PER_SECOND`], [`BURST`]), with `Retry-After` |
//! | 503 | the Receiver is suspended or not `Ready` |
//! | 500 | a resource could not be asked to reconcile |
//!
//! Flux answers 400 to a bad signature too; the 401 here tells a sender's misconfigured
//! secret from a filtered event. Nothing is reconciled unless the request was accepted.
//! Every webhook is counted in `lockstep_webhooks_total{namespace,name,outcome}`.

use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use kube::api::{Api, DynamicObject, ListParams, Patch, PatchParams};
use kube::runtime::events::EventType;
use kube::{Resource, ResourceExt};
use lockstep_api::ObjectKey;
use lockstep_api::flux::Receiver;
use serde_json::json;

use super::verify::{self, HOOK_PREFIX};
use super::{Reason, State as Shared, WireReason, targets, token};
use crate::metrics::WebhookOutcome;
use crate::sync::conditions::{self, READY};

/// Webhooks per second each Receiver accepts, sustained, before any check (each check
/// reads the token from the API server). A sender that knows the path, not the token, can
/// use it up; polling still reconciles at the interval.
pub const PER_SECOND: u32 = 5;
/// Webhooks each Receiver accepts at once above [`PER_SECOND`] (a push of many branches).
pub const BURST: u32 = 20;

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
) -> Response {
    let path = format!("{HOOK_PREFIX}{digest}");
    let found = state.store.state().into_iter().find(|r| {
        let served = r.status.as_ref().and_then(|s| s.webhook_path.as_deref());
        served.is_some_and(|p| verify::same(p.as_bytes(), path.as_bytes()))
    });
    let Some(receiver) = found else {
        state.metrics.webhook("", "", WebhookOutcome::NotFound);
        return StatusCode::NOT_FOUND.into_response();
    };
    let key = ObjectKey::of(&*receiver);
    if let Err(wait) = state.limiter.check(&key.to_string(), Instant::now(), 1) {
        state
            .metrics
            .webhook(&key.namespace, &key.name, WebhookOutcome::Throttled);
        let retry_after = wait.as_secs_f64().ceil().to_string();
        return (
            StatusCode::TOO_MANY_REQUESTS,
            [(header::RETRY_AFTER, retry_after)],
        )
            .into_response();
    }
    let outcome = answer(&state, &receiver, &path, &headers, &body).await;
    state.metrics.webhook(&key.namespace, &key.name, outcome);
    status(outcome).into_response()
}

/// The answer to each outcome.
fn status(outcome: WebhookOutcome) -> StatusCode {
    match outcome {
        WebhookOutcome::Accepted => StatusCode::OK,
        WebhookOutcome::Unauthorized => StatusCode::UNAUTHORIZED,
        WebhookOutcome::EventRefused => StatusCode::BAD_REQUEST,
        WebhookOutcome::NotReady => StatusCode::SERVICE_UNAVAILABLE,
        WebhookOutcome::Throttled => StatusCode::TOO_MANY_REQUESTS,
        WebhookOutcome::NotFound => StatusCode::NOT_FOUND,
        WebhookOutcome::Replayed => StatusCode::CONFLICT,
        WebhookOutcome::Failed => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Verifies a webhook to `receiver` at `path` and, if it passes, asks for the reconciles.
async fn answer(
    state: &Shared,
    receiver: &Receiver,
    path: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> WebhookOutcome {
    let key = ObjectKey::of(receiver);
    let ready = receiver.status.as_ref().is_some_and(|s| {
        conditions::is_true(&s.conditions, READY)
            && s.observed_generation == receiver.meta().generation
    });
    let (Some(kind), true, false) = (receiver.receiver_type(), ready, receiver.spec.suspend) else {
        tracing::warn!(receiver = %key, "webhook refused: the Receiver is suspended or not ready");
        return WebhookOutcome::NotReady;
    };
    let Ok(token) = token(&state.client, receiver).await else {
        return WebhookOutcome::NotReady;
    };
    // A rotated token moves the path at once, before the next reconcile writes it.
    let current = verify::webhook_path(&token, &key.name, &key.namespace);
    if !verify::same(current.as_bytes(), path.as_bytes()) {
        return WebhookOutcome::NotFound;
    }
    if let Err(refused) = verify::check(kind, &token, &receiver.spec.events, headers, body) {
        tracing::warn!(receiver = %key, %refused, "webhook refused");
        if !refused.unauthorized() {
            return WebhookOutcome::EventRefused;
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
            None,
        )
        .await;
        return WebhookOutcome::Unauthorized;
    }
    if state
        .seen
        .replayed(&key.to_string(), kind, body, Instant::now())
    {
        tracing::warn!(receiver = %key, "webhook refused: it repeats a body accepted before");
        return WebhookOutcome::Replayed;
    }
    match request(state, receiver).await {
        Ok(count) => {
            tracing::info!(receiver = %key, resources = count, "webhook accepted: reconcile requested");
            WebhookOutcome::Accepted
        }
        Err(err) => {
            tracing::warn!(receiver = %key, error = %err, "webhook accepted, but a reconcile could not be requested");
            WebhookOutcome::Failed
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
