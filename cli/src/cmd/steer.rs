//! `lockstep reconcile`, `suspend`, `resume` and `approve`: what `flux reconcile`, `flux
//! suspend` and `flux resume` do for Flux's objects, for a `Sync`. Each writes what the
//! controller reads — the `lockstep.dev/requestedAt` or `lockstep.dev/approvedRevision`
//! annotation, `spec.suspend` — and all but `suspend` then wait until the controller has
//! acted on it: it copies the request's token into `status.lastHandledRequestedAt` when it
//! records the outcome, so the wait ends on this request's outcome, never an earlier one.

use std::collections::BTreeSet;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context as _, bail};
use clap::Args;
use kube::api::{Api, Patch, PatchParams};
use kube::core::{NamespaceResourceScope, Resource};
use lockstep_api::steer::{self, FIELD_MANAGER};
use lockstep_api::{AppliedRevision, Condition, ConditionStatus, GitSource, Sync, parse_duration};
use serde::de::DeserializeOwned;
use serde_json::json;

use super::named::{Found, Target};
use super::render::runtime;

/// Exit codes of the verbs that wait.
const EXIT_CODES: &str = "Exit codes: 0 the controller applied it and it is Ready, 1 it \
                          failed, was not found, is suspended, or the wait timed out.";

/// How long to wait for the controller.
#[derive(Debug, Args)]
struct Wait {
    /// How long to wait for the controller (Go duration: 90s, 5m).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    timeout: Duration,
}

/// Ask the controller to reconcile a Sync now and wait for the outcome.
#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub struct ReconcileArgs {
    #[command(flatten)]
    target: Target,

    /// Fetch the Sync's GitSource first, and wait for that.
    #[arg(long)]
    with_source: bool,

    #[command(flatten)]
    wait: Wait,
}

/// Stop reconciling a Sync (nothing is applied, pruned or healed) until it is resumed.
#[derive(Debug, Args)]
#[command(after_help = "Exit codes: 0 suspended, 1 not found or not written.")]
pub struct SuspendArgs {
    #[command(flatten)]
    target: Target,
}

/// Reconcile a suspended Sync again, and wait for the outcome.
#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub struct ResumeArgs {
    #[command(flatten)]
    target: Target,

    #[command(flatten)]
    wait: Wait,
}

/// Approve the plan of a Sync in manual mode, and wait until it is applied.
#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub struct ApproveArgs {
    #[command(flatten)]
    target: Target,

    /// The revision to approve (default: the one of the plan in `status.plan`).
    #[arg(long)]
    revision: Option<String>,

    #[command(flatten)]
    wait: Wait,
}

/// Pin a Sync to a revision it applied before, or lift the pin, and wait for the outcome.
#[derive(Debug, Args)]
#[command(after_help = EXIT_CODES)]
pub struct RollbackArgs {
    #[command(flatten)]
    target: Target,

    /// The revision to go back to: one `lockstep history` lists, or the start of its commit
    /// hash (7 hex digits or more).
    #[arg(long, value_name = "REVISION", required_unless_present = "unpin")]
    to: Option<String>,

    /// Lift the pin: apply what the source's ref points at again.
    #[arg(long, conflicts_with = "to")]
    unpin: bool,

    #[command(flatten)]
    wait: Wait,
}

/// How often the controller's status is read while waiting.
const POLL: Duration = Duration::from_millis(500);

