//! What a Sync reconcile does: wait for dependencies and the source, render the artifact, then
//! apply and prune (`mode: auto`, or `manual` once the revision is approved) or report the
//! plan (`manual`), check health, and record what happened ([`super::record`]).
//!
//! - A revision already applied is not applied again unless `selfHeal` is on (then every
//!   interval's dry-run finds and reverts drift, named in an event), the spec changed, the
//!   last attempt failed, or a reconcile was requested (`lockstep.dev/requestedAt`).
//!   Without `selfHeal` (`mode: auto`) every interval still renders and dry-runs it, and
//!   reports what drifted ([`super::drift`]) without writing.
//! - Health is looked at, not waited for: while objects roll out the Sync says
//!   `Progressing` and looks again in a second, so a slow rollout never holds a worker
//!   that other Syncs need. The timeout counts from when it started progressing. The look
//!   right after the apply is recorded with the next one ([`super::held`]).
//! - Every object is checked before the first write (`lockstep_engine::run::prepare`): a
//!   revision with a rejected object, or an object another owner holds, writes nothing.
//! - Before the first write the inventory already lists every object the apply may write
//!   (`Verdict::Applying`), and status says which revision is being applied: a controller
//!   killed mid-apply has recorded what it wrote, so a later revision prunes it.
//! - Nothing is pruned after a failed render or apply.
//! - Every request about the Sync's objects is made as its ServiceAccount when it has one
//!   ([`super::target`]); reads of other Syncs and of its own Secrets as the controller.
//! - A deleted Sync is cleaned up by [`super::finalize`].

use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use kube::runtime::events::EventType;
use lockstep_api::flux::CommonMetadata;
use lockstep_api::{
    APPROVED_REVISION_ANNOTATION, ConditionStatus, Helm, InventoryEntry, ObjectKey, Plan,
    REQUESTED_AT_ANNOTATION, SecretsUsed, Sync, SyncMode, SyncStatus,
};
use lockstep_engine::apply::{
    ApplyError, ApplyOptions, IgnoreDifferences, IgnoreRule, Preview, SyncOptions,
};
use lockstep_engine::fetch::Artifact;
use lockstep_engine::health::Rules;
use lockstep_engine::hooks::{self, Dialect, HookOptions};
use lockstep_engine::inventory::key;
use lockstep_engine::redact::Redactor;
use lockstep_engine::render::helm::{Chart, render_chart};
use lockstep_engine::render::{Manifest, Owner, RenderOptions, render};
use lockstep_engine::run::{self, RunError, RunOptions};
use lockstep_engine::secrets::Prepared;

use super::conditions::{self, READY, Reason, WireReason};
use super::dependencies::dependencies;
use super::drift::{Drift, Report};
use super::front::Front;
use super::health::check_health;
use super::helm_records;
use super::hooks::Release;
use super::reconcile::source_of;
use super::record::{Error, Health, Verdict, record};
use super::status::{self, EventAction};
use super::target::{Remote, protect, sync_client};
use super::{SyncCtx, secrets, variables};
use crate::argocd::project::resource_refusal;
use crate::flux::history;

/// What to do with a Sync: each step either hands the next its input or ends the
/// reconcile with a verdict.
pub(super) async fn decide(
    sync: &mut Sync,
    ctx: &SyncCtx,
    timeout: Duration,
) -> Result<Verdict, Error> {
    let (artifact, client, rules) = match inputs(sync, ctx).await {
        Ok(inputs) => inputs,
        Err(verdict) => return Ok(verdict),
    };
    let about = artifact.about.clone();
    let mut used = None;
    let mut verdict = decide_with(sync, ctx, timeout, &artifact, client, &rules, &mut used).await?;
    if let Verdict::Applied {
        about: a, secrets, ..
    } = &mut verdict
    {
        *a = about;
        // A verdict held from the apply keeps where that render's secrets came from.
        if let Some(used) = used {
            *secrets = Some(Box::new(used));
        }
    }
    Ok(verdict)
}

