//! Flux's `notification.toolkit.fluxcd.io/v1` Receivers (`--receivers`): a Git server's
//! push webhook asks for a reconcile now instead of waiting for the next interval.
//!
//! The reconciler reads each Receiver's token and writes `status.webhookPath`
//! ([`verify::webhook_path`], as Flux computes it) and a `Ready` condition with Flux's
//! reasons. The webhook endpoint ([`hook`]) serves `POST /hook/<digest>` on a listener of
//! its own (`--receiver-addr`, Flux's port 9292): it is the one endpoint exposed to the
//! Git server, so it can be exposed without the sealing API or the metrics.
//!
//! A Receiver reconciles only objects in its own namespace, of the kinds this controller
//! serves ([`Target`]): the token proves the sender may ask for a reconcile, never that it
//! may reach another tenant's objects.

mod hook;
mod replay;
mod verify;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource, Patch, PatchParams};
use kube::runtime::controller::Action;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::Store;
use kube::runtime::{Controller, watcher};
use kube::{Resource, ResourceExt};
use lockstep_api::flux::{self as flux_api, GitRepository, Kustomization, Receiver};
use lockstep_api::{GitSource, ObjectKey, Sync};
use serde_json::json;
use zeroize::Zeroizing;

use crate::context::Ctx;
use crate::sync::conditions::{self, READY, WireReason};

/// How often a Receiver's token is read again when `spec.interval` is unset (Flux's).
const DEFAULT_INTERVAL: Duration = Duration::from_secs(600);

/// What the reconciler and the webhook endpoint share.
struct State {
    client: kube::Client,
    /// The Receivers, as last seen by the reconciler's watch.
    store: Store<Receiver>,
    recorder: Recorder,
    /// `lockstep_webhooks_total`.
    metrics: Arc<crate::metrics::Metrics>,
    /// Webhooks per Receiver ([`hook::PER_SECOND`], [`hook::BURST`]).
    limiter: crate::http::RateLimiter,
    /// The signed bodies each Receiver accepted lately ([`replay`]).
    seen: replay::Seen,
    /// Whether Flux's GitRepositories and Kustomizations are served (`--flux`).
    flux: bool,
}

/// Runs the Receiver reconciler and serves its webhooks on `addr` until SIGTERM or Ctrl-C.
/// Every replica runs both: webhooks may reach any of them, and the status each writes
/// is the same.
pub async fn run(ctx: Arc<Ctx>, flux: bool, addr: SocketAddr) {
    let api: Api<Receiver> = ctx.watched_api();
    let controller = Controller::new(api, watcher::Config::default());
    let reporter = Reporter {
        controller: "lockstep-controller".into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let state = Arc::new(State {
        client: ctx.client.clone(),
        store: controller.store(),
        recorder: Recorder::new(ctx.client.clone(), reporter),
        metrics: ctx.metrics.clone(),
        limiter: crate::http::RateLimiter::new(hook::PER_SECOND, hook::BURST),
        seen: replay::Seen::default(),
        flux,
    });
    let server = tokio::spawn(crate::http::serve_hooks(hook::router(state.clone()), addr));
    controller
        .shutdown_on_signal()
        .run(reconcile, retry, state)
        .for_each(crate::watch::log)
        .await;
    server.abort();
}

/// A Receiver's `Ready` reason, as Flux's notification-controller writes it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Reason {
    /// The webhook path is served.
    Succeeded,
    /// No Secret, or no `token` in it.
    TokenNotFound,
    /// The spec asks for something not served: a type, a field, a kind, another namespace.
    ValidationFailed,
}

impl WireReason for Reason {
    fn as_str(self) -> &'static str {
        match self {
            Self::Succeeded => "Succeeded",
            Self::TokenNotFound => "TokenNotFound",
            Self::ValidationFailed => "ValidationFailed",
        }
    }
}

/// Why a reconcile could not be recorded.
#[derive(Debug, thiserror::Error)]
enum Error {
    /// Writing the Receiver's status failed.
    #[error("writing the status of Receiver {name}: {source}")]
    WriteStatus {
        name: ObjectKey,
        #[source]
        source: kube::Error,
    },
}

/// Why a Receiver's token cannot be read. Names only, never a value.
#[derive(Debug, thiserror::Error)]
enum TokenError {
    #[error("spec.secretRef is required: its Secret's token keys the webhook")]
    NoSecretRef,
    #[error("Secret {0} not found")]
    NoSecret(String),
    #[error("Secret {0} has no token entry")]
    NoToken(String),
    #[error("Secret {0} holds an empty token")]
    Empty(String),
    #[error("reading Secret {name}: {source}")]
    Read {
        name: String,
        #[source]
        source: kube::Error,
    },
}

/// A kind a Receiver can ask to reconcile, and how: the annotation its reconciler reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Target {
    GitSource,
    Sync,
    GitRepository,
    Kustomization,
}

impl Target {
    /// The kind `kind` of `api_version` (its usual one when unset), if served.
    fn of(kind: &str, api_version: Option<&str>, flux: bool) -> Option<Self> {
        let target = match kind {
            "GitSource" => Self::GitSource,
            "Sync" => Self::Sync,
            "GitRepository" if flux => Self::GitRepository,
            "Kustomization" if flux => Self::Kustomization,
            _ => return None,
        };
        api_version
            .is_none_or(|v| v == target.resource().api_version)
            .then_some(target)
    }

    fn resource(self) -> ApiResource {
        match self {
            Self::GitSource => ApiResource::erase::<GitSource>(&()),
            Self::Sync => ApiResource::erase::<Sync>(&()),
            Self::GitRepository => ApiResource::erase::<GitRepository>(&()),
            Self::Kustomization => ApiResource::erase::<Kustomization>(&()),
        }
    }

