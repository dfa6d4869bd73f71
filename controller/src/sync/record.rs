//! Turning a reconcile's [`Verdict`] into status, events and metrics. Conditions follow
//! Flux's reasons (`ReconciliationSucceeded`, `BuildFailed`, `DependencyNotReady`,
//! `HealthCheckFailed`, …), so dashboards and `kubectl wait` read them the same way.

use kube::ResourceExt;
use kube::runtime::events::EventType;
use lockstep_api::{
    APPROVED_REVISION_ANNOTATION, AppliedRevision, Condition, HISTORY_LIMIT, InventoryEntry,
    ObjectKey, Plan, REQUESTED_AT_ANNOTATION, SecretsUsed, Sync, SyncStatus, format_duration,
};
use lockstep_engine::fetch::CommitAbout;

use super::SyncCtx;
use super::conditions::{self, HEALTHY, READY, RECONCILING, Reason, STALLED};
use super::drift::{self, Report};
use super::status::{self, EventAction};

/// Why a Sync reconcile could not finish (only writes to the Sync itself, its status or
/// its finalizer; everything else is reported in status).
#[derive(Debug, thiserror::Error)]
#[error("writing the {part} of Sync {name}: {source}")]
pub struct Error {
    part: &'static str,
    name: ObjectKey,
    source: kube::Error,
}

impl Error {
    /// A failed write of `part` (`status`, `finalizers`) of `sync`.
    pub fn new(part: &'static str, sync: &Sync, source: kube::Error) -> Self {
        Self {
            part,
            name: ObjectKey::of(sync),
            source,
        }
    }
}

/// The health of the checked objects after an apply.
pub enum Health {
    /// Nothing is checked (`wait` off and no `healthChecks`), or nothing was re-checked.
    Unchecked,
    /// Every checked object is current.
    Healthy,
    /// Some are still rolling out; look again soon.
    Progressing(String),
    /// One failed, or the timeout passed.
    Failed(String),
}

/// How a reconcile ended, before it is written down.
pub enum Verdict {
    /// Applied (or found applied), with the health of what is checked.
    Applied {
        /// The source revision.
        revision: String,
        /// What was done, for the event.
        summary: String,
        /// Whether anything was written or deleted.
        wrote: bool,
        /// The new inventory.
        inventory: Vec<InventoryEntry>,
        /// The checked objects' health.
        health: Health,
        /// The drift found or reverted.
        drift: Report,
        /// What the revision's commit says of itself, for the history.
        about: Option<CommitAbout>,
        /// Where its secrets came from, when it was rendered (else the status keeps what
        /// it said).
        secrets: Option<Box<SecretsUsed>>,
        /// How long the reconcile took, for the history.
        took: Option<std::time::Duration>,
    },
    /// Manual mode: changes wait for approval.
    Planned(Plan),
    /// A revision is being applied: its objects are in the inventory before the first
    /// write, so a process killed mid-apply forgets none of them.
    Applying {
        /// The source revision.
        revision: String,
        /// The previous inventory plus every object the apply may write.
        inventory: Vec<InventoryEntry>,
    },
    /// Waiting on something that resolves by itself.
    Waiting {
        /// Condition reason.
        reason: Reason,
        /// Condition message.
        message: String,
    },
    /// This attempt failed; retry at `retryInterval`.
    Failed {
        /// Condition reason.
        reason: Reason,
        /// Condition message (names the file or object).
        message: String,
        /// The revision tried.
        revision: String,
        /// The inventory to record, when objects were written before the failure.
        inventory: Option<Vec<InventoryEntry>>,
    },
    /// The spec cannot work; wait for it to change.
    Stalled(String),
}

impl Verdict {
    /// A failure before anything was applied.
    pub fn failed(reason: Reason, message: String, revision: &str) -> Self {
        Self::Failed {
            reason,
            message,
            revision: revision.to_owned(),
            inventory: None,
        }
    }

