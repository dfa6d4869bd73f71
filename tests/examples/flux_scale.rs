//! Flux's controllers and `lockstep-controller --flux` side by side on the same Flux
//! Kustomizations (issue 16's benchmark; not a test, `scripts/bench.sh` runs it).
//!
//! Flux's own benchmark shape: `N` Kustomizations (default 1,000) of one GitRepository, each
//! of four objects (a Deployment with `replicas: 0`, a ServiceAccount, a Service, a
//! ConfigMap), `wait: true`, `prune: true`. One control plane and one repository in one run:
//! first Flux's source-controller and kustomize-controller (v1.9.6, Flux's CRDs) reconcile
//! the set in namespace `flux`; they are stopped, and `lockstep-controller --flux` reconciles
//! the same set in namespace `lockstep`, with the same CRDs. For each: the time from the
//! first Kustomization created until each has been Ready (Flux sets `Ready=Unknown` while it
//! reconciles again, so not all need be Ready at one instant) — or with
//! `FLUX_SCALE_BACKLOG=1`, every Kustomization created before the controllers start, the time
//! from their start, so their own pace is measured, not the harness's creation rate —, the
//! controllers' CPU seconds and peak RSS (Flux: both controllers, summed), the API server's
//! and etcd's CPU seconds and the requests the API server served (by verb and resource, the
//! harness's own included), then one and a half intervals of no-change reconciles: their CPU
//! and the API writes to the applied kinds.
//!
//! Knobs: `FLUX_SCALE_N`, `FLUX_SCALE_CONCURRENT` (`--concurrent` of every controller,
//! default 16; Flux's default is 4), `FLUX_SCALE_INTERVAL` (seconds, default 120),
//! `FLUX_SCALE_ONLY` (`flux` or `lockstep`: one side only), `FLUX_SCALE_BACKLOG` (1: created
//! first). Prints `key=value` lines, each prefixed with the side.

#[path = "common/mod.rs"]
#[allow(
    dead_code,
    reason = "shared by the examples; this one needs only part of it"
)]
mod common;
#[path = "common/measure.rs"]
mod measure;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use lockstep_testenv::{
    ControlPlane, ControlPlaneOptions, Flux, GitHttpServer, HttpAuth, Process, manifests,
};
use measure::{APP_RESOURCES, ServerLoad, app, cpu_seconds, env, grown, peak_rss_kib, writes};
use serde_json::json;

/// The Git server's bearer token (a test value, not a secret).
const TOKEN: &str = "flux-scale-token";

/// Which controllers serve a side of the run; dropped to stop them.
enum Controllers {
    Flux(Flux),
    Lockstep(Process),
}

impl Controllers {
    fn pids(&self) -> Vec<u32> {
        match self {
            Controllers::Flux(flux) => flux.pids().into_iter().flatten().collect(),
            Controllers::Lockstep(process) => process.pid().into_iter().collect(),
        }
    }

    fn cpu_seconds(&self) -> f64 {
        self.pids().into_iter().map(cpu_seconds).sum()
    }

    fn peak_rss_mib(&self) -> f64 {
        self.pids().into_iter().map(peak_rss_kib).sum::<u64>() as f64 / 1024.0
    }
}

fn resource(group: &str, version: &str, kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n = env("FLUX_SCALE_N", 1000);
    let concurrent = env("FLUX_SCALE_CONCURRENT", 16);
    let interval = env("FLUX_SCALE_INTERVAL", 120);
    let only = std::env::var("FLUX_SCALE_ONLY").unwrap_or_default();
    let backlog = env("FLUX_SCALE_BACKLOG", 0) == 1;

    let plane = ControlPlane::start(ControlPlaneOptions {
        controller_manager: true,
        ..ControlPlaneOptions::default()
    })
    .await?;
    let client = plane.client().await?;
    let git = GitHttpServer::start(HttpAuth::Bearer(TOKEN.into())).await?;
    let repo = git.create_repo("scale", None)?;
    for i in 0..n {
        repo.write(&format!("apps/{i:04}/app.yaml"), app(i))?;
    }
    repo.commit("apps")?;
    // Flux's own CRDs serve both sides; Lockstep's subsets of them stay out.
    Flux::install_crds(&client).await?;
    common::install_crds_except(&client, Some("toolkit.fluxcd.io")).await?;

    let concurrent_flag = format!("--concurrent={concurrent}");
    for side in ["flux", "lockstep"] {
        if !only.is_empty() && only != side {
            continue;
        }
        manifests::apply_yaml(
            &client,
            &format!(
                "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {side}}}\n---\n\
                 apiVersion: v1\nkind: Secret\nmetadata: {{name: git-auth, namespace: {side}}}\n\
                 stringData: {{bearerToken: {TOKEN}}}\n"
            ),
        )
        .await?;
        let kustomizations: Api<DynamicObject> = Api::namespaced_with(
            client.clone(),
            side,
            &resource("kustomize.toolkit.fluxcd.io", "v1", "Kustomization"),
        );
        let url = git.url("scale");
        let mut before = ServerLoad::now(&client, &plane).await?;
        let mut started = Instant::now();
        if backlog {
            create_set(&client, side, &url, n, interval).await?;
            before = ServerLoad::now(&client, &plane).await?;
            started = Instant::now();
        }
        let controllers = match side {
            "flux" => Controllers::Flux(
                Flux::start_with(&plane, side, &["--log-level=info", &concurrent_flag]).await?,
            ),
            _ => Controllers::Lockstep(
                common::start_controller(
                    plane.kubeconfig_path(),
                    side,
                    &[
                        "--all-namespaces=false",
                        "--flux=true",
                        &concurrent_flag,
                        "--log-format=json",
                    ],
                )
                .await?,
            ),
        };
        let mut created = Duration::ZERO;
        if !backlog {
            started = Instant::now();
            create_set(&client, side, &url, n, interval).await?;
            created = started.elapsed();
        }
        measure::wait_each_ready(
            &kustomizations,
            n,
            started,
            &format!("{side}: Kustomizations"),
        )
        .await?;
        let seconds = started.elapsed().as_secs_f64();
        let (plane_cpu, requests) = before.since(&client, &plane).await?;
        let ready = Ready {
            seconds,
            created_seconds: created.as_secs_f64(),
            cpu: controllers.cpu_seconds(),
            rss_mib: controllers.peak_rss_mib(),
            plane_cpu,
            requests,
        };
        measure_side(&client, side, n, interval, &controllers, ready).await?;
    }
    Ok(())
}

