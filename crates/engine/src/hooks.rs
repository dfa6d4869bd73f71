//! Helm hooks: the templates of a chart annotated `helm.sh/hook`, kept out of the applied
//! set and run around the apply as `helm install` and `helm upgrade` run them, at the
//! points Argo CD maps them to: `pre-install`/`pre-upgrade` before the first write,
//! `post-install`/`post-upgrade` once the applied objects are healthy.
//!
//! - A release is *installed* when its owner has applied nothing yet (an empty inventory)
//!   and *upgraded* otherwise; only the hooks of that event run.
//! - The hooks of one event run one at a time, by `helm.sh/hook-weight` (an integer; 0 when
//!   absent or not a number), then kind in apply order, then name — Helm's order. Each is
//!   applied server-side as the owner, labelled as its other objects are, and waited for:
//!   a Job until it completes, a Pod until it succeeds, anything else until kstatus calls
//!   it current. The first that fails or runs out of time stops the rest.
//! - `helm.sh/hook-delete-policy`: `before-hook-creation` (the default when none is given,
//!   as in Helm 3) deletes the previous object of the name and waits until it is gone
//!   before applying it again; `hook-succeeded` and `hook-failed` delete it afterwards.
//!   Only an object carrying the owner's labels is deleted.
//! - Hooks are not in the inventory: never pruned and never checked for drift; Helm does
//!   not count them in a release either.
//! - Test hooks belong to `helm test`, and `pre/post-delete` and `pre/post-rollback` to
//!   operations a GitOps sync never performs (a rollback is a `git revert`, so an
//!   upgrade): such hooks stay out of the applied set and never run. A hook naming no
//!   event Helm knows never runs, as in Helm.

use std::fmt;
use std::time::Duration;

use kube::Client;
use lockstep_api::InventoryEntry;
use tracing::{instrument, warn};

use crate::apply::{self, ApplyError, ApplyOptions, apply_order};
use crate::health::{self, WaitError};
use crate::inventory::id;
use crate::prune::{SkipReason, delete_all, wait_gone};
use crate::render::{Manifest, Owner};

/// The annotation that makes a template a Helm hook.
pub const HOOK: &str = "helm.sh/hook";
const WEIGHT: &str = "helm.sh/hook-weight";
const DELETE_POLICY: &str = "helm.sh/hook-delete-policy";

/// How often a running hook is looked at.
const POLL: Duration = Duration::from_secs(1);

/// A point of a release at which hooks run.
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
}

impl Event {
    /// The event before an apply: an install when the owner has applied nothing yet, an
    /// upgrade otherwise, both when the caller cannot tell (`None`).
    pub fn before(install: Option<bool>) -> &'static [Self] {
        match install {
            Some(true) => &[Self::PreInstall],
            Some(false) => &[Self::PreUpgrade],
            None => &[Self::PreInstall, Self::PreUpgrade],
        }
    }

    /// The event after an apply, as [`Self::before`].
    pub fn after(install: Option<bool>) -> &'static [Self] {
        match install {
            Some(true) => &[Self::PostInstall],
            Some(false) => &[Self::PostUpgrade],
            None => &[Self::PostInstall, Self::PostUpgrade],
        }
    }

    /// The name in `helm.sh/hook`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PreInstall => "pre-install",
            Self::PostInstall => "post-install",
            Self::PreUpgrade => "pre-upgrade",
            Self::PostUpgrade => "post-upgrade",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        [
            Self::PreInstall,
            Self::PostInstall,
            Self::PreUpgrade,
            Self::PostUpgrade,
        ]
        .into_iter()
        .find(|e| e.as_str() == name)
    }
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `helm.sh/hook-delete-policy`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum DeletePolicy {
    BeforeHookCreation,
    HookSucceeded,
    HookFailed,
}

impl DeletePolicy {
    fn parse(name: &str) -> Option<Self> {
        match name {
            "before-hook-creation" => Some(Self::BeforeHookCreation),
            "hook-succeeded" => Some(Self::HookSucceeded),
            "hook-failed" => Some(Self::HookFailed),
            _ => None,
        }
    }
}

/// One hook of a chart. Holds the rendered object, so like a [`Manifest`] it is neither
/// cloned nor shown.
#[derive(Debug)]
pub struct Hook {
    /// The object, labelled and namespaced as the chart's other objects.
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

    /// Whether it runs at any of `events`.
    pub fn runs_at_any(&self, events: &[Event]) -> bool {
        events.iter().any(|e| self.runs_at(*e))
    }

    fn deletes(&self, policy: DeletePolicy) -> bool {
        self.delete.contains(&policy)
            || (self.delete.is_empty() && policy == DeletePolicy::BeforeHookCreation)
    }
}

/// `manifests` split into the objects to apply and the hooks to run; hooks that never run
/// (tests, delete and rollback hooks) are dropped.
pub fn split(manifests: Vec<Manifest>) -> (Vec<Manifest>, Vec<Hook>) {
    let mut kept = Vec::with_capacity(manifests.len());
    let mut hooks = Vec::new();
    for manifest in manifests {
        let annotations = &manifest.object["metadata"]["annotations"];
        let Some(names) = annotations[HOOK].as_str() else {
            kept.push(manifest);
            continue;
        };
        let list = |value: &serde_json::Value| -> Vec<String> {
            value
                .as_str()
                .unwrap_or_default()
                .split(',')
                .map(|n| n.trim().to_ascii_lowercase())
                .filter(|n| !n.is_empty())
                .collect()
        };
        let events: Vec<Event> = list(&annotations[HOOK])
            .iter()
            .filter_map(|n| Event::parse(n))
            .collect();
        if events.is_empty() {
            tracing::debug!(hook = names, object = %manifest.name(), "hook never run by a sync");
            continue;
        }
        let weight = annotations[WEIGHT]
            .as_str()
            .and_then(|w| w.trim().parse().ok())
            .unwrap_or(0);
        let delete = list(&annotations[DELETE_POLICY])
            .iter()
            .filter_map(|n| DeletePolicy::parse(n))
            .collect();
        hooks.push(Hook {
            manifest,
            events,
            weight,
            delete,
        });
    }
    (kept, hooks)
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
        let order = apply_order(m.group(), m.kind(), "", "");
        (h.weight, order, m.name().to_owned())
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
    let outcome = health::wait(client, std::slice::from_ref(&entry), options.timeout, POLL).await;
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
    let outcome = delete_all(
        client,
        vec![entry.clone()],
        options.owner,
        &options.apply.protect,
    )
    .await;
    if let Some((_, reason)) = outcome.skipped.first() {
        return Err(match reason {
            SkipReason::NotOwned => "it does not carry this owner's labels",
            SkipReason::Disabled => "it is annotated not to be deleted",
            SkipReason::Protected => "it is protected",
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
        let (kept, hooks) = split(vec![
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
        ]);
        assert_eq!(kept.len(), 1);
        assert_eq!(kept[0].name(), "plain");
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
    fn install_and_upgrade_name_their_events() {
        assert_eq!(Event::before(Some(true)), [Event::PreInstall]);
        assert_eq!(Event::after(Some(false))[0].to_string(), "post-upgrade");
        assert_eq!(Event::before(None), [Event::PreInstall, Event::PreUpgrade]);
    }
}