    /// The annotation that asks for a reconcile now.
    fn annotation(self) -> &'static str {
        match self {
            Self::GitSource | Self::Sync => lockstep_api::REQUESTED_AT_ANNOTATION,
            Self::GitRepository | Self::Kustomization => flux_api::REQUESTED_AT_ANNOTATION,
        }
    }
}

/// The targets of `receiver`'s resources, or what is not served, by field.
fn targets(receiver: &Receiver, flux: bool) -> Result<Vec<Target>, String> {
    if receiver.receiver_type().is_none() {
        return Err(format!(
            "spec.type {:?} is not served (github, gitlab, bitbucket, generic, generic-hmac)",
            receiver.spec.type_
        ));
    }
    let unserved = receiver.unserved();
    if !unserved.is_empty() {
        return Err(format!("not served yet: {}", unserved.join(", ")));
    }
    let own = receiver.namespace().unwrap_or_default();
    let served = if flux {
        "GitSource, Sync, GitRepository, Kustomization"
    } else {
        "GitSource, Sync (GitRepository, Kustomization with --flux)"
    };
    receiver
        .spec
        .resources
        .iter()
        .enumerate()
        .map(|(i, resource)| {
            if let Some(namespace) = resource.namespace.as_deref().filter(|n| *n != own) {
                return Err(format!(
                    "resources[{i}].namespace: {namespace} is not the Receiver's namespace \
                     {own}; a Receiver reconciles only objects of its own namespace"
                ));
            }
            Target::of(&resource.kind, resource.api_version.as_deref(), flux).ok_or_else(|| {
                format!(
                    "resources[{i}]: kind {} is not one this controller reconciles ({served})",
                    resource.kind
                )
            })
        })
        .collect()
}

/// The token of `receiver`'s Secret.
async fn token(
    client: &kube::Client,
    receiver: &Receiver,
) -> Result<Zeroizing<Vec<u8>>, TokenError> {
    let name = &receiver
        .spec
        .secret_ref
        .as_ref()
        .ok_or(TokenError::NoSecretRef)?
        .name;
    let secrets: Api<Secret> =
        Api::namespaced(client.clone(), &receiver.namespace().unwrap_or_default());
    let secret = secrets
        .get_opt(name)
        .await
        .map_err(|source| TokenError::Read {
            name: name.clone(),
            source,
        })?
        .ok_or_else(|| TokenError::NoSecret(name.clone()))?;
    let token = secret
        .data
        .and_then(|mut data| data.remove("token"))
        .ok_or_else(|| TokenError::NoToken(name.clone()))?;
    let token = Zeroizing::new(token.0);
    if token.is_empty() {
        return Err(TokenError::Empty(name.clone()));
    }
    Ok(token)
}

/// Writes `receiver`'s webhook path and `Ready`, and reads its token again after its
/// interval (a rotated token moves the path).
async fn reconcile(receiver: Arc<Receiver>, state: Arc<State>) -> Result<Action, Error> {
    let name = receiver.name_any();
    let namespace = receiver.namespace().unwrap_or_default();
    let interval = match receiver
        .spec
        .interval
        .as_deref()
        .map(lockstep_api::parse_duration)
    {
        None => Ok(DEFAULT_INTERVAL),
        Some(Ok(interval)) => Ok(interval),
        Some(Err(err)) => Err(format!("spec.interval: {err}")),
    };
    let outcome = match interval
        .clone()
        .and_then(|_| targets(&receiver, state.flux))
    {
        Err(message) => Err((Reason::ValidationFailed, message)),
        Ok(_) => match token(&state.client, &receiver).await {
            Ok(token) => Ok(verify::webhook_path(&token, &name, &namespace)),
            Err(err) => Err((Reason::TokenNotFound, err.to_string())),
        },
    };
    let previous = receiver.status.clone().unwrap_or_default();
    let mut status = previous.clone();
    let generation = receiver.meta().generation;
    status.observed_generation = generation;
    match &outcome {
        Ok(path) => {
            let message = format!("Receiver initialized for path: {path}");
            conditions::set(
                &mut status.conditions,
                READY,
                true,
                Reason::Succeeded,
                message,
                generation,
            );
            status.webhook_path = Some(path.clone());
        }
        Err((reason, message)) => {
            conditions::set(
                &mut status.conditions,
                READY,
                false,
                *reason,
                message.clone(),
                generation,
            );
            status.webhook_path = None;
        }
    }
    if status != previous {
        let api: Api<Receiver> = Api::namespaced(state.client.clone(), &namespace);
        let patch = json!({"status": {
            "observedGeneration": status.observed_generation,
            "conditions": status.conditions,
            "webhookPath": status.webhook_path,
        }});
        api.patch_status(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|source| Error::WriteStatus {
                name: ObjectKey::of(&*receiver),
                source,
            })?;
        match &outcome {
            Ok(path) => {
                tracing::info!(receiver = %ObjectKey::of(&*receiver), %path, "serving the Receiver's webhook")
            }
            Err((reason, message)) => {
                tracing::warn!(receiver = %ObjectKey::of(&*receiver), reason = reason.as_str(), %message, "Receiver not ready")
            }
        }
    }
    Ok(Action::requeue(interval.unwrap_or(DEFAULT_INTERVAL)))
}

/// Retries a Receiver whose status could not be written after 5 seconds.
fn retry(_receiver: Arc<Receiver>, error: &Error, _state: Arc<State>) -> Action {
    tracing::warn!(%error, "Receiver reconcile failed; retrying in 5s");
    Action::requeue(Duration::from_secs(5))
}
