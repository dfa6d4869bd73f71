//! An Argo CD `Application` as the in-memory `GitSource` and `Sync` the reconcilers work
//! on, and their status back in Argo CD's format. Nothing here is written to the cluster
//! as a Lockstep resource: the conversions exist only for the length of a reconcile.
//!
//! Argo CD's status has no room for Lockstep's conditions, so the last status of each
//! Application's Sync and GitSource is kept in this process ([`Memory`]); after a restart
//! the Sync is read from Argo CD's status alone (`status.resources` is the inventory), and
//! the first reconcile applies again (server-side apply: what matches changes nothing).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use kube::ResourceExt;
use lockstep_api::argocd::{
    Application, ApplicationCondition, ApplicationConditionType, ApplicationSource,
    ApplicationSpec, ApplicationStatus, DEFAULT_PROJECT, FORCE_OPTION, HealthCode, HealthStatus,
    IN_CLUSTER_NAME, IN_CLUSTER_SERVER, Operation, OperationPhase, OperationState, REPLACE_OPTION,
    ResourceStatus, RevisionHistory, SyncCode, SyncInfo, SyncOperation, SyncResult,
};
use lockstep_api::{
    APPROVED_REVISION_ANNOTATION, Backoff, Condition, ConditionStatus,
    CrossNamespaceObjectReference, Directory, GitRef, GitSource, GitSourceSpec, GitSourceStatus,
    InventoryEntry, ObjectKey, REQUESTED_AT_ANNOTATION, Sync, SyncMode, SyncSpec, SyncStatus,
};

use lockstep_engine::fetch::DEFAULT_BRANCH;

use super::env::Env;
use super::operation;
use crate::sync::conditions::{self, DRIFTED, READY, Reason, WireReason};

/// The last Lockstep status of each Application's Sync and GitSource, which Argo CD's
/// status format cannot hold, each Application's `status.history`, and the requested syncs
/// that failed and wait for a retry.
#[derive(Default)]
pub struct Memory {
    syncs: Mutex<HashMap<ObjectKey, SyncStatus>>,
    sources: Mutex<HashMap<ObjectKey, GitSourceStatus>>,
    histories: Mutex<HashMap<ObjectKey, History>>,
    operations: Mutex<HashMap<ObjectKey, OperationState>>,
    /// The requested syncs waiting for a retry (`operation.retry`).
    pub retries: super::retry::Retries,
}

/// How many `status.history` entries Argo CD keeps when `revisionHistoryLimit` is unset.
const DEFAULT_HISTORY_LIMIT: usize = 10;

/// An Application's `status.history`, and what its next entry needs.
#[derive(Clone, Debug, Default)]
struct History {
    entries: Vec<RevisionHistory>,
    limit: usize,
    source: Option<ApplicationSource>,
}

impl Memory {
    /// Keeps the status just written for the Sync of Application `key`.
    pub fn keep_sync(&self, key: ObjectKey, status: SyncStatus) {
        lock(&self.syncs).insert(key, status);
    }

    /// Keeps the status just written for the GitSource of Application `key`.
    pub fn keep_source(&self, key: ObjectKey, status: GitSourceStatus) {
        lock(&self.sources).insert(key, status);
    }

    /// Forgets a deleted Application.
    pub fn forget(&self, key: &ObjectKey) {
        lock(&self.syncs).remove(key);
        lock(&self.sources).remove(key);
        lock(&self.histories).remove(key);
        lock(&self.operations).remove(key);
        self.retries.forget(key);
    }

    /// Whether the last sync of Application `key` failed, as Argo CD fails an operation: its
    /// source could not be rendered, or applying it failed.
    pub fn failed(&self, key: &ObjectKey) -> bool {
        let syncs = lock(&self.syncs);
        let ready = syncs
            .get(key)
            .and_then(|s| s.conditions.iter().find(|c| c.type_ == READY));
        matches!(outcome(ready), Outcome::Failed(_))
    }

    /// Takes in what `app` says of its history: the entries and the last operation's state
    /// the first time it is seen (Argo CD's, or this controller's before a restart), the
    /// limit and the source every time.
    pub fn see_history(&self, app: &Application) {
        let state = app.status.as_ref().and_then(|s| s.operation_state.clone());
        if let Some(state) = state {
            lock(&self.operations)
                .entry(ObjectKey::of(app))
                .or_insert(state);
        }
        let mut histories = lock(&self.histories);
        let history = histories
            .entry(ObjectKey::of(app))
            .or_insert_with(|| History {
                entries: app
                    .status
                    .as_ref()
                    .map(|s| s.history.clone())
                    .unwrap_or_default(),
                ..History::default()
            });
        history.limit = app
            .spec
            .revision_history_limit
            .map_or(DEFAULT_HISTORY_LIMIT, |l| usize::try_from(l).unwrap_or(0));
        history.source = app.spec.source.clone();
    }

    /// Application `key`'s history as it is and as it is to be written with `status`, which
    /// follows `previous`: with one entry more when `status` applied a revision `previous`
    /// had not (Argo CD adds one per sync that succeeds), the oldest beyond the limit
    /// dropped.
    pub fn history(
        &self,
        key: &ObjectKey,
        previous: &SyncStatus,
        status: &SyncStatus,
    ) -> (Vec<RevisionHistory>, Vec<RevisionHistory>) {
        let mut histories = lock(&self.histories);
        let Some(history) = histories.get_mut(key) else {
            return (Vec::new(), Vec::new());
        };
        let before = history.entries.clone();
        // Compared as commits: a requested sync names its revision by commit (`sha1:…`),
        // the branch it is on reads as `main@sha1:…`.
        let applied = status.last_applied_revision.as_deref();
        if let Some(applied) = applied
            && Some(commit(applied)) != previous.last_applied_revision.as_deref().map(commit)
        {
            let when = conditions::now();
            history.entries.push(RevisionHistory {
                id: before.last().map_or(0, |e| e.id + 1),
                revision: commit(applied),
                deployed_at: when.clone(),
                deploy_started_at: Some(when),
                source: history.source.clone(),
                other: std::collections::BTreeMap::new(),
            });
            let excess = history.entries.len().saturating_sub(history.limit);
            history.entries.drain(..excess);
        }
        (before, history.entries.clone())
    }

    /// Application `key`'s status as it was (`previous`) and as it is to be written (`next`),
    /// with the last operation's state where theirs has none: Argo CD keeps
    /// `operationState` until the next operation, so an Application waiting for a requested
    /// sync, or refused, still says how its last sync went (a rollback, say).
    pub fn keep_operation(
        &self,
        key: &ObjectKey,
        previous: &mut ApplicationStatus,
        next: &mut ApplicationStatus,
    ) {
        let mut operations = lock(&self.operations);
        let last = operations.get(key).cloned();
        if previous.operation_state.is_none() {
            previous.operation_state.clone_from(&last);
        }
        match &next.operation_state {
            Some(state) => {
                operations.insert(key.clone(), state.clone());
            }
            None => next.operation_state = last,
        }
    }

    /// Why the last fetch of Application `key`'s source failed, if it did.
    pub fn fetch_failure(&self, key: &ObjectKey) -> Option<String> {
        let sources = lock(&self.sources);
        let ready = sources
            .get(key)?
            .conditions
            .iter()
            .find(|c| c.type_ == READY)?;
        (ready.status == ConditionStatus::False).then(|| ready.message.clone())
    }
}

/// `mutex` locked, a poisoned one taken as it is (nothing here leaves it half-written).
pub(super) fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

