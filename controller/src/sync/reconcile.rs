//! The Sync reconciler: wait for dependencies and the source, render the artifact, then
//! apply and prune (`mode: auto`, or `manual` once the revision is approved) or report the
//! plan (`manual`), check health, and record what happened.
//!
//! A revision already applied is not applied again unless `selfHeal` is on (then every
//! interval's dry-run finds and reverts drift), the spec changed, the last attempt failed,
//! or a reconcile was requested. Nothing is pruned after a failed render or apply.

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use lockstep_api::{
    APPROVED_REVISION_ANNOTATION, InventoryEntry, REQUESTED_AT_ANNOTATION, Sync, SyncMode,
    parse_duration,
};
use lockstep_engine::apply::ApplyOptions;
use lockstep_engine::health;
use lockstep_engine::render::{Owner, RenderOptions, render};
use lockstep_engine::run::{self, RunError, RunOptions};

use super::conditions::{self, HEALTHY, READY, RECONCILING, STALLED};
use super::{Ctx, status, target};

/// Why a Sync reconcile could not finish (only status writes; everything else is
/// reported in status).
#[derive(Debug, thiserror::Error)]
#[error("writing the status of Sync {name}: {source}")]
pub struct Error {
    name: String,
    source: kube::Error,
}

/// How a reconcile ended, before it is written down.
enum Verdict {
    /// Applied (or found applied) and healthy where checked.
    Applied {
        revision: String,
        summary: String,
        wrote: bool,
        inventory: Vec<InventoryEntry>,
        health: Option<Result<(), String>>,
    },
    /// Manual mode: changes wait for approval.
    Planned { plan: lockstep_api::Plan },
    /// Waiting on something that resolves by itself.
    Waiting {
        reason: &'static str,
        message: String,
    },
    /// This attempt failed; retry at `retryInterval`.
    Failed {
        reason: &'static str,
        message: String,
        revision: Option<String>,
        inventory: Option<Vec<InventoryEntry>>,
    },
    /// The spec cannot work; wait for it to change.
    Stalled { message: String },
}

/// `(namespace, name)` of the GitSource a Sync reads.
pub fn source_of(sync: &Sync) -> (String, String) {
    let reference = &sync.spec.source_ref;
    let namespace = reference
        .namespace
        .clone()
        .unwrap_or_else(|| sync.namespace().unwrap_or_default());
    (namespace, reference.name.clone())
}

/// Reconciles one Sync.
///
/// # Errors
/// [`Error`] when the status cannot be written.
pub async fn reconcile(sync: Arc<Sync>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    if sync.spec.suspend {
        return Ok(Action::await_change());
    }
    let started = Instant::now();
    let intervals = parse_duration(&sync.spec.interval).and_then(|interval| {
        let retry = sync
            .spec
            .retry_interval
            .as_deref()
            .map(parse_duration)
            .transpose()?;
        let timeout = sync
            .spec
            .timeout
            .as_deref()
            .map(parse_duration)
            .transpose()?;
        Ok((interval, retry.unwrap_or(interval), timeout))
    });
    let (verdict, requeue) = match intervals {
        Ok((interval, retry, timeout)) => {
            let timeout = timeout.unwrap_or_else(|| default_timeout(interval));
            let verdict = decide(&sync, &ctx, timeout).await;
            let requeue = match &verdict {
                Verdict::Applied {
                    health: Some(Err(_)),
                    ..
                }
                | Verdict::Failed { .. } => Action::requeue(retry),
                Verdict::Waiting { .. } => Action::requeue(ctx.requeue_dependency),
                Verdict::Stalled { .. } => Action::await_change(),
                _ => Action::requeue(interval),
            };
            (verdict, requeue)
        }
        Err(err) => (
            Verdict::Stalled {
                message: err.to_string(),
            },
            Action::await_change(),
        ),
    };
    record(&sync, &ctx, verdict).await?;
    ctx.metrics.reconciled("Sync", started.elapsed());
    Ok(requeue)
}

/// Retries a failed status write after 5 seconds.
pub fn error_policy(_sync: Arc<Sync>, error: &Error, _ctx: Arc<Ctx>) -> Action {
    tracing::warn!(%error, "Sync reconcile failed; retrying in 5s");
    Action::requeue(Duration::from_secs(5))
}

/// Flux's default: the interval less 30 s, at least 30 s.
fn default_timeout(interval: Duration) -> Duration {
    interval
        .saturating_sub(Duration::from_secs(30))
        .max(Duration::from_secs(30))
}

