//! Server-side apply in stages, writing only what drifted.
//!
//! Stages, each finished before the next starts:
//! 1. CustomResourceDefinitions and Namespaces; then wait until every CRD is `Established`
//!    and every Namespace `Active`.
//! 2. Every other cluster-scoped object (scope from the API server's discovery, looked up
//!    per kind after stage 1, so kinds of CRDs from stage 1 resolve).
//! 3. Namespaced objects.
//!
//! Within a stage objects are sorted by a kind table (as Flux does), then namespace, name.
//!
//! Per object: read the live object, then a server-side **dry-run** apply with field
//! manager [`FIELD_MANAGER`] and force. A new object is applied (`created`); an existing one
//! is applied only when the dry-run result differs from the live object in labels,
//! annotations or anything outside `metadata` and `status` (`configured`), and otherwise
//! left alone (`unchanged`: no write, its `resourceVersion` stays). A dry-run that fails on
//! an immutable field is an error naming the object and the fields, unless `force` is set
//! (or the object carries `lockstep.dev/force: enabled`): then the object is deleted, its
//! disappearance awaited, and it is created again (`replaced`).
//!
//! API error text can echo request data; for Secrets only the HTTP code, reason and field
//! paths are kept, never the message.

use std::collections::HashMap;
use std::fmt;
use std::time::Duration;

use futures::{FutureExt, StreamExt};
use kube::Client;
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PropagationPolicy};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{ApiCapabilities, Scope};
use serde_json::Value;
use tracing::{debug, instrument};

use lockstep_api::{FORCE_ANNOTATION, InventoryEntry};

use crate::render::Manifest;

/// The one field manager every apply uses.
pub const FIELD_MANAGER: &str = "lockstep";

/// How to apply.
#[derive(Clone, Debug)]
pub struct ApplyOptions {
    /// Delete and recreate objects whose change touches an immutable field.
    pub force: bool,
    /// How long to wait for CRDs to be established and Namespaces active, and for a
    /// deleted object to disappear before it is recreated.
    pub wait_timeout: Duration,
    /// Decide every action by reads and server-side dry-runs only, and write nothing: the
    /// plan of manual mode. Objects whose kind comes from a CRD of the same apply, and
    /// objects in a Namespace the apply would create, are planned as created.
    pub dry_run: bool,
}

impl Default for ApplyOptions {
    fn default() -> Self {
        Self {
            force: false,
            wait_timeout: Duration::from_secs(60),
            dry_run: false,
        }
    }
}

/// What happened to one object.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    /// It did not exist and was created.
    Created,
    /// It differed from the desired state and was updated.
    Configured,
    /// It already matched; nothing was written.
    Unchanged,
    /// An immutable field changed; it was deleted and created again (force).
    Replaced,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Created => "created",
            Self::Configured => "configured",
            Self::Unchanged => "unchanged",
            Self::Replaced => "replaced",
        })
    }
}

/// One object and what happened to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// The object.
    pub object: InventoryEntry,
    /// What was done.
    pub action: Action,
}

/// Everything an apply did, in apply order.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ChangeSet {
    /// One entry per object, in the order applied.
    pub changes: Vec<Change>,
}

impl ChangeSet {
    /// The action taken for the object with this `group/kind/namespace/name`.
    pub fn action_of(&self, id: &str) -> Option<Action> {
        self.changes
            .iter()
            .find(|c| crate::inventory::id(&c.object) == id)
            .map(|c| c.action)
    }

    /// How many objects were written (created, configured or replaced).
    pub fn writes(&self) -> usize {
        self.changes
            .iter()
            .filter(|c| c.action != Action::Unchanged)
            .count()
    }
}