/// The sync option that creates the destination namespace.
const CREATE_NAMESPACE: &str = "CreateNamespace=true";
/// The sync option that keeps the live value of ignored fields when an object is written.
const RESPECT_IGNORE_DIFFERENCES: &str = "RespectIgnoreDifferences=true";
/// The sync option that prunes as a last wave, once everything applied is healthy.
const PRUNE_LAST: &str = "PruneLast=true";
/// The sync option that keeps the objects when the Application is deleted.
const KEEP_ON_DELETE: &str = "Delete=false";
/// The sync options served: the namespace creation, respected `ignoreDifferences`, pruning
/// last, and what Lockstep always does — apply server-side, write only the objects that
/// differ, refuse an object another Application (or owner) holds, prune with background
/// propagation. `Validate=false` is accepted and changes nothing: it turns off `kubectl`'s
/// client-side validation in Argo CD, and a server-side apply refuses a field the kind does
/// not declare whatever it says (`tests/argocd_options.rs`).
const SERVED_OPTIONS: &[&str] = &[
    CREATE_NAMESPACE,
    RESPECT_IGNORE_DIFFERENCES,
    PRUNE_LAST,
    KEEP_ON_DELETE,
    REPLACE_OPTION,
    FORCE_OPTION,
    "ServerSideApply=true",
    "ApplyOutOfSyncOnly=true",
    "FailOnSharedResource=true",
    "PrunePropagationPolicy=background",
    "Validate=false",
];

/// Why Lockstep cannot serve `app` as written, if it cannot: fields it does not serve, a
/// Helm chart, another cluster, a sync option not in [`SERVED_OPTIONS`] (all named, so
/// nothing is ignored in silence).
pub fn refusal(app: &Application) -> Option<String> {
    let spec = &app.spec;
    let mut fields = app.unserved();
    if spec.source.is_none() && !fields.iter().any(|f| f == "spec.sources") {
        fields.push("spec.source (unset)".into());
    }
    fields.extend(operation::unserved(app));
    if !fields.is_empty() {
        return Some(format!(
            "{} not served by Lockstep yet; remove {} or keep this Application on Argo CD \
             (docs/argocd.md lists what is served)",
            fields.join(", "),
            if fields.len() == 1 { "it" } else { "them" }
        ));
    }
    // Checked as it will be built, at a commit not fetched yet.
    let env = Env::new(app, UNFETCHED);
    let kustomize = spec.source.as_ref().and_then(|s| s.kustomize.as_ref());
    if let Some(Err(err)) = kustomize.map(|k| super::kustomize::overlay(k, &env)) {
        return Some(err.to_string());
    }
    if let Some(refusal) = spec.source.as_ref().and_then(chart_refusal) {
        return Some(refusal);
    }
    let helm = spec.source.as_ref().and_then(|s| s.helm.as_ref());
    if helm.is_some() && (kustomize.is_some() || spec.source.iter().any(|s| s.directory.is_some()))
    {
        return Some(
            "spec.source sets helm with kustomize or directory; Argo CD refuses several \
             source types in one source, so does Lockstep"
                .into(),
        );
    }
    if let Some(Err(err)) = helm.map(|h| super::helm::helm(h, &env, git_chart_path(app))) {
        return Some(err.to_string());
    }
    for (i, rule) in spec.ignore_differences.iter().enumerate() {
        if let Some(refusal) = rule.refusal() {
            return Some(format!("spec.ignoreDifferences[{i}]: {refusal}"));
        }
    }
    let destination = &spec.destination;
    if destination.server.is_some() == destination.name.is_some() {
        return Some(format!(
            "spec.destination must set server or name, one of them (the local cluster is \
             server {IN_CLUSTER_SERVER} or name {IN_CLUSTER_NAME})"
        ));
    }
    if super::cluster::is_remote(app) && has_option(app, CREATE_NAMESPACE) {
        return Some(
            "CreateNamespace=true is served for the local cluster only; create the \
             namespace in the destination cluster with the Application's objects"
                .into(),
        );
    }
    for read in [retry(app), operation::backoff(app)] {
        if let Some(Err(err)) = read {
            return Some(err);
        }
    }
    let spec_options = spec.sync_policy.iter().flat_map(|p| &p.sync_options);
    let asked_options = operation::requested(app)
        .into_iter()
        .flat_map(|s| &s.sync_options);
    [
        (
            "spec.syncPolicy.syncOptions",
            spec_options.collect::<Vec<_>>(),
        ),
        ("operation.sync.syncOptions", asked_options.collect()),
    ]
    .into_iter()
    .find_map(|(path, options)| {
        let unserved: Vec<&str> = options
            .into_iter()
            .map(String::as_str)
            .filter(|o| !SERVED_OPTIONS.contains(o))
            .collect();
        (!unserved.is_empty()).then(|| {
            format!(
                "{path} {} not served by Lockstep yet; only {} are",
                unserved.join(", "),
                SERVED_OPTIONS.join(" and ")
            )
        })
    })
}

/// Why a `chart` source cannot be served: a Git path or kustomize/directory options beside
/// it, or a repository that is neither a Helm repository (HTTP(S)) nor an OCI registry
/// (`oci://`, or a `repoURL` without a scheme, which Argo CD reads as one). An `oci://`
/// source without a chart (Argo CD's OCI artifact source) is refused too.
fn chart_refusal(source: &ApplicationSource) -> Option<String> {
    if source.chart.is_none() {
        let oci = source.repo_url.to_ascii_lowercase().starts_with("oci://");
        return oci.then(|| {
            "spec.source.repoURL oci:// without a chart is Argo CD's OCI source, which \
             Lockstep does not serve yet (an OCI Helm chart is served: set source.chart)"
                .into()
        });
    }
    if source.path.is_some() || source.kustomize.is_some() || source.directory.is_some() {
        return Some(
            "spec.source.chart is set with spec.source.path, kustomize or directory; a chart \
             source takes only helm options"
                .into(),
        );
    }
    let url = source.repo_url.to_ascii_lowercase();
    let served = ["https://", "http://", "oci://"]
        .iter()
        .any(|scheme| url.starts_with(scheme))
        || !url.contains("://");
    (!served).then(|| {
        format!(
            "spec.source.repoURL {} with a chart is neither a Helm repository (http://, \
             https://) nor an OCI registry (oci://, or host/path)",
            lockstep_engine::fetch::redact_url(&source.repo_url)
        )
    })
}

/// The chart `app` takes from a Helm repository (`source.chart`), with the version or
/// constraint (`targetRevision`; unset or empty: the highest release, `*`).
pub fn repository_chart(app: &Application) -> Option<(&str, &str)> {
    let source = app.spec.source.as_ref()?;
    let chart = source.chart.as_deref()?;
    let version = source.target_revision.as_deref().filter(|v| !v.is_empty());
    Some((chart, requested_revision(app).or(version).unwrap_or("*")))
}

/// The revision a requested sync names instead of `targetRevision`: a rollback to a
/// `status.history` entry, or `argocd app sync --revision`.
fn requested_revision(app: &Application) -> Option<&str> {
    let revision = operation::requested(app)?.revision.as_deref();
    revision.filter(|r| !r.is_empty())
}

/// The AppProject whose rules apply to `app`: `spec.project`, `default` when empty (as
/// Argo CD reads it).
pub fn project_name(app: &Application) -> &str {
    match app.spec.project.as_str() {
        "" => DEFAULT_PROJECT,
        project => project,
    }
}

/// Whether a sync runs automatically: `syncPolicy.automated` set and not `enabled: false`.
fn automated(app: &Application) -> Option<&lockstep_api::argocd::Automated> {
    let automated = app.spec.sync_policy.as_ref()?.automated.as_ref()?;
    (automated.enabled != Some(false)).then_some(automated)
}

