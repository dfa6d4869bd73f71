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

use kube::ResourceExt;
use kube::runtime::controller::Action;
use lockstep_api::flux::{HelmRepository, HelmRepositoryStatus, REQUESTED_AT_ANNOTATION};
use lockstep_api::{ObjectKey, parse_duration};
use lockstep_engine::redact::Redactor;

use super::repository_status;
use crate::sync::conditions::{self, READY, STALLED, SourceReason};
use crate::sync::{SyncCtx, chart, source};

/// How often a repository's index is read when it sets no `interval`.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(600);

/// Runs the HelmRepository controller on `ctx` until SIGTERM or Ctrl-C.
pub async fn run(ctx: Arc<SyncCtx>) {
    repository_status::run(ctx, reconcile).await;
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
        repository_status::write(&ctx, &*repo, &previous, &HelmRepositoryStatus::default()).await?;
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
        repository_status::write(&ctx, &*repo, &previous, &next).await?;
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
    let (ready, reason, message) = match outcome {
        Ok(index) => {
            let revision = format!("sha256:{}", index.digest);
            let message = format!("stored artifact: revision '{revision}'");
            let digest = Some(revision.clone());
            let artifact =
                repository_status::artifact(previous.artifact.as_ref(), revision, digest);
            next.artifact = Some(artifact);
            (true, SourceReason::Succeeded, message)
        }
        Err((reason, message)) => (false, reason, message),
    };
    conditions::set(
        &mut next.conditions,
        READY,
        ready,
        reason,
        message,
        generation,
    );
    next.observed_generation = generation;
    repository_status::write(&ctx, &*repo, &previous, &next).await?;
    ctx.chart_fetched(key, request);
    Ok(Action::requeue(interval))
}
