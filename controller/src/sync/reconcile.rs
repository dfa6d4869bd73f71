//! The Sync reconciler's loop: a deleted Sync is finalized ([`finalize`]), the spec's
//! durations are read (parsed once per generation, [`super::intervals`]), a chart of a
//! Helm repository is fetched when due ([`chart`]), and a wake-up
//! that changes nothing is skipped until the Sync is due; a helm Sync's `valuesFrom` is read
//! just before it renders ([`values`]). [`decide`] works out what to
//! do, [`super::record`] writes it down, and the next look is scheduled: a rollout in a
//! second, a failure at `retryInterval`, a wait at `--requeue-dependency`, a settled Sync
//! at its interval (sooner when its references must be resolved again).

use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::ResourceExt;
use kube::runtime::controller::Action;
use lockstep_api::{ObjectKey, Sync};

use super::conditions::{self, READY};
use super::front::Front;
use super::intervals::SyncIntervals;
use super::record::{Error, Health, Verdict, record};
use super::status::observe_generation;
use super::{Seen, SyncCtx, chart, decide, finalize, values};

/// How soon a Sync whose objects are still rolling out looks again.
const PROGRESS_POLL: Duration = Duration::from_secs(1);

/// The source whose artifact a Sync reads: the GitSource (in the Sync's namespace unless
/// `sourceRef` names one), or for a chart of a HelmRepository the Sync's own chart
/// artifact ([`chart::source_key`]).
pub fn source_of(sync: &Sync) -> ObjectKey {
    if chart::from_repository(sync) {
        return chart::source_key(sync);
    }
    let reference = &sync.spec.source_ref;
    let namespace = reference
        .namespace
        .clone()
        .unwrap_or_else(|| sync.namespace().unwrap_or_default());
    ObjectKey::new(namespace, &reference.name)
}

/// A suspended Sync that is Ready says so at its new generation too, as Flux's controllers
/// record it: its dependents go on reading it ready, and Flux's revision rule
/// ([`super::dependencies`]) holds them to the revision it applied. Argo CD has no suspend.
async fn suspended(sync: &Sync, ctx: &SyncCtx) -> Result<(), Error> {
    let (Some(status), Some(generation)) = (&sync.status, sync.metadata.generation) else {
        return Ok(());
    };
    if ctx.front == Front::ArgoCd
        || status.observed_generation == Some(generation)
        || !conditions::is_true(&status.conditions, READY)
    {
        return Ok(());
    }
    observe_generation(ctx, sync, generation)
        .await
        .map_err(|source| Error::new("status", sync, source))
}