/// Creates the GitRepository of `url` and `n` Kustomizations of it in namespace `side`.
async fn create_set(
    client: &kube::Client,
    side: &str,
    url: &str,
    n: u64,
    interval: u64,
) -> anyhow::Result<()> {
    let repositories: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        side,
        &resource("source.toolkit.fluxcd.io", "v1", "GitRepository"),
    );
    let kustomization = resource("kustomize.toolkit.fluxcd.io", "v1", "Kustomization");
    let kustomizations: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), side, &kustomization);
    let create = PostParams::default();
    repositories
        .create(
            &create,
            &serde_json::from_value(json!({
                "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
                "metadata": {"name": "scale"},
                "spec": {"url": url, "interval": "10m", "ref": {"branch": "main"},
                         "secretRef": {"name": "git-auth"}},
            }))?,
        )
        .await?;
    for i in 0..n {
        kustomizations
            .create(
                &create,
                &serde_json::from_value(json!({
                    "apiVersion": kustomization.api_version, "kind": "Kustomization",
                    "metadata": {"name": format!("app-{i:04}")},
                    "spec": {
                        "sourceRef": {"kind": "GitRepository", "name": "scale"},
                        "path": format!("./apps/{i:04}"), "interval": format!("{interval}s"),
                        "prune": true, "wait": true, "timeout": "5m", "targetNamespace": side,
                    },
                }))?,
            )
            .await?;
    }
    Ok(())
}

/// What one side cost until each Kustomization had been Ready.
struct Ready {
    seconds: f64,
    /// How long the harness took to create them (nothing for a backlog).
    created_seconds: f64,
    /// The controllers' CPU seconds and peak RSS.
    cpu: f64,
    rss_mib: f64,
    /// CPU seconds of the API server and etcd.
    plane_cpu: f64,
    /// Requests the API server served, the harness's own included.
    requests: BTreeMap<String, f64>,
}

/// Waits through 1.5 intervals of no-change reconciles, and prints what was measured.
async fn measure_side(
    client: &kube::Client,
    side: &str,
    n: u64,
    interval: u64,
    controllers: &Controllers,
    ready: Ready,
) -> anyhow::Result<()> {
    let before = writes(client, &APP_RESOURCES).await?;
    let cpu_before = controllers.cpu_seconds();
    let window = interval + interval / 2;
    tokio::time::sleep(Duration::from_secs(window)).await;
    let delta = grown(&before, &writes(client, &APP_RESOURCES).await?);
    let cpu = controllers.cpu_seconds() - cpu_before;

    println!("{side} kustomizations={n}");
    println!("{side} objects={}", n * 4);
    println!(
        "{side} clock_from={}",
        if ready.created_seconds == 0.0 {
            "controller start"
        } else {
            "first created"
        }
    );
    println!("{side} create_seconds={:.1}", ready.created_seconds);
    println!("{side} all_ready_seconds={:.1}", ready.seconds);
    println!("{side} cpu_seconds_until_ready={:.1}", ready.cpu);
    println!("{side} peak_rss_mib={:.1}", ready.rss_mib);
    println!(
        "{side} control_plane_cpu_seconds_until_ready={:.1}",
        ready.plane_cpu
    );
    println!(
        "{side} api_requests_until_ready={}",
        ready.requests.values().sum::<f64>() as u64
    );
    for (key, value) in &ready.requests {
        println!("{side} api_request_until_ready {key}={value}");
    }
    println!(
        "{side} peak_rss_after_no_change_mib={:.1}",
        controllers.peak_rss_mib()
    );
    println!("{side} no_change_window_seconds={window}");
    println!("{side} no_change_cpu_seconds={cpu:.1}");
    println!(
        "{side} no_change_writes={}",
        delta.values().sum::<f64>() as u64
    );
    for (key, value) in delta {
        println!("{side} no_change_write {key}={value}");
    }
    Ok(())
}