/// [`decide`] once the source's artifact, the client to apply as and the health rules are
/// there; `used` is where the render's secrets came from, once it is rendered.
async fn decide_with(
    sync: &mut Sync,
    ctx: &SyncCtx,
    timeout: Duration,
    artifact: &Artifact,
    client: kube::Client,
    rules: &Arc<Rules>,
    used: &mut Option<SecretsUsed>,
) -> Result<Verdict, Error> {
    let status = sync.status.clone().unwrap_or_default();
    let revision = artifact.revision.clone();
    let watched = rolling_out(sync, ctx, &client, &status, &revision, timeout, rules).await;
    if let Some(verdict) = watched {
        return Ok(verdict);
    }
    let pass = pass(sync, ctx, &status, &revision);
    if pass == Pass::Skip {
        return Ok(unwritten(
            revision,
            "no change",
            status.inventory,
            Report::Unknown,
        ));
    }
    // A failed drift check leaves the Sync as applied: failing it would make its next
    // reconcile apply, and so revert what it was only to report.
    let failed = |verdict: Verdict| match pass {
        Pass::Report => {
            drift_unchecked(sync, &verdict);
            let inventory = status.inventory.clone();
            unwritten(revision.clone(), "no change", inventory, Report::Unknown)
        }
        _ => verdict,
    };
    let previous = helm_records::previous(sync, &client, &status.inventory).await;
    let install = install(&previous.objects, ctx);
    let rendered = render_and_decrypt(sync, ctx, &client, artifact, &revision, install, timeout);
    let prepared = match rendered.await {
        Ok(prepared) => prepared,
        Err(verdict) => return Ok(failed(verdict)),
    };
    *used = Some(prepared.used.clone());
    // A HelmRelease's `install.createNamespace`: its namespace before anything checks it.
    if sync.spec.create_namespace
        && pass != Pass::Report
        && let Some(namespace) = &sync.spec.target_namespace
        && let Err(err) = super::namespace::create(&client, namespace).await
    {
        let message = format!("creating namespace {namespace} (install.createNamespace): {err}");
        let verdict = Verdict::failed(Reason::ReconciliationFailed, message, &revision);
        return Ok(failed(verdict));
    }
    let options = run_options(sync, ctx, previous.objects, timeout, Some(rules));
    let checked = match run::prepare(&client, &prepared.manifests, &options).await {
        Ok(checked) => checked,
        Err(err) => return Ok(failed(refused(&err, &prepared.redactor, &revision))),
    };
    if let Some(verdict) = project_refusal(sync, &checked, &revision) {
        return Ok(failed(verdict));
    }
    if pass == Pass::Report {
        let drift = Report::Found(Drift::of(&checked.previews()));
        return Ok(unwritten(revision, "no change", status.inventory, drift));
    }
    let approved = sync.annotations().get(APPROVED_REVISION_ANNOTATION) == Some(&revision);
    if sync.spec.mode == SyncMode::Manual && !approved {
        let plan = checked.plan(&revision);
        if plan.changes.is_empty() {
            // Nothing to approve, but the rollout of what was applied is still looked at:
            // a Deployment that never became available is not reported healthy.
            let inventory = status.inventory.clone();
            let look = check_health(sync, ctx, &client, &inventory, "", timeout, rules).await;
            let health = settled(&status, &revision, look, timeout);
            let summary = "in sync, nothing to approve".into();
            let verdict = applied(revision, summary, false, inventory, health, Report::Unknown);
            return Ok(verdict);
        }
        return Ok(Verdict::Planned(plan));
    }
    let hook_options = HookOptions {
        owner: &options.owner,
        apply: &options.apply,
        timeout,
        released: &previous.hooks,
    };
    let changes = checked.writes()
        || !current_attempt(sync, &status, &revision)
        || !conditions::is_true(&status.conditions, READY);
    let release = Release::new(&client, &prepared.hooks, hook_options, install, changes);
    if let Err(message) = release.before().await {
        let message = format!(
            "{}; nothing of revision {revision} was applied",
            prepared.redactor.scrub(&message)
        );
        return Ok(Verdict::failed(Reason::HookFailed, message, &revision));
    }
    // Healing a revision applied already reverts whatever it writes; after a new revision
    // (or spec, or request) the cluster simply matches it.
    let drift = match pass {
        Pass::Heal if checked.writes() => Drift::of(&checked.previews()),
        _ => Drift::default(),
    };
    let intent = checked.intent();
    let new_revision = status.last_attempted_revision.as_ref() != Some(&revision);
    if checked.writes() && (intent != status.inventory || new_revision) {
        let applying = Verdict::Applying {
            revision: revision.clone(),
            inventory: intent,
        };
        record(sync, ctx, applying).await?;
    }
    let outcome = checked.run().await;
    Ok(match outcome {
        Ok(outcome) => {
            ctx.refresh_after(&ObjectKey::of(sync), prepared.refresh);
            if let Err(message) = release.after(sync, &outcome).await {
                return Ok(Verdict::Failed {
                    reason: Reason::HookFailed,
                    message: prepared.redactor.scrub(&message),
                    revision,
                    inventory: Some(outcome.inventory),
                });
            }
            if let Err(err) = helm_records::write(sync, &client, &prepared).await {
                let message = format!("applied, but {err}");
                return Ok(Verdict::Failed {
                    reason: Reason::ReconciliationFailed,
                    message: prepared.redactor.scrub(&message),
                    revision,
                    inventory: Some(outcome.inventory),
                });
            }
            let drift = Report::Reverted(drift);
            after_apply(sync, ctx, &client, outcome, revision, drift, &options.apply).await
        }
        Err(err) => {
            release.failed().await;
            let reason = match &err {
                RunError::Prune { .. } | RunError::NotHealthy { .. } => Reason::PruneFailed,
                _ => Reason::ReconciliationFailed,
            };
            Verdict::Failed {
                reason,
                message: prepared.redactor.scrub(&err.to_string()),
                revision,
                inventory: Some(err.inventory().to_vec()),
            }
        }
    })
}