    /// Whether this is a finished, healthy state that the next interval may skip to.
    pub fn is_settled(&self) -> bool {
        matches!(
            self,
            Self::Planned(_)
                | Self::Applied {
                    health: Health::Healthy | Health::Unchecked,
                    ..
                }
        )
    }
}

/// One log line per reconcile outcome, like Flux's "Reconciliation finished in …": the
/// Sync, the revision, what happened and how long it took. Messages are those status gets
/// (already scrubbed), and the log writer scrubs again. A revision mid-apply is not an
/// outcome and logs nothing.
pub fn log_outcome(sync: &Sync, verdict: &Verdict, took: std::time::Duration) {
    let name = ObjectKey::of(sync);
    match verdict {
        Verdict::Applied {
            revision,
            summary,
            health,
            ..
        } => {
            let health = match health {
                Health::Unchecked => "not checked",
                Health::Healthy => "healthy",
                Health::Progressing(_) => "progressing",
                Health::Failed(_) => "unhealthy",
            };
            tracing::info!(sync = %name, %revision, ?took, health, "applied: {summary}");
        }
        Verdict::Planned(plan) => tracing::info!(
            sync = %name,
            revision = %plan.revision,
            ?took,
            "planned {} change(s); waiting for approval",
            plan.changes.len()
        ),
        Verdict::Applying { .. } => {}
        Verdict::Waiting { reason, message } => {
            tracing::info!(sync = %name, %reason, ?took, "waiting: {message}");
        }
        Verdict::Failed {
            reason,
            message,
            revision,
            ..
        } => tracing::warn!(sync = %name, %revision, %reason, ?took, "failed: {message}"),
        Verdict::Stalled(message) => tracing::warn!(sync = %name, ?took, "stalled: {message}"),
    }
}

/// How many characters of a failure message go into status: an API server message
/// about an object without secret values is kept whole by the engine, and may be as long
/// as the value it quotes.
const MESSAGE_LIMIT: usize = 1000;

/// `message` cut to [`MESSAGE_LIMIT`]. It was scrubbed before (the reconcile's redactor
/// runs on the whole text), so the cut cannot leave a part of a value it would have found.
fn shortened(message: String) -> String {
    match message.char_indices().nth(MESSAGE_LIMIT) {
        Some((at, _)) => format!("{}…", &message[..at]),
        None => message,
    }
}

/// Writes the verdict into status (only when it changed), publishes an event on each
/// transition, and updates the `lockstep_ready` gauge. `sync.status` becomes what was
/// written, so a later verdict of the same reconcile starts from it.
///
/// # Errors
/// [`Error`] when the status cannot be written.
pub async fn record(sync: &mut Sync, ctx: &SyncCtx, verdict: Verdict) -> Result<(), Error> {
    let generation = sync.metadata.generation;
    let previous = sync.status.clone().unwrap_or_default();
    let mut next = previous.clone();
    let (drifted, drift_event) = match &verdict {
        Verdict::Applied {
            drift, revision, ..
        } => drift::write(&mut next, drift, revision, generation),
        _ => (None, None),
    };
    let event = write_verdict(&mut next, &previous, verdict, generation);
    let pinned = super::pin::pinned(sync, ctx.front);
    super::pin::mark(&mut next.conditions, pinned, generation);
    next.observed_generation = generation;
    next.last_handled_requested_at = sync
        .annotations()
        .get(REQUESTED_AT_ANNOTATION)
        .cloned()
        .or(next.last_handled_requested_at);

    let revision = next.last_attempted_revision.as_deref();
    if let Some(event) = event
        && !repeated_warning(&event, &previous, &next)
    {
        let (type_, reason, note) = event;
        let action = EventAction::Reconcile;
        status::publish(ctx, sync, type_, reason, action, &note, revision).await;
    }
    if let Some((type_, reason, note)) = drift_event {
        let action = EventAction::Reconcile;
        status::publish(ctx, sync, type_, reason, action, &note, revision).await;
    }
    let (kind, namespace, name) = (
        ctx.front.sync_kind(),
        sync.namespace().unwrap_or_default(),
        sync.name_any(),
    );
    let ready = conditions::is_true(&next.conditions, READY);
    ctx.shared.metrics.condition(kind, &namespace, &name, ready);
    if let Some(drifted) = drifted {
        ctx.shared.metrics.drifted(kind, &namespace, &name, drifted);
    }
    status::write_sync(ctx, sync, &previous, &next)
        .await
        .map_err(|source| Error::new("status", sync, source))?;
    sync.status = Some(next);
    Ok(())
}

