//! Hooks: the templates of a chart annotated `helm.sh/hook` (and, read in Argo CD's
//! [`Dialect`], objects annotated `argocd.argoproj.io/hook`), kept out of the applied set
//! and run around the apply as `helm install` and `helm upgrade` run them, at the points
//! Argo CD maps them to: `pre-install`/`pre-upgrade` (`PreSync`) before the first write,
//! `Sync` right after it, `post-install`/`post-upgrade` (`PostSync`) once the applied
//! objects are healthy, `SyncFail` when something failed.
//!
//! - A release is *installed* when its owner has applied nothing yet (an empty inventory)
//!   and *upgraded* otherwise; only the hooks of that event run.
//! - The hooks of one event run one at a time, by `helm.sh/hook-weight` (an integer; 0 when
//!   absent or not a number; Argo CD's `sync-wave` instead when it reads them), then kind
//!   in apply order, then name — Helm's order, and Argo CD's within a phase. Each is
//!   applied server-side as the owner, labelled as its other objects are, and waited for:
//!   a Job until it completes, a Pod until it succeeds, anything else until kstatus calls
//!   it current. The first that fails or runs out of time stops the rest.
//! - `helm.sh/hook-delete-policy` (or Argo CD's, `HookSucceeded` etc.):
//!   `before-hook-creation` (the default when none is given, as in Helm 3 and Argo CD) deletes the previous object of the name and waits until it is gone
//!   before applying it again; `hook-succeeded` and `hook-failed` delete it afterwards.
//!   Only an object carrying the owner's labels is deleted.
//! - Hooks are not in the inventory: never pruned and never checked for drift; Helm does
//!   not count them in a release either.
//! - Test hooks belong to `helm test`, and `pre/post-delete` and `pre/post-rollback` to
//!   operations a GitOps sync never performs (a rollback is a `git revert`, so an
//!   upgrade): such hooks stay out of the applied set and never run, as do Argo CD's
//!   `PostDelete` hooks and objects it marks `Skip`. A hook naming no event Helm knows
//!   never runs, as in Helm.

use std::fmt;
use std::time::Duration;

use kube::Client;
use lockstep_api::InventoryEntry;
use tracing::{instrument, warn};

use crate::apply::{self, ApplyError, ApplyOptions, SYNC_WAVE, apply_order};
use crate::health::{self, WaitError};
use crate::inventory::id;
use crate::prune::{SkipReason, delete_all_released, wait_gone};
use crate::render::{Manifest, Owner};

/// The annotation that makes a template a Helm hook.
pub const HOOK: &str = "helm.sh/hook";
const WEIGHT: &str = "helm.sh/hook-weight";
const DELETE_POLICY: &str = "helm.sh/hook-delete-policy";
/// Argo CD's hook annotation, and the wave and delete policy that go with it.
const ARGOCD_HOOK: &str = "argocd.argoproj.io/hook";
const ARGOCD_DELETE_POLICY: &str = "argocd.argoproj.io/hook-delete-policy";

/// How often a running hook is looked at.
const POLL: Duration = Duration::from_secs(1);

/// A point of a release at which hooks run: Helm's events, and Argo CD's phases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Event {
    /// Before the first apply of a release.
    PreInstall,
    /// After the first apply of a release, once it is healthy.
    PostInstall,
    /// Before a later apply.
    PreUpgrade,
    /// After a later apply, once it is healthy.
    PostUpgrade,
    /// Argo CD: before every apply.
    PreSync,
    /// Argo CD: right after the apply, before it is healthy.
    Sync,
    /// Argo CD: after every apply, once it is healthy.
    PostSync,
    /// Argo CD: after an apply (or a hook) failed.
    SyncFail,
}

