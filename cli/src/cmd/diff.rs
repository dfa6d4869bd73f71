//! `lockstep diff`: what `lockstep apply` would change, as a unified diff per object of the
//! live object against the API server's dry-run of our apply (so defaults and webhooks
//! are accounted for), plus the objects the apply would prune. Secret values are hidden
//! on both sides. Exit codes as `kubectl diff`: 0 no difference, 1 differences, 2 error.
//! Also the cluster flags and client that `apply` shares.

use std::collections::HashMap;
use std::io::Write as _;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;
use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::Scope;
use lockstep_api::{InventoryEntry, OWNER_NAME_LABEL, OWNER_NAMESPACE_LABEL};
use lockstep_engine::apply::{FIELD_MANAGER, Withheld, api_message, apply_order};
use lockstep_engine::inventory::{id, stale};
use lockstep_engine::redact::{is_secret, redact_secret_pair};
use lockstep_engine::render::{Manifest, Owner};
use serde_json::Value;

use super::apply::read_inventory;
use super::cluster::KubeFlags;
use super::render::{SourceArgs, default_namespace, runtime};

/// Show what `lockstep apply` would change in the cluster (server-side dry-run).
#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    source: SourceArgs,

    #[command(flatten)]
    cluster: ClusterArgs,
}

/// The cluster and the owner of the applied objects: shared by `diff` and `apply`.
#[derive(Debug, Args)]
pub struct ClusterArgs {
    /// Names this set of objects: their ownership labels and the inventory ConfigMap
    /// `lockstep-inventory-NAME` that prune compares against.
    #[arg(long)]
    pub name: String,

    /// Namespace of the inventory ConfigMap, and the default namespace of objects without
    /// one (default: the kubeconfig context's namespace).
    #[arg(long, value_name = "NS")]
    pub inventory_namespace: Option<String>,

    /// Do not delete (or show as deleted) objects that left the source.
    #[arg(long)]
    pub no_prune: bool,

    #[command(flatten)]
    pub kube: KubeFlags,
}

impl ClusterArgs {
    /// A client for the chosen cluster, and the namespace for the inventory and for
    /// objects without one.
    pub async fn connect(&self) -> anyhow::Result<(Client, String)> {
        let config = self.kube.config().await?;
        let namespace = self
            .inventory_namespace
            .clone()
            .unwrap_or_else(|| config.default_namespace.clone());
        Ok((Client::try_from(config)?, namespace))
    }

    /// The owner whose labels the objects carry.
    pub fn owner(&self, namespace: &str) -> Owner {
        Owner {
            name: self.name.clone(),
            namespace: namespace.to_owned(),
        }
    }
}

/// Runs `lockstep diff`.
pub fn run(args: DiffArgs) -> anyhow::Result<ExitCode> {
    match runtime()?.block_on(diff(&args)) {
        Ok(diffs) if diffs.is_empty() => Ok(ExitCode::SUCCESS),
        Ok(diffs) => {
            std::io::stdout()
                .lock()
                .write_all(diffs.concat().as_bytes())?;
            Ok(ExitCode::from(1))
        }
        Err(err) => {
            super::report::explain(&err, "diff");
            Ok(ExitCode::from(2))
        }
    }
}

/// One unified diff per object that would change, in apply order.
async fn diff(args: &DiffArgs) -> anyhow::Result<Vec<String>> {
    let (client, namespace) = args.cluster.connect().await?;
    let owner = args.cluster.owner(&namespace);
    let rendered = args.source.render(Some(owner.clone()), true).await?;
    let redactor = rendered.redactor;
    let mut manifests = rendered.manifests;
    default_namespace(&mut manifests, &namespace);
    let mut kinds = Kinds::new(&client, &manifests);
    let mut sides = Vec::new();
    let mut current = Vec::new();
    for manifest in &manifests {
        let (entry, live, merged) = dry_run(&mut kinds, manifest)
            .await
            .map_err(|e| anyhow::anyhow!(redactor.scrub(&super::report::chain(e.as_ref()))))?;
        current.push(entry.clone());
        sides.push((entry, live, merged));
    }
    if !args.cluster.no_prune {
        let previous = read_inventory(&client, &namespace, &owner.name).await?;
        for entry in stale(&previous, &current) {
            if let Some(live) = owned_live(&mut kinds, &entry, &owner).await {
                sides.push((entry, live, Value::Null));
            }
        }
    }
    sides.sort_by_cached_key(|(e, ..)| apply_order(&e.group, &e.kind, &e.namespace, &e.name));
    let mut diffs = Vec::new();
    for (entry, mut live, mut merged) in sides {
        for side in [&mut live, &mut merged] {
            strip(side);
        }
        redact_secret_pair(&mut live, &mut merged);
        // Decrypted values outside Secrets (a ConfigMap from a SOPS file) are hidden too.
        redactor.scrub_value(&mut live);
        redactor.scrub_value(&mut merged);
        if live != merged {
            diffs.push(unified(&id(&entry), &live, &merged)?);
        }
    }
    Ok(diffs)
}