/// Why an apply failed. Objects are named `group/kind/namespace/name`.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// The API server does not serve the object's kind.
    #[error("{object}: the API server does not serve {api_version} {kind}")]
    UnknownKind {
        /// The object.
        object: String,
        /// Its `apiVersion`.
        api_version: String,
        /// Its `kind`.
        kind: String,
    },
    /// A namespaced object has no namespace and no target namespace was set.
    #[error("{object}: namespaced object without a namespace (set one, or targetNamespace)")]
    MissingNamespace {
        /// The object.
        object: String,
    },
    /// Reading the live object failed.
    #[error("{object}: cannot read the live object: {message}")]
    Get {
        /// The object.
        object: String,
        /// What the API server said (redacted for Secrets).
        message: String,
    },
    /// The server-side dry-run was refused.
    #[error("{object}: dry-run apply failed: {message}")]
    DryRun {
        /// The object.
        object: String,
        /// What the API server said (redacted for Secrets).
        message: String,
    },
    /// The change touches fields that cannot change; set `force` to recreate the object.
    #[error(
        "{object}: immutable field(s) {fields} changed; set force (or annotate lockstep.dev/force: enabled) to delete and recreate it"
    )]
    ImmutableField {
        /// The object.
        object: String,
        /// The field paths the API server named, comma-separated.
        fields: String,
    },
    /// The apply itself was refused.
    #[error("{object}: apply failed: {message}")]
    Apply {
        /// The object.
        object: String,
        /// What the API server said (redacted for Secrets).
        message: String,
    },
    /// Deleting an object to recreate it failed.
    #[error("{object}: delete before recreate failed: {message}")]
    Delete {
        /// The object.
        object: String,
        /// What the API server said (redacted for Secrets).
        message: String,
    },
    /// An object did not become ready (CRD established, Namespace active, deleted object
    /// gone) in time.
    #[error("{object}: not {condition} after {after:?}")]
    Wait {
        /// The object.
        object: String,
        /// What was awaited.
        condition: &'static str,
        /// The budget.
        after: Duration,
    },
}

/// Applies `manifests` in stages and returns what changed.
///
/// # Errors
/// The first [`ApplyError`]; objects of earlier stages (and earlier in the same stage)
/// stay applied. Use [`apply_into`] to learn which.
pub async fn apply(
    client: &Client,
    manifests: &[Manifest],
    options: &ApplyOptions,
) -> Result<ChangeSet, ApplyError> {
    let mut changes = ChangeSet::default();
    apply_into(client, manifests, options, &mut changes).await?;
    Ok(changes)
}

/// [`apply`], recording each change in `changes` as it happens, so that after an error
/// `changes` holds the objects already written (to keep in the inventory: they are ours).
///
/// # Errors
/// As [`apply`].
#[instrument(skip_all, fields(objects = manifests.len()))]
pub async fn apply_into(
    client: &Client,
    manifests: &[Manifest],
    options: &ApplyOptions,
    changes: &mut ChangeSet,
) -> Result<(), ApplyError> {
    let mut resolver = Resolver::new(client.clone(), manifests);

    let (mut first, rest): (Vec<&Manifest>, Vec<&Manifest>) =
        manifests.iter().partition(|m| is_stage_one(m));
    sort(&mut first);
    let mut stage = Vec::with_capacity(first.len());
    for manifest in &first {
        let target = resolver.resolve(manifest, options.wait_timeout).await?;
        let body = desired_body(&target, manifest);
        stage.push((target, body));
    }
    for target in apply_stage(stage, options, changes).await? {
        if !options.dry_run {
            wait_ready(&target, options.wait_timeout).await?;
        }
    }

    let mut cluster = Vec::new();
    let mut namespaced = Vec::new();
    for manifest in rest {
        if options.dry_run && resolver.is_pending(manifest).await {
            changes.changes.push(planned_create(manifest));
            continue;
        }
        let target = resolver.resolve(manifest, options.wait_timeout).await?;
        if target.namespaced {
            namespaced.push(manifest);
        } else {
            cluster.push(manifest);
        }
    }
    sort(&mut cluster);
    sort(&mut namespaced);
    for group in [cluster, namespaced] {
        let mut stage = Vec::with_capacity(group.len());
        for manifest in group {
            let target = resolver.resolve(manifest, options.wait_timeout).await?;
            let body = desired_body(&target, manifest);
            stage.push((target, body));
        }
        apply_stage(stage, options, changes).await?;
    }
    Ok(())
}