/// What applying `artifact` would do to each object, for a person to read (the web UI's
/// diff): rendered, decrypted in memory, checked and dry-run exactly as a reconcile does
/// it, with nothing written. The previews hold plaintext: show them only through the
/// redactor returned with them.
pub(super) async fn dry_run(
    sync: &Sync,
    ctx: &SyncCtx,
    artifact: &Artifact,
    client: &kube::Client,
    timeout: Duration,
) -> Result<(Vec<Preview>, Plan, Redactor), Verdict> {
    let revision = &artifact.revision;
    let inventory = sync.status.as_ref().map_or(&[][..], |s| &s.inventory);
    let previous = helm_records::previous(sync, client, inventory).await;
    let install = install(&previous.objects, ctx);
    let prepared =
        render_and_decrypt(sync, ctx, client, artifact, revision, install, timeout).await?;
    let options = run_options(sync, ctx, previous.objects, timeout, None);
    let checked = run::prepare(client, &prepared.manifests, &options)
        .await
        .map_err(|err| refused(&err, &prepared.redactor, revision))?;
    if let Some(verdict) = project_refusal(sync, &checked, revision) {
        return Err(verdict);
    }
    Ok((
        checked.previews(),
        checked.plan(revision),
        prepared.redactor,
    ))
}

/// An Argo CD project's resource rules, for every object before the first write.
fn project_refusal(sync: &Sync, checked: &run::Prepared<'_>, revision: &str) -> Option<Verdict> {
    let project = sync.spec.project.as_ref()?;
    let objects = checked.objects();
    let refusal = objects.iter().find_map(|o| resource_refusal(project, o))?;
    let message = format!("{refusal}; nothing of revision {revision} was applied");
    Some(Verdict::failed(
        Reason::ReconciliationFailed,
        message,
        revision,
    ))
}

