//! `lockstep tree SYNC`: what a Sync applied (its `status.inventory`), each object with
//! its health as the controller judges it (kstatus rules), like `flux tree kustomization`.

use std::io::IsTerminal as _;
use std::process::ExitCode;

use clap::Args;
use lockstep_engine::health::{self, Status};
use lockstep_engine::inventory::id;

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
    // Cluster-scoped objects as `Kind/name`, as `flux tree` writes them.
    let healths = health::Probe::default()
        .healths(&client, &inventory, &health::Rules::default())
        .await;
    let mut all_current = true;
    for (n, (entry, health)) in inventory.iter().zip(healths).enumerate() {
        all_current &= health.status == Status::Current;
        let branch = if n + 1 == inventory.len() {
            "└──"
        } else {
            "├──"
        };
        let status = paint(health.status, colour);
        println!("{branch} {} {status} {}", id(entry), health.message);
    }
    Ok(if all_current {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
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