/// The order objects are applied in: stage, kind table, namespace, name. Prune deletes in
/// the reverse of this order.
pub fn apply_order(group: &str, kind: &str, namespace: &str, name: &str) -> impl Ord + use<> {
    let stage = match (group, kind) {
        ("apiextensions.k8s.io", "CustomResourceDefinition") | ("", "Namespace") => 0,
        _ if namespace.is_empty() => 1,
        _ => 2,
    };
    (
        stage,
        kind_rank(kind),
        namespace.to_owned(),
        kind.to_owned(),
        name.to_owned(),
    )
}

fn is_stage_one(m: &Manifest) -> bool {
    matches!(
        (m.group(), m.kind()),
        ("apiextensions.k8s.io", "CustomResourceDefinition") | ("", "Namespace")
    )
}

fn sort(manifests: &mut [&Manifest]) {
    manifests.sort_by_cached_key(|m| {
        apply_order(
            m.group(),
            m.kind(),
            m.namespace().unwrap_or_default(),
            m.name(),
        )
    });
}

/// Flux's kind table (PKG:ssa/sort.go), unknown kinds after the known ones and webhook
/// configurations last.
fn kind_rank(kind: &str) -> usize {
    const ORDER: &[&str] = &[
        "CustomResourceDefinition",
        "Namespace",
        "ClusterRole",
        "ResourceQuota",
        "StorageClass",
        "ServiceAccount",
        "PodSecurityPolicy",
        "Role",
        "ClusterRoleBinding",
        "RoleBinding",
        "ConfigMap",
        "Secret",
        "Service",
        "LimitRange",
        "PriorityClass",
        "PersistentVolume",
        "PersistentVolumeClaim",
        "Deployment",
        "StatefulSet",
        "CronJob",
        "PodDisruptionBudget",
        "DaemonSet",
        "ReplicaSet",
        "Job",
        "Pod",
        "ReplicationController",
        "HorizontalPodAutoscaler",
        "Ingress",
        "APIService",
    ];
    match kind {
        "MutatingWebhookConfiguration" => ORDER.len() + 2,
        "ValidatingWebhookConfiguration" => ORDER.len() + 3,
        _ => ORDER
            .iter()
            .position(|k| *k == kind)
            .unwrap_or(ORDER.len() + 1),
    }
}

/// An object resolved against discovery: its API and identity.
struct Target {
    api: Api<DynamicObject>,
    resource: ApiResource,
    namespaced: bool,
    namespace: String,
    name: String,
    id: String,
}

impl Target {
    fn change(&self, action: Action) -> Change {
        Change {
            object: InventoryEntry {
                group: self.resource.group.clone(),
                version: self.resource.version.clone(),
                kind: self.resource.kind.clone(),
                namespace: self.namespace.clone(),
                name: self.name.clone(),
            },
            action,
        }
    }

    fn is_secret(&self) -> bool {
        self.resource.group.is_empty() && self.resource.kind == "Secret"
    }
}

/// Per-apply discovery cache: one lookup per kind.
struct Resolver<'a> {
    client: Client,
    cache: HashMap<GroupVersionKind, (ApiResource, ApiCapabilities)>,
    /// Group/kind pairs defined by CRDs in this apply: worth waiting for.
    pending: Vec<(String, String)>,
    _manifests: std::marker::PhantomData<&'a ()>,
}