async fn decide(sync: &Sync, ctx: &Ctx, timeout: Duration) -> Verdict {
    let namespace = sync.namespace().unwrap_or_default();
    let status = sync.status.clone().unwrap_or_default();
    let (source_namespace, source_name) = source_of(sync);
    if ctx.no_cross_namespace_refs && source_namespace != namespace {
        return Verdict::Stalled {
            message: format!(
                "sourceRef {source_namespace}/{source_name} is in another namespace, which this controller refuses"
            ),
        };
    }
    if let Some(waiting) = dependencies(sync, ctx, &namespace).await {
        return waiting;
    }
    let Some(artifact) = ctx.artifact(&source_namespace, &source_name) else {
        return Verdict::Waiting {
            reason: "ArtifactFailed",
            message: format!("GitSource {source_namespace}/{source_name} has no artifact yet"),
        };
    };
    let revision = artifact.revision.clone();
    let requested = sync.annotations().get(REQUESTED_AT_ANNOTATION);
    let approved = sync.annotations().get(APPROVED_REVISION_ANNOTATION) == Some(&revision);
    let manual = sync.spec.mode == SyncMode::Manual && !approved;
    let settled = status.last_applied_revision.as_deref() == Some(revision.as_str())
        && status.observed_generation == sync.metadata.generation
        && conditions::is_true(&status.conditions, READY)
        && requested.is_none_or(|r| status.last_handled_requested_at.as_ref() == Some(r));
    if settled && !sync.spec.self_heal {
        return Verdict::Applied {
            revision,
            summary: "no change".into(),
            wrote: false,
            inventory: status.inventory,
            health: None,
        };
    }

    let owner = Owner {
        name: sync.name_any(),
        namespace: namespace.clone(),
    };
    let options = RenderOptions {
        owner: Some(owner.clone()),
        target_namespace: sync.spec.target_namespace.clone(),
    };
    let path = sync.spec.path.clone().unwrap_or_default();
    let root = artifact.path.clone();
    let rendered = tokio::task::spawn_blocking(move || render(&root, &path, &options)).await;
    let manifests = match rendered {
        Ok(Ok(manifests)) => manifests,
        Ok(Err(err)) => return failed("BuildFailed", err.to_string(), &revision),
        Err(err) => return failed("BuildFailed", format!("render task: {err}"), &revision),
    };
    let client = match target::client(&ctx.client, &namespace, sync.spec.kube_config.as_ref()).await
    {
        Ok(client) => client,
        Err(err) => return failed("ReconciliationFailed", err.to_string(), &revision),
    };
    let options = RunOptions {
        owner,
        previous: status.inventory.clone(),
        prune: sync.spec.prune,
        apply: ApplyOptions {
            force: sync.spec.force,
            wait_timeout: timeout,
            dry_run: false,
        },
    };
    if manual {
        return match run::plan(&client, &manifests, &options, &revision).await {
            Ok(plan) if plan.changes.is_empty() => Verdict::Applied {
                revision,
                summary: "in sync, nothing to approve".into(),
                wrote: false,
                inventory: status.inventory,
                health: None,
            },
            Ok(plan) => Verdict::Planned { plan },
            Err(err) => failed("ReconciliationFailed", err.to_string(), &revision),
        };
    }
    match run::run(&client, &manifests, &options).await {
        Ok(outcome) => {
            let health = check_health(sync, &client, &outcome.inventory, timeout).await;
            Verdict::Applied {
                revision,
                summary: outcome.summary(),
                wrote: outcome.changes.writes() > 0 || !outcome.pruned.deleted.is_empty(),
                inventory: outcome.inventory,
                health,
            }
        }
        Err(err) => {
            let reason = match &err {
                RunError::Prune { .. } => "PruneFailed",
                _ => "ReconciliationFailed",
            };
            Verdict::Failed {
                reason,
                message: err.to_string(),
                revision: Some(revision),
                inventory: Some(err.inventory().to_vec()),
            }
        }
    }
}

fn failed(reason: &'static str, message: String, revision: &str) -> Verdict {
    Verdict::Failed {
        reason,
        message,
        revision: Some(revision.to_owned()),
        inventory: None,
    }
}

/// The first dependency that is not Ready at its current generation, as a wait.
async fn dependencies(sync: &Sync, ctx: &Ctx, namespace: &str) -> Option<Verdict> {
    for dependency in &sync.spec.depends_on {
        let dep_namespace = dependency.namespace.as_deref().unwrap_or(namespace);
        let name = format!("{dep_namespace}/{}", dependency.name);
        if ctx.no_cross_namespace_refs && dep_namespace != namespace {
            return Some(Verdict::Stalled {
                message: format!(
                    "dependency {name} is in another namespace, which this controller refuses"
                ),
            });
        }
        let api: Api<Sync> = Api::namespaced(ctx.client.clone(), dep_namespace);
        let ready = match api.get_opt(&dependency.name).await {
            Ok(Some(dep)) => dep.status.as_ref().is_some_and(|s| {
                conditions::is_true(&s.conditions, READY)
                    && s.observed_generation == dep.metadata.generation
            }),
            _ => false,
        };
        if !ready {
            return Some(Verdict::Waiting {
                reason: "DependencyNotReady",
                message: format!("dependency '{name}' is not ready"),
            });
        }
    }
    None
}

