//! Everything an apply can check, checked before its first write.
//!
//! [`preflight`] resolves every object's kind, checks that its namespace exists (or comes
//! with the apply), refuses protected objects and objects another owner holds, and
//! dry-runs every object server-side, so that a revision with one rejected object writes
//! nothing. Only what cannot be checked yet is left for later ([`Deferred`]): objects of
//! a kind a CRD of the same apply defines (its schema may be new), objects in a Namespace
//! the apply creates, and objects whose dry-run says `404` (something they refer to, such
//! as a role a binding names, comes with the apply). Those are checked the old way, one
//! by one just before their own write; an error there leaves earlier stages written (and
//! recorded by the caller's inventory).

use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use kube::Client;
use kube::api::DynamicObject;
use serde_json::Value;

use lockstep_api::InventoryEntry;

use super::order::{apply_order, stage, wave};
use super::resolve::{Resolver, Target, desired_body, guess_entry, guess_id};
use super::step::{DryRun, Probe, Step, decide, execute, probe, wait_ready};
use super::{ApplyError, ApplyOptions, Change, ChangeSet, Conflict};
use crate::health;
use crate::inventory::id;
use crate::ownership::{Claim, Holder, Holders};
use crate::render::Manifest;

mod namespaces;
mod preview;

use namespaces::NamespaceCheck;
pub use preview::Preview;

/// How many objects are read and dry-run at once (Flux's `--concurrent-ssa` default).
const CONCURRENCY: usize = 4;

/// How often a sync wave's objects are looked at before the next wave.
const WAVE_POLL: Duration = Duration::from_secs(1);

/// An apply decided and checked, nothing written yet: [`Preflight::apply`] carries it out.
pub struct Preflight<'a> {
    client: Client,
    options: ApplyOptions,
    resolver: Resolver,
    holders: Holders,
    /// By (sync wave, stage): per wave (all 0 unless [`ApplyOptions::waves`]), CRDs and
    /// Namespaces; other cluster-scoped objects; namespaced objects. Each in apply order.
    stages: BTreeMap<(i32, usize), Vec<Item<'a>>>,
}

/// One object of a stage.
enum Item<'a> {
    Planned(Box<Planned>),
    Deferred(Box<Deferred<'a>>),
}

/// An object whose step is decided.
struct Planned {
    target: Target,
    body: Value,
    step: Step,
    live: Option<DynamicObject>,
    merged: Option<DynamicObject>,
    taken_from: Option<Holder>,
}

/// An object that can only be checked once earlier stages are written.
struct Deferred<'a> {
    manifest: &'a Manifest,
    /// Its API, when its kind is served already.
    target: Option<Target>,
    /// The live object, when it could be read.
    live: Option<DynamicObject>,
}

/// Resolves, checks and dry-runs every object of `manifests`; writes nothing.
///
/// # Errors
/// The first [`ApplyError`] in apply order — an unknown kind, a missing namespace, a
/// protected object, a refused dry-run, an immutable-field change without force — or
/// [`ApplyError::Owned`] listing every object another owner holds.
pub async fn preflight<'a>(
    client: &Client,
    manifests: &'a [Manifest],
    options: &ApplyOptions,
) -> Result<Preflight<'a>, ApplyError> {
    let resolver = Resolver::new(client.clone(), manifests, options.kinds.clone());
    let holders = Holders::new(options.owners.clone().unwrap_or_else(|| client.clone()));
    let created: HashSet<&str> = manifests
        .iter()
        .filter(|m| m.group().is_empty() && m.kind() == "Namespace")
        .map(Manifest::name)
        .collect();
    let mut namespaces = NamespaceCheck::new(client.clone());

    let mut resolved = Vec::new();
    let mut deferred = Vec::new();
    for manifest in manifests {
        let namespace = manifest.namespace().unwrap_or_default();
        if let Some(rule) = options.protect.desired(
            manifest.kind(),
            namespace,
            manifest.name(),
            &manifest.object,
        ) {
            return Err(ApplyError::Protected {
                object: guess_id(manifest),
                rule: rule.clone(),
            });
        }
        let target = match resolver.resolve(manifest, None).await {
            Ok(target) => target,
            Err(ApplyError::UnknownKind { .. }) if resolver.defined_here(manifest) => {
                deferred.push(Deferred {
                    manifest,
                    target: None,
                    live: None,
                });
                continue;
            }
            Err(err) => return Err(err),
        };
        let body = desired_body(&target, manifest);
        resolved.push((target, body, manifest));
    }

    // Boxed so the stream's futures have one concrete lifetime: callers spawn this on a
    // multi-threaded runtime, and an unboxed closure-made stream is not provably `Send`.
    let probes: Vec<Result<Probe, ApplyError>> = futures::stream::iter(
        resolved
            .iter()
            .map(|(target, body, _)| probe(target, body, options).boxed())
            .collect::<Vec<_>>(),
    )
    .buffered(CONCURRENCY)
    .collect()
    .await;

    let mut preflight = Preflight {
        client: client.clone(),
        options: options.clone(),
        resolver,
        holders,
        stages: Default::default(),
    };
    let mut items = Vec::with_capacity(manifests.len());
    let mut errors = Vec::new();
    for ((target, body, manifest), probe) in resolved.into_iter().zip(probes) {
        let probe = match probe {
            Ok(probe) => probe,
            Err(err) => {
                errors.push((order_of(&target), err));
                continue;
            }
        };
        // A dry-run that found nothing may mean a missing namespace: asked only then, so an
        // apply into namespaces that exist reads none of them.
        let not_found = matches!(probe.dry_run, DryRun::NotFound(_));
        if not_found
            && target.namespaced
            && !created.contains(target.namespace.as_str())
            && !namespaces.exists(&target.namespace).await
        {
            let err = ApplyError::NamespaceNotFound {
                namespace: target.namespace.clone(),
                object: target.id.clone(),
            };
            errors.push((order_of(&target), err));
            continue;
        }
        let later = not_found
            || (preflight.resolver.defined_here(manifest)
                && !matches!(probe.dry_run, DryRun::Merged(_)));
        if later {
            if let Err(err) = preflight
                .check_live(&target, &body, probe.live.as_ref())
                .await
            {
                errors.push((order_of(&target), err));
                continue;
            }
            deferred.push(Deferred {
                manifest,
                target: Some(target),
                live: probe.live,
            });
            continue;
        }
        match preflight.plan(target, body, probe).await {
            Ok(planned) => items.push(Item::Planned(Box::new(planned))),
            Err((target, err)) => errors.push((order_of(&target), err)),
        }
    }
    items.extend(deferred.into_iter().map(|d| Item::Deferred(Box::new(d))));

    if let Some(err) = first_error(errors) {
        return Err(err);
    }
    for item in items {
        let wave = if options.waves { item.wave() } else { 0 };
        let key = (wave, item.stage());
        preflight.stages.entry(key).or_default().push(item);
    }
    for stage in preflight.stages.values_mut() {
        stage.sort_by_cached_key(|item| {
            let e = item.entry();
            apply_order(&e.group, &e.kind, &e.namespace, &e.name)
        });
    }
    Ok(preflight)
}