/// What an apply needs before anything is rendered: a permitted source with an
/// artifact, dependencies Ready, the client to apply as, and the health rules (compiled
/// once per reconcile).
async fn inputs(
    sync: &Sync,
    ctx: &SyncCtx,
) -> Result<(Artifact, kube::Client, Arc<Rules>), Verdict> {
    let namespace = sync.namespace().unwrap_or_default();
    let source = source_of(sync);
    if ctx.no_cross_namespace_refs && source.namespace != namespace {
        return Err(Verdict::Stalled(format!(
            "sourceRef {source} is in another namespace, which this controller refuses"
        )));
    }
    for (i, rule) in sync.spec.ignore_differences.iter().enumerate() {
        if let Some(refusal) = rule.refusal() {
            return Err(Verdict::Stalled(format!(
                "spec.ignoreDifferences[{i}]: {refusal}"
            )));
        }
    }
    // As Flux: an expression that cannot work stalls the Sync before anything is applied.
    let rules = match Rules::compile(&sync.spec.health_check_exprs) {
        Ok(rules) => Arc::new(rules),
        Err(err) => return Err(Verdict::Stalled(err.to_string())),
    };
    let pinned = super::pin::pinned(sync, ctx.front);
    let artifact = match pinned {
        Some(revision) => Some(super::pin::artifact(ctx, &source, revision).await?),
        None => ctx.artifact(&source),
    };
    let Some(artifact) = artifact else {
        return Err(Verdict::Waiting {
            reason: Reason::ArtifactFailed,
            message: format!("GitSource {source} has no artifact yet"),
        });
    };
    // Pinned by a rollback, the Sync stays behind its dependencies on purpose.
    let revision = pinned.is_none().then_some(artifact.revision.as_str());
    if let Some(waiting) = dependencies(sync, ctx, &namespace, revision).await {
        return Err(waiting);
    }
    match sync_client(sync, ctx, &namespace).await {
        Ok(client) => Ok((artifact, client, rules)),
        Err(err) => {
            let reason = Reason::ReconciliationFailed;
            Err(Verdict::failed(reason, err.to_string(), &artifact.revision))
        }
    }
}

/// The verdict when `revision` is applied already and only its rollout is being watched:
/// health is looked at again — first of all for a verdict held since the apply's own look
/// ([`super::held`]), which this look finishes and records.
async fn rolling_out(
    sync: &Sync,
    ctx: &SyncCtx,
    client: &kube::Client,
    status: &SyncStatus,
    revision: &str,
    timeout: Duration,
    rules: &Rules,
) -> Option<Verdict> {
    if let Some((mut held, current)) = ctx.held.take(sync) {
        // When the spec changed since, the held verdict is recorded as it was, and the
        // next reconcile applies the new spec.
        if current
            && let Verdict::Applied {
                inventory, health, ..
            } = &mut held
        {
            *health = check_health(sync, ctx, client, inventory, "", timeout, rules).await;
        }
        return Some(held);
    }
    if !current_attempt(sync, status, revision) {
        return None;
    }
    let ready = conditions::get(&status.conditions, READY)?;
    if ready.status != ConditionStatus::False || ready.reason != Reason::Progressing.as_str() {
        return None;
    }
    let inventory = status.inventory.clone();
    let since = ready.last_transition_time.as_str();
    let health = check_health(sync, ctx, client, &inventory, since, timeout, rules).await;
    let summary = "no change".into();
    Some(applied(
        revision.to_owned(),
        summary,
        false,
        inventory,
        health,
        Report::Unknown,
    ))
}

/// Logs why drift could not be checked this interval (the message is the status one,
/// scrubbed already).
fn drift_unchecked(sync: &Sync, verdict: &Verdict) {
    if let Verdict::Failed { message, .. } = verdict {
        let name = ObjectKey::of(sync);
        tracing::warn!(sync = %name, "drift not checked: {message}");
    }
}

/// What this reconcile does with a revision that is not rolling out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Pass {
    /// Apply it: it is new, the spec changed, the last attempt failed, a reconcile was
    /// requested, or references are due for a refresh.
    Apply,
    /// Applied and Ready, `selfHeal` on: apply again, reverting drift.
    Heal,
    /// Applied and Ready, `selfHeal` off: dry-run only and report drift.
    Report,
    /// Applied and Ready in manual mode without `selfHeal`: leave it alone.
    Skip,
}