/// The revision to follow: `HEAD` (Argo CD's default, also when unset) the branch the
/// remote's HEAD points at, a commit (40 hex digits), `refs/heads/…` or `refs/tags/…`, a
/// version-like name (`v1.2.0`, `1.2`) as a tag, any other name as a branch.
fn git_ref(target: Option<&str>) -> GitRef {
    let mut git_ref = GitRef::default();
    match target.unwrap_or(DEFAULT_BRANCH) {
        "" | DEFAULT_BRANCH => git_ref.branch = Some(DEFAULT_BRANCH.to_owned()),
        commit if commit.len() == 40 && commit.bytes().all(|b| b.is_ascii_hexdigit()) => {
            git_ref.commit = Some(commit.to_owned());
        }
        name => {
            if let Some(branch) = name.strip_prefix("refs/heads/") {
                git_ref.branch = Some(branch.to_owned());
            } else if let Some(tag) = name.strip_prefix("refs/tags/") {
                git_ref.tag = Some(tag.to_owned());
            } else if is_version(name) {
                git_ref.tag = Some(name.to_owned());
            } else {
                git_ref.branch = Some(name.to_owned());
            }
        }
    }
    git_ref
}

/// `v1.2.0`, `1.2`, `v2.0.0-rc.1`: numbers and dots, an optional `v` and suffix.
fn is_version(name: &str) -> bool {
    let version = name.strip_prefix('v').unwrap_or(name);
    let core = version.split(['-', '+']).next().unwrap_or_default();
    !core.is_empty()
        && core.contains('.')
        && core
            .split('.')
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// The `GitSource` that fetches what `app` asks (named as the Application): the revision a
/// requested sync names, else `targetRevision`.
pub fn git_source(app: &Application, interval: Duration, memory: &Memory) -> GitSource {
    let source = app.spec.source.clone().unwrap_or_default();
    let git_ref = git_ref(requested_revision(app).or(source.target_revision.as_deref()));
    let mut git_source = GitSource::new(
        &app.name_any(),
        GitSourceSpec {
            url: source.repo_url,
            git_ref: Some(git_ref),
            interval: go_duration(interval),
            ..GitSourceSpec::default()
        },
    );
    git_source.metadata = app.metadata.clone();
    git_source.status = lock(&memory.sources).get(&ObjectKey::of(app)).cloned();
    git_source
}

/// The `Sync` that does what `app` asks, at `interval` (Argo CD's `timeout.reconciliation`),
/// built for the `fetched` revision (what Argo CD's build variables name; none before the
/// first fetch). Without `automated`, changes wait for a requested sync (`operation.sync`,
/// what `argocd app sync` writes): the Sync is in manual mode and the revision fetched is
/// approved only by that request.
pub fn sync(app: &Application, interval: Duration, memory: &Memory, fetched: Option<&str>) -> Sync {
    let spec = &app.spec;
    let env = Env::new(app, &fetched.map(commit).unwrap_or_default());
    let automated = automated(app);
    let requested = operation::requested(app);
    let kustomize = spec.source.as_ref().and_then(|s| s.kustomize.as_ref());
    let helm = spec.source.as_ref().and_then(|s| s.helm.as_ref());
    let chart = repository_chart(app).map(|(chart, _)| chart.to_owned());
    // Helm's release namespace: `helm.namespace`, else the destination's.
    let release_namespace = (helm.is_some() || chart.is_some()).then(|| {
        helm.and_then(|h| h.namespace.clone())
            .or(spec.destination.namespace.clone())
    });
    // A repository chart is rendered at the root of its own artifact, by name.
    let block = helm.and_then(|h| super::helm::helm(h, &env, git_chart_path(app)).ok());
    let helm_block = match (block, &chart) {
        (Some(block), Some(chart)) => Some(lockstep_api::Helm {
            chart: Some(chart.clone()),
            ..block
        }),
        (None, Some(chart)) => Some(lockstep_api::Helm {
            chart: Some(chart.clone()),
            include_crds: Some(true),
            ..lockstep_api::Helm::default()
        }),
        (block, None) => block,
    };
    let prune =
        requested.is_some_and(|s| s.prune) || automated.is_some_and(|a| a.prune == Some(true));
    let mut sync = Sync::new(
        &app.name_any(),
        SyncSpec {
            source_ref: CrossNamespaceObjectReference {
                kind: "GitSource".into(),
                name: app.name_any(),
                namespace: None,
            },
            path: chart
                .clone()
                .or_else(|| spec.source.as_ref().and_then(|s| s.path.clone())),
            interval: go_duration(interval),
            prune,
            self_heal: automated.is_some_and(|a| a.self_heal == Some(true)),
            mode: if automated.is_some() {
                SyncMode::Auto
            } else {
                SyncMode::Manual
            },
            wait: true,
            default_namespace: spec.destination.namespace.clone(),
            target_namespace: kustomize
                .and_then(|k| k.namespace.clone())
                .or(release_namespace.flatten())
                .filter(|n| !n.is_empty()),
            helm: helm_block,
            // Argo CD renders a folder holding a Chart.yaml with helm even without
            // `source.helm`, unless kustomize or directory options are set.
            helm_when_chart: helm.is_none()
                && chart.is_none()
                && kustomize.is_none()
                && spec.source.iter().all(|s| s.directory.is_none()),
            overlay: kustomize.and_then(|k| super::kustomize::overlay(k, &env).ok()),
            ignore_differences: spec.ignore_differences.clone(),
            ignore_only_in_comparison: !has_option(app, RESPECT_IGNORE_DIFFERENCES),
            prune_last: has_option(app, PRUNE_LAST),
            // Read from the spec, as Argo CD reads it when the Application is deleted.
            keep_on_delete: spec
                .sync_policy
                .iter()
                .any(|p| p.sync_options.iter().any(|o| o == KEEP_ON_DELETE)),
            replace: has_option(app, REPLACE_OPTION),
            force: has_option(app, FORCE_OPTION) || operation::forces(app),
            skip_hooks: operation::skips_hooks(app),
            allow_empty: automated.is_some_and(|a| a.allow_empty == Some(true)),
            // A requested sync is retried by its own `operation.retry` (the Application's
            // reconcile keeps the operation and runs it again, [`super::retry::Retries`]).
            backoff: match requested {
                Some(_) => None,
                None => retry(app).and_then(Result::ok),
            },
            // A plain folder is read as Argo CD reads it: the top folder only unless
            // `recurse`, filtered by `include` and `exclude`.
            directory: (helm.is_none() && chart.is_none() && kustomize.is_none()).then(|| {
                let directory = spec.source.as_ref().and_then(|s| s.directory.as_ref());
                Directory {
                    recurse: directory.and_then(|d| d.recurse).unwrap_or(false),
                    include: directory.and_then(|d| d.include.clone()),
                    exclude: directory.and_then(|d| d.exclude.clone()),
                }
            }),
            ..SyncSpec::default()
        },
    );
    sync.metadata = app.metadata.clone();
    sync.metadata.generation = Some(spec_generation(&app.spec));
    let key = ObjectKey::of(app);
    sync.status = lock(&memory.syncs)
        .get(&key)
        .cloned()
        .or_else(|| app.status.as_ref().map(sync_status));
    if requested.is_some() {
        // A requested sync runs once, whatever was applied before; its operation is
        // removed when it ran.
        let annotations = sync.metadata.annotations.get_or_insert_default();
        let at = format!("operation@{}", app.resource_version().unwrap_or_default());
        annotations.insert(REQUESTED_AT_ANNOTATION.to_owned(), at);
    }
    sync
}

/// The generation the Sync read from an Application carries: a digest of its spec. Argo
/// CD's Application CRD has no status subresource, so every status write bumps
/// `metadata.generation`, which would make each reconcile look like a spec change (and
/// apply, reverting drift that only selfHeal may revert). Kept in memory only.
fn spec_generation(spec: &ApplicationSpec) -> i64 {
    use std::hash::{DefaultHasher, Hash, Hasher};
    let mut hasher = DefaultHasher::new();
    serde_json::to_string(spec)
        .unwrap_or_default()
        .hash(&mut hasher);
    i64::try_from(hasher.finish() >> 1).unwrap_or_default()
}

/// `sync` approved to apply `revision` (a requested sync in manual mode).
pub fn approve(sync: &mut Sync, revision: &str) {
    let annotations = sync.metadata.annotations.get_or_insert_default();
    annotations.insert(APPROVED_REVISION_ANNOTATION.to_owned(), revision.to_owned());
}

/// Whether `app` creates its destination namespace (`CreateNamespace=true`).
pub fn creates_namespace(app: &Application) -> Option<&str> {
    has_option(app, CREATE_NAMESPACE)
        .then_some(app.spec.destination.namespace.as_deref())
        .flatten()
}

/// Whether the sync options in force ([`operation::sync_options`]) include `option`.
fn has_option(app: &Application, option: &str) -> bool {
    operation::sync_options(app).iter().any(|o| o == option)
}

/// `syncPolicy.retry` ([`super::retry::backoff`]); `None` without it, the refusal naming a
/// field that does not read.
fn retry(app: &Application) -> Option<Result<Backoff, String>> {
    let retry = app.spec.sync_policy.as_ref()?.retry.as_ref()?;
    Some(super::retry::backoff(retry, "spec.syncPolicy.retry"))
}

fn go_duration(interval: Duration) -> String {
    format!("{}s", interval.as_secs().max(1))
}

/// The Sync status Argo CD's status says, for an Application this process has not
/// reconciled yet: its inventory, and the revision it was synced at.
fn sync_status(status: &ApplicationStatus) -> SyncStatus {
    // Synced at the revision, or OutOfSync (drift) after a sync of it that succeeded.
    let succeeded = status
        .operation_state
        .as_ref()
        .filter(|o| o.phase == OperationPhase::Succeeded)
        .and_then(|o| o.sync_result.as_ref())
        .map(|r| r.revision.as_str());
    let synced = status
        .sync
        .as_ref()
        .filter(|s| s.status == SyncCode::Synced || s.revision.as_deref() == succeeded)
        .and_then(|s| s.revision.clone());
    SyncStatus {
        inventory: status
            .resources
            .iter()
            .map(|r| InventoryEntry {
                group: r.group.clone(),
                version: r.version.clone(),
                kind: r.kind.clone(),
                namespace: r.namespace.clone(),
                name: r.name.clone(),
            })
            .collect(),
        last_applied_revision: synced,
        ..SyncStatus::default()
    }
}

/// The revision Argo CD's build variables name while an Application is checked, before
/// anything is fetched: a commit's length, so a value is checked as it will be built.
const UNFETCHED: &str = "0000000000000000000000000000000000000000";

/// The folder of `app`'s chart in its Git repository; `None` for a Helm repository's chart.
fn git_chart_path(app: &Application) -> Option<&str> {
    match repository_chart(app) {
        Some(_) => None,
        None => app.spec.source.as_ref().and_then(|s| s.path.as_deref()),
    }
}

/// A Lockstep revision as Argo CD writes revisions: the commit of a Git one
/// (`main@sha1:<hex>`, `sha1:<hex>`), the version of a chart's (`1.2.0@sha256:<hex>`).
fn commit(revision: &str) -> String {
    if let Some((version, _)) = revision.split_once("@sha256:") {
        return version.to_owned();
    }
    revision
        .rsplit_once("sha1:")
        .map_or(revision, |(_, hex)| hex)
        .to_owned()
}

/// What a Sync's `Ready` condition says, in Argo CD's terms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Outcome {
    /// Not reconciled yet.
    Unknown,
    /// Applied and healthy.
    Synced,
    /// Being applied.
    Applying,
    /// Applied; objects rolling out.
    Progressing,
    /// Applied; an object failed its health check.
    Degraded,
    /// Changes wait for a requested sync.
    OutOfSync,
    /// The spec cannot be served.
    Invalid(ApplicationConditionType),
    /// The source could not be fetched or rendered, or applying failed.
    Failed(ApplicationConditionType),
}

