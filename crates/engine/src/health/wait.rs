//! Waiting for applied objects to become healthy, by polling each one by name.
//!
//! No watches and no informers: a cluster-wide cache for health polling is what made
//! Flux's kustomize-controller grow to gigabytes (`gitops-user-pain.md` #5). Each poll
//! reads every object once, a few at a time, and the wait ends when all are
//! [`Status::Current`], at the first [`Status::Failed`] one, or at the timeout.

use std::collections::HashMap;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::core::GroupVersionKind;
use kube::discovery::Scope;
use tracing::{debug, instrument};

use lockstep_api::InventoryEntry;

use super::{Health, Rules, Status};
use crate::inventory::{id, key};

/// Why a wait ended without every object being current. Objects are named as people read
/// them (`Deployment/ns/web`).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WaitError {
    /// An object failed; the wait stopped at once rather than running into the timeout.
    #[error("{object} failed: {}", health.message)]
    Failed {
        /// The object.
        object: String,
        /// Its health when seen failed.
        health: Health,
    },
    /// Some objects were not current when the time was up.
    #[error("timed out after {} waiting for: {}", seconds(*after), list(pending))]
    Timeout {
        /// How long it waited: the timeout, or a little more to finish the last look.
        after: Duration,
        /// The objects not current at the last poll, and their health then.
        pending: Vec<(String, Health)>,
    },
}

/// `8.1s`: a wait's length as people read it, not `8.100234s`.
fn seconds(after: Duration) -> String {
    format!("{:.1}s", after.as_secs_f64())
}

fn list(pending: &[(String, Health)]) -> String {
    let items: Vec<String> = pending
        .iter()
        .map(|(object, health)| format!("{object} {health}"))
        .collect();
    items.join(", ")
}

/// How many objects are read at once in one poll.
const CONCURRENCY: usize = 4;

/// Polls `objects` every `poll` until all are current by `rules`.
///
/// An object that does not exist (or whose kind is not served) counts as
/// [`Status::NotFound`] and keeps the wait going, as does a read that fails.
///
/// # Errors
/// [`WaitError::Failed`] as soon as one object is failed; [`WaitError::Timeout`] naming
/// every object not yet current when `timeout` has passed.
pub async fn wait(
    client: &Client,
    objects: &[InventoryEntry],
    rules: &Rules,
    timeout: Duration,
    poll: Duration,
) -> Result<(), WaitError> {
    wait_reporting(client, objects, rules, timeout, poll, |_| {}).await
}

/// [`wait`], telling `report` after each look that finds objects not yet current which
/// they are and why, as [`WaitError::Timeout`] lists them (`lockstep apply` prints it
/// while it waits).
///
/// # Errors
/// As [`wait`].
#[instrument(skip_all, fields(objects = objects.len()))]
pub async fn wait_reporting(
    client: &Client,
    objects: &[InventoryEntry],
    rules: &Rules,
    timeout: Duration,
    poll: Duration,
    mut report: impl FnMut(&str),
) -> Result<(), WaitError> {
    let start = tokio::time::Instant::now();
    let deadline = start + timeout;
    let probe = Probe::default();
    loop {
        let pending = probe.check(client, objects, rules).await?;
        if pending.is_empty() {
            return Ok(());
        }
        debug!(pending = pending.len(), "not all current yet");
        report(&list(&pending));
        let now = tokio::time::Instant::now();
        if now >= deadline {
            // The time it really waited: the last look may end a little after the deadline.
            return Err(WaitError::Timeout {
                after: now - start,
                pending,
            });
        }
        // The last look is at the deadline, not one poll before it.
        tokio::time::sleep(poll.min(deadline - now)).await;
    }
}

/// One look at a set of objects, for callers that do their own waiting (the controller
/// requeues instead of holding a worker while a rollout runs). Remembers each kind's API
/// from discovery, so keep one for many checks.
#[derive(Debug, Default)]
pub struct Probe {
    resources: std::sync::Mutex<HashMap<GroupVersionKind, (kube::core::ApiResource, Scope)>>,
}

impl Probe {
    /// Reads every object once; returns those not yet current by `rules` with their
    /// health.
    ///
    /// # Errors
    /// [`WaitError::Failed`] for the first failed object.
    pub async fn check(
        &self,
        client: &Client,
        objects: &[InventoryEntry],
        rules: &Rules,
    ) -> Result<Vec<(String, Health)>, WaitError> {
        self.check_seen(client, objects, rules, &HashMap::new())
            .await
    }