/// The first error in apply order; when that is an ownership conflict, every conflict,
/// and when it is an object the API server refused to read or dry-run, every such object
/// (a tenant reaching out of its namespace learns of each at once, not one per revision).
fn first_error<K: Ord>(mut errors: Vec<(K, ApplyError)>) -> Option<ApplyError> {
    errors.sort_by(|a, b| a.0.cmp(&b.0));
    match errors.first() {
        Some((_, ApplyError::Owned { .. })) => {
            let conflicts = errors
                .into_iter()
                .filter_map(|(_, err)| match err {
                    ApplyError::Owned { conflicts } => Some(conflicts),
                    _ => None,
                })
                .flatten()
                .collect();
            Some(ApplyError::Owned { conflicts })
        }
        Some((_, ApplyError::Get { .. } | ApplyError::DryRun { .. })) => {
            let mut refusals: Vec<ApplyError> = errors
                .into_iter()
                .map(|(_, err)| err)
                .filter(|err| matches!(err, ApplyError::Get { .. } | ApplyError::DryRun { .. }))
                .collect();
            if refusals.len() == 1 {
                refusals.pop()
            } else {
                Some(ApplyError::Refused { refusals })
            }
        }
        _ => errors.into_iter().next().map(|(_, err)| err),
    }
}

fn order_of(target: &Target) -> impl Ord + use<> {
    apply_order(
        &target.resource.group,
        &target.resource.kind,
        &target.namespace,
        &target.name,
    )
}

impl Item<'_> {
    fn entry(&self) -> InventoryEntry {
        match self {
            Self::Planned(p) => p.target.entry(),
            Self::Deferred(d) => d
                .target
                .as_ref()
                .map_or_else(|| guess_entry(d.manifest), Target::entry),
        }
    }

    fn stage(&self) -> usize {
        let entry = self.entry();
        stage(&entry.group, &entry.kind, &entry.namespace)
    }

    fn wave(&self) -> i32 {
        match self {
            Self::Planned(p) => wave(&p.body),
            Self::Deferred(d) => wave(&d.manifest.object),
        }
    }
}

impl<'a> Preflight<'a> {
    /// The objects the apply will leave in the cluster, in apply order.
    pub fn entries(&self) -> Vec<InventoryEntry> {
        self.stages.values().flatten().map(Item::entry).collect()
    }

    /// Whether the apply writes anything: an object created, changed or recreated, or one
    /// that can only be decided just before its write.
    pub fn writes(&self) -> bool {
        self.stages.values().flatten().any(|item| match item {
            Item::Planned(p) => p.step != Step::Unchanged,
            Item::Deferred(_) => true,
        })
    }