fn pass(sync: &Sync, ctx: &SyncCtx, status: &SyncStatus, revision: &str) -> Pass {
    let ready = conditions::is_true(&status.conditions, READY);
    let refresh_due = ctx
        .refresh_in(&ObjectKey::of(sync))
        .is_some_and(|r| r.is_zero());
    if !current_attempt(sync, status, revision) || !ready || refresh_due {
        Pass::Apply
    } else if sync.spec.self_heal {
        Pass::Heal
    } else if sync.spec.mode == SyncMode::Manual {
        Pass::Skip
    } else {
        Pass::Report
    }
}

/// The artifact's path (or chart) rendered, then its SOPS files decrypted and its
/// references resolved, within `timeout`.
async fn render_and_decrypt(
    sync: &Sync,
    ctx: &SyncCtx,
    client: &kube::Client,
    artifact: &Artifact,
    revision: &str,
    install: Option<bool>,
    timeout: Duration,
) -> Result<Prepared, Verdict> {
    let keys_failed =
        |failure: secrets::Failure| Verdict::failed(failure.reason, failure.message, revision);
    let mut options = RenderOptions {
        owner: Some(owner(sync, ctx)),
        target_namespace: sync.spec.target_namespace.clone(),
        overlay: sync.spec.overlay.clone(),
        directory: sync.spec.directory.clone(),
    };
    let path = sync.spec.path.clone().unwrap_or_default();
    let root = artifact.path.clone();
    // Argo CD's detection: a Chart.yaml and no kustomization (with both it reads a folder).
    let folder = root.join(&path);
    let kustomization = ["kustomization.yaml", "kustomization.yml", "Kustomization"]
        .iter()
        .any(|name| folder.join(name).is_file());
    let detected = (sync.spec.helm.is_none()
        && sync.spec.helm_when_chart
        && folder.join("Chart.yaml").is_file()
        && !kustomization)
        .then(Helm::default);
    if detected.is_some() {
        options.target_namespace = sync.spec.default_namespace.clone();
    }
    // A chart's values files are decrypted before it renders, so its keys come first.
    let (rendered, keys) = match sync.spec.helm.as_ref().or(detected.as_ref()) {
        None => {
            let rendered = tokio::task::spawn_blocking(move || render(&root, &path, &options));
            (rendered.await, None)
        }
        Some(helm) => {
            let keys = secrets::keys(&ctx.shared.client, sync)
                .await
                .map_err(keys_failed)?;
            let mut chart = Chart::new(
                helm,
                sync.spec.path.as_deref(),
                &sync.name_any(),
                &options
                    .target_namespace
                    .take()
                    .unwrap_or_else(|| sync.namespace().unwrap_or_default()),
            );
            // The cluster's version and API groups, as `helm install` reads them, unless the
            // helm block names its own; helm's defaults when they cannot be read.
            if chart.kube_version.is_none() {
                chart.kube_version = client.apiserver_version().await.ok().map(|v| v.git_version);
            }
            if chart.api_versions.is_empty() {
                chart.api_versions = api_versions(client).await;
            }
            // An upgrade once the release applied anything, as the hooks that run are.
            // Dependencies Chart.yaml names from Helm repositories and charts/ lacks are
            // fetched, as `helm dependency build` would, into the artifact cache; with the
            // credentials of a HelmRepository of the same URL, as Flux reads them.
            let mut redactor = Redactor::new();
            let namespace = sync.namespace().unwrap_or_default();
            let failed = |err: String, redactor: &Redactor| {
                let message = redactor.scrub(&format!("{}: {err}", chart.path));
                Verdict::failed(Reason::BuildFailed, message, revision)
            };
            let missing = super::chart::missing(&root, &chart.path).await;
            let known =
                super::chart::dependency_repositories(ctx, &namespace, &missing, &mut redactor)
                    .await
                    .map_err(|err| failed(err, &redactor))?;
            chart.dependencies = ctx
                .fetcher
                .fetch_missing(missing, &known)
                .await
                .map_err(|err| failed(err.to_string(), &redactor))?;
            chart.is_upgrade = install == Some(false);
            let chart_keys = keys.keys.clone();
            let rendered = tokio::task::spawn_blocking(move || {
                render_chart(&root, &chart, &chart_keys, &options)
            });
            (rendered.await, Some(keys))
        }
    };
    let mut rendered = match rendered {
        Ok(Ok(rendered)) => rendered,
        Ok(Err(err)) => {
            return Err(Verdict::failed(
                Reason::BuildFailed,
                err.to_string(),
                revision,
            ));
        }
        Err(err) => {
            let message = format!("render: {err}");
            return Err(Verdict::failed(Reason::BuildFailed, message, revision));
        }
    };
    if let Some(namespace) = &sync.spec.default_namespace {
        default_namespace(&mut rendered.manifests, namespace);
    }
    // An Application's objects marked `argocd.argoproj.io/hook` run as Argo CD's hooks.
    if ctx.front == Front::ArgoCd {
        let manifests = std::mem::take(&mut rendered.manifests);
        let (manifests, hooks) = hooks::split(manifests, Dialect::ArgoCd);
        rendered.manifests = manifests;
        rendered.hooks.extend(hooks);
    }
    if sync.spec.skip_hooks {
        rendered.hooks.clear();
    }
    // Before decryption: nothing is substituted inside a decrypted value.
    let substituted = match &sync.spec.post_build {
        None => Redactor::new(),
        Some(post_build) => {
            let client = &ctx.shared.client;
            variables::substitute(client, sync, post_build, &mut rendered.manifests)
                .await
                .map_err(|message| Verdict::failed(Reason::BuildFailed, message, revision))?
        }
    };
    if let Some(common) = &sync.spec.common_metadata {
        common_metadata(&mut rendered.manifests, common, &owner(sync, ctx));
    }
    // The reconcile's time budget for its CPU-bound part: a file that takes longer to
    // decrypt than `timeout` fails this Sync instead of holding a worker every interval.
    let keys = match keys {
        Some(keys) => keys,
        None => secrets::keys(&ctx.shared.client, sync)
            .await
            .map_err(keys_failed)?,
    };
    // A Kustomization's history sums what was built, before any secret is in it.
    if ctx.front == Front::Flux {
        let digest = history::digest(&rendered.manifests, &substituted);
        ctx.histories.built(&ObjectKey::of(sync), digest);
    }
    let prepare = secrets::prepare(keys, rendered, substituted);
    match tokio::time::timeout(timeout, prepare).await {
        Ok(Ok(prepared)) => Ok(prepared),
        Ok(Err(failure)) => Err(Verdict::failed(failure.reason, failure.message, revision)),
        Err(_) => {
            let message = format!(
                "decrypting and resolving the secrets took longer than the timeout \
                 ({timeout:?}); nothing was applied: check the SOPS files for unusually \
                 large key entries, or raise spec.timeout"
            );
            Err(Verdict::failed(Reason::DecryptionFailed, message, revision))
        }
    }
}