impl Event {
    /// The events before an apply: an install when the owner has applied nothing yet, an
    /// upgrade otherwise; `None` for Argo CD, which cannot tell the two apart and runs
    /// both Helm events with its `PreSync`.
    pub fn before(install: Option<bool>) -> &'static [Self] {
        match install {
            Some(true) => &[Self::PreInstall],
            Some(false) => &[Self::PreUpgrade],
            None => &[Self::PreInstall, Self::PreUpgrade, Self::PreSync],
        }
    }

    /// The events after an apply, once healthy, as [`Self::before`].
    pub fn after(install: Option<bool>) -> &'static [Self] {
        match install {
            Some(true) => &[Self::PostInstall],
            Some(false) => &[Self::PostUpgrade],
            None => &[Self::PostInstall, Self::PostUpgrade, Self::PostSync],
        }
    }

    /// The name in `helm.sh/hook` or `argocd.argoproj.io/hook`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PreInstall => "pre-install",
            Self::PostInstall => "post-install",
            Self::PreUpgrade => "pre-upgrade",
            Self::PostUpgrade => "post-upgrade",
            Self::PreSync => "PreSync",
            Self::Sync => "Sync",
            Self::PostSync => "PostSync",
            Self::SyncFail => "SyncFail",
        }
    }

    fn helm(name: &str) -> Option<Self> {
        [
            Self::PreInstall,
            Self::PostInstall,
            Self::PreUpgrade,
            Self::PostUpgrade,
        ]
        .into_iter()
        .find(|e| e.as_str().eq_ignore_ascii_case(name))
    }

    fn argocd(name: &str) -> Option<Self> {
        [Self::PreSync, Self::Sync, Self::PostSync, Self::SyncFail]
            .into_iter()
            .find(|e| e.as_str() == name)
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Whose hook annotations a render's objects are read with.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// `helm.sh/hook`: a chart rendered for Helm, Flux or a Lockstep Sync.
    Helm,
    /// `argocd.argoproj.io/hook` first, then `helm.sh/hook`, as Argo CD reads them; an
    /// object marked `Skip` is neither applied nor run.
    ArgoCd,
}

/// A hook delete policy, in either spelling (`hook-succeeded`, `HookSucceeded`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DeletePolicy {
    BeforeHookCreation,
    HookSucceeded,
    HookFailed,
}

impl DeletePolicy {
    fn parse(name: &str) -> Option<Self> {
        match name.replace('-', "").to_ascii_lowercase().as_str() {
            "beforehookcreation" => Some(Self::BeforeHookCreation),
            "hooksucceeded" => Some(Self::HookSucceeded),
            "hookfailed" => Some(Self::HookFailed),
            _ => None,
        }
    }
}

/// One hook of a render. Holds the rendered object, so like a [`Manifest`] it is neither
/// cloned nor shown.
#[derive(Debug)]
pub struct Hook {
    /// The object, labelled and namespaced as the render's other objects.
    pub manifest: Manifest,
    events: Vec<Event>,
    weight: i32,
    delete: Vec<DeletePolicy>,
}

impl Hook {
    /// Whether it runs at `event`.
    pub fn runs_at(&self, event: Event) -> bool {
        self.events.contains(&event)
    }

    /// The events it runs at.
    pub fn events(&self) -> &[Event] {
        &self.events
    }

    /// Whether it runs at any of `events`.
    pub fn runs_at_any(&self, events: &[Event]) -> bool {
        events.iter().any(|e| self.runs_at(*e))
    }

    fn deletes(&self, policy: DeletePolicy) -> bool {
        self.delete.contains(&policy)
            || (self.delete.is_empty() && policy == DeletePolicy::BeforeHookCreation)
    }
}

/// What an object is to a sync, by its annotations.
enum Role {
    Object(Manifest),
    Hook(Hook),
    /// A hook that never runs in a sync, or an Argo CD `Skip`: left out.
    Dropped,
}