fn outcome(ready: Option<&Condition>) -> Outcome {
    let Some(ready) = ready else {
        return Outcome::Unknown;
    };
    if ready.status == ConditionStatus::True {
        return Outcome::Synced;
    }
    let is = |reason: Reason| ready.reason == reason.as_str();
    if is(Reason::Progressing) {
        return match ready.status {
            ConditionStatus::Unknown => Outcome::Applying,
            _ => Outcome::Progressing,
        };
    }
    if is(Reason::HealthCheckFailed) {
        return Outcome::Degraded;
    }
    if is(Reason::ApprovalRequired) {
        return Outcome::OutOfSync;
    }
    if is(Reason::InvalidSpec) {
        return Outcome::Invalid(ApplicationConditionType::InvalidSpecError);
    }
    let apply = [
        Reason::ReconciliationFailed,
        Reason::PruneFailed,
        Reason::OwnershipConflict,
        Reason::HookFailed,
    ];
    if apply.into_iter().any(is) {
        Outcome::Failed(ApplicationConditionType::SyncError)
    } else {
        Outcome::Failed(ApplicationConditionType::ComparisonError)
    }
}

/// One resource's health as Argo CD lists it, for the kinds Argo CD assesses (workloads,
/// Pods, Services, PVCs, Jobs, Ingresses, APIServices, HPAs; others it leaves without
/// health). Every object was checked (an Application's Sync waits for all it applied): when
/// Ready, each is Healthy; while progressing or degraded, those the Ready message lists as
/// pending (`Kind/namespace/name <health>`) are Progressing or Degraded, the rest Healthy.
fn resource_health(
    entry: &InventoryEntry,
    id: &str,
    outcome: Outcome,
    message: &str,
) -> Option<HealthStatus> {
    let assessed = matches!(
        (entry.group.as_str(), entry.kind.as_str()),
        (
            "apps",
            "Deployment" | "StatefulSet" | "DaemonSet" | "ReplicaSet"
        ) | ("", "Pod" | "Service" | "PersistentVolumeClaim")
            | ("batch", "Job")
            | ("networking.k8s.io", "Ingress")
            | ("apiregistration.k8s.io", "APIService")
            | ("autoscaling", "HorizontalPodAutoscaler")
    );
    if !assessed {
        return None;
    }
    let named = message.contains(&format!("{id} "));
    let status = match outcome {
        Outcome::Synced => HealthCode::Healthy,
        Outcome::Progressing if named => HealthCode::Progressing,
        Outcome::Degraded if named => HealthCode::Degraded,
        Outcome::Progressing | Outcome::Degraded => HealthCode::Healthy,
        _ => return None,
    };
    Some(HealthStatus {
        status,
        message: None,
    })
}

