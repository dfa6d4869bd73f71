//! One look at the health of what a Sync checks (`wait`: everything it applied, else its
//! `healthChecks`): never waited for, so a slow rollout holds no worker.
//!
//! A look reads only what it does not know yet. Right after an apply, each object's
//! health is judged from what its write returned ([`ApplyOptions::health`]); while a
//! rollout goes on, an object once seen current is not read again ([`Rollouts`]), as a
//! rollout is done when each object has been current since the revision was applied. With
//! Flux's benchmark shape that is one read per Kustomization (its Deployment) where it
//! was eight.
//!
//! [`ApplyOptions::health`]: lockstep_engine::apply::ApplyOptions::health

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Duration;

use lockstep_api::{InventoryEntry, ObjectKey, Sync};
use lockstep_engine::health::{self, Rules, Status, WaitError};
use lockstep_engine::inventory::{id, key};

use super::SyncCtx;
use super::record::Health;

/// What each Sync's rollout already knows, by [`key`]: at its start the health each write
/// returned, then the objects an earlier look found current. The next look takes it
/// ([`check_health`]); it is forgotten when the rollout ends.
#[derive(Default)]
pub struct Rollouts(Mutex<HashMap<ObjectKey, HashMap<String, health::Health>>>);

impl Rollouts {
    /// Keeps what the next look of `sync`'s rollout need not read.
    pub(super) fn keep(&self, sync: ObjectKey, known: HashMap<String, health::Health>) {
        self.lock().insert(sync, known);
    }

    /// Forgets the rollout of `sync` (the Sync deleted).
    pub fn forget(&self, sync: &ObjectKey) {
        self.lock().remove(sync);
    }

    fn take(&self, sync: &ObjectKey) -> HashMap<String, health::Health> {
        self.lock().remove(sync).unwrap_or_default()
    }

    fn lock(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<ObjectKey, HashMap<String, health::Health>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One look at the objects `wait` or `healthChecks` name by `rules`, reading only those
/// the rollout does not know yet ([`Rollouts`]). `since` is when the rollout started (RFC
/// 3339; empty for now): past `timeout` a pending rollout has failed.
pub(super) async fn check_health(
    sync: &Sync,
    ctx: &SyncCtx,
    client: &kube::Client,
    inventory: &[InventoryEntry],
    since: &str,
    timeout: Duration,
    rules: &Rules,
) -> Health {
    let rollout = ObjectKey::of(sync);
    let seen = ctx.rollouts.take(&rollout);
    let objects = checked_objects(sync, inventory);
    if objects.is_empty() {
        return Health::Unchecked;
    }
    match ctx.probe.check_seen(client, &objects, rules, &seen).await {
        Ok(pending) if pending.is_empty() => Health::Healthy,
        Ok(pending) => {
            let waiting: HashSet<&str> = pending.iter().map(|(id, _)| id.as_str()).collect();
            let current = objects
                .iter()
                .filter(|entry| !waiting.contains(id(entry).as_str()))
                .map(|entry| {
                    let health = health::Health {
                        status: Status::Current,
                        message: "current at an earlier look".into(),
                    };
                    (key(entry), health)
                })
                .collect();
            ctx.rollouts.keep(rollout, current);
            let list: Vec<String> = pending
                .iter()
                .map(|(object, health)| format!("{object} {health}"))
                .collect();
            let elapsed = since
                .parse::<jiff::Timestamp>()
                .ok()
                .and_then(|t| jiff::Timestamp::now().duration_since(t).try_into().ok())
                .unwrap_or(Duration::ZERO);
            if elapsed > timeout {
                Health::Failed(format!(
                    "timed out after {timeout:?} waiting for: {}",
                    list.join(", ")
                ))
            } else {
                Health::Progressing(list.join(", "))
            }
        }
        Err(err) => Health::Failed(err.to_string()),
    }
}

/// Waits, polling every second for at most `timeout`, until the objects `wait` or
/// `healthChecks` name are current: a chart's post-install and post-upgrade hooks run
/// after that, as Argo CD runs PostSync hooks. Nothing to check is at once healthy, as
/// `helm install` without `--wait` runs them.
pub(super) async fn wait_healthy(
    sync: &Sync,
    client: &kube::Client,
    inventory: &[InventoryEntry],
    timeout: Duration,
) -> Result<(), WaitError> {
    let objects = checked_objects(sync, inventory);
    // Checked before anything was applied ([`super::decide`]): an invalid one never
    // gets here, and none at all is the built-in rules.
    let rules = Rules::compile(&sync.spec.health_check_exprs).unwrap_or_default();
    lockstep_engine::health::wait(client, &objects, &rules, timeout, Duration::from_secs(1)).await
}

/// Everything applied with `wait`, else the `healthChecks` entries.
fn checked_objects(sync: &Sync, inventory: &[InventoryEntry]) -> Vec<InventoryEntry> {
    if sync.spec.wait {
        return inventory.to_vec();
    }
    sync.spec
        .health_checks
        .iter()
        .map(|check| {
            let (group, version) = check
                .api_version
                .rsplit_once('/')
                .unwrap_or(("", &check.api_version));
            InventoryEntry {
                group: group.to_owned(),
                version: version.to_owned(),
                kind: check.kind.clone(),
                namespace: check.namespace.clone().unwrap_or_default(),
                name: check.name.clone(),
            }
        })
        .collect()
}