/// Whether this reconcile installs the release (nothing was applied before: `previous`,
/// the Sync's inventory or its Helm release's, is empty) or upgrades it, for a chart's
/// render and hooks; `None` for an Argo CD Application, which cannot tell the two apart
/// (it renders every sync as an install and runs both hooks).
fn install(previous: &[InventoryEntry], ctx: &SyncCtx) -> Option<bool> {
    (ctx.front != Front::ArgoCd).then_some(previous.is_empty())
}

/// The `group/version`s the cluster serves (besides core `v1`, which helm always has), for
/// a chart's `.Capabilities.APIVersions`; none when discovery fails.
async fn api_versions(client: &kube::Client) -> Vec<String> {
    let Ok(groups) = client.list_api_groups().await else {
        return Vec::new();
    };
    groups
        .groups
        .iter()
        .flat_map(|group| group.versions.iter().map(|v| v.group_version.clone()))
        .collect()
}

/// Sets `namespace` on every object that names none (Argo CD's `destination.namespace`);
/// a cluster-scoped object's is dropped when apply resolves its kind.
fn default_namespace(manifests: &mut [Manifest], namespace: &str) {
    for manifest in manifests.iter_mut().filter(|m| m.namespace().is_none()) {
        if let Some(metadata) = manifest.object["metadata"].as_object_mut() {
            metadata.insert("namespace".into(), namespace.into());
        }
    }
}