/// `status` as Argo CD writes an Application's: sync and health status, the inventory as
/// `resources`, the last sync as `operationState`, problems as `conditions` (`history` is
/// the [`Memory`]'s to fill).
pub fn application_status(status: &SyncStatus) -> ApplicationStatus {
    let ready = status.conditions.iter().find(|c| c.type_ == READY);
    let outcome = outcome(ready);
    let when = ready.map(|c| c.last_transition_time.clone());
    let message = ready.map(|c| c.message.clone()).unwrap_or_default();
    let applied = status.last_applied_revision.as_deref().map(commit);
    let attempted = status.last_attempted_revision.as_deref().map(commit);
    let planned = status.plan.as_ref();
    // Drift found without selfHeal: the cluster no longer matches the applied revision.
    let drifted = conditions::is_true(&status.conditions, DRIFTED);
    // A revision written but not yet (or never) healthy is the one the cluster holds, as
    // Argo CD reports it, though Flux's `lastAppliedRevision` waits for its health.
    let written = match outcome {
        Outcome::Progressing | Outcome::Degraded => attempted.clone().or(applied.clone()),
        _ => applied.clone(),
    };
    let (sync_code, revision) = match outcome {
        Outcome::Synced | Outcome::Progressing | Outcome::Degraded if drifted => {
            (SyncCode::OutOfSync, written)
        }
        Outcome::Synced | Outcome::Progressing | Outcome::Degraded => (SyncCode::Synced, written),
        Outcome::OutOfSync => (SyncCode::OutOfSync, planned.map(|p| commit(&p.revision))),
        Outcome::Applying | Outcome::Failed(ApplicationConditionType::SyncError) => {
            (SyncCode::OutOfSync, attempted.clone())
        }
        _ => (SyncCode::Unknown, attempted.clone()),
    };
    let health = match outcome {
        Outcome::Synced => HealthCode::Healthy,
        Outcome::Progressing | Outcome::Applying => HealthCode::Progressing,
        Outcome::Degraded => HealthCode::Degraded,
        _ if status.inventory.is_empty() => HealthCode::Missing,
        _ => HealthCode::Unknown,
    };
    let health_message =
        matches!(outcome, Outcome::Progressing | Outcome::Degraded).then(|| message.clone());
    let changed: Vec<&str> = planned
        .iter()
        .flat_map(|p| &p.changes)
        .map(|c| c.object.as_str())
        .chain(status.drifted.iter().map(String::as_str))
        .collect();
    let resources = status
        .inventory
        .iter()
        .map(|entry| {
            let id = lockstep_engine::inventory::id(entry);
            let out = changed.contains(&id.as_str());
            ResourceStatus {
                group: entry.group.clone(),
                version: entry.version.clone(),
                kind: entry.kind.clone(),
                namespace: entry.namespace.clone(),
                name: entry.name.clone(),
                status: Some(if out || (sync_code != SyncCode::Synced && !drifted) {
                    SyncCode::OutOfSync
                } else {
                    SyncCode::Synced
                }),
                health: resource_health(entry, &id, outcome, &message),
            }
        })
        .collect();
    let conditions = match outcome {
        Outcome::Invalid(type_) | Outcome::Failed(type_) => vec![ApplicationCondition {
            type_,
            message: message.clone(),
            last_transition_time: when.clone(),
        }],
        _ => Vec::new(),
    };
    let phase = match outcome {
        Outcome::Applying => Some(OperationPhase::Running),
        Outcome::Synced | Outcome::Progressing | Outcome::Degraded => {
            Some(OperationPhase::Succeeded)
        }
        Outcome::Failed(ApplicationConditionType::SyncError) => Some(OperationPhase::Failed),
        _ => None,
    };
    let operation_state = phase.map(|phase| OperationState {
        operation: Operation {
            sync: Some(SyncOperation::default()),
            ..Operation::default()
        },
        phase,
        message: Some(match phase {
            OperationPhase::Succeeded => "successfully synced".to_owned(),
            _ => message.clone(),
        }),
        sync_result: match phase {
            OperationPhase::Succeeded => applied.clone(),
            _ => attempted.clone(),
        }
        .map(|revision| SyncResult { revision }),
        started_at: when.clone().unwrap_or_default(),
        finished_at: (phase != OperationPhase::Running)
            .then(|| when.clone())
            .flatten(),
    });
    ApplicationStatus {
        resources,
        sync: Some(SyncInfo {
            status: sync_code,
            revision,
        }),
        health: Some(HealthStatus {
            status: health,
            message: health_message,
        }),
        conditions,
        reconciled_at: when,
        operation_state,
        history: Vec::new(),
    }
}