impl Resolver<'_> {
    fn new(client: Client, manifests: &[Manifest]) -> Self {
        let pending = manifests
            .iter()
            .filter(|m| m.kind() == "CustomResourceDefinition")
            .map(|m| {
                let spec = &m.object["spec"];
                (
                    spec["group"].as_str().unwrap_or_default().to_owned(),
                    spec["names"]["kind"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect();
        Self {
            client,
            cache: HashMap::new(),
            pending,
            _manifests: std::marker::PhantomData,
        }
    }

    /// Whether `m`'s kind is defined by a CRD of this apply and not served yet: in a dry
    /// run that CRD was not created, so the kind cannot be resolved.
    async fn is_pending(&mut self, m: &Manifest) -> bool {
        let group = m.group().to_owned();
        if !self.pending.contains(&(group, m.kind().to_owned())) {
            return false;
        }
        let version = m.api_version().rsplit('/').next().unwrap_or_default();
        let gvk = GroupVersionKind::gvk(m.group(), version, m.kind());
        if self.cache.contains_key(&gvk) {
            return false;
        }
        match kube::discovery::pinned_kind(&self.client, &gvk).await {
            Ok(found) => {
                self.cache.insert(gvk, found);
                false
            }
            Err(_) => true,
        }
    }

    async fn resolve(&mut self, m: &Manifest, timeout: Duration) -> Result<Target, ApplyError> {
        let (group, version) = match m.api_version().rsplit_once('/') {
            Some((g, v)) => (g.to_owned(), v.to_owned()),
            None => (String::new(), m.api_version().to_owned()),
        };
        let gvk = GroupVersionKind::gvk(&group, &version, m.kind());
        let id_guess = format!(
            "{group}/{}/{}/{}",
            m.kind(),
            m.namespace().unwrap_or_default(),
            m.name()
        );
        if !self.cache.contains_key(&gvk) {
            let waitable = self.pending.contains(&(group.clone(), m.kind().to_owned()));
            let deadline = tokio::time::Instant::now() + timeout;
            let found = loop {
                match kube::discovery::pinned_kind(&self.client, &gvk).await {
                    Ok(found) => break found,
                    Err(err) => {
                        debug!(error = %err, "kind not served (yet)");
                        if !waitable || tokio::time::Instant::now() >= deadline {
                            return Err(ApplyError::UnknownKind {
                                object: id_guess,
                                api_version: m.api_version().to_owned(),
                                kind: m.kind().to_owned(),
                            });
                        }
                        tokio::time::sleep(Duration::from_millis(250)).await;
                    }
                }
            };
            self.cache.insert(gvk.clone(), found);
        }
        let (resource, caps) = self.cache[&gvk].clone();
        let namespaced = caps.scope == Scope::Namespaced;
        let name = m.name().to_owned();
        let (api, namespace) = if namespaced {
            let Some(ns) = m.namespace() else {
                return Err(ApplyError::MissingNamespace { object: id_guess });
            };
            (
                Api::namespaced_with(self.client.clone(), ns, &resource),
                ns.to_owned(),
            )
        } else {
            (Api::all_with(self.client.clone(), &resource), String::new())
        };
        let id = format!("{}/{}/{namespace}/{name}", resource.group, resource.kind);
        Ok(Target {
            api,
            resource,
            namespaced,
            namespace,
            name,
            id,
        })
    }
}

/// A dry run's entry for an object whose kind is not served yet.
fn planned_create(m: &Manifest) -> Change {
    Change {
        object: InventoryEntry {
            group: m.group().to_owned(),
            version: m
                .api_version()
                .rsplit('/')
                .next()
                .unwrap_or_default()
                .to_owned(),
            kind: m.kind().to_owned(),
            namespace: m.namespace().unwrap_or_default().to_owned(),
            name: m.name().to_owned(),
        },
        action: Action::Created,
    }
}

fn desired_body(target: &Target, m: &Manifest) -> Value {
    let mut body = m.object.clone();
    if !target.namespaced
        && let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut)
    {
        meta.remove("namespace");
    }
    body
}

/// What a stage will do to one object, decided by reads and a dry-run only.
enum Step {
    Create,
    Configure,
    Unchanged,
    Replace,
}

/// Reads the live object and dry-runs the apply; writes nothing.
async fn plan_one(
    target: &Target,
    body: &Value,
    options: &ApplyOptions,
) -> Result<Step, ApplyError> {
    let secret = target.is_secret();
    let live = target
        .api
        .get_opt(&target.name)
        .await
        .map_err(|e| ApplyError::Get {
            object: target.id.clone(),
            message: api_message(&e, secret),
        })?;
    let Some(live) = live else {
        return Ok(Step::Create);
    };
    let params = PatchParams::apply(FIELD_MANAGER).force().dry_run();
    match target
        .api
        .patch(&target.name, &params, &Patch::Apply(body))
        .await
    {
        Ok(merged) if drifted(&live, &merged) => Ok(Step::Configure),
        Ok(_) => Ok(Step::Unchanged),
        Err(err) if is_immutable(&err) => {
            if options.force || annotated_force(body) || annotated_force_live(&live) {
                Ok(Step::Replace)
            } else {
                Err(ApplyError::ImmutableField {
                    object: target.id.clone(),
                    fields: immutable_fields(&err),
                })
            }
        }
        Err(err) => Err(ApplyError::DryRun {
            object: target.id.clone(),
            message: api_message(&err, secret),
        }),
    }
}

/// Carries out a planned step.
async fn execute(
    target: &Target,
    body: &Value,
    step: Step,
    options: &ApplyOptions,
) -> Result<Action, ApplyError> {
    if options.dry_run {
        return Ok(match step {
            Step::Unchanged => Action::Unchanged,
            Step::Create => Action::Created,
            Step::Configure => Action::Configured,
            Step::Replace => Action::Replaced,
        });
    }
    let params = PatchParams::apply(FIELD_MANAGER).force();
    let action = match step {
        Step::Unchanged => return Ok(Action::Unchanged),
        Step::Create => {
            patch(target, &params, body).await?;
            Action::Created
        }
        Step::Configure => {
            patch(target, &params, body).await?;
            Action::Configured
        }
        Step::Replace => {
            recreate(target, &params, body, options.wait_timeout).await?;
            Action::Replaced
        }
    };
    debug!(object = %target.id, %action, "applied");
    Ok(action)
}

/// Applies one stage: reads and dry-runs run [`CONCURRENCY`] at a time, then the writes
/// happen one by one in order, stopping at the first error.
async fn apply_stage(
    targets: Vec<(Target, Value)>,
    options: &ApplyOptions,
    changes: &mut ChangeSet,
) -> Result<Vec<Target>, ApplyError> {
    // Boxed so the stream's futures have one concrete lifetime: callers spawn this on a
    // multi-threaded runtime, and an unboxed closure-made stream is not provably `Send`.
    let plans: Vec<Result<Step, ApplyError>> = futures::stream::iter(
        targets
            .iter()
            .map(|(target, body)| plan_one(target, body, options).boxed())
            .collect::<Vec<_>>(),
    )
    .buffered(CONCURRENCY)
    .collect()
    .await;
    let mut done = Vec::with_capacity(targets.len());
    for ((target, body), plan) in targets.into_iter().zip(plans) {
        let action = execute(&target, &body, plan?, options).await?;
        changes.changes.push(target.change(action));
        done.push(target);
    }
    Ok(done)
}

/// How many objects are read and dry-run at once (Flux's `--concurrent-ssa` default).
const CONCURRENCY: usize = 4;

async fn patch(target: &Target, params: &PatchParams, body: &Value) -> Result<(), ApplyError> {
    target
        .api
        .patch(&target.name, params, &Patch::Apply(body))
        .await
        .map(drop)
        .map_err(|e| ApplyError::Apply {
            object: target.id.clone(),
            message: api_message(&e, target.is_secret()),
        })
}

async fn recreate(
    target: &Target,
    params: &PatchParams,
    body: &Value,
    timeout: Duration,
) -> Result<(), ApplyError> {
    let delete = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    match target.api.delete(&target.name, &delete).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 404 => {}
        Err(e) => {
            return Err(ApplyError::Delete {
                object: target.id.clone(),
                message: api_message(&e, target.is_secret()),
            });
        }
    }
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match target.api.get_opt(&target.name).await {
            Ok(None) => break,
            Ok(Some(_)) | Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            _ => {
                return Err(ApplyError::Wait {
                    object: target.id.clone(),
                    condition: "deleted",
                    after: timeout,
                });
            }
        }
    }
    patch(target, params, body).await
}

