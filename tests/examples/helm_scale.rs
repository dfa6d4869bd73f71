//! Helm benchmarks of issue 17 (not a test; `scripts/bench.sh helm` runs it).
//!
//! 1. Rendering: a chart made by `helm create` with three dependencies made the same way,
//!    rendered `HELM_RENDER_RUNS` times (default 20) by `helm template` and by Lockstep's
//!    render (`render::helm::render_chart`, which runs that helm and parses, labels and
//!    checks its output), alternating, whole process each time.
//! 2. At scale: `HELM_SCALE_N` (default 200) Flux `HelmRelease`s of one small chart (Flux's
//!    benchmark application: a ServiceAccount, a ConfigMap, a Service and a Deployment with
//!    `replicas: 0`) from a Helm HTTP repository, served by `lockstep-controller --flux`:
//!    the time from creating them until each is Ready, the controller's CPU time and peak
//!    RSS; then one interval of no-change reconciles and the API writes it made (zero
//!    expected). Flux's helm-controller is not built here; its published figure is the
//!    comparison (BENCHMARKS.md).
//!
//! 3. Pulling from an OCI registry behind a token service (as Docker Hub and ghcr.io run
//!    one): `helm create`'s chart pushed with `helm push`, then pulled `HELM_RENDER_RUNS`
//!    times by `helm pull oci://…` (whole process) and fetched by Lockstep's chart fetcher
//!    into an empty cache (in process, as the controller fetches: challenge, token, tags,
//!    manifest, layer, digest check, unpack), alternating.
//!
//! Knobs: `HELM_RENDER_RUNS`, `HELM_SCALE_N`, `HELM_SCALE_CONCURRENT` (`--concurrent`),
//! `HELM_SCALE_INTERVAL` (seconds). Prints one `key=value` line per result.

#[path = "common/mod.rs"]
#[allow(
    dead_code,
    reason = "shared by the examples; this one needs only part of it"
)]
mod common;
#[path = "common/measure.rs"]
#[allow(
    dead_code,
    reason = "shared by the examples; this one needs only part of it"
)]
mod measure;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use lockstep_engine::fetch::{ChartRepository, Credentials, Fetcher};
use lockstep_engine::keys::{Ambient, Keys};
use lockstep_engine::render::RenderOptions;
use lockstep_engine::render::helm::{Chart, render_chart};
use lockstep_testenv::{ControlPlane, ControlPlaneOptions, HelmRepoServer, OciRegistry, tool};
use measure::{APP_RESOURCES, cpu_seconds, env, grown, peak_rss_kib, writes};
use serde_json::json;

const NAMESPACE: &str = "bench";

fn helm(helm: &Path, dir: &Path, args: &[&str]) -> anyhow::Result<()> {
    let out = Command::new(helm).current_dir(dir).args(args).output()?;
    anyhow::ensure!(
        out.status.success(),
        "helm {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Ok(())
}

/// `helm template` against Lockstep's render of a chart with three dependencies.
fn render_benchmark(helm_bin: &Path, runs: u64) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    helm(helm_bin, dir.path(), &["create", "app"])?;
    let mut chart_yaml = std::fs::read_to_string(dir.path().join("app/Chart.yaml"))?;
    chart_yaml.push_str("dependencies:\n");
    for dep in ["db", "cache", "queue"] {
        helm(
            helm_bin,
            dir.path(),
            &["create", &format!("app/charts/{dep}")],
        )?;
        chart_yaml.push_str(&format!("- name: {dep}\n  version: 0.1.0\n"));
    }
    std::fs::write(dir.path().join("app/Chart.yaml"), chart_yaml)?;
    let chart = Chart {
        path: "app".into(),
        release_name: "web".into(),
        namespace: "shop".into(),
        include_crds: true,
        kube_version: Some("v1.34.4".into()),
        ..Chart::default()
    };
    let keys = Keys::ambient(Ambient::none());
    let (mut theirs, mut ours) = (Vec::new(), Vec::new());
    let mut objects = 0;
    for _ in 0..runs {
        let started = Instant::now();
        helm(
            helm_bin,
            dir.path(),
            &[
                "template",
                "web",
                "app",
                "--namespace",
                "shop",
                "--include-crds",
                "--kube-version",
                "v1.34.4",
            ],
        )?;
        theirs.push(started.elapsed().as_secs_f64());
        let started = Instant::now();
        let rendered = render_chart(dir.path(), &chart, &keys, &RenderOptions::default())?;
        ours.push(started.elapsed().as_secs_f64());
        objects = rendered.manifests.len() + rendered.hooks.len();
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64 * 1000.0;
    println!("render_objects={objects}");
    println!("render_runs={runs}");
    println!("render_helm_template_ms={:.1}", mean(&theirs));
    println!("render_lockstep_ms={:.1}", mean(&ours));
    println!("render_ratio={:.2}", mean(&ours) / mean(&theirs));
    Ok(())
}

/// `helm pull oci://…` against Lockstep's fetch of the same chart, both through a token
/// service.
async fn oci_benchmark(helm_bin: &Path, runs: u64) -> anyhow::Result<()> {
    const USER: &str = "bench";
    const PASSWORD: &str = "bench-0ci-pass";
    let registry = OciRegistry::start_token(USER, PASSWORD).await?;
    let dir = tempfile::tempdir()?;
    helm(helm_bin, dir.path(), &["create", "app"])?;
    registry.push(&dir.path().join("app"))?;
    let repository = ChartRepository {
        url: registry.url(),
        credentials: Some(Credentials::Basic {
            username: USER.into(),
            password: PASSWORD.to_owned().into(),
        }),
        insecure: true,
        ..ChartRepository::default()
    };
    let reference = format!("{}/app", registry.url());
    let (mut theirs, mut ours) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        let out = tempfile::tempdir()?;
        let started = Instant::now();
        let destination = out.path().display().to_string();
        helm(
            helm_bin,
            dir.path(),
            &[
                "pull",
                &reference,
                "--version",
                "0.1.0",
                "--plain-http",
                "--username",
                USER,
                "--password",
                PASSWORD,
                "--destination",
                &destination,
            ],
        )?;
        theirs.push(started.elapsed().as_secs_f64());
        let cache = tempfile::tempdir()?;
        let fetcher = Fetcher::new(cache.path(), 8);
        let started = Instant::now();
        let fetched = fetcher.fetch_chart(&repository, "app", "0.1.0").await?;
        ours.push(started.elapsed().as_secs_f64());
        anyhow::ensure!(fetched.transferred, "an empty cache downloads");
    }
    let mean = |v: &[f64]| v.iter().sum::<f64>() / v.len() as f64 * 1000.0;
    println!("oci_runs={runs}");
    println!("oci_tokens_issued={}", registry.tokens_issued());
    println!("oci_helm_pull_ms={:.1}", mean(&theirs));
    println!("oci_lockstep_fetch_ms={:.1}", mean(&ours));
    println!("oci_ratio={:.2}", mean(&ours) / mean(&theirs));
    Ok(())
}

