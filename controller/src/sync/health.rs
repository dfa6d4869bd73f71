//! One look at the health of what a Sync checks (`wait`: everything it applied, else its
//! `healthChecks`): never waited for, so a slow rollout holds no worker.

use std::time::Duration;

use lockstep_api::{InventoryEntry, Sync};
use lockstep_engine::health::{Rules, WaitError};

use super::SyncCtx;
use super::record::Health;

/// One look at the objects `wait` or `healthChecks` name. `since` is when the rollout
/// started (RFC 3339; empty for now): past `timeout` a pending rollout has failed.
pub(super) async fn check_health(
    sync: &Sync,
    ctx: &SyncCtx,
    client: &kube::Client,
    inventory: &[InventoryEntry],
    since: &str,
    timeout: Duration,
) -> Health {
    let objects = checked_objects(sync, inventory);
    if objects.is_empty() {
        return Health::Unchecked;
    }
    let rules = match Rules::compile(&sync.spec.health_check_exprs) {
        Ok(rules) => rules,
        Err(err) => return Health::Failed(err.to_string()),
    };
    match ctx.probe.check(client, &objects, &rules).await {
        Ok(pending) if pending.is_empty() => Health::Healthy,
        Ok(pending) => {
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