/// Sets the labels and annotations of `common` on every object, replacing its own under
/// the same keys (a Flux Kustomization's `commonMetadata`, set after `postBuild` as Flux
/// sets it). The owner's labels are kept: they say who holds the object.
fn common_metadata(manifests: &mut [Manifest], common: &CommonMetadata, owner: &Owner) {
    let owned = [Some(owner.mark.name_label), owner.mark.namespace_label];
    let labels = || {
        common
            .labels
            .iter()
            .filter(|(key, _)| !owned.contains(&Some(key.as_str())))
    };
    for manifest in manifests.iter_mut() {
        if let Some(metadata) = manifest.object["metadata"].as_object_mut() {
            set_all(metadata, "labels", labels());
            set_all(metadata, "annotations", common.annotations.iter());
        }
    }
}

/// Sets `entries` in the map `metadata.<field>`, created when missing.
fn set_all<'a>(
    metadata: &mut serde_json::Map<String, serde_json::Value>,
    field: &str,
    entries: impl Iterator<Item = (&'a String, &'a String)>,
) {
    let mut entries = entries.peekable();
    if entries.peek().is_none() {
        return;
    }
    let map = metadata
        .entry(field)
        .or_insert_with(|| serde_json::Value::Object(Default::default()));
    if !map.is_object() {
        *map = serde_json::Value::Object(Default::default());
    }
    if let Some(map) = map.as_object_mut() {
        map.extend(entries.map(|(key, value)| (key.clone(), value.as_str().into())));
    }
}

/// The Sync (or the Kustomization it was read from) as the owner of what it applies.
fn owner(sync: &Sync, ctx: &SyncCtx) -> Owner {
    ctx.front
        .owner(sync.name_any(), sync.namespace().unwrap_or_default())
}

/// How the engine applies and prunes for `sync`.
/// How to apply and prune; `previous` is what the last apply left (the status's
/// inventory, or a Helm release's, [`helm_records::previous`]); `rules` judge each object's
/// health as it is written, when the Sync checks health (none for a preview).
fn run_options(
    sync: &Sync,
    ctx: &SyncCtx,
    previous: Vec<InventoryEntry>,
    timeout: Duration,
    rules: Option<&Arc<Rules>>,
) -> RunOptions {
    let owner = owner(sync, ctx);
    let apply = ApplyOptions {
        force: sync.spec.force,
        force_ownership: sync.spec.force_ownership.unwrap_or(false),
        wait_timeout: timeout,
        // The kinds served are known for the local cluster only.
        kinds: if Remote::of(sync).is_none() {
            ctx.kinds.clone()
        } else {
            Arc::default()
        },
        protect: protect(sync, ctx),
        owners: Some(ctx.shared.client.clone()),
        field_manager: owner.mark.field_manager,
        // An Application's objects go in Argo CD's sync waves, and are replaced as its
        // sync options (its own, or theirs) say.
        waves: ctx.front == Front::ArgoCd,
        sync_options: SyncOptions {
            per_object: ctx.front == Front::ArgoCd,
            replace: ctx.front == Front::ArgoCd && sync.spec.replace,
            force: ctx.front == Front::ArgoCd && sync.spec.force,
        },
        ignore: IgnoreDifferences {
            rules: sync
                .spec
                .ignore_differences
                .iter()
                .map(|rule| IgnoreRule {
                    group: rule.group.clone().unwrap_or_default(),
                    kind: rule.kind.clone(),
                    name: rule.name.clone(),
                    namespace: rule.namespace.clone(),
                    json_pointers: rule.json_pointers.clone(),
                    managers: rule.managed_fields_managers.clone(),
                })
                .collect(),
            respect: !sync.spec.ignore_only_in_comparison,
        },
        health: rules
            .filter(|_| sync.spec.wait || !sync.spec.health_checks.is_empty())
            .cloned(),
    };
    RunOptions {
        owner,
        previous,
        prune: sync.spec.prune,
        allow_empty: sync.spec.allow_empty,
        prune_last: sync.spec.prune_last,
        apply,
    }
}

