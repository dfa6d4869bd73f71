//! `lockstep tree SYNC`: what a Sync applied (its `status.inventory`), each object with
//! its health as the controller judges it (kstatus rules), like `flux tree kustomization`.

use std::collections::HashMap;
use std::io::IsTerminal as _;
use std::process::ExitCode;

use anyhow::bail;
use clap::Args;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};
use kube::discovery::Scope;
use lockstep_api::InventoryEntry;
use lockstep_engine::health::{self, Status};

use super::named::{Found, Target};
use super::render::runtime;

/// Show what a Sync applied, each object with its health.
#[derive(Debug, Args)]
#[command(
    after_help = "Exit codes: 0 every object is Current, 1 one is not (or is \
                        missing), or the Sync could not be read."
)]
pub struct TreeArgs {
    #[command(flatten)]
    target: Target,
}

/// Runs `lockstep tree`.
pub fn run(args: TreeArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(tree(&args))
}

async fn tree(args: &TreeArgs) -> anyhow::Result<ExitCode> {
    let Found {
        client,
        namespace,
        sync,
        ..
    } = args.target.read().await?;
    let name = &args.target.name;
    let inventory = sync.status.map(|s| s.inventory).unwrap_or_default();
    let colour = std::io::stdout().is_terminal();
    println!("Sync/{namespace}/{name}");
    let mut kinds = Kinds::default();
    let mut all_current = true;
    for (n, entry) in inventory.iter().enumerate() {
        let health = match kinds.api(&client, entry).await {
            Some(api) => match api.get_opt(&entry.name).await {
                Ok(Some(object)) => health::compute(&serde_json::to_value(object)?),
                Ok(None) => missing(),
                Err(err) => bail!("reading {}: {err}", object(entry)),
            },
            None => missing(),
        };
        all_current &= health.status == Status::Current;
        let branch = if n + 1 == inventory.len() {
            "└──"
        } else {
            "├──"
        };
        let status = paint(health.status, colour);
        println!("{branch} {} {status} {}", object(entry), health.message);
    }
    Ok(if all_current {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// `Kind/namespace/name` (`Kind/name` cluster-scoped), as `flux tree` writes it.
fn object(entry: &InventoryEntry) -> String {
    if entry.namespace.is_empty() {
        format!("{}/{}", entry.kind, entry.name)
    } else {
        format!("{}/{}/{}", entry.kind, entry.namespace, entry.name)
    }
}

fn missing() -> health::Health {
    health::Health {
        status: Status::NotFound,
        message: "not in the cluster".into(),
    }
}

/// `status`, green when current and red when failed or missing (a terminal only).
fn paint(status: Status, colour: bool) -> String {
    let colour = colour.then_some(match status {
        Status::Current => "32",
        Status::Failed | Status::NotFound => "31",
        Status::InProgress | Status::Terminating => "33",
    });
    match colour {
        Some(code) => format!("\x1b[{code}m{status}\x1b[0m"),
        None => status.to_string(),
    }
}

/// Each kind's API, from discovery, asked once per kind.
#[derive(Default)]
struct Kinds {
    known: HashMap<GroupVersionKind, Option<(ApiResource, Scope)>>,
}

impl Kinds {
    async fn api(
        &mut self,
        client: &kube::Client,
        entry: &InventoryEntry,
    ) -> Option<Api<DynamicObject>> {
        let gvk = GroupVersionKind::gvk(&entry.group, &entry.version, &entry.kind);
        if !self.known.contains_key(&gvk) {
            let found = kube::discovery::pinned_kind(client, &gvk).await.ok();
            let found = found.map(|(resource, caps)| (resource, caps.scope));
            self.known.insert(gvk.clone(), found);
        }
        let (resource, scope) = self.known.get(&gvk)?.as_ref()?;
        Some(match scope {
            Scope::Namespaced => Api::namespaced_with(client.clone(), &entry.namespace, resource),
            Scope::Cluster => Api::all_with(client.clone(), resource),
        })
    }
}
