//! Flux's `OCIRepository` status (`--flux`): every `interval` (default 10m, Flux's
//! requested reconcile at once) the ref is resolved and the artifact fetched into the cache
//! with the repository's credentials — a chart when its config is Helm's, else its layer as
//! files (`flux push artifact`) — and `Ready` says whether it could be, as
//! Flux's source-controller says it — so `kubectl wait --for=condition=Ready` and `flux get
//! sources oci` work with Lockstep alone. The artifact's revision is
//! `<version>@sha256:<manifest digest>` (Flux writes the tag where Lockstep writes a
//! chart's version: they differ only for a version with `+build`, tagged `_build`); no
//! artifact tarball is served, so its `url` and `path` are empty. The HelmReleases and
//! Kustomizations that name it fetch it themselves ([`crate::sync::chart`]), from the cache
//! this filled.

use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use lockstep_api::flux::{OCIRepository, REQUESTED_AT_ANNOTATION};
use lockstep_api::{ObjectKey, parse_duration};
use lockstep_engine::fetch::OciContent;
use lockstep_engine::redact::Redactor;

use super::repository_status;
use crate::sync::chart::{self, Refusal};
use crate::sync::conditions::{self, READY, STALLED, SourceReason};
use crate::sync::{SyncCtx, source};

/// How often the ref is resolved when the repository sets no `interval`.
const DEFAULT_INTERVAL: Duration = Duration::from_secs(600);

/// Runs the OCIRepository controller on `ctx` until SIGTERM or Ctrl-C.
pub async fn run(ctx: Arc<SyncCtx>) {
    repository_status::run(ctx, reconcile).await;
}

/// Resolves one OCIRepository's ref and writes what came of it.
async fn reconcile(repo: Arc<OCIRepository>, ctx: Arc<SyncCtx>) -> Result<Action, source::Error> {
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
    let interval = match repo.spec.interval.as_deref().map(parse_duration) {
        None => Ok(DEFAULT_INTERVAL),
        Some(parsed) => parsed.map_err(|err| format!("spec.interval: {err}")),
    };
    // Its freshness is kept apart from a HelmRepository's of the same name.
    let key = ObjectKey::of(&*repo);
    let fresh_key = ObjectKey::new(&key.namespace, format!("{}/oci", key.name));
    let request = (generation, next.last_handled_reconcile_at.clone());
    if let Ok(interval) = interval
        && ctx.chart_fresh(&fresh_key, &request, interval)
    {
        return Ok(Action::requeue(interval));
    }
    let mut redactor = Redactor::new();
    let target = match &interval {
        Err(message) => Err(Refusal::Stalled(message.clone())),
        Ok(_) => chart::oci_target(&ctx, &repo, &key.namespace, &mut redactor).await,
    };
    let found = match target {
        Err(Refusal::Stalled(message)) => {
            let reason = SourceReason::InvalidSpec;
            for condition in [READY, STALLED] {
                let stalled = condition == STALLED;
                let conditions = &mut next.conditions;
                conditions::set(
                    conditions,
                    condition,
                    stalled,
                    reason,
                    message.clone(),
                    generation,
                );
            }
            next.observed_generation = generation;
            repository_status::write(&ctx, &*repo, &previous, &next).await?;
            return Ok(Action::await_change());
        }
        Err(Refusal::Waiting(message)) => Err((SourceReason::AuthenticationFailed, message)),
        Ok(found) => Ok(found),
    };
    conditions::remove(&mut next.conditions, STALLED);
    let fetched = match found {
        Err(failed) => Err(failed),
        Ok(found) => {
            let content = OciContent::Any(found.layer_media_type);
            chart::fetch_oci(
                &ctx,
                &found.target,
                &found.chart,
                &found.version,
                content,
                &redactor,
            )
            .await
            .map_err(|message| (SourceReason::OciPullFailed, message))
        }
    };
    let (ready, reason, message) = match fetched {
        Ok(fetched) => {
            let revision = fetched.revision;
            let message = format!("stored artifact for digest '{revision}'");
            let digest = revision
                .split_once('@')
                .map(|(_, digest)| digest.to_owned());
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
    let interval = interval.unwrap_or(DEFAULT_INTERVAL);
    ctx.chart_fetched(fresh_key, request);
    Ok(Action::requeue(interval))
}
