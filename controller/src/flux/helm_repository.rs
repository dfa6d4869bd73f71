//! Flux's `HelmRepository` status (`--flux`): every `interval` (default 10m, Flux's
//! requested reconcile at once) the repository's `index.yaml` is read with its
//! credentials, and `Ready` says whether it could be, as Flux's source-controller says it —
//! so `kubectl wait --for=condition=Ready` and `flux get sources helm` work with Lockstep
//! alone. The artifact's revision is the index's SHA-256 (`sha256:<hex>`); no index
//! tarball is served, so its `url` and `path` are empty. The charts themselves are fetched
//! by the Syncs and HelmReleases that name the repository ([`crate::sync::chart`]). An OCI
//! repository (`type: oci`) has no index: as Flux does, Lockstep leaves its status empty.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::Controller;
use kube::runtime::controller::Action;
use lockstep_api::flux::{Artifact, HelmRepository, HelmRepositoryStatus, REQUESTED_AT_ANNOTATION};
use lockstep_api::{ObjectKey, parse_duration};
use lockstep_engine::redact::Redactor;

use crate::sync::conditions::{self, READY, STALLED, SourceReason};
use crate::sync::{SyncCtx, chart, source, status};

/// How often a repository's index is read when it sets no `interval`.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(600);

/// Runs the HelmRepository controller on `ctx` until SIGTERM or Ctrl-C.
pub async fn run(ctx: Arc<SyncCtx>) {
    let api: Api<HelmRepository> = ctx.api();
    Controller::new(api, ctx.watcher_config())
        .shutdown_on_signal()
        .run(reconcile, retry, ctx)
        .for_each(crate::watch::log)
        .await;
}

/// Reads one HelmRepository's index and writes what came of it.
async fn reconcile(repo: Arc<HelmRepository>, ctx: Arc<SyncCtx>) -> Result<Action, source::Error> {
    let generation = repo.metadata.generation;
    let previous = repo.status.clone().unwrap_or_default();
    let mut next = previous.clone();
    next.last_handled_reconcile_at = repo
        .annotations()
        .get(REQUESTED_AT_ANNOTATION)
        .cloned()
        .or(previous.last_handled_reconcile_at.clone());
    if repo.spec.suspend {
        return Ok(Action::await_change());
    }
    if repo.is_oci() {
        // Flux keeps OCI repositories static: no index, no artifact, an empty status (a
        // repository that had one is reset); its charts are read by those that name it.
        write(&ctx, &repo, &previous, &HelmRepositoryStatus::default()).await?;
        return Ok(Action::await_change());
    }
    let key = ObjectKey::of(&*repo);
    let unserved = repo.unserved();
    let interval = repo.spec.interval.as_deref().map(parse_duration);
    let timeout = repo.spec.timeout.as_deref().map(parse_duration);
    let invalid = match (&interval, &timeout) {
        _ if !unserved.is_empty() => Some(format!(
            "spec.{} not served by Lockstep",
            unserved.join(", spec.")
        )),
        (Some(Err(err)), _) => Some(format!("spec.interval: {err}")),
        (_, Some(Err(err))) => Some(format!("spec.timeout: {err}")),
        _ => None,
    };
    if let Some(message) = invalid {
        let reason = SourceReason::InvalidSpec;
        conditions::set(
            &mut next.conditions,
            READY,
            false,
            reason,
            message.clone(),
            generation,
        );
        conditions::set(
            &mut next.conditions,
            STALLED,
            true,
            reason,
            message,
            generation,
        );
        next.observed_generation = generation;
        write(&ctx, &repo, &previous, &next).await?;
        return Ok(Action::await_change());
    }
    conditions::remove(&mut next.conditions, STALLED);
    let interval = match interval {
        Some(Ok(interval)) => interval,
        _ => DEFAULT_INTERVAL,
    };
    // Woken by its own status write (or a no-op event) within the interval: read already.
    let request = (generation, next.last_handled_reconcile_at.clone());
    if ctx.chart_fresh(&key, &request, interval) {
        return Ok(Action::requeue(interval));
    }
    let namespace = key.namespace.clone();
    let mut redactor = Redactor::new();
    let read = chart::read_repository(&ctx, &repo, &namespace, &mut redactor).await;
    let outcome = match read {
        Err(message) => Err((SourceReason::AuthenticationFailed, message)),
        Ok(mut target) => {
            target.timeout = timeout.and_then(Result::ok);
            ctx.fetcher.fetch_index(&target).await.map_err(|err| {
                (
                    SourceReason::IndexationFailed,
                    redactor.scrub(&err.to_string()),
                )
            })
        }
    };
    match outcome {
        Ok(index) => {
            let revision = format!("sha256:{}", index.digest);
            let message = format!("stored artifact: revision '{revision}'");
            let kept = previous.artifact.clone().filter(|a| a.revision == revision);
            next.artifact = Some(kept.unwrap_or_else(|| Artifact {
                path: String::new(),
                url: String::new(),
                digest: Some(revision.clone()),
                revision,
                last_update_time: Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
            }));
            let reason = SourceReason::Succeeded;
            conditions::set(
                &mut next.conditions,
                READY,
                true,
                reason,
                message,
                generation,
            );
        }
        Err((reason, message)) => {
            conditions::set(
                &mut next.conditions,
                READY,
                false,
                reason,
                message,
                generation,
            );
        }
    }
    next.observed_generation = generation;
    write(&ctx, &repo, &previous, &next).await?;
    ctx.chart_fetched(key, request);
    Ok(Action::requeue(interval))
}

async fn write(
    ctx: &SyncCtx,
    repo: &HelmRepository,
    previous: &HelmRepositoryStatus,
    next: &HelmRepositoryStatus,
) -> Result<(), source::Error> {
    status::write(ctx, repo, previous, next)
        .await
        .map_err(|source| source::Error::WriteStatus {
            name: ObjectKey::of(repo),
            source,
        })
}

/// Retries a failed status write after 5 seconds.
fn retry(_repo: Arc<HelmRepository>, error: &source::Error, _ctx: Arc<SyncCtx>) -> Action {
    tracing::warn!(%error, "HelmRepository reconcile failed; retrying in 5s");
    Action::requeue(Duration::from_secs(5))
}