    /// Writes the planned objects stage by stage, in order, checking deferred objects
    /// just before their write; waits for CRDs to be established and Namespaces active
    /// after the first stage (of each sync wave), and with [`ApplyOptions::waves`] for a
    /// wave's objects to be healthy before the next wave. Each change is recorded in
    /// `changes` as it happens, so that after an error `changes` holds what was written.
    ///
    /// # Errors
    /// The first [`ApplyError`]; what was written before it stays.
    pub async fn apply(mut self, changes: &mut ChangeSet) -> Result<(), ApplyError> {
        let stages = std::mem::take(&mut self.stages);
        let last_wave = stages.keys().next_back().map(|(wave, _)| *wave);
        let mut wave_objects = Vec::new();
        let mut stages = stages.into_iter().peekable();
        while let Some(((wave, index), stage)) = stages.next() {
            let mut written = Vec::with_capacity(stage.len());
            for item in stage {
                let planned = match item {
                    Item::Planned(planned) => *planned,
                    Item::Deferred(deferred) => self.check_deferred(*deferred).await?,
                };
                let live = planned.live.as_ref();
                let (action, left) = execute(
                    &planned.target,
                    &planned.body,
                    live,
                    planned.step,
                    &self.options,
                )
                .await?;
                let health = self.options.health.as_deref().and_then(|rules| {
                    let object = serde_json::to_value(left.as_ref().or(live)?).ok()?;
                    Some(rules.health(&object))
                });
                let object = planned.target.entry();
                if let Some(holder) = planned.taken_from {
                    changes.taken.push((object.clone(), holder));
                }
                changes.changes.push(Change {
                    object,
                    action,
                    health,
                });
                written.push(planned.target);
            }
            if index == 0 {
                for target in &written {
                    wait_ready(target, self.options.wait_timeout).await?;
                }
            }
            if !self.options.waves {
                continue;
            }
            wave_objects.extend(written.iter().map(Target::entry));
            let wave_ends = stages.peek().is_none_or(|((next, _), _)| *next != wave);
            if wave_ends && Some(wave) != last_wave {
                let objects = std::mem::take(&mut wave_objects);
                let timeout = self.options.wait_timeout;
                // Argo CD has no CEL health rules: the built-in ones judge a wave.
                let rules = health::Rules::default();
                health::wait(&self.client, &objects, &rules, timeout, WAVE_POLL)
                    .await
                    .map_err(|source| ApplyError::Wave { wave, source })?;
            }
        }
        Ok(())
    }

    /// Checks a deferred object now that earlier stages are written.
    async fn check_deferred(&mut self, deferred: Deferred<'a>) -> Result<Planned, ApplyError> {
        let target = match deferred.target {
            Some(target) => target,
            None => {
                self.resolver
                    .resolve(deferred.manifest, Some(self.options.wait_timeout))
                    .await?
            }
        };
        let body = desired_body(&target, deferred.manifest);
        let probe = probe(&target, &body, &self.options).await?;
        self.plan(target, body, probe).await.map_err(|(_, err)| err)
    }

    /// Decides one probed object: protection and ownership of the live object, then the
    /// step the dry-run calls for.
    async fn plan(
        &mut self,
        target: Target,
        body: Value,
        mut probe: Probe,
    ) -> Result<Planned, (Target, ApplyError)> {
        let body = probe.respected.take().unwrap_or(body);
        let taken_from = match self.check_live(&target, &body, probe.live.as_ref()).await {
            Ok(taken_from) => taken_from,
            Err(err) => return Err((target, err)),
        };
        let step = match decide(&target, &body, &probe, &self.options) {
            Ok(step) => step,
            Err(err) => return Err((target, err)),
        };
        let merged = match probe.dry_run {
            DryRun::Merged(merged) => Some(*merged),
            _ => None,
        };
        Ok(Planned {
            target,
            body,
            step,
            live: probe.live,
            merged,
            taken_from,
        })
    }

    /// Refuses a live object that is protected, or that another owner holds (unless
    /// take-over was asked for: then that owner is returned).
    async fn check_live(
        &mut self,
        target: &Target,
        body: &Value,
        live: Option<&DynamicObject>,
    ) -> Result<Option<Holder>, ApplyError> {
        let Some(live) = live else {
            return Ok(None);
        };
        let labels = live.metadata.labels.as_ref();
        if let Some(rule) = self.options.protect.live(
            &target.resource.kind,
            &target.namespace,
            &target.name,
            labels,
        ) {
            return Err(ApplyError::Protected {
                object: target.id.clone(),
                rule: rule.clone(),
            });
        }
        let entry = target.entry();
        let mut claims = Claim::of_live(labels);
        let annotations = live.metadata.annotations.as_ref();
        if let Some(tracked) = Claim::of_tracking_id(annotations, &entry)
            && !claims.contains(&tracked)
        {
            claims.push(tracked);
        }
        let ours = Claim::of_desired(body);
        if claims.iter().all(|c| Some(c) == ours.as_ref()) {
            return Ok(None);
        }
        match self.holders.holder(&entry, &claims, ours.as_ref()).await {
            None => Ok(None),
            Some(holder) if self.options.force_ownership => Ok(Some(holder)),
            Some(holder) => Err(ApplyError::Owned {
                conflicts: vec![Conflict {
                    object: id(&entry),
                    holder,
                }],
            }),
        }
    }
}
