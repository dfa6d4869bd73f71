//! One reconcile of one SealedSecret: unseal with every key, write the Secret, then report
//! the outcome as the `Synced` condition, an event and metrics.

use std::sync::Arc;
use std::time::Duration;

use kube::Resource;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use lockstep_sealed::{SealedSecret, unseal};

use super::error::Error;
use super::secret::{self, WriteError, Written};
use super::{SealedSecretObject, api_resource, status};
use crate::context::Ctx;
use crate::event;

/// How a reconcile ended, for the user.
pub(super) enum Outcome {
    /// The Secret matches; `changed` tells whether this reconcile wrote it.
    Synced {
        /// The Secret was created or updated now.
        changed: bool,
        /// The condition's message: which keys unsealed it ([`KeyRing::describe`]).
        ///
        /// [`KeyRing::describe`]: crate::keyring::KeyRing::describe
        message: String,
    },
    /// The user has something to fix.
    Failed {
        /// What failed.
        failure: Failure,
        /// Message for the condition and the event; names items, never values.
        message: String,
    },
}

/// What kept a SealedSecret from being synced.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Failure {
    /// No key unseals it.
    Unseal,
    /// A Secret of its name exists that it does not own.
    Unmanaged,
    /// The Secret could not be written.
    Update,
}

impl Failure {
    /// The error metric's label, as upstream.
    fn label(self) -> &'static str {
        match self {
            Self::Unseal => "unseal",
            Self::Unmanaged => "unmanaged",
            Self::Update => "update",
        }
    }

    fn event(self) -> EventReason {
        match self {
            Self::Unseal => EventReason::ErrUnsealFailed,
            Self::Unmanaged | Self::Update => EventReason::ErrUpdateFailed,
        }
    }
}

/// A SealedSecret's event reasons, as upstream's controller writes them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum EventReason {
    /// The Secret matches the SealedSecret.
    Unsealed,
    /// No key unseals it.
    ErrUnsealFailed,
    /// The Secret could not be written.
    ErrUpdateFailed,
}

impl EventReason {
    fn as_str(self) -> &'static str {
        match self {
            Self::Unsealed => "Unsealed",
            Self::ErrUnsealFailed => "ErrUnsealFailed",
            Self::ErrUpdateFailed => "ErrUpdateFailed",
        }
    }
}

/// The `action` of every SealedSecret event.
const EVENT_ACTION: &str = "Unseal";

/// Unseals `object` and makes its Secret match.
///
/// # Errors
/// [`Error`] for failures that may pass on retry; the user's mistakes end in `Ok` with a
/// `Synced=False` condition instead.
pub async fn reconcile(object: Arc<SealedSecretObject>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    ctx.metrics.unseal_requests.inc();
    let namespace = object.metadata.namespace.clone().unwrap_or_default();
    let name = object.metadata.name.clone().unwrap_or_default();
    let full_name = format!("{namespace}/{name}");

    let sealed = SealedSecret {
        api_version: lockstep_sealed::API_VERSION.into(),
        kind: lockstep_sealed::KIND.into(),
        metadata: object.metadata.clone(),
        spec: object.spec.clone(),
        status: None,
    };
    let keys = ctx.keys();
    let ring = Arc::clone(&keys);
    let unsealed = tokio::task::spawn_blocking(move || unseal(&sealed, keys.private_keys()))
        .await
        .map_err(|_| Error::Task {
            name: full_name.clone(),
        })?;

    let outcome = match unsealed {
        Err(err) => Outcome::Failed {
            failure: Failure::Unseal,
            message: format!("Failed to unseal: {err}"),
        },
        Ok(unsealed) => {
            let message = format!("unsealed with {}", ring.describe(&unsealed.sealed_with));
            match secret::write(&ctx, &object, unsealed).await? {
                Ok(written) => Outcome::Synced {
                    changed: written == Written::Changed,
                    message,
                },
                Err(WriteError::Unmanaged) => Outcome::Failed {
                    failure: Failure::Unmanaged,
                    message: format!(
                        "Resource \"{name}\" already exists and is not managed by SealedSecret"
                    ),
                },
                Err(WriteError::Api(message)) => Outcome::Failed {
                    failure: Failure::Update,
                    message,
                },
            }
        }
    };

    let status_changed = status::write(&ctx, &object, &outcome).await?;
    match &outcome {
        Outcome::Synced { changed, .. } => {
            ctx.metrics.synced(&namespace, &name, true);
            if *changed || status_changed {
                publish(
                    &ctx,
                    &object,
                    EventType::Normal,
                    EventReason::Unsealed,
                    "SealedSecret unsealed successfully",
                )
                .await;
            }
            Ok(Action::requeue(Duration::from_secs(3600)))
        }
        Outcome::Failed { failure, message } => {
            let reason = failure.label();
            ctx.metrics.synced(&namespace, &name, false);
            ctx.metrics.error(reason, &namespace);
            tracing::warn!(sealed_secret = %full_name, reason, "SealedSecret not synced");
            if status_changed {
                publish(&ctx, &object, EventType::Warning, failure.event(), message).await;
            }
            // New keys may be imported, or the Secret in the way removed: look again.
            Ok(Action::requeue(Duration::from_secs(300)))
        }
    }
}

/// Transient failures retry after a short pause.
pub fn error_policy(_object: Arc<SealedSecretObject>, error: &Error, _ctx: Arc<Ctx>) -> Action {
    tracing::warn!(error = %format!("{error:#}"), "reconcile failed; retrying in 15s");
    Action::requeue(Duration::from_secs(15))
}

async fn publish(
    ctx: &Ctx,
    object: &SealedSecretObject,
    type_: EventType,
    reason: EventReason,
    note: &str,
) {
    let reference = object.object_ref(&api_resource());
    event::publish(
        &ctx.recorder,
        &reference,
        type_,
        reason.as_str(),
        EVENT_ACTION,
        note,
        None,
    )
    .await;
}