/// Whether the dry-run result differs from the live object where we care: labels,
/// annotations, and everything but `metadata` and `status`.
fn drifted(live: &DynamicObject, merged: &DynamicObject) -> bool {
    live.metadata.labels != merged.metadata.labels
        || live.metadata.annotations != merged.metadata.annotations
        || strip_status(&live.data) != strip_status(&merged.data)
}

fn strip_status(data: &Value) -> Value {
    let mut data = data.clone();
    if let Some(map) = data.as_object_mut() {
        map.remove("status");
    }
    data
}

fn annotated_force(body: &Value) -> bool {
    let meta = &body["metadata"];
    [
        &meta["annotations"][FORCE_ANNOTATION],
        &meta["labels"][FORCE_ANNOTATION],
    ]
    .iter()
    .any(|v| {
        v.as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("enabled"))
    })
}

fn annotated_force_live(live: &DynamicObject) -> bool {
    let m = &live.metadata;
    [m.annotations.as_ref(), m.labels.as_ref()]
        .into_iter()
        .flatten()
        .filter_map(|map| map.get(FORCE_ANNOTATION))
        .any(|v| v.eq_ignore_ascii_case("enabled"))
}

/// An `Invalid` (422) answer that says a field cannot change.
fn is_immutable(err: &kube::Error) -> bool {
    let kube::Error::Api(status) = err else {
        return false;
    };
    if status.code != 422 {
        return false;
    }
    let says = |text: &str| {
        let text = text.to_ascii_lowercase();
        text.contains("immutable") || text.contains("may not change once set")
    };
    says(&status.message)
        || status
            .details
            .iter()
            .flat_map(|d| d.causes.iter())
            .any(|c| says(&c.message))
}

