//! `lockstep apply`: one reconcile from the command line — render, apply in stages, prune
//! what left the source, record the inventory, and wait until every applied object is
//! healthy. The same engine steps as the controller's `Sync` (`lockstep_engine::run`),
//! with the inventory kept in a ConfigMap instead of a `Sync`'s status.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::Args;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use lockstep_api::{InventoryEntry, parse_duration};
use lockstep_engine::apply::ApplyOptions;
use lockstep_engine::health::wait;
use lockstep_engine::inventory::{self, id};
use lockstep_engine::run::{RunOptions, run as reconcile};

use super::diff::ClusterArgs;
use super::render::{SourceArgs, default_namespace, runtime};

/// Apply a folder or Git URL to the cluster, prune what left it, and wait until healthy.
#[derive(Debug, Args)]
pub struct ApplyArgs {
    #[command(flatten)]
    source: SourceArgs,

    #[command(flatten)]
    cluster: ClusterArgs,

    /// Delete and recreate objects whose change touches an immutable field.
    #[arg(long)]
    force: bool,

    /// Do not wait for the applied objects to become healthy.
    #[arg(long)]
    no_wait: bool,

    /// How long to wait for health (Go duration: 90s, 5m).
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    timeout: Duration,
}

/// The key of the inventory ConfigMap that holds the entries, as JSON.
const INVENTORY_KEY: &str = "inventory.json";

/// How often health is polled.
const POLL: Duration = Duration::from_secs(2);

/// Runs `lockstep apply`.
pub fn run(args: ApplyArgs) -> anyhow::Result<ExitCode> {
    runtime()?.block_on(apply(&args))?;
    Ok(ExitCode::SUCCESS)
}

async fn apply(args: &ApplyArgs) -> anyhow::Result<()> {
    let (client, namespace) = args.cluster.connect().await?;
    let owner = args.cluster.owner(&namespace);
    let rendered = args.source.render(Some(owner.clone()), true).await?;
    let mut manifests = rendered.manifests;
    default_namespace(&mut manifests, &namespace);
    let previous = read_inventory(&client, &namespace, &owner.name).await?;
    let options = RunOptions {
        owner,
        previous,
        prune: !args.cluster.no_prune,
        apply: ApplyOptions {
            force: args.force,
            ..ApplyOptions::default()
        },
    };
    let outcome = match reconcile(&client, &manifests, &options).await {
        Ok(outcome) => outcome,
        Err(err) => {
            write_inventory(&client, &namespace, &args.cluster.name, err.inventory()).await?;
            // API errors can quote decrypted values of objects other than Secrets.
            let message = rendered.redactor.scrub(&err.to_string());
            anyhow::bail!("applying {}: {message}", args.source.describe());
        }
    };
    write_inventory(&client, &namespace, &args.cluster.name, &outcome.inventory).await?;

    for change in &outcome.changes.changes {
        println!("{} {}", id(&change.object), change.action);
    }
    for entry in &outcome.pruned.deleted {
        println!("{} pruned", id(entry));
    }
    for (entry, reason) in &outcome.pruned.skipped {
        println!("{} not pruned ({reason:?})", id(entry));
    }
    for (entry, error) in &outcome.pruned.survivors {
        eprintln!(
            "lockstep: {}: delete failed ({error}); kept in the inventory",
            id(entry)
        );
    }
    let revision = rendered.revision.as_deref().unwrap_or("local files");
    println!("{revision}: {}", outcome.summary());
    if !args.no_wait {
        let applied = inventory::from_change_set(&outcome.changes);
        if let Err(err) = wait(&client, &applied, args.timeout, POLL).await {
            let message = rendered.redactor.scrub(&err.to_string());
            anyhow::bail!("waiting for the applied objects to become healthy: {message}");
        }
        println!("{} object(s) healthy", applied.len());
    }
    if !outcome.pruned.survivors.is_empty() {
        anyhow::bail!(
            "{} object(s) could not be pruned",
            outcome.pruned.survivors.len()
        );
    }
    Ok(())
}

fn inventory_name(name: &str) -> String {
    format!("lockstep-inventory-{name}")
}

/// The inventory `lockstep apply --name NAME` recorded last, empty if none.
pub async fn read_inventory(
    client: &Client,
    namespace: &str,
    name: &str,
) -> anyhow::Result<Vec<InventoryEntry>> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let config_map = api
        .get_opt(&inventory_name(name))
        .await
        .with_context(|| format!("reading the inventory {namespace}/{}", inventory_name(name)))?;
    let Some(text) = config_map
        .and_then(|c| c.data)
        .and_then(|mut d| d.remove(INVENTORY_KEY))
    else {
        return Ok(Vec::new());
    };
    serde_json::from_str(&text)
        .with_context(|| format!("parsing the inventory {namespace}/{}", inventory_name(name)))
}

async fn write_inventory(
    client: &Client,
    namespace: &str,
    name: &str,
    entries: &[InventoryEntry],
) -> anyhow::Result<()> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), namespace);
    let body = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": inventory_name(name),
            "labels": {"app.kubernetes.io/managed-by": "lockstep"},
        },
        "data": {INVENTORY_KEY: serde_json::to_string(entries)?},
    });
    api.patch(
        &inventory_name(name),
        &PatchParams::apply("lockstep-cli").force(),
        &Patch::Apply(&body),
    )
    .await
    .with_context(|| format!("writing the inventory {namespace}/{}", inventory_name(name)))?;
    Ok(())
}