    /// [`Self::check`], reading only the objects `seen` has no health for (keyed by
    /// [`crate::inventory::key`]): what an apply's [`crate::apply::Change::health`] found
    /// as it wrote them, or what an earlier look of the same rollout found current.
    ///
    /// # Errors
    /// As [`Self::check`].
    pub async fn check_seen(
        &self,
        client: &Client,
        objects: &[InventoryEntry],
        rules: &Rules,
        seen: &HashMap<String, Health>,
    ) -> Result<Vec<(String, Health)>, WaitError> {
        let unseen: Vec<InventoryEntry> = objects
            .iter()
            .filter(|entry| !seen.contains_key(&key(entry)))
            .cloned()
            .collect();
        let mut read = self.healths(client, &unseen, rules).await.into_iter();
        let mut pending = Vec::new();
        for entry in objects {
            let health = match seen.get(&key(entry)) {
                Some(health) => health.clone(),
                None => read
                    .next()
                    .unwrap_or_else(|| Health::in_progress("not read")),
            };
            match health.status {
                Status::Current => {}
                Status::Failed => {
                    return Err(WaitError::Failed {
                        object: id(entry),
                        health,
                    });
                }
                _ => pending.push((id(entry), health)),
            }
        }
        Ok(pending)
    }

    /// The health of every object of `objects`, in order, each read once: `NotFound` for
    /// one that is not there (or whose kind is not served), `InProgress` for one that
    /// cannot be read (the API's code and reason only).
    pub async fn healths(
        &self,
        client: &Client,
        objects: &[InventoryEntry],
        rules: &Rules,
    ) -> Vec<Health> {
        let mut resolved = Vec::with_capacity(objects.len());
        for entry in objects {
            resolved.push((entry, self.api(client, entry).await));
        }
        futures::stream::iter(
            resolved
                .iter()
                .map(|(entry, api)| read(api.as_ref(), &entry.name, rules).boxed())
                .collect::<Vec<_>>(),
        )
        .buffered(CONCURRENCY)
        .collect()
        .await
    }

    /// Whether `client` may read `entry`: its GET is answered, the object found or not.
    /// The web UI shows an object's diff only to a user who may read it.
    pub async fn readable(&self, client: &Client, entry: &InventoryEntry) -> bool {
        match self.api(client, entry).await {
            Some(api) => api.get_opt(&entry.name).await.is_ok(),
            None => false,
        }
    }

    async fn api(&self, client: &Client, entry: &InventoryEntry) -> Option<Api<DynamicObject>> {
        let gvk = GroupVersionKind::gvk(&entry.group, &entry.version, &entry.kind);
        let known = self.resources().get(&gvk).cloned();
        let (resource, scope) = match known {
            Some(found) => found,
            None => {
                let (resource, caps) = kube::discovery::pinned_kind(client, &gvk).await.ok()?;
                self.resources()
                    .insert(gvk, (resource.clone(), caps.scope.clone()));
                (resource, caps.scope)
            }
        };
        Some(if scope == Scope::Namespaced {
            Api::namespaced_with(client.clone(), &entry.namespace, &resource)
        } else {
            Api::all_with(client.clone(), &resource)
        })
    }

    fn resources(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<GroupVersionKind, (kube::core::ApiResource, Scope)>>
    {
        self.resources.lock().unwrap_or_else(|e| e.into_inner())
    }
}

async fn read(api: Option<&Api<DynamicObject>>, name: &str, rules: &Rules) -> Health {
    let Some(api) = api else {
        return Health::new(Status::NotFound, "kind not served");
    };
    match api.get_opt(name).await {
        Ok(Some(live)) => match serde_json::to_value(&live) {
            Ok(object) => rules.health(&object),
            Err(_) => Health::in_progress("cannot decode the live object"),
        },
        Ok(None) => Health::new(Status::NotFound, "not found"),
        // Only the code and reason: API messages can echo a Secret's data.
        Err(kube::Error::Api(status)) => {
            Health::in_progress(format!("cannot read: {} {}", status.code, status.reason))
        }
        Err(_) => Health::in_progress("cannot read: request failed"),
    }
}