/// An event to publish about the Sync: its type, reason and note.
type Event = (EventType, Reason, String);

/// Writes `verdict` into `next` (a copy of `previous`); returns the event it calls for.
fn write_verdict(
    next: &mut SyncStatus,
    previous: &SyncStatus,
    verdict: Verdict,
    generation: Option<i64>,
) -> Option<Event> {
    let c = &mut next.conditions;
    match verdict {
        Verdict::Applied {
            revision,
            summary,
            wrote,
            inventory,
            health,
            drift: _,
            about,
            secrets,
            took,
        } => {
            let applied = Applied {
                revision,
                summary: &summary,
                wrote,
                health,
                about,
                took,
            };
            let event = write_applied(next, previous, applied, generation);
            next.inventory = inventory;
            if let Some(secrets) = secrets {
                next.secrets = Some(*secrets).filter(|s| *s != SecretsUsed::default());
            }
            event
        }
        Verdict::Planned(plan) => write_plan(next, previous, plan, generation),
        Verdict::Applying {
            revision,
            inventory,
        } => {
            let message = format!("applying revision {revision}");
            let reason = Reason::Progressing;
            conditions::set_unknown(c, READY, reason, message.clone(), generation);
            conditions::set(c, RECONCILING, true, reason, message, generation);
            next.last_attempted_revision = Some(revision);
            next.inventory = inventory;
            None
        }
        Verdict::Waiting { reason, message } => {
            conditions::set(c, READY, false, reason, message.clone(), generation);
            conditions::set(c, RECONCILING, true, reason, message, generation);
            None
        }
        Verdict::Failed {
            reason,
            message,
            revision,
            inventory,
        } => {
            let message = shortened(message);
            conditions::set(c, READY, false, reason, message.clone(), generation);
            conditions::remove(c, RECONCILING);
            next.last_attempted_revision = Some(revision);
            if let Some(inventory) = inventory {
                next.inventory = inventory;
            }
            Some((EventType::Warning, reason, message))
        }
        Verdict::Stalled(message) => {
            let reason = Reason::InvalidSpec;
            conditions::set(c, STALLED, true, reason, message.clone(), generation);
            conditions::set(c, READY, false, reason, message.clone(), generation);
            Some((EventType::Warning, reason, message))
        }
    }
}

/// Applied (or found applied): `Healthy` and `Ready` from the health of what is checked;
/// an event when something was written, a new revision is applied, or health failed.
/// What a reconcile applied (or found applied), for [`write_applied`].
struct Applied<'a> {
    revision: String,
    summary: &'a str,
    wrote: bool,
    health: Health,
    about: Option<CommitAbout>,
    took: Option<std::time::Duration>,
}