/// The Application `sync` was read from (its metadata: what a status write names).
pub fn application(sync: &Sync) -> Application {
    Application {
        metadata: sync.metadata.clone(),
        ..Application::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// History is kept as Argo CD keeps it: Argo CD's own entries taken over, one entry per
    /// revision applied with the next id and the source, none for a status that applied
    /// nothing new, the oldest dropped beyond `revisionHistoryLimit`.
    #[test]
    fn history_grows_by_one_entry_per_revision_applied() {
        let mut spec = served();
        spec["revisionHistoryLimit"] = json!(2);
        let mut argo = app(spec);
        argo.status = Some(ApplicationStatus {
            history: vec![RevisionHistory {
                id: 7,
                revision: "aaa".into(),
                deployed_at: "2026-01-01T00:00:00Z".into(),
                other: [("initiatedBy".to_owned(), json!({"automated": true}))].into(),
                ..RevisionHistory::default()
            }],
            ..ApplicationStatus::default()
        });
        let (memory, key) = (Memory::default(), ObjectKey::of(&argo));
        memory.see_history(&argo);
        let at = |revision: Option<&str>| SyncStatus {
            last_applied_revision: revision.map(|r| format!("main@sha1:{r}")),
            ..SyncStatus::default()
        };
        let (before, after) = memory.history(&key, &at(None), &at(Some("bbb")));
        assert_eq!(before.len(), 1);
        let ids: Vec<(i64, &str)> = after.iter().map(|e| (e.id, e.revision.as_str())).collect();
        assert_eq!(ids, [(7, "aaa"), (8, "bbb")]);
        assert_eq!(after[1].source, argo.spec.source);
        assert_eq!(after[0].other["initiatedBy"], json!({"automated": true}));
        let (_, same) = memory.history(&key, &at(Some("bbb")), &at(Some("bbb")));
        assert_eq!(same, after, "nothing new applied");
        let by_commit = SyncStatus {
            last_applied_revision: Some("sha1:bbb".into()),
            ..SyncStatus::default()
        };
        let (_, same) = memory.history(&key, &at(Some("bbb")), &by_commit);
        assert_eq!(same, after, "the same commit, named by a requested sync");
        let (_, limited) = memory.history(&key, &at(Some("bbb")), &at(Some("ccc")));
        let ids: Vec<i64> = limited.iter().map(|e| e.id).collect();
        assert_eq!(ids, [8, 9], "revisionHistoryLimit 2");
        // Seen again, the memory is kept; Argo CD's status is read only the first time.
        memory.see_history(&argo);
        assert_eq!(memory.history(&key, &at(None), &at(None)).1, limited);
    }

    /// The last operation's state stays while a status has none (an Application waiting
    /// for a requested sync, or refused), as Argo CD keeps it; Argo CD's own is taken over
    /// the first time the Application is seen.
    #[test]
    fn the_last_operation_state_is_kept() {
        let state = |phase, revision: &str| OperationState {
            phase,
            sync_result: Some(SyncResult {
                revision: revision.into(),
            }),
            started_at: "2026-01-01T00:00:00Z".into(),
            ..OperationState::default()
        };
        let mut argo = app(served());
        let argo_cds = state(OperationPhase::Succeeded, "aaa");
        argo.status = Some(ApplicationStatus {
            operation_state: Some(argo_cds.clone()),
            ..ApplicationStatus::default()
        });
        let (memory, key) = (Memory::default(), ObjectKey::of(&argo));
        memory.see_history(&argo);
        let kept = |next: Option<OperationState>| {
            let mut previous = ApplicationStatus::default();
            let mut next = ApplicationStatus {
                operation_state: next,
                ..ApplicationStatus::default()
            };
            memory.keep_operation(&key, &mut previous, &mut next);
            (previous.operation_state, next.operation_state)
        };
        let taken_over = Some(argo_cds.clone());
        assert_eq!(kept(None), (taken_over.clone(), taken_over));
        let failed = Some(state(OperationPhase::Failed, "bbb"));
        assert_eq!(kept(failed.clone()).1, failed);
        assert_eq!(kept(None), (failed.clone(), failed), "the newest kept");
    }

    /// A requested sync of a revision (a rollback) fetches that revision; one naming
    /// another source is refused by name.
    #[test]
    fn a_rollback_fetches_the_revision_it_names() {
        let commit = "0123456789abcdef0123456789abcdef01234567";
        let mut rollback = app(served());
        let source = rollback.spec.source.clone();
        rollback.operation = serde_json::from_value(json!({
            "sync": {"revision": commit, "source": source}, "initiatedBy": {"username": "a"},
        }))
        .unwrap();
        assert_eq!(refusal(&rollback), None);
        let fetched = git_source(&rollback, Duration::from_secs(60), &Memory::default());
        let git_ref = fetched.spec.git_ref.unwrap();
        assert_eq!(git_ref.commit.as_deref(), Some(commit));
        let mut elsewhere = rollback.clone();
        let operation = elsewhere.operation.as_mut().unwrap().sync.as_mut().unwrap();
        operation.source.as_mut().unwrap().path = Some("other".into());
        assert!(
            refusal(&elsewhere)
                .unwrap()
                .contains("operation.sync.source")
        );
    }

    /// `syncPolicy.retry` is the Sync's backoff, except while a sync is requested: that
    /// one is retried by its own `operation.retry`, refused by name when it does not read.
    #[test]
    fn retry_is_the_syncs_backoff_unless_a_sync_is_requested() {
        let mut spec = served();
        spec["syncPolicy"]["retry"] = json!({"limit": 2});
        let mut retried = app(spec);
        assert_eq!(retry_of(&retried).and_then(|b| b.limit), Some(2));
        assert_eq!(retry_of(&app(served())), None);
        let requested = json!({"sync": {}, "retry": {"limit": 3}});
        retried.operation = serde_json::from_value(requested).unwrap();
        assert_eq!(retry_of(&retried), None);
        let later = json!({"sync": {}, "retry": {"backoff": {"maxDuration": "later"}}});
        retried.operation = serde_json::from_value(later).unwrap();
        let refused = refusal(&retried).unwrap();
        assert!(
            refused.starts_with("operation.retry.backoff.maxDuration \"later\""),
            "{refused}"
        );
    }

    /// The operations Argo CD's API server writes are served: `argocd app sync` (the hook
    /// strategy, the spec's source and options, `initiatedBy`, an empty `retry`) runs
    /// hooks, `argocd app rollback` (the apply strategy) leaves them out, `--force` forces;
    /// options the operation names replace the spec's (`Delete=false` excepted: deletion
    /// reads the spec), and one not served is refused by name, as is `dryRun`.
    #[test]
    fn argo_cd_sync_and_rollback_operations_are_served() {
        let mut spec = served();
        spec["syncPolicy"] = json!({"syncOptions": ["CreateNamespace=true", "Delete=false"]});
        let mut manual = app(spec);
        let source = manual.spec.source.clone();
        let options = json!(["CreateNamespace=true", "Delete=false"]);
        let ask = |manual: &mut Application, sync: serde_json::Value| {
            let mut operation = json!({"sync": sync, "initiatedBy": {"username": "admin"},
                                       "retry": {}});
            operation["sync"]["revision"] = json!("0123456789abcdef0123456789abcdef01234567");
            operation["sync"]["source"] = json!(source);
            manual.operation = serde_json::from_value(operation).unwrap();
            let read = sync_of(manual);
            (refusal(manual), read.spec.skip_hooks, read.spec.force)
        };
        let hook = json!({"syncOptions": options, "syncStrategy": {"hook": {}}});
        assert_eq!(ask(&mut manual, hook), (None, false, false));
        assert_eq!(creates_namespace(&manual), Some("web"));
        let rollback = json!({"syncOptions": options, "syncStrategy": {"apply": {}}});
        assert_eq!(ask(&mut manual, rollback), (None, true, false));
        let forced = json!({"syncStrategy": {"hook": {"force": true}}});
        assert_eq!(ask(&mut manual, forced), (None, false, true));
        let own = json!({"syncOptions": ["Replace=true"], "syncStrategy": {"hook": {}}});
        assert_eq!(ask(&mut manual, own), (None, false, false));
        let read = sync_of(&manual);
        assert!(read.spec.replace && read.spec.keep_on_delete);
        assert_eq!(
            creates_namespace(&manual),
            None,
            "the operation's options only"
        );
        let strict = json!({"syncOptions": ["Validate=true"]});
        let refused = ask(&mut manual, strict).0.unwrap();
        assert!(
            refused.starts_with("operation.sync.syncOptions Validate=true not served"),
            "{refused}"
        );
        let dry = ask(&mut manual, json!({"dryRun": true})).0.unwrap();
        assert!(dry.starts_with("operation.sync.dryRun not served"), "{dry}");
    }

    /// A plain folder is read as Argo CD reads it (top folder only unless `recurse`); a
    /// kustomize or helm source is not filtered.
    #[test]
    fn a_plain_folder_reads_as_argo_cds_directory() {
        let directory = |source: serde_json::Value| {
            let spec = json!({"project": "default", "source": source, "destination": {}});
            sync(
                &app(spec),
                Duration::from_secs(60),
                &Memory::default(),
                None,
            )
            .spec
            .directory
        };
        let url = "https://example.invalid/r.git";
        let plain = directory(json!({"repoURL": url, "path": "apps"})).unwrap();
        assert!(!plain.recurse && plain.include.is_none());
        let given = json!({"repoURL": url, "path": "apps",
                           "directory": {"recurse": true, "include": "*.yaml", "exclude": "x/*"}});
        let given = directory(given).unwrap();
        assert!(given.recurse);
        assert_eq!(given.include.as_deref(), Some("*.yaml"));
        assert_eq!(given.exclude.as_deref(), Some("x/*"));
        let kustomized = json!({"repoURL": url, "path": "apps", "kustomize": {"namePrefix": "a-"}});
        assert_eq!(directory(kustomized), None);
    }

    fn retry_of(app: &Application) -> Option<Backoff> {
        sync_of(app).spec.backoff
    }

    fn sync_of(app: &Application) -> Sync {
        sync(app, Duration::from_secs(60), &Memory::default(), None)
    }

    fn app(spec: serde_json::Value) -> Application {
        serde_json::from_value(json!({
            "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
            "metadata": {"name": "guestbook", "namespace": "argocd", "resourceVersion": "7"},
            "spec": spec,
        }))
        .unwrap()
    }

    fn served() -> serde_json::Value {
        json!({
            "project": "default",
            "source": {"repoURL": "https://example.invalid/apps.git", "path": "guestbook",
                       "targetRevision": "main"},
            "destination": {"server": "https://kubernetes.default.svc", "namespace": "web"},
            "syncPolicy": {"automated": {"prune": true, "selfHeal": true},
                           "syncOptions": ["CreateNamespace=true", "ServerSideApply=true"]},
        })
    }

    /// A served Application reads as an automated Sync with prune and self-heal, the
    /// destination namespace as the default one, and `main` as a branch.
    #[test]
    fn automated_application_reads_as_a_sync() {
        let app = app(served());
        assert_eq!(refusal(&app), None);
        let memory = Memory::default();
        let sync = sync(&app, Duration::from_secs(180), &memory, None);
        assert_eq!(sync.spec.mode, SyncMode::Auto);
        assert!(sync.spec.prune && sync.spec.self_heal && sync.spec.wait);
        assert_eq!(sync.spec.interval, "180s");
        assert_eq!(sync.spec.default_namespace.as_deref(), Some("web"));
        assert_eq!(sync.spec.target_namespace, None);
        assert_eq!(creates_namespace(&app), Some("web"));
        let source = git_source(&app, Duration::from_secs(180), &memory);
        assert_eq!(source.spec.git_ref.unwrap().branch.as_deref(), Some("main"));
        // Without allowEmpty an empty revision never prunes everything; with it, it does.
        assert!(!sync.spec.allow_empty);
        let mut allowed = served();
        allowed["syncPolicy"]["automated"]["allowEmpty"] = json!(true);
        allowed["syncPolicy"]["syncOptions"] = json!([
            "ApplyOutOfSyncOnly=true",
            "FailOnSharedResource=true",
            "PrunePropagationPolicy=background",
            "Validate=false",
            "PruneLast=true",
            "Delete=false",
            "Replace=true",
            "Force=true"
        ]);
        let allowed = self::app(allowed);
        assert_eq!(refusal(&allowed), None);
        let allowed = super::sync(&allowed, Duration::from_secs(180), &memory, None);
        assert!(allowed.spec.allow_empty);
        assert!(allowed.spec.prune_last && !sync.spec.prune_last);
        assert!(allowed.spec.keep_on_delete && !sync.spec.keep_on_delete);
        assert!(allowed.spec.replace && !sync.spec.replace);
        assert!(allowed.spec.force && !sync.spec.force);
    }

    /// `ignoreDifferences` reach the Sync, for comparing only unless
    /// `RespectIgnoreDifferences=true`; a jq expression is refused by name.
    #[test]
    fn ignore_differences_and_their_sync_option() {
        let mut spec = served();
        let rule =
            json!({"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]});
        spec["ignoreDifferences"] = json!([rule]);
        let memory = Memory::default();
        let compared = sync(&app(spec.clone()), Duration::from_secs(180), &memory, None);
        assert_eq!(
            compared.spec.ignore_differences[0].json_pointers,
            ["/spec/replicas"]
        );
        assert!(compared.spec.ignore_only_in_comparison);
        spec["syncPolicy"]["syncOptions"] = json!(["RespectIgnoreDifferences=true"]);
        assert_eq!(refusal(&app(spec.clone())), None);
        let respected = sync(&app(spec.clone()), Duration::from_secs(180), &memory, None);
        assert!(!respected.spec.ignore_only_in_comparison);
        spec["ignoreDifferences"][0]["jqPathExpressions"] = json!([".spec.replicas"]);
        let refused = refusal(&app(spec)).unwrap();
        assert!(
            refused.starts_with("spec.ignoreDifferences[0]: jqPathExpressions"),
            "{refused}"
        );
    }

    /// Without `automated` the Sync waits for approval; `operation.sync` requests it.
    #[test]
    fn a_requested_sync_runs_once() {
        let mut spec = served();
        spec["syncPolicy"] = json!({});
        let mut manual = app(spec);
        let memory = Memory::default();
        let waiting = sync(&manual, Duration::from_secs(60), &memory, None);
        assert_eq!(waiting.spec.mode, SyncMode::Manual);
        assert!(!waiting.spec.prune);
        assert!(!waiting.annotations().contains_key(REQUESTED_AT_ANNOTATION));
        manual.operation = serde_json::from_value(json!({"sync": {"prune": true}})).unwrap();
        let requested = sync(&manual, Duration::from_secs(60), &memory, None);
        assert!(requested.spec.prune);
        assert_eq!(
            requested.annotations()[REQUESTED_AT_ANNOTATION],
            "operation@7"
        );
    }

    /// Revisions: HEAD (also unset) the remote's default branch, commits, full refs,
    /// version-like tags, other names as branches.
    #[test]
    fn target_revisions() {
        let hex = "0123456789abcdef0123456789abcdef01234567";
        let branch = |t| git_ref(t).branch;
        let tag = |t| git_ref(t).tag;
        assert_eq!(git_ref(Some(hex)).commit.as_deref(), Some(hex));
        assert_eq!(tag(Some("v1.2.0")).as_deref(), Some("v1.2.0"));
        assert_eq!(tag(Some("refs/tags/prod")).as_deref(), Some("prod"));
        assert_eq!(branch(Some("release-1.2")).as_deref(), Some("release-1.2"));
        assert_eq!(branch(Some("HEAD")).as_deref(), Some(DEFAULT_BRANCH));
        assert_eq!(branch(None).as_deref(), Some(DEFAULT_BRANCH));
    }

    /// Unserved Helm fields and sync options, `CreateNamespace=true` with another cluster
    /// and a destination naming two are refused by name.
    #[test]
    fn unserved_applications_are_refused_by_name() {
        let mut helm = served();
        helm["source"]["helm"] = json!({"values": "x: 1", "passCredentials": true, "version": "1"});
        let message = refusal(&app(helm)).unwrap();
        assert!(
            message.starts_with("spec.source.helm.passCredentials not served"),
            "{message}"
        );
        let mut version = served();
        version["source"]["helm"] = json!({"version": "1"});
        let message = refusal(&app(version)).unwrap();
        assert!(
            message.starts_with("spec.source.helm.version \"1\""),
            "{message}"
        );
        for registry in [
            "registry.example.invalid/charts",
            "oci://registry.example.invalid/c",
        ] {
            let mut oci = served();
            oci["source"] = json!({"repoURL": registry, "chart": "nginx"});
            assert_eq!(refusal(&app(oci)), None, "an OCI chart is served");
        }
        let mut artifact = served();
        artifact["source"] = json!({"repoURL": "oci://registry.example.invalid/app", "path": "."});
        let message = refusal(&app(artifact)).unwrap();
        assert!(message.contains("Argo CD's OCI source"), "{message}");
        let mut ssh = served();
        ssh["source"] = json!({"repoURL": "ssh://git.example.invalid/charts", "chart": "nginx"});
        let message = refusal(&app(ssh)).unwrap();
        assert!(message.contains("nor an OCI registry"), "{message}");
        let mut both = served();
        both["source"]["chart"] = json!("nginx");
        let message = refusal(&app(both)).unwrap();
        assert!(message.contains("spec.source.path"), "{message}");
        let mut bad_values = served();
        bad_values["source"]["helm"] = json!({"values": "- a"});
        assert_eq!(
            refusal(&app(bad_values)).unwrap(),
            "spec.source.helm.values is not a YAML mapping of values"
        );
        let mut both = served();
        both["source"]["helm"] = json!({});
        both["source"]["kustomize"] = json!({});
        assert!(
            refusal(&app(both))
                .unwrap()
                .contains("several source types")
        );
        // Another cluster is served through its cluster Secret, but not with
        // CreateNamespace; a destination is one of server and name.
        let mut remote = served();
        remote["destination"] = json!({"server": "https://prod.example.invalid"});
        assert!(
            refusal(&app(remote.clone()))
                .unwrap()
                .starts_with("CreateNamespace=true is served for the local cluster only")
        );
        remote["syncPolicy"]["syncOptions"] = json!([]);
        assert_eq!(refusal(&app(remote)), None);
        let mut both = served();
        both["destination"] = json!({"server": IN_CLUSTER_SERVER, "name": IN_CLUSTER_NAME});
        assert!(refusal(&app(both)).unwrap().contains("one of them"));
        let mut foreground = served();
        foreground["syncPolicy"]["syncOptions"] =
            json!(["CreateNamespace=true", "PrunePropagationPolicy=foreground"]);
        let refused = refusal(&app(foreground)).unwrap();
        assert!(
            refused.contains("PrunePropagationPolicy=foreground")
                && !refused.contains("syncOptions CreateNamespace"),
            "{refused}"
        );
        let mut slow = served();
        slow["syncPolicy"]["retry"] = json!({"limit": 2, "backoff": {"duration": "soon"}});
        let refused = refusal(&app(slow)).unwrap();
        assert!(
            refused.contains("retry.backoff.duration \"soon\""),
            "{refused}"
        );
        let mut sources = served();
        sources.as_object_mut().unwrap().remove("source");
        sources["sources"] = json!([]);
        assert!(
            refusal(&app(sources))
                .unwrap()
                .starts_with("spec.sources not served")
        );
    }

    /// A chart path reads as a helm Sync: the Application's name as release name, the
    /// destination namespace (else `helm.namespace`) as release namespace.
    #[test]
    fn a_helm_source_reads_as_a_helm_sync() {
        let mut chart = served();
        chart["source"]["helm"] = json!({"valueFiles": ["prod.yaml"], "skipTests": true});
        let app_ = app(chart.clone());
        assert_eq!(refusal(&app_), None);
        let memory = Memory::default();
        let read = sync(&app_, Duration::from_secs(180), &memory, None);
        let helm = read.spec.helm.unwrap();
        assert_eq!((helm.release_name, helm.chart), (None, None));
        assert_eq!(helm.values_files, ["prod.yaml"]);
        assert!(helm.skip_tests);
        assert_eq!(read.spec.target_namespace.as_deref(), Some("web"));
        assert_eq!(read.spec.path.as_deref(), Some("guestbook"));
        chart["source"]["helm"]["namespace"] = json!("other");
        let read = sync(&app(chart), Duration::from_secs(180), &memory, None);
        assert_eq!(read.spec.target_namespace.as_deref(), Some("other"));
        let plain = sync(&app(served()), Duration::from_secs(180), &memory, None);
        assert_eq!((plain.spec.helm, plain.spec.target_namespace), (None, None));
    }

    /// What a reconcile records reads as Argo CD writes it: Synced at the commit, Healthy,
    /// the inventory as resources, the sync Succeeded; a failed apply is a SyncError.
    #[test]
    fn status_in_argo_cd_format() {
        let condition = |status, reason: Reason| Condition {
            type_: READY.into(),
            status,
            reason: reason.as_str().into(),
            message: "m".into(),
            last_transition_time: "2026-12-04T20:00:00Z".into(),
            observed_generation: None,
        };
        let entry = InventoryEntry {
            group: "apps".into(),
            version: "v1".into(),
            kind: "Deployment".into(),
            namespace: "web".into(),
            name: "front".into(),
        };
        let mut status = SyncStatus {
            conditions: vec![condition(
                ConditionStatus::True,
                Reason::ReconciliationSucceeded,
            )],
            last_applied_revision: Some("main@sha1:abc".into()),
            last_attempted_revision: Some("main@sha1:abc".into()),
            inventory: vec![entry.clone()],
            ..SyncStatus::default()
        };
        let argo = application_status(&status);
        let sync = argo.sync.as_ref().unwrap();
        assert_eq!(
            (sync.status, sync.revision.as_deref()),
            (SyncCode::Synced, Some("abc"))
        );
        assert_eq!(argo.health.as_ref().unwrap().status, HealthCode::Healthy);
        assert_eq!(argo.resources[0].name, "front");
        assert_eq!(argo.resources[0].status, Some(SyncCode::Synced));
        let health = |argo: &ApplicationStatus, i: usize| argo.resources[i].health.clone();
        assert_eq!(health(&argo, 0).unwrap().status, HealthCode::Healthy);

        // Rolling out: the Deployment the Ready message names is Progressing, a ConfigMap
        // (no health in Argo CD) has none.
        let mut rolling = status.clone();
        rolling.inventory.push(InventoryEntry {
            group: String::new(),
            kind: "ConfigMap".into(),
            name: "settings".into(),
            ..entry.clone()
        });
        rolling.conditions = vec![Condition {
            message: "Deployment/web/front InProgress (Updated: 0/1)".into(),
            ..condition(ConditionStatus::False, Reason::Progressing)
        }];
        let argo_rolling = application_status(&rolling);
        assert_eq!(
            health(&argo_rolling, 0).unwrap().status,
            HealthCode::Progressing
        );
        assert_eq!(health(&argo_rolling, 1), None);
        let state = argo.operation_state.as_ref().unwrap();
        assert_eq!(state.phase, OperationPhase::Succeeded);
        assert_eq!(state.sync_result.as_ref().unwrap().revision, "abc");
        assert!(argo.conditions.is_empty());
        // Read back cold (no memory): the inventory and the synced revision.
        let cold = sync_status(&argo);
        assert_eq!(cold.inventory, std::slice::from_ref(&entry));
        assert_eq!(cold.last_applied_revision.as_deref(), Some("abc"));

        // Drift found without selfHeal: OutOfSync at the applied revision, and only the
        // drifted object is OutOfSync; health is unchanged.
        let mut drifting = status.clone();
        let other = InventoryEntry {
            name: "back".into(),
            ..entry.clone()
        };
        drifting.inventory.push(other);
        drifting.conditions.push(Condition {
            type_: DRIFTED.into(),
            ..condition(ConditionStatus::True, Reason::DriftDetected)
        });
        drifting.drifted = vec![lockstep_engine::inventory::id(&entry)];
        let argo = application_status(&drifting);
        let sync = argo.sync.as_ref().unwrap();
        assert_eq!(
            (sync.status, sync.revision.as_deref()),
            (SyncCode::OutOfSync, Some("abc"))
        );
        assert_eq!(argo.health.as_ref().unwrap().status, HealthCode::Healthy);
        let statuses: Vec<_> = argo
            .resources
            .iter()
            .map(|r| (r.name.as_str(), r.status))
            .collect();
        assert_eq!(
            statuses,
            [
                ("front", Some(SyncCode::OutOfSync)),
                ("back", Some(SyncCode::Synced))
            ]
        );
        // Read back cold, the revision drifted from still counts as applied.
        let cold = sync_status(&argo);
        assert_eq!(cold.last_applied_revision.as_deref(), Some("abc"));

        status.conditions = vec![condition(ConditionStatus::False, Reason::OwnershipConflict)];
        status.last_attempted_revision = Some("main@sha1:def".into());
        let failed = application_status(&status);
        assert_eq!(failed.sync.unwrap().status, SyncCode::OutOfSync);
        assert_eq!(
            failed.conditions[0].type_,
            ApplicationConditionType::SyncError
        );
        assert_eq!(
            failed.operation_state.unwrap().phase,
            OperationPhase::Failed
        );
        status.conditions = vec![condition(ConditionStatus::False, Reason::InvalidSpec)];
        let invalid = application_status(&status);
        assert_eq!(
            invalid.conditions[0].type_,
            ApplicationConditionType::InvalidSpecError
        );
        assert_eq!(invalid.sync.unwrap().status, SyncCode::Unknown);
    }
}