/// Reconciles one Sync.
///
/// # Errors
/// [`Error`] when the status cannot be written.
pub async fn reconcile(sync: Arc<Sync>, ctx: Arc<SyncCtx>) -> Result<Action, Error> {
    if sync.metadata.deletion_timestamp.is_some() {
        finalize::finalize(&sync, &ctx).await?;
        let key = ObjectKey::of(&*sync);
        ctx.forget_due(&key);
        ctx.forget_failures(&key);
        ctx.sync_intervals.forget(&key);
        ctx.histories.forget(&key);
        ctx.rollouts.forget(&key);
        ctx.held.forget(&key);
        let kind = ctx.front.sync_kind();
        ctx.shared.metrics.forget(kind, &key.namespace, &key.name);
        return Ok(Action::await_change());
    }
    finalize::ensure(&sync, &ctx).await?;
    if sync.spec.suspend {
        suspended(&sync, &ctx).await?;
        return Ok(Action::await_change());
    }
    let mut sync = Arc::unwrap_or_clone(sync);
    let started = Instant::now();
    let key = ObjectKey::of(&sync);
    let parsed = ctx.sync_intervals.get(&key, sync.metadata.generation, || {
        SyncIntervals::parse(&sync.spec)
    });
    let SyncIntervals {
        interval,
        retry,
        timeout,
    } = match parsed {
        Ok(parsed) => parsed,
        Err(err) => {
            record(&mut sync, &ctx, Verdict::Stalled(err.to_string())).await?;
            return Ok(Action::await_change());
        }
    };
    if let Err(verdict) = chart::fetch(&sync, &ctx, interval).await {
        let next = match verdict {
            Verdict::Stalled(_) => Action::await_change(),
            _ => Action::requeue(ctx.requeue_dependency),
        };
        record(&mut sync, &ctx, verdict).await?;
        return Ok(next);
    }
    let seen = ctx
        .artifact(&source_of(&sync))
        .map(|artifact| Seen::new(&sync, artifact.revision));
    if let Some(seen) = &seen
        && let Some(remaining) = ctx.not_due(&key, seen)
    {
        // Woken by our own status write (or a no-op event) within the interval, or while
        // backing off: looked at again at the interval at the latest, as an Argo CD
        // Application looks for a new revision only when it wakes.
        return Ok(Action::requeue(remaining.min(interval)));
    }

    if let Err(message) = values::read(&mut sync, &ctx).await {
        let verdict = Verdict::Waiting {
            reason: super::conditions::Reason::BuildFailed,
            message,
        };
        record(&mut sync, &ctx, verdict).await?;
        return Ok(Action::requeue(ctx.requeue_dependency));
    }
    let verdict = tokio::select! {
        verdict = decide::decide(&mut sync, &ctx, timeout) => verdict?,
        () = crate::shutdown::requested() => {
            // Nobody waits for in-flight decryption or an apply on the way out: the
            // inventory was recorded before the first write, the next start finishes it.
            return Ok(Action::await_change());
        }
    };
    // A failed apply is retried with the Sync's backoff (an Argo CD `retry`) while it
    // lasts, else at `retryInterval`.
    let backoff = match verdict {
        Verdict::Failed { .. } => {
            let retries = ctx.failed_again(&key);
            sync.spec.backoff.and_then(|backoff| backoff.delay(retries))
        }
        _ => {
            ctx.forget_failures(&key);
            None
        }
    };
    let next = match &verdict {
        Verdict::Applied {
            health: Health::Progressing(_),
            ..
        } => Some(PROGRESS_POLL),
        Verdict::Failed { .. } if backoff.is_some() => backoff,
        Verdict::Applied {
            health: Health::Failed(_),
            ..
        }
        | Verdict::Failed { .. } => Some(retry),
        Verdict::Waiting { .. } => Some(ctx.requeue_dependency),
        Verdict::Stalled(_) => None,
        _ => Some(ctx.refresh_in(&key).map_or(interval, |r| r.min(interval))),
    };
    let settled = verdict.is_settled();
    let took = started.elapsed();
    let mut verdict = verdict;
    // A verdict held from the apply's reconcile keeps that reconcile's duration.
    if let Verdict::Applied { took: slot, .. } = &mut verdict {
        slot.get_or_insert(took);
    }
    match ctx.held.hold(&sync, verdict) {
        Some(verdict) => {
            super::record::log_outcome(&sync, &verdict, took);
            record(&mut sync, &ctx, verdict).await?;
        }
        // The next look, a second later, writes it ([`super::held`]).
        None => debug_assert_eq!(next, Some(PROGRESS_POLL)),
    }
    // Failures and waits retry whatever wakes them; a settled or progressing Sync, or one
    // backing off, ignores wake-ups that change nothing until it is due.
    match (seen, next) {
        (Some(seen), Some(wait)) if settled || wait == PROGRESS_POLL || backoff.is_some() => {
            ctx.due_in(key, seen, wait)
        }
        _ => ctx.forget_due(&key),
    }
    ctx.shared
        .metrics
        .reconciled(ctx.front.sync_kind(), started.elapsed());
    let next = match backoff {
        Some(_) => next.map(|wait| wait.min(interval)),
        None => next,
    };
    Ok(next.map_or_else(Action::await_change, Action::requeue))
}

/// Retries a failed status write after 5 seconds.
pub fn error_policy(_sync: Arc<Sync>, error: &Error, _ctx: Arc<SyncCtx>) -> Action {
    tracing::warn!(%error, "Sync reconcile failed; retrying in 5s");
    Action::requeue(Duration::from_secs(5))
}