/// `manifests` split into the objects to apply and the hooks to run, reading `dialect`'s
/// annotations; hooks that never run in a sync (tests, delete and rollback hooks, Argo CD's
/// `PostDelete`) and objects Argo CD skips are dropped.
pub fn split(manifests: Vec<Manifest>, dialect: Dialect) -> (Vec<Manifest>, Vec<Hook>) {
    let mut kept = Vec::with_capacity(manifests.len());
    let mut hooks = Vec::new();
    for manifest in manifests {
        match role(manifest, dialect) {
            Role::Object(manifest) => kept.push(manifest),
            Role::Hook(hook) => hooks.push(hook),
            Role::Dropped => {}
        }
    }
    (kept, hooks)
}

fn role(manifest: Manifest, dialect: Dialect) -> Role {
    let list = |value: &serde_json::Value| -> Vec<String> {
        let text = value.as_str().unwrap_or_default();
        let names = text.split(',').map(|n| n.trim().to_owned());
        names.filter(|n| !n.is_empty()).collect()
    };
    let annotations = &manifest.object["metadata"]["annotations"];
    let argocd = dialect == Dialect::ArgoCd && annotations[ARGOCD_HOOK].is_string();
    let (events, weight, delete) = if argocd {
        let names = list(&annotations[ARGOCD_HOOK]);
        if names.iter().any(|n| n == "Skip") {
            return Role::Dropped;
        }
        let events = names.iter().filter_map(|n| Event::argocd(n)).collect();
        (
            events,
            &annotations[SYNC_WAVE],
            &annotations[ARGOCD_DELETE_POLICY],
        )
    } else if annotations[HOOK].is_string() {
        let events = list(&annotations[HOOK])
            .iter()
            .filter_map(|n| Event::helm(n))
            .collect();
        let wave = &annotations[SYNC_WAVE];
        let weight = if dialect == Dialect::ArgoCd && wave.is_string() {
            wave
        } else {
            &annotations[WEIGHT]
        };
        (events, weight, &annotations[DELETE_POLICY])
    } else {
        return Role::Object(manifest);
    };
    let events: Vec<Event> = events;
    if events.is_empty() {
        tracing::debug!(object = %manifest.name(), "a hook a sync never runs: left out");
        return Role::Dropped;
    }
    let weight = weight
        .as_str()
        .and_then(|w| w.trim().parse().ok())
        .unwrap_or(0);
    let delete = list(delete)
        .iter()
        .filter_map(|n| DeletePolicy::parse(n))
        .collect();
    let hook = Hook {
        manifest,
        events,
        weight,
        delete,
    };
    Role::Hook(hook)
}

/// How to run hooks: as the owner of the objects, with its apply options.
#[derive(Clone, Copy, Debug)]
pub struct HookOptions<'a> {
    /// The owner: hooks carry its labels, and only objects with them are deleted.
    pub owner: &'a Owner,
    /// How each hook is applied.
    pub apply: &'a ApplyOptions,
    /// How long each hook may take to finish, and a previous one to go.
    pub timeout: Duration,
    /// Hook objects the release's Helm record names: a previous run's object is deleted
    /// (`before-hook-creation`) even without the owner's labels, as Helm created it.
    pub released: &'a [InventoryEntry],
}

/// Why a hook stopped a release. Names the hook, never a value.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum HookError {
    /// The hook could not be applied.
    #[error("{event} hook {object} could not be applied: {source}")]
    Apply {
        /// The event it ran for.
        event: Event,
        /// `Kind/namespace/name`.
        object: String,
        /// The cause.
        source: ApplyError,
    },
    /// The hook failed, or did not finish in time.
    #[error("{event} hook {object} did not succeed: {source}")]
    Unfinished {
        /// The event it ran for.
        event: Event,
        /// `Kind/namespace/name`.
        object: String,
        /// The hook's health when it failed or the time ran out.
        source: WaitError,
    },
    /// The object of a previous run could not be deleted (`before-hook-creation`).
    #[error(
        "{event} hook {object}: the previous {object} is still there ({reason}); \
         delete it, or give the hook another name"
    )]
    Previous {
        /// The event it ran for.
        event: Event,
        /// `Kind/namespace/name`.
        object: String,
        /// Why it is still there.
        reason: String,
    },
}