fn immutable_fields(err: &kube::Error) -> String {
    let kube::Error::Api(status) = err else {
        return String::new();
    };
    let fields: Vec<&str> = status
        .details
        .iter()
        .flat_map(|d| d.causes.iter())
        .map(|c| c.field.as_str())
        .filter(|f| !f.is_empty())
        .collect();
    if fields.is_empty() {
        "(unnamed)".to_owned()
    } else {
        fields.join(", ")
    }
}

/// An API error as text fit for logs and status. For Secrets the server's message (which
/// may echo data) is dropped, keeping the code, reason and field paths.
fn api_message(err: &kube::Error, secret: bool) -> String {
    match err {
        kube::Error::Api(status) => {
            let fields: Vec<String> = status
                .details
                .iter()
                .flat_map(|d| d.causes.iter())
                .map(|c| format!("{}: {}", c.field, c.reason))
                .collect();
            if secret {
                format!(
                    "{} {} [{}] (message withheld: Secret)",
                    status.code,
                    status.reason,
                    fields.join("; ")
                )
            } else {
                let mut message = status.message.clone();
                if message.len() > 400 {
                    let cut = (0..=400)
                        .rev()
                        .find(|i| message.is_char_boundary(*i))
                        .unwrap_or(0);
                    message.truncate(cut);
                    message.push('…');
                }
                format!("{} {}: {message}", status.code, status.reason)
            }
        }
        other if secret => format!("request failed ({})", error_kind(other)),
        other => other.to_string(),
    }
}

fn error_kind(err: &kube::Error) -> &'static str {
    match err {
        kube::Error::HyperError(_) | kube::Error::Service(_) => "transport",
        kube::Error::SerdeError(_) => "decode",
        _ => "other",
    }
}

async fn wait_ready(target: &Target, timeout: Duration) -> Result<(), ApplyError> {
    let (condition, check): (&'static str, fn(&DynamicObject) -> bool) =
        match target.resource.kind.as_str() {
            "CustomResourceDefinition" => ("established", crd_established),
            "Namespace" => ("active", namespace_active),
            _ => return Ok(()),
        };
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Ok(live) = target.api.get(&target.name).await
            && check(&live)
        {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApplyError::Wait {
                object: target.id.clone(),
                condition,
                after: timeout,
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn crd_established(live: &DynamicObject) -> bool {
    live.data["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Established" && c["status"] == "True")
}

fn namespace_active(live: &DynamicObject) -> bool {
    live.data["status"]["phase"] == "Active"
}
