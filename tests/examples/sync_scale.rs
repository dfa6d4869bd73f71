//! Scale benchmark of the sync controller (not a test; `scripts/bench.sh sync` runs it).
//!
//! Flux's own benchmark shape: `N` Syncs (default 1,000) from one repository, each of four
//! objects (a Deployment with `replicas: 0`, a ServiceAccount, a Service, a ConfigMap),
//! `wait: true`. Measures the time from creating the Syncs until every one is Ready and
//! the controller's peak RSS; then lets one full interval of no-change reconciles (with
//! `selfHeal`, so each one dry-runs all four objects) pass and counts the API writes to
//! the applied kinds, which must be zero.
//!
//! Knobs: `SYNC_SCALE_N` (Syncs), `SYNC_SCALE_CONCURRENT` (`--concurrent`),
//! `SYNC_SCALE_INTERVAL` (seconds). Prints one `key=value` line per result.

#[path = "common/mod.rs"]
mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kube::api::{Api, ListParams};
use lockstep_api::Sync;
use lockstep_testenv::{ControlPlane, ControlPlaneOptions, GitServer};
use serde_json::json;

const NAMESPACE: &str = "bench";

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn app(i: u64) -> String {
    let name = format!("app-{i:04}");
    format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: {name}}}\n---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{index: \"{i}\"}}\n---\n\
         apiVersion: v1\nkind: Service\nmetadata: {{name: {name}}}\nspec:\n  selector: {{app: {name}}}\n  ports: [{{port: 80}}]\n---\n\
         apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n  replicas: 0\n  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec:\n      serviceAccountName: {name}\n      containers: [{{name: app, image: registry.k8s.io/pause:3.10}}]\n"
    )
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n = env("SYNC_SCALE_N", 1000);
    let concurrent = env("SYNC_SCALE_CONCURRENT", 16);
    let interval = env("SYNC_SCALE_INTERVAL", 60);

    let plane = ControlPlane::start(ControlPlaneOptions {
        controller_manager: true,
        ..ControlPlaneOptions::default()
    })
    .await?;
    let client = plane.client().await?;
    let git = GitServer::start().await?;
    let repo = git.create_repo("scale", None)?;
    for i in 0..n {
        repo.write(&format!("apps/{i:04}/app.yaml"), app(i))?;
    }
    repo.commit("apps")?;
    common::install_crds(&client).await?;
    lockstep_testenv::manifests::apply_yaml(
        &client,
        &format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {NAMESPACE}}}\n"),
    )
    .await?;
    let concurrent_flag = format!("--concurrent={concurrent}");
    let controller = common::start_controller(
        plane.kubeconfig_path(),
        NAMESPACE,
        &[
            "--all-namespaces=false",
            &concurrent_flag,
            "--log-format=json",
        ],
    )
    .await?;
    let url = repo.git_url().unwrap_or_default().to_owned();
    common::create(
        &client,
        NAMESPACE,
        "GitSource",
        json!({
            "metadata": {"name": "scale"},
            "spec": {"url": url, "interval": "10m"},
        }),
    )
    .await?;

    let started = Instant::now();
    for i in 0..n {
        common::create(
            &client,
            NAMESPACE,
            "Sync",
            json!({
                "metadata": {"name": format!("app-{i:04}")},
                "spec": {
                    "sourceRef": {"name": "scale"}, "path": format!("apps/{i:04}"),
                    "interval": format!("{interval}s"), "prune": true, "wait": true,
                    "selfHeal": true, "targetNamespace": NAMESPACE,
                },
            }),
        )
        .await?;
    }
    let created = started.elapsed();
    let syncs: Api<Sync> = Api::namespaced(client.clone(), NAMESPACE);
    loop {
        let ready = ready_count(&syncs).await?;
        if ready == n as usize {
            break;
        }
        anyhow::ensure!(
            started.elapsed() < Duration::from_secs(1800),
            "only {ready} of {n} Syncs Ready after 30 min"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let all_ready = started.elapsed();
    let pid = controller.pid().unwrap_or_default();
    let rss_ready = peak_rss_kib(pid);
    let cpu_ready = cpu_seconds(pid);

    // One full interval of no-change reconciles: every Sync dry-runs its four objects.
    let before = writes(&client).await?;
    let cpu_before = cpu_seconds(pid);
    tokio::time::sleep(Duration::from_secs(interval + interval / 2)).await;
    let after = writes(&client).await?;
    let cpu = cpu_seconds(pid) - cpu_before;
    let mut delta: BTreeMap<String, f64> = BTreeMap::new();
    for (key, value) in &after {
        let change = value - before.get(key).copied().unwrap_or(0.0);
        if change > 0.0 {
            delta.insert(key.clone(), change);
        }
    }

    println!("syncs={n}");
    println!("objects={}", n * 4);
    println!("concurrent={concurrent}");
    println!("create_seconds={:.1}", created.as_secs_f64());
    println!("all_ready_seconds={:.1}", all_ready.as_secs_f64());
    println!("controller_cpu_seconds_until_ready={cpu_ready:.1}");
    println!("peak_rss_mib={:.1}", rss_ready as f64 / 1024.0);
    println!(
        "peak_rss_after_no_change_mib={:.1}",
        peak_rss_kib(pid) as f64 / 1024.0
    );
    println!("no_change_window_seconds={}", interval + interval / 2);
    println!("no_change_controller_cpu_seconds={cpu:.1}");
    println!("no_change_writes={}", delta.values().sum::<f64>() as u64);
    for (key, value) in delta {
        println!("no_change_write {key}={value}");
    }
    Ok(())
}

async fn ready_count(syncs: &Api<Sync>) -> anyhow::Result<usize> {
    Ok(syncs
        .list(&ListParams::default())
        .await?
        .items
        .iter()
        .filter(|s| {
            s.status.as_ref().is_some_and(|st| {
                st.conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True")
            })
        })
        .count())
}

/// Non-dry-run writes to the four applied kinds, from the API server's own counters.
async fn writes(client: &kube::Client) -> anyhow::Result<BTreeMap<String, f64>> {
    let request = http::Request::get("/metrics").body(Vec::new())?;
    let text = client.request_text(request).await?;
    let mut out = BTreeMap::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("apiserver_request_total{"))
    {
        let Some((labels, value)) = line.rsplit_once(' ') else {
            continue;
        };
        let label = |name: &str| {
            labels
                .split(&format!("{name}=\""))
                .nth(1)
                .and_then(|rest| rest.split('"').next())
                .unwrap_or_default()
                .to_owned()
        };
        let verb = label("verb");
        let resource = label("resource");
        let applied = ["configmaps", "services", "serviceaccounts", "deployments"];
        if ["POST", "PUT", "PATCH", "DELETE", "APPLY"].contains(&verb.as_str())
            && applied.contains(&resource.as_str())
            && label("dry_run").is_empty()
            && label("subresource").is_empty()
            && label("component") == "apiserver"
        {
            *out.entry(format!("{verb}/{resource}")).or_default() += value.parse::<f64>()?;
        }
    }
    Ok(out)
}

fn proc_status(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|kib| kib.parse().ok())
        .unwrap_or(0)
}

fn peak_rss_kib(pid: u32) -> u64 {
    proc_status(pid, "VmHWM:")
}

/// User + system CPU time of the process, in seconds.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: f64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|v| v.parse::<f64>().ok()))
        .sum();
    ticks / 100.0
}