/// Runs the hooks of any of `events`, one at a time in Helm's order; returns how many
/// ran. Several events run together where a caller cannot tell an install from an
/// upgrade (Argo CD runs `pre-install` and `pre-upgrade` hooks alike as `PreSync`).
///
/// # Errors
/// [`HookError`] for the first hook that could not be applied, failed, or did not finish
/// within the timeout; the hooks after it were not run.
#[instrument(skip_all, fields(?events))]
pub async fn run(
    client: &Client,
    hooks: &[Hook],
    events: &[Event],
    options: HookOptions<'_>,
) -> Result<usize, HookError> {
    let mut due: Vec<(&Hook, Event)> = hooks
        .iter()
        .filter_map(|h| Some((h, *events.iter().find(|e| h.runs_at(**e))?)))
        .collect();
    due.sort_by_cached_key(|(h, _)| {
        let m = &h.manifest;
        let namespace = m.namespace().unwrap_or_default();
        (
            h.weight,
            apply_order(m.group(), m.kind(), namespace, m.name()),
        )
    });
    for (hook, event) in &due {
        run_one(client, hook, *event, options).await?;
    }
    Ok(due.len())
}

async fn run_one(
    client: &Client,
    hook: &Hook,
    event: Event,
    options: HookOptions<'_>,
) -> Result<(), HookError> {
    let guessed = apply::guess_entry(&hook.manifest);
    let object = id(&guessed);
    if hook.deletes(DeletePolicy::BeforeHookCreation) {
        let previous = |reason: String| HookError::Previous {
            event,
            object: object.clone(),
            reason,
        };
        delete(client, &guessed, options).await.map_err(&previous)?;
        let left = wait_gone(client, std::slice::from_ref(&guessed), options.timeout).await;
        if !left.is_empty() {
            let waited = format!("still being deleted after {:?}", options.timeout);
            return Err(previous(waited));
        }
    }
    let manifest = std::slice::from_ref(&hook.manifest);
    let changes = apply::apply(client, manifest, options.apply)
        .await
        .map_err(|source| HookError::Apply {
            event,
            object: object.clone(),
            source,
        })?;
    let entry = changes
        .changes
        .first()
        .map_or(guessed, |c| c.object.clone());
    let rules = health::Rules::default();
    let entries = std::slice::from_ref(&entry);
    let outcome = health::wait(client, entries, &rules, options.timeout, POLL).await;
    let policy = match outcome {
        Ok(()) => DeletePolicy::HookSucceeded,
        Err(_) => DeletePolicy::HookFailed,
    };
    if hook.deletes(policy)
        && let Err(reason) = delete(client, &entry, options).await
    {
        // The release's result stands; a leftover hook is only untidy.
        warn!(hook = %id(&entry), "not deleted after it ran: {reason}");
    }
    outcome.map_err(|source| HookError::Unfinished {
        event,
        object,
        source,
    })
}