/// After a successful apply (`apply` is how: its timeout and health rules): an event per
/// object taken over, then one look at health.
async fn after_apply(
    sync: &Sync,
    ctx: &SyncCtx,
    client: &kube::Client,
    outcome: run::Outcome,
    revision: String,
    drift: Report,
    apply: &ApplyOptions,
) -> Verdict {
    for (entry, holder) in &outcome.changes.taken {
        let note = format!(
            "{} taken over from {holder} (spec.forceOwnership)",
            lockstep_engine::inventory::id(entry)
        );
        let (warning, reason) = (EventType::Warning, Reason::OwnershipTaken);
        let revision = Some(revision.as_str());
        status::publish(
            ctx,
            sync,
            warning,
            reason,
            EventAction::Reconcile,
            &note,
            revision,
        )
        .await;
    }
    let wrote = outcome.changes.writes() > 0 || !outcome.pruned.deleted.is_empty();
    // The first look of this rollout: what each write returned.
    let seen = outcome
        .changes
        .changes
        .iter()
        .filter_map(|change| Some((key(&change.object), change.health.clone()?)))
        .collect();
    ctx.rollouts.keep(ObjectKey::of(sync), seen);
    let (timeout, none) = (apply.wait_timeout, Rules::default());
    let rules = apply.health.as_deref().unwrap_or(&none);
    let inventory = &outcome.inventory;
    let health = check_health(sync, ctx, client, inventory, "", timeout, rules).await;
    let summary = outcome.summary();
    applied(revision, summary, wrote, outcome.inventory, health, drift)
}

/// A revision refused by the checks before the first write.
fn refused(err: &ApplyError, redactor: &Redactor, revision: &str) -> Verdict {
    let (reason, hint) = match err {
        ApplyError::Owned { .. } => (
            Reason::OwnershipConflict,
            "; set spec.forceOwnership: true to take them over, or remove them from the source",
        ),
        ApplyError::ImmutableField { .. } => (
            Reason::ReconciliationFailed,
            "; set spec.force: true (or annotate the object lockstep.dev/force: enabled) to delete and recreate it",
        ),
        _ => (Reason::ReconciliationFailed, ""),
    };
    let message = format!(
        "{}; nothing of revision {revision} was applied{hint}",
        redactor.scrub(&err.to_string())
    );
    Verdict::failed(reason, message, revision)
}

/// The health of an approved revision looked at again with nothing to apply: a rollout
/// still pending after it already failed this revision's timeout stays failed (the same
/// message, so nothing is written), instead of starting its timeout over at every look.
fn settled(status: &SyncStatus, revision: &str, look: Health, timeout: Duration) -> Health {
    let timed_out = status.last_attempted_revision.as_deref() == Some(revision)
        && conditions::get(&status.conditions, READY)
            .is_some_and(|c| c.reason == Reason::HealthCheckFailed.as_str());
    match look {
        Health::Progressing(pending) if timed_out => Health::Failed(format!(
            "timed out after {timeout:?} waiting for: {pending}"
        )),
        look => look,
    }
}

/// A revision found applied: nothing written, health not looked at.
fn unwritten(
    revision: String,
    summary: &str,
    inventory: Vec<InventoryEntry>,
    drift: Report,
) -> Verdict {
    let health = Health::Unchecked;
    applied(revision, summary.into(), false, inventory, health, drift)
}

fn applied(
    revision: String,
    summary: String,
    wrote: bool,
    inventory: Vec<InventoryEntry>,
    health: Health,
    drift: Report,
) -> Verdict {
    Verdict::Applied {
        revision,
        summary,
        wrote,
        inventory,
        health,
        drift,
        about: None,
        secrets: None,
        took: None,
    }
}

/// Whether the status already describes an attempt at `revision` with this spec and no
/// newer reconcile request.
fn current_attempt(sync: &Sync, status: &SyncStatus, revision: &str) -> bool {
    let requested = sync.annotations().get(REQUESTED_AT_ANNOTATION);
    status.last_attempted_revision.as_deref() == Some(revision)
        && status.observed_generation == sync.metadata.generation
        && requested.is_none_or(|r| status.last_handled_requested_at.as_ref() == Some(r))
}