/// Runs `lockstep reconcile`.
pub fn reconcile(args: ReconcileArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let Found {
            client,
            namespace,
            syncs,
            sync,
        } = args.target.read().await?;
        let name = args.target.name.as_str();
        if sync.spec.suspend {
            bail!(
                "Sync {name} is suspended, so nothing would be reconciled; resume it with \
                 `lockstep resume {name}`"
            );
        }
        if args.with_source {
            let reference = &sync.spec.source_ref;
            let namespace = reference.namespace.clone().unwrap_or(namespace);
            let sources = Api::<GitSource>::namespaced(client, &namespace);
            let token = request(&sources, &reference.name, json!({})).await?;
            let source = handled(&sources, &reference.name, &token, args.wait.timeout).await?;
            let status = source.status.unwrap_or_default();
            let revision = status.last_attempted_revision.unwrap_or_default();
            println!("✔ GitSource {} fetched revision {revision}", reference.name);
        }
        let token = request(&syncs, name, json!({})).await?;
        let sync = handled(&syncs, name, &token, args.wait.timeout).await?;
        applied(&sync);
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs `lockstep suspend`.
pub fn suspend(args: SuspendArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let syncs = args.target.read().await?.syncs;
        let name = &args.target.name;
        syncs
            .patch(name, &params(), &Patch::Merge(&steer::suspend(true)))
            .await
            .with_context(|| format!("suspending Sync {name}"))?;
        println!("✔ Sync {name} suspended");
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs `lockstep resume`.
pub fn resume(args: ResumeArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let syncs = args.target.read().await?.syncs;
        let name = &args.target.name;
        let token = request(&syncs, name, steer::suspend(false)).await?;
        println!("✔ Sync {name} resumed");
        let sync = handled(&syncs, name, &token, args.wait.timeout).await?;
        applied(&sync);
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs `lockstep approve`.
pub fn approve(args: ApproveArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let Found { syncs, sync, .. } = args.target.read().await?;
        let name = &args.target.name;
        let planned = sync.status.and_then(|s| s.plan).map(|p| p.revision);
        let Some(revision) = args.revision.or(planned) else {
            bail!(
                "Sync {name} has no plan waiting for approval (status.plan is empty); name \
                 the revision with --revision, or wait for the controller to plan one"
            );
        };
        let token = request(&syncs, name, steer::approve(&revision)).await?;
        println!("✔ approved revision {revision} of Sync {name}");
        let sync = handled(&syncs, name, &token, args.wait.timeout).await?;
        let status = sync.status.clone().unwrap_or_default();
        if status.last_applied_revision.as_deref() != Some(revision.as_str()) {
            bail!(
                "Sync {name} did not apply revision {revision}: it is at {} (a newer \
                 revision needs its own approval)",
                status
                    .last_applied_revision
                    .as_deref()
                    .unwrap_or("no revision yet")
            );
        }
        applied(&sync);
        Ok(ExitCode::SUCCESS)
    })
}

/// Runs `lockstep rollback`.
pub fn rollback(args: RollbackArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(async {
        let Found { syncs, sync, .. } = args.target.read().await?;
        let name = &args.target.name;
        let history = sync.status.map(|s| s.history).unwrap_or_default();
        let pin = match &args.to {
            Some(to) if !args.unpin => Some(chosen(&history, to, name)?),
            _ => None,
        };
        let token = request(&syncs, name, steer::pin(pin.as_deref())).await?;
        match &pin {
            Some(revision) => println!("✔ Sync {name} pinned to revision {revision}"),
            None => println!("✔ Sync {name} unpinned: it follows its source again"),
        }
        let sync = handled(&syncs, name, &token, args.wait.timeout).await?;
        let applied_now = sync
            .status
            .as_ref()
            .and_then(|s| s.last_applied_revision.clone());
        if let Some(revision) = pin
            && applied_now.as_deref() != Some(revision.as_str())
        {
            bail!("Sync {name} did not apply revision {revision}");
        }
        applied(&sync);
        Ok(ExitCode::SUCCESS)
    })
}

/// The one revision of `history` that `to` names: the revision itself, or a prefix of its
/// commit hash of 7 hex digits or more.
fn chosen(history: &[AppliedRevision], to: &str, name: &str) -> anyhow::Result<String> {
    let prefix = to.len() >= 7 && to.bytes().all(|b| b.is_ascii_hexdigit());
    let named: BTreeSet<&str> = history
        .iter()
        .map(|e| e.revision.as_str())
        .filter(|revision| {
            *revision == to
                || (prefix
                    && revision
                        .rsplit_once("sha1:")
                        .is_some_and(|(_, hex)| hex.starts_with(to)))
        })
        .collect();
    let mut named = named.into_iter();
    match (named.next(), named.next()) {
        (Some(one), None) => Ok(one.to_owned()),
        (None, _) => bail!(
            "{to} is not a revision Sync {name} applied; `lockstep history {name}` lists the \
             ones it can go back to"
        ),
        (Some(_), Some(_)) => bail!("{to} names several revisions of Sync {name}; give more of it"),
    }
}

/// Writes `patch` to `name` with a new `requestedAt` token merged in; returns the token.
async fn request<K>(api: &Api<K>, name: &str, patch: serde_json::Value) -> anyhow::Result<String>
where
    K: Resource + Clone + DeserializeOwned + std::fmt::Debug,
    K::DynamicType: Default,
{
    let token = jiff::Timestamp::now().to_string();
    let patch = steer::requested(patch, &token);
    let kind = K::kind(&K::DynamicType::default()).into_owned();
    api.patch(name, &params(), &Patch::Merge(&patch))
        .await
        .with_context(|| format!("asking for a reconcile of {kind} {name}"))?;
    Ok(token)
}

/// What a status says, once it can be read the same way for a Sync and a GitSource.
trait Observed {
    fn handled(&self) -> Option<&str>;
    fn conditions(&self) -> &[Condition];
    fn observed_generation(&self) -> Option<i64>;
}

/// [`Observed`] for a kind whose status has Lockstep's request fields.
macro_rules! observed {
    ($($kind:ty),*) => {$(
        impl Observed for $kind {
            fn handled(&self) -> Option<&str> {
                self.status.as_ref()?.last_handled_requested_at.as_deref()
            }
            fn conditions(&self) -> &[Condition] {
                self.status.as_ref().map_or(&[], |s| &s.conditions)
            }
            fn observed_generation(&self) -> Option<i64> {
                self.status.as_ref()?.observed_generation
            }
        }
    )*};
}

observed!(Sync, GitSource);

/// Waits until `name` has handled request `token` and settled: `Ready` true (the object),
/// or false and no longer reconciling (an error naming why).
async fn handled<K>(api: &Api<K>, name: &str, token: &str, timeout: Duration) -> anyhow::Result<K>
where
    K: Resource<Scope = NamespaceResourceScope>
        + Observed
        + Clone
        + DeserializeOwned
        + std::fmt::Debug,
    K::DynamicType: Default,
{
    let kind = K::kind(&K::DynamicType::default()).into_owned();
    println!("◎ waiting for {kind} {name} to be reconciled");
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let object = api
            .get(name)
            .await
            .with_context(|| format!("reading {kind} {name}"))?;
        let current = object.handled() == Some(token)
            && object.observed_generation() == object.meta().generation;
        let find = |type_: &str| {
            object
                .conditions()
                .iter()
                .find(|c| c.type_ == type_)
                .cloned()
        };
        let reconciling = find("Reconciling").is_some_and(|c| c.status == ConditionStatus::True);
        match find("Ready") {
            Some(ready) if current && !reconciling => match ready.status {
                ConditionStatus::True => return Ok(object),
                ConditionStatus::False if ready.reason == "ApprovalRequired" => bail!(
                    "{kind} {name} is in manual mode and its plan waits for approval: {}; \
                     approve it with `lockstep approve {name}`",
                    ready.message
                ),
                ConditionStatus::False => {
                    bail!(
                        "{kind} {name} is not ready: {} ({})",
                        ready.message,
                        ready.reason
                    )
                }
                ConditionStatus::Unknown => {}
            },
            _ => {}
        }
        if tokio::time::Instant::now() >= deadline {
            let last = find("Ready").map_or_else(
                || "no Ready condition yet".to_owned(),
                |c| format!("Ready={:?}: {}", c.status, c.message),
            );
            bail!(
                "timed out after {timeout:?} waiting for the controller to reconcile {kind} \
                 {name} (last seen {last}); is lockstep-controller running?"
            );
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Says what a Ready Sync applied.
fn applied(sync: &Sync) {
    let status = sync.status.clone().unwrap_or_default();
    let revision = status.last_applied_revision.unwrap_or_default();
    println!("✔ applied revision {revision}");
}

fn params() -> PatchParams {
    PatchParams {
        field_manager: Some(FIELD_MANAGER.to_owned()),
        ..PatchParams::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A revision is named whole or by a commit prefix of 7 or more hex digits; one that is
    /// not in the history, or names several, is refused.
    #[test]
    fn rollback_names_one_applied_revision() {
        let entry = |hex: &str| AppliedRevision {
            revision: format!("main@sha1:{hex}"),
            ..AppliedRevision::default()
        };
        let history = [
            entry("abcdef1234"),
            entry("abcdef9876"),
            entry("0123456789"),
            entry("abcdef1234"),
        ];
        let pick = |to: &str| chosen(&history, to, "web");
        assert_eq!(
            pick("main@sha1:0123456789").unwrap(),
            "main@sha1:0123456789"
        );
        assert_eq!(pick("0123456").unwrap(), "main@sha1:0123456789");
        assert_eq!(
            pick("abcdef1").unwrap(),
            "main@sha1:abcdef1234",
            "listed twice, one revision"
        );
        assert!(pick("abcdef").is_err(), "too short to be a prefix");
        let several = pick("abcdef").unwrap_err().to_string();
        assert!(several.contains("lockstep history web"), "{several}");
        let both = [entry("abcdef1234"), entry("abcdef1299")];
        let err = chosen(&both, "abcdef12", "web").unwrap_err().to_string();
        assert!(err.contains("several"), "{err}");
    }
}