/// Deletes `entry` if it exists and is the owner's; the reason when it could not.
async fn delete(
    client: &Client,
    entry: &InventoryEntry,
    options: HookOptions<'_>,
) -> Result<(), String> {
    let outcome = delete_all_released(
        client,
        vec![entry.clone()],
        options.owner,
        &options.apply.protect,
        options.released,
    )
    .await;
    if let Some((_, reason)) = outcome.skipped.first() {
        return Err(match reason {
            SkipReason::NotOwned => "it does not carry this owner's labels",
            SkipReason::Disabled => "it is annotated not to be deleted",
            SkipReason::Protected => "it is protected",
            SkipReason::KeptOnDelete => "it is kept when its owner is deleted",
        }
        .to_owned());
    }
    if let Some((_, code)) = outcome.survivors.first() {
        return Err(format!("delete refused: {code}"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn manifest(name: &str, annotations: serde_json::Value) -> Manifest {
        Manifest {
            object: json!({
                "apiVersion": "batch/v1",
                "kind": "Job",
                "metadata": {"name": name, "annotations": annotations},
            }),
            file: "templates/hooks.yaml".into(),
            document: 0,
            holds_secrets: false,
        }
    }

    #[test]
    fn hooks_are_split_from_the_objects_with_their_events_weights_and_policies() {
        let (kept, hooks) = split(
            vec![
                manifest("plain", json!({})),
                manifest(
                    "both",
                    json!({HOOK: " Pre-Install, pre-upgrade", WEIGHT: "-5"}),
                ),
                manifest(
                    "post",
                    json!({HOOK: "post-upgrade", WEIGHT: "x",
                DELETE_POLICY: "hook-succeeded,hook-failed,nonsense"}),
                ),
                manifest("test", json!({HOOK: "test"})),
                manifest("rollback", json!({HOOK: "pre-rollback,post-delete"})),
                manifest("argo", json!({ARGOCD_HOOK: "PreSync"})),
            ],
            Dialect::Helm,
        );
        let kept: Vec<_> = kept.iter().map(|m| m.name()).collect();
        assert_eq!(kept, ["plain", "argo"], "Argo CD's hooks are Argo CD's");
        let names: Vec<_> = hooks.iter().map(|h| h.manifest.name()).collect();
        assert_eq!(names, ["both", "post"]);
        let (both, post) = (&hooks[0], &hooks[1]);
        assert!(both.runs_at(Event::PreInstall) && both.runs_at(Event::PreUpgrade));
        assert!(!both.runs_at(Event::PostInstall));
        assert_eq!((both.weight, post.weight), (-5, 0));
        assert!(
            both.deletes(DeletePolicy::BeforeHookCreation),
            "Helm 3's default"
        );
        assert!(!post.deletes(DeletePolicy::BeforeHookCreation));
        assert!(
            post.deletes(DeletePolicy::HookSucceeded) && post.deletes(DeletePolicy::HookFailed)
        );
    }

    #[test]
    fn argocd_reads_its_own_annotation_first_and_skips_what_it_skips() {
        let (kept, hooks) = split(
            vec![
                manifest("plain", json!({})),
                manifest("skipped", json!({ARGOCD_HOOK: "Skip"})),
                manifest(
                    "pre",
                    json!({ARGOCD_HOOK: "PreSync", SYNC_WAVE: "2",
                    ARGOCD_DELETE_POLICY: "HookSucceeded"}),
                ),
                manifest(
                    "both",
                    json!({ARGOCD_HOOK: "Sync,SyncFail", HOOK: "pre-install"}),
                ),
                manifest(
                    "helm",
                    json!({HOOK: "post-upgrade", WEIGHT: "1", SYNC_WAVE: "-3"}),
                ),
                manifest("gone", json!({ARGOCD_HOOK: "PostDelete"})),
            ],
            Dialect::ArgoCd,
        );
        let kept: Vec<_> = kept.iter().map(|m| m.name()).collect();
        assert_eq!(kept, ["plain"]);
        let names: Vec<_> = hooks.iter().map(|h| h.manifest.name()).collect();
        assert_eq!(names, ["pre", "both", "helm"]);
        assert_eq!(hooks[0].weight, 2);
        assert!(hooks[0].deletes(DeletePolicy::HookSucceeded));
        assert!(!hooks[0].deletes(DeletePolicy::BeforeHookCreation));
        assert!(hooks[1].runs_at(Event::Sync) && hooks[1].runs_at(Event::SyncFail));
        assert!(
            !hooks[1].runs_at(Event::PreInstall),
            "Argo CD's annotation wins"
        );
        assert_eq!(hooks[2].weight, -3, "a wave wins over a Helm weight");
        assert!(hooks[2].runs_at(Event::PostUpgrade));
    }

    #[test]
    fn install_and_upgrade_name_their_events() {
        assert_eq!(Event::before(Some(true)), [Event::PreInstall]);
        assert_eq!(Event::after(Some(false))[0].to_string(), "post-upgrade");
        let argocd = [Event::PreInstall, Event::PreUpgrade, Event::PreSync];
        assert_eq!(Event::before(None), argocd);
    }
}