/// The small chart every release installs: Flux's benchmark application, named after the
/// release.
fn publish_chart(server: &HelmRepoServer) -> anyhow::Result<()> {
    let work = tempfile::tempdir()?;
    let chart = work.path().join("app");
    std::fs::create_dir_all(chart.join("templates"))?;
    std::fs::write(
        chart.join("Chart.yaml"),
        "apiVersion: v2\nname: app\nversion: 1.0.0\n",
    )?;
    let app = measure::app(0).replace("app-0000", "{{ .Release.Name }}");
    std::fs::write(chart.join("templates/app.yaml"), app)?;
    server.publish(&chart)?;
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let runs = env("HELM_RENDER_RUNS", 20);
    let n = env("HELM_SCALE_N", 200);
    let concurrent = env("HELM_SCALE_CONCURRENT", 16);
    let interval = env("HELM_SCALE_INTERVAL", 60);
    let helm_bin = tool("helm")?;
    render_benchmark(&helm_bin, runs)?;
    oci_benchmark(&helm_bin, runs).await?;

    let plane = ControlPlane::start(ControlPlaneOptions {
        controller_manager: true,
        ..ControlPlaneOptions::default()
    })
    .await?;
    let client = plane.client().await?;
    let server = HelmRepoServer::start(None).await?;
    publish_chart(&server)?;
    let kubeconfig = plane.kubeconfig_path();
    let flux = ["--flux=true"];
    let controller =
        common::controller_in_namespace(kubeconfig, &client, NAMESPACE, concurrent, &flux).await?;
    let params = PatchParams::apply("helm-scale");
    let resource = |group: &str, version: &str, kind: &str| {
        ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind))
    };
    let repositories: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        NAMESPACE,
        &resource("source.toolkit.fluxcd.io", "v1", "HelmRepository"),
    );
    let repository = json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "HelmRepository",
        "metadata": {"name": "charts"},
        "spec": {"url": server.url(), "interval": "10m"},
    });
    repositories
        .patch("charts", &params, &Patch::Apply(&repository))
        .await?;
    let releases: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        NAMESPACE,
        &resource("helm.toolkit.fluxcd.io", "v2", "HelmRelease"),
    );

    let started = Instant::now();
    for i in 0..n {
        let name = format!("app-{i:04}");
        let release = json!({
            "apiVersion": "helm.toolkit.fluxcd.io/v2", "kind": "HelmRelease",
            "metadata": {"name": name},
            "spec": {
                "interval": format!("{interval}s"), "releaseName": name,
                "chart": {"spec": {"chart": "app", "version": "1.0.0",
                                   "sourceRef": {"kind": "HelmRepository", "name": "charts"}}},
            },
        });
        releases
            .patch(&name, &params, &Patch::Apply(&release))
            .await?;
    }
    let created = started.elapsed();
    measure::wait_each_ready(&releases, n, started, "HelmReleases").await?;
    let all_ready = started.elapsed();
    let pid = controller.pid().unwrap_or_default();
    let rss_ready = peak_rss_kib(pid);
    let cpu_ready = cpu_seconds(pid);

    let before = writes(&client, &APP_RESOURCES).await?;
    let cpu_before = cpu_seconds(pid);
    tokio::time::sleep(Duration::from_secs(interval + interval / 2)).await;
    let after = writes(&client, &APP_RESOURCES).await?;
    let cpu = cpu_seconds(pid) - cpu_before;
    let delta = grown(&before, &after);
    let downloads = server
        .requests()
        .iter()
        .filter(|r| r.path.ends_with(".tgz"))
        .count();

    println!("helm_releases={n}");
    println!("objects={}", n * 4);
    println!("concurrent={concurrent}");
    println!("create_seconds={:.1}", created.as_secs_f64());
    println!("all_ready_seconds={:.1}", all_ready.as_secs_f64());
    println!("controller_cpu_seconds_until_ready={cpu_ready:.1}");
    println!("peak_rss_mib={:.1}", rss_ready as f64 / 1024.0);
    println!("chart_downloads={downloads}");
    println!("no_change_window_seconds={}", interval + interval / 2);
    println!("no_change_controller_cpu_seconds={cpu:.1}");
    println!("no_change_writes={}", delta.values().sum::<f64>() as u64);
    Ok(())
}
