//! `lockstep diff`: what `lockstep apply` would change, as a unified diff per object of the
//! live object against the API server's dry-run of our apply (so defaults and webhooks
//! are accounted for), plus the objects the apply would prune. The checks are `apply`'s own
//! preflight, so what `apply` would refuse (an unknown kind, a missing namespace, an object
//! another owner holds) is an error here too. Secret values are hidden on both sides. Exit
//! codes as `kubectl diff`: 0 no difference, 1 differences, 2 error. Also the cluster
//! flags and client that `apply` shares.

use std::collections::HashMap;
use std::io::{IsTerminal as _, Write as _};
use std::process::ExitCode;

use clap::Args;
use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::Scope;
use lockstep_api::{InventoryEntry, OWNER_NAME_LABEL, OWNER_NAMESPACE_LABEL};
use lockstep_engine::apply::{
    Action, ApplyOptions, DiffLine, Protect, apply_order, preflight, unified_diff,
};
use lockstep_engine::inventory::{id, read_apply, stale};
use lockstep_engine::render::Owner;
use lockstep_sealed::{SEALING_KEY_LABEL, SEALING_KEYS_NOT_FROM_GIT};
use serde_json::Value;

use super::apply::refusal;
use super::cluster::KubeFlags;
use super::render::{SourceArgs, default_namespace, runtime};

/// Show what `lockstep apply` would change in the cluster (server-side dry-run).
#[derive(Debug, Args)]
pub struct DiffArgs {
    #[command(flatten)]
    source: SourceArgs,

    #[command(flatten)]
    cluster: ClusterArgs,

    /// Show objects that another `--name` or a Sync holds as `apply --force-ownership`
    /// would take them, instead of refusing.
    #[arg(long)]
    force_ownership: bool,
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
        Owner::lockstep(self.name.clone(), namespace.to_owned())
    }
}

/// What the apply would do to one object, for the summary.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Change {
    Create,
    Configure,
    Replace,
    Prune,
}

/// Runs `lockstep diff`.
pub fn run(args: DiffArgs) -> anyhow::Result<ExitCode> {
    match runtime()?.block_on(diff(&args)) {
        Ok(diffs) if diffs.is_empty() => Ok(ExitCode::SUCCESS),
        Ok(diffs) => {
            let colour = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            let mut out = std::io::stdout().lock();
            for (_, text) in &diffs {
                if colour {
                    out.write_all(coloured(text).as_bytes())?;
                } else {
                    out.write_all(text.as_bytes())?;
                }
            }
            out.flush()?;
            eprintln!("{}", summary(&diffs));
            Ok(ExitCode::from(1))
        }
        Err(err) => {
            super::report::explain(&err, "diff");
            Ok(ExitCode::from(2))
        }
    }
}

/// `2 to create, 1 to change, 1 to prune`, as `terraform plan` ends.
fn summary(diffs: &[(Change, String)]) -> String {
    let count = |change| diffs.iter().filter(|(c, _)| *c == change).count();
    let parts: Vec<String> = [
        (Change::Create, "to create"),
        (Change::Configure, "to change"),
        (Change::Replace, "to replace"),
        (Change::Prune, "to prune"),
    ]
    .into_iter()
    .filter_map(|(change, what)| {
        let n = count(change);
        (n > 0).then(|| format!("{n} {what}"))
    })
    .collect();
    format!("lockstep: {}", parts.join(", "))
}

/// A unified diff with `git diff`'s colours: removed lines red, added green, hunks cyan,
/// notes yellow.
fn coloured(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + text.len() / 8);
    for line in text.split_inclusive('\n') {
        let colour = match DiffLine::of(line) {
            // A note of ours above an object's diff.
            DiffLine::Context if line.starts_with('#') => Some("33"),
            DiffLine::Context => None,
            DiffLine::Added => Some("32"),
            DiffLine::Removed => Some("31"),
            DiffLine::Hunk => Some("36"),
            DiffLine::Header => Some("1"),
        };
        match colour {
            Some(code) => {
                let body = line.strip_suffix('\n').unwrap_or(line);
                let end = if line.ends_with('\n') { "\n" } else { "" };
                out.push_str(&format!("\x1b[{code}m{body}\x1b[0m{end}"));
            }
            None => out.push_str(line),
        }
    }
    out
}