fn write_applied(
    next: &mut SyncStatus,
    previous: &SyncStatus,
    applied: Applied<'_>,
    generation: Option<i64>,
) -> Option<Event> {
    let Applied {
        revision,
        summary,
        wrote,
        health,
        about,
        took,
    } = applied;
    let c = &mut next.conditions;
    set_healthy(c, &health, wrote, generation);
    conditions::remove(c, STALLED);
    let note = format!("{summary}; revision {revision}");
    let event = match health {
        Health::Healthy | Health::Unchecked => {
            let new = previous.last_applied_revision.as_ref() != Some(&revision);
            let message = format!("Applied revision: {revision}");
            let reason = Reason::ReconciliationSucceeded;
            conditions::set(c, READY, true, reason, message, generation);
            conditions::remove(c, RECONCILING);
            if new {
                let about = about.unwrap_or_default();
                let some = |text: String| (!text.is_empty()).then_some(text);
                let applied = AppliedRevision {
                    revision: revision.clone(),
                    applied_at: conditions::now(),
                    message: some(about.summary),
                    author: some(about.author),
                    authored_at: some(about.authored_at),
                    // In Go's form, as the Sync's own durations: `850ms`, `12.412s`.
                    duration: took.map(|t| {
                        let millis = u64::try_from(t.as_millis()).unwrap_or(u64::MAX);
                        format_duration(std::time::Duration::from_millis(millis))
                    }),
                };
                next.history.insert(0, applied);
                next.history.truncate(HISTORY_LIMIT);
            }
            next.last_applied_revision = Some(revision.clone());
            (wrote || new).then_some((EventType::Normal, reason, note))
        }
        Health::Progressing(message) => {
            let message = format!("Applied revision: {revision}; waiting for: {message}");
            let reason = Reason::Progressing;
            conditions::set(c, READY, false, reason, message.clone(), generation);
            conditions::set(c, RECONCILING, true, reason, message, generation);
            wrote.then_some((EventType::Normal, reason, note))
        }
        Health::Failed(message) => {
            let reason = Reason::HealthCheckFailed;
            conditions::set(c, READY, false, reason, message.clone(), generation);
            conditions::remove(c, RECONCILING);
            Some((EventType::Warning, reason, message))
        }
    };
    next.last_attempted_revision = Some(revision);
    next.plan = None;
    event
}

/// The `Healthy` condition after an apply: set from what was checked, removed when
/// nothing is checked and objects were written (an old verdict no longer holds).
fn set_healthy(c: &mut Vec<Condition>, health: &Health, wrote: bool, generation: Option<i64>) {
    match health {
        Health::Healthy => {
            let message = "all checked objects are healthy".to_owned();
            conditions::set(c, HEALTHY, true, Reason::Succeeded, message, generation);
        }
        Health::Progressing(message) => {
            let reason = Reason::Progressing;
            conditions::set(c, HEALTHY, false, reason, message.clone(), generation);
        }
        Health::Failed(message) => {
            let reason = Reason::HealthCheckFailed;
            conditions::set(c, HEALTHY, false, reason, message.clone(), generation);
        }
        Health::Unchecked if wrote => conditions::remove(c, HEALTHY),
        Health::Unchecked => {}
    }
}

/// Manual mode: the plan waits for approval; an event when the plan is new.
fn write_plan(
    next: &mut SyncStatus,
    previous: &SyncStatus,
    plan: Plan,
    generation: Option<i64>,
) -> Option<Event> {
    let message = format!(
        "{} change(s) for revision {} wait for approval: annotate {APPROVED_REVISION_ANNOTATION}={}",
        plan.changes.len(),
        plan.revision,
        plan.revision
    );
    let reason = Reason::ApprovalRequired;
    let c = &mut next.conditions;
    conditions::set(c, READY, false, reason, message.clone(), generation);
    conditions::remove(c, STALLED);
    conditions::remove(c, RECONCILING);
    let event =
        (previous.plan.as_ref() != Some(&plan)).then_some((EventType::Normal, reason, message));
    next.last_attempted_revision = Some(plan.revision.clone());
    next.plan = Some(plan);
    event
}

/// Whether `event` is a warning whose `Ready` condition is unchanged from `previous`: a
/// failure repeated every retry is published once.
fn repeated_warning(event: &Event, previous: &SyncStatus, next: &SyncStatus) -> bool {
    let ready = conditions::get(&next.conditions, READY);
    let repeated = ready
        .zip(conditions::get(&previous.conditions, READY))
        .is_some_and(|(a, b)| {
            a.status == b.status && a.reason == b.reason && a.message == b.message
        });
    repeated && event.0 == EventType::Warning
}
