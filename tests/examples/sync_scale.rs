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
#[path = "common/measure.rs"]
#[allow(
    dead_code,
    reason = "shared by the examples; this one needs only part of it"
)]
mod measure;

use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject};
use kube::core::ApiResource;
use lockstep_api::Sync;
use lockstep_testenv::{ControlPlane, ControlPlaneOptions, GitServer};
use measure::{APP_RESOURCES, app, cpu_seconds, env, peak_rss_kib, writes};
use serde_json::json;

const NAMESPACE: &str = "bench";

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
    let controller = common::controller_in_namespace(
        plane.kubeconfig_path(),
        &client,
        NAMESPACE,
        concurrent,
        &[],
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
    let syncs: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), NAMESPACE, &ApiResource::erase::<Sync>(&()));
    measure::wait_each_ready(&syncs, n, started, "Syncs").await?;
    let all_ready = started.elapsed();
    let pid = controller.pid().unwrap_or_default();
    let rss_ready = peak_rss_kib(pid);
    let cpu_ready = cpu_seconds(pid);

    // One full interval of no-change reconciles: every Sync dry-runs its four objects.
    let before = writes(&client, &APP_RESOURCES).await?;
    let cpu_before = cpu_seconds(pid);
    tokio::time::sleep(Duration::from_secs(interval + interval / 2)).await;
    let after = writes(&client, &APP_RESOURCES).await?;
    let cpu = cpu_seconds(pid) - cpu_before;
    let delta = measure::grown(&before, &after);

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