/// The object's identity, its live state (`Null` if absent) and the dry-run result of
/// applying it (the desired object itself when the server cannot dry-run it yet: its
/// namespace or kind comes with the same apply).
async fn dry_run(
    kinds: &mut Kinds<'_>,
    manifest: &Manifest,
) -> anyhow::Result<(InventoryEntry, Value, Value)> {
    let name = manifest.name();
    let Some((resource, scope)) = kinds.resolve(manifest.api_version(), manifest.kind()).await
    else {
        if kinds.defined_here(manifest.group(), manifest.kind()) {
            let version = manifest
                .api_version()
                .rsplit('/')
                .next()
                .unwrap_or_default();
            let entry = entry(manifest.group(), version, manifest, manifest.namespace());
            return Ok((entry, Value::Null, manifest.object.clone()));
        }
        bail!(
            "{}: the API server does not serve {} {}",
            manifest.file.display(),
            manifest.api_version(),
            manifest.kind()
        );
    };
    let namespace = (scope == Scope::Namespaced).then(|| manifest.namespace().unwrap_or_default());
    let entry = entry(&resource.group, &resource.version, manifest, namespace);
    let api = kinds.api(&resource, namespace);
    let mut body = manifest.object.clone();
    if namespace.is_none()
        && let Some(meta) = body["metadata"].as_object_mut()
    {
        meta.remove("namespace");
    }
    let withheld = if is_secret(&body) {
        Some(Withheld::Secret)
    } else {
        manifest.holds_secrets.then_some(Withheld::SecretValues)
    };
    let live = api
        .get_opt(name)
        .await
        .map_err(|e| api_error(&entry, "reading", &e, withheld))?;
    let params = PatchParams::apply(FIELD_MANAGER).force().dry_run();
    let merged = match api.patch(name, &params, &Patch::Apply(&body)).await {
        Ok(merged) => serde_json::to_value(merged)?,
        Err(kube::Error::Api(status)) if status.code == 404 => body,
        Err(err) => return Err(api_error(&entry, "dry-run of", &err, withheld)),
    };
    let live = live
        .map(serde_json::to_value)
        .transpose()?
        .unwrap_or(Value::Null);
    Ok((entry, live, merged))
}

fn entry(group: &str, version: &str, m: &Manifest, namespace: Option<&str>) -> InventoryEntry {
    InventoryEntry {
        group: group.to_owned(),
        version: version.to_owned(),
        kind: m.kind().to_owned(),
        namespace: namespace.unwrap_or_default().to_owned(),
        name: m.name().to_owned(),
    }
}

/// An API error naming the object; for Secrets and objects holding decrypted values
/// without the server's message, which can echo them.
fn api_error(
    entry: &InventoryEntry,
    what: &str,
    err: &kube::Error,
    withheld: Option<Withheld>,
) -> anyhow::Error {
    anyhow::anyhow!("{what} {}: {}", id(entry), api_message(err, withheld))
}

/// The live object of a stale inventory entry, if it still carries `owner`'s labels
/// (prune leaves anything else alone).
async fn owned_live(kinds: &mut Kinds<'_>, entry: &InventoryEntry, owner: &Owner) -> Option<Value> {
    let api_version = if entry.group.is_empty() {
        entry.version.clone()
    } else {
        format!("{}/{}", entry.group, entry.version)
    };
    let (resource, scope) = kinds.resolve(&api_version, &entry.kind).await?;
    let namespace = (scope == Scope::Namespaced).then_some(entry.namespace.as_str());
    let live = kinds
        .api(&resource, namespace)
        .get_opt(&entry.name)
        .await
        .ok()??;
    let labels = live.metadata.labels.as_ref()?;
    let owned = labels.get(OWNER_NAME_LABEL) == Some(&owner.name)
        && labels.get(OWNER_NAMESPACE_LABEL) == Some(&owner.namespace);
    owned.then(|| serde_json::to_value(live).ok()).flatten()
}

/// Fields the server sets on every write, which say nothing about the change.
fn strip(object: &mut Value) {
    if let Some(meta) = object.get_mut("metadata").and_then(Value::as_object_mut) {
        for field in [
            "managedFields",
            "resourceVersion",
            "generation",
            "uid",
            "creationTimestamp",
        ] {
            meta.remove(field);
        }
    }
}

fn unified(id: &str, live: &Value, merged: &Value) -> anyhow::Result<String> {
    let text = |v: &Value| -> anyhow::Result<String> {
        Ok(if v.is_null() {
            String::new()
        } else {
            serde_saphyr::to_string(v)?
        })
    };
    let (old, new) = (text(live)?, text(merged)?);
    // `/ConfigMap/ns/name` for the core group reads better without its leading slash.
    let name = id.trim_start_matches('/');
    Ok(similar::TextDiff::from_lines(&old, &new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("live/{name}"), &format!("merged/{name}"))
        .to_string())
}

/// Discovery, once per kind.
struct Kinds<'a> {
    client: &'a Client,
    found: HashMap<GroupVersionKind, Option<(ApiResource, Scope)>>,
    /// Group and kind of every CRD in the render.
    crds: Vec<(String, String)>,
}

impl<'a> Kinds<'a> {
    fn new(client: &'a Client, manifests: &[Manifest]) -> Self {
        let crds = manifests
            .iter()
            .filter(|m| m.kind() == "CustomResourceDefinition")
            .map(|m| {
                let spec = &m.object["spec"];
                let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
                (text(&spec["group"]), text(&spec["names"]["kind"]))
            })
            .collect();
        Self {
            client,
            found: HashMap::new(),
            crds,
        }
    }

    async fn resolve(&mut self, api_version: &str, kind: &str) -> Option<(ApiResource, Scope)> {
        let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
        let gvk = GroupVersionKind::gvk(group, version, kind);
        if !self.found.contains_key(&gvk) {
            let found = kube::discovery::pinned_kind(self.client, &gvk)
                .await
                .ok()
                .map(|(resource, caps)| (resource, caps.scope));
            self.found.insert(gvk.clone(), found);
        }
        self.found[&gvk].clone()
    }

    fn defined_here(&self, group: &str, kind: &str) -> bool {
        self.crds.iter().any(|(g, k)| g == group && k == kind)
    }

    fn api(&self, resource: &ApiResource, namespace: Option<&str>) -> Api<DynamicObject> {
        match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, resource),
            None => Api::all_with(self.client.clone(), resource),
        }
    }
}