/// Waits for the objects `wait` or `healthChecks` name; `None` when nothing is checked.
async fn check_health(
    sync: &Sync,
    client: &kube::Client,
    inventory: &[InventoryEntry],
    timeout: Duration,
) -> Option<Result<(), String>> {
    let objects: Vec<InventoryEntry> = if sync.spec.wait {
        inventory.to_vec()
    } else {
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
    };
    if objects.is_empty() {
        return None;
    }
    let poll = Duration::from_secs(1);
    Some(
        health::wait(client, &objects, timeout, poll)
            .await
            .map_err(|e| e.to_string()),
    )
}

/// Turns the verdict into status, events and metrics.
async fn record(sync: &Sync, ctx: &Ctx, verdict: Verdict) -> Result<(), Error> {
    let generation = sync.metadata.generation;
    let previous = sync.status.clone().unwrap_or_default();
    let mut next = previous.clone();
    let c = &mut next.conditions;
    let mut event: Option<(EventType, &str, String)> = None;
    match verdict {
        Verdict::Applied {
            revision,
            summary,
            wrote,
            inventory,
            health,
        } => {
            let healthy = health.as_ref().is_none_or(Result::is_ok);
            match &health {
                Some(Ok(())) => conditions::set(
                    c,
                    HEALTHY,
                    true,
                    "Succeeded",
                    "all checked objects are healthy".into(),
                    generation,
                ),
                Some(Err(message)) => conditions::set(
                    c,
                    HEALTHY,
                    false,
                    "HealthCheckFailed",
                    message.clone(),
                    generation,
                ),
                None if !wrote => {}
                None => conditions::remove(c, HEALTHY),
            }
            if healthy {
                let message = format!("applied revision {revision}");
                conditions::set(
                    c,
                    READY,
                    true,
                    "ReconciliationSucceeded",
                    message,
                    generation,
                );
                if wrote || previous.last_applied_revision.as_ref() != Some(&revision) {
                    event = Some((
                        EventType::Normal,
                        "ReconciliationSucceeded",
                        format!("{summary}; revision {revision}"),
                    ));
                }
                next.last_applied_revision = Some(revision.clone());
            } else {
                let message = health.and_then(Result::err).unwrap_or_default();
                conditions::set(
                    c,
                    READY,
                    false,
                    "HealthCheckFailed",
                    message.clone(),
                    generation,
                );
                event = Some((EventType::Warning, "HealthCheckFailed", message));
            }
            conditions::remove(c, RECONCILING);
            conditions::remove(c, STALLED);
            next.last_attempted_revision = Some(revision);
            next.inventory = inventory;
            next.plan = None;
        }
        Verdict::Planned { plan } => {
            let message = format!(
                "{} change(s) for revision {} wait for approval: annotate {APPROVED_REVISION_ANNOTATION}={}",
                plan.changes.len(),
                plan.revision,
                plan.revision
            );
            conditions::set(
                c,
                READY,
                false,
                "ApprovalRequired",
                message.clone(),
                generation,
            );
            conditions::remove(c, STALLED);
            if previous.plan.as_ref() != Some(&plan) {
                event = Some((EventType::Normal, "ApprovalRequired", message));
            }
            next.last_attempted_revision = Some(plan.revision.clone());
            next.plan = Some(plan);
        }
        Verdict::Waiting { reason, message } => {
            conditions::set(c, READY, false, reason, message.clone(), generation);
            conditions::set(c, RECONCILING, true, reason, message, generation);
        }
        Verdict::Failed {
            reason,
            message,
            revision,
            inventory,
        } => {
            conditions::set(c, READY, false, reason, message.clone(), generation);
            conditions::remove(c, RECONCILING);
            event = Some((EventType::Warning, reason, message));
            next.last_attempted_revision = revision.or(next.last_attempted_revision);
            if let Some(inventory) = inventory {
                next.inventory = inventory;
            }
        }
        Verdict::Stalled { message } => {
            conditions::set(c, STALLED, true, "InvalidSpec", message.clone(), generation);
            conditions::set(c, READY, false, "InvalidSpec", message.clone(), generation);
            event = Some((EventType::Warning, "InvalidSpec", message));
        }
    }
    next.observed_generation = generation;
    next.last_handled_requested_at = sync
        .annotations()
        .get(REQUESTED_AT_ANNOTATION)
        .cloned()
        .or(next.last_handled_requested_at);

    let ready = conditions::get(&next.conditions, READY);
    let repeated = ready
        .zip(conditions::get(&previous.conditions, READY))
        .is_some_and(|(a, b)| {
            a.status == b.status && a.reason == b.reason && a.message == b.message
        });
    if let Some((type_, reason, note)) = event
        && !(repeated && type_ == EventType::Warning)
    {
        status::publish(ctx, sync, type_, reason, "Reconcile", &note).await;
    }
    ctx.metrics.condition(
        "Sync",
        &sync.namespace().unwrap_or_default(),
        &sync.name_any(),
        ready.is_some_and(|r| r.status == "True"),
    );
    status::write(ctx, sync, &previous, &next)
        .await
        .map_err(|source| Error {
            name: format!(
                "{}/{}",
                sync.namespace().unwrap_or_default(),
                sync.name_any()
            ),
            source,
        })
}