/// One unified diff per object that would change, in apply order, with what the apply
/// does to it.
async fn diff(args: &DiffArgs) -> anyhow::Result<Vec<(Change, String)>> {
    let (client, namespace) = args.cluster.connect().await?;
    let owner = args.cluster.owner(&namespace);
    let rendered = args.source.render(Some(owner.clone()), true).await?;
    if !rendered.hooks.is_empty() {
        eprintln!(
            "lockstep: {} Helm hook(s) left out of the diff (run around the apply, not part of \
             it): {}",
            rendered.hooks.len(),
            rendered.hook_list()
        );
    }
    anyhow::ensure!(
        !rendered.manifests.is_empty(),
        "{} renders no objects: nothing to diff",
        args.source.describe()
    );
    let redactor = rendered.redactor;
    let mut manifests = rendered.manifests;
    default_namespace(&mut manifests, &namespace);
    // With force, an immutable change shows as the replace it is instead of an error.
    let options = ApplyOptions {
        force: true,
        force_ownership: args.force_ownership,
        protect: Protect::default().label(SEALING_KEY_LABEL, SEALING_KEYS_NOT_FROM_GIT),
        ..ApplyOptions::default()
    };
    let plan = preflight(&client, &manifests, &options)
        .await
        .map_err(|err| refusal(&err, redactor.scrub(&err.to_string())))?;
    let mut sides = Vec::new();
    let mut current = Vec::new();
    for preview in plan.previews() {
        current.push(preview.object.clone());
        let note = match (preview.action, preview.checked, &preview.taken_from) {
            (Action::Replaced, ..) => Some(
                "replaced: an immutable field changes; apply deletes and recreates it only with --force"
                    .to_owned(),
            ),
            (_, false, _) => Some(
                "shown as written: it is dry-run only once the objects it needs are applied"
                    .to_owned(),
            ),
            (_, _, Some(holder)) => Some(format!("taken over from {holder}")),
            _ => None,
        };
        let change = match preview.action {
            Action::Created => Change::Create,
            Action::Replaced => Change::Replace,
            Action::Configured | Action::Unchanged => Change::Configure,
        };
        sides.push((change, preview.object, preview.live, preview.merged, note));
    }
    if !args.cluster.no_prune {
        let previous = read_apply(&client, &namespace, &owner.name).await?;
        let mut kinds = Kinds::new(&client);
        for entry in stale(&previous, &current) {
            if let Some(live) = owned_live(&mut kinds, &entry, &owner).await {
                sides.push((Change::Prune, entry, live, Value::Null, None));
            }
        }
    }
    sides.sort_by_cached_key(|(_, e, ..)| apply_order(&e.group, &e.kind, &e.namespace, &e.name));
    let mut diffs = Vec::new();
    for (change, entry, live, merged, note) in sides {
        let Some(diff) = unified_diff(&id(&entry), live, merged, &redactor) else {
            continue;
        };
        let mut text = note
            .map(|n| format!("# {}: {n}\n", id(&entry)))
            .unwrap_or_default();
        text.push_str(&diff);
        diffs.push((change, text));
    }
    Ok(diffs)
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

/// Discovery, once per kind.
struct Kinds<'a> {
    client: &'a Client,
    found: HashMap<GroupVersionKind, Option<(ApiResource, Scope)>>,
}

impl<'a> Kinds<'a> {
    fn new(client: &'a Client) -> Self {
        Self {
            client,
            found: HashMap::new(),
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

    fn api(&self, resource: &ApiResource, namespace: Option<&str>) -> Api<DynamicObject> {
        match namespace {
            Some(ns) => Api::namespaced_with(self.client.clone(), ns, resource),
            None => Api::all_with(self.client.clone(), resource),
        }
    }
}
