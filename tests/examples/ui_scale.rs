//! Scale benchmark of the web UI's overview (not a test; `scripts/bench.sh ui` runs it).
//!
//! `N` Syncs (default 10,000) created directly — no Git: the overview lists what exists —
//! a tenth of them with `Ready=False` written into their status, in one namespace, served
//! by `lockstep-controller --sync=false --listen-ui-addr`. A user signs in with a
//! ServiceAccount token bound to `cluster-admin`; then the overview's first page is asked
//! for `ROUNDS` times each unfiltered, filtered to the failing Syncs, and filtered by
//! text, and the server time (its `Server-Timing` header) and the time to the whole
//! answer are reported as median and 95th percentile. Memory: the controller's peak RSS
//! with the UI, against a second controller started the same way without it.
//!
//! Knobs: `UI_SCALE_N` (Syncs), `UI_SCALE_ROUNDS`. Prints one `key=value` line per result.

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

use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::ApiResource;
use lockstep_api::Sync;
use lockstep_testenv::{ControlPlane, ControlPlaneOptions, free_port};
use measure::{env, peak_rss_kib};
use serde_json::{Value, json};

const NAMESPACE: &str = "bench";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n = env("UI_SCALE_N", 10_000);
    let rounds = env("UI_SCALE_ROUNDS", 20) as usize;

    let plane = ControlPlane::start(ControlPlaneOptions::default()).await?;
    let client = plane.client().await?;
    let port = free_port()?;
    let listen = format!("--listen-ui-addr=127.0.0.1:{port}");
    let controller = common::controller_in_namespace(
        plane.kubeconfig_path(),
        &client,
        NAMESPACE,
        1,
        &["--sync=false", &listen],
    )
    .await?;

    // The Syncs, 32 requests at a time; every tenth one failing.
    let started = Instant::now();
    let syncs: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), NAMESPACE, &ApiResource::erase::<Sync>(&()));
    let results: Vec<anyhow::Result<()>> = futures::stream::iter(0..n)
        .map(|i| {
            let syncs = syncs.clone();
            async move {
                let name = format!("app-{i:05}");
                let sync: DynamicObject = serde_json::from_value(json!({
                    "apiVersion": "lockstep.dev/v1alpha1", "kind": "Sync",
                    "metadata": {"name": name, "labels": {"team": format!("t{}", i % 20)}},
                    "spec": {"sourceRef": {"name": "repo"}, "path": format!("apps/{i:05}"),
                             "interval": "10m"},
                }))?;
                syncs.create(&PostParams::default(), &sync).await?;
                let ready = if i % 10 == 0 { "False" } else { "True" };
                let status = json!({"status": {
                    "lastAppliedRevision": "main@sha1:0123456789abcdef0123456789abcdef01234567",
                    "conditions": [{"type": "Ready", "status": ready, "reason": "Bench",
                                    "message": format!("Applied revision for {name}"),
                                    "lastTransitionTime": "2026-12-06T00:00:00Z"}]}});
                syncs
                    .patch_status(&name, &PatchParams::default(), &Patch::Merge(&status))
                    .await?;
                Ok(())
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    for result in results {
        result?;
    }
    let created = started.elapsed();

    let token = admin_token(&client).await?;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let base = format!("http://127.0.0.1:{port}");
    let signed_in = http
        .post(format!("{base}/sign-in"))
        // A JWT is base64url and dots: nothing to escape in a form body.
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("token={token}"))
        .send()
        .await?;
    let cookie = signed_in
        .headers()
        .get("set-cookie")
        .and_then(|c| c.to_str().ok())
        .and_then(|c| c.split(';').next())
        .ok_or_else(|| anyhow::anyhow!("sign-in set no cookie: {}", signed_in.status()))?
        .to_owned();

    // Until the UI's cache holds every Sync.
    let expect = format!("{n} Syncs");
    let deadline = Instant::now() + Duration::from_secs(300);
    while !page(&http, &base, &cookie, "").await?.2.contains(&expect) {
        anyhow::ensure!(
            Instant::now() < deadline,
            "the overview never listed {n} Syncs"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }

    println!("syncs={n}");
    println!("create_seconds={:.1}", created.as_secs_f64());
    for (label, query) in [
        ("all", ""),
        ("failing", "?phase=failing"),
        ("text", "?q=app-0999"),
    ] {
        let mut server = Vec::new();
        let mut total = Vec::new();
        for _ in 0..rounds {
            let (server_ms, total_ms, body) = page(&http, &base, &cookie, query).await?;
            anyhow::ensure!(body.contains("<tr id=\"row-"), "{label}: no rows");
            server.push(server_ms);
            total.push(total_ms);
        }
        let (median, p95) = spread(&mut server);
        println!("{label}_server_ms_median={median:.1}");
        println!("{label}_server_ms_p95={p95:.1}");
        let (median, p95) = spread(&mut total);
        println!("{label}_total_ms_median={median:.1}");
        println!("{label}_total_ms_p95={p95:.1}");
    }
    let with_ui = peak_rss_kib(controller.pid().unwrap_or_default());
    println!("peak_rss_with_ui_mib={:.1}", with_ui as f64 / 1024.0);

    // The same controller without the UI, over the same Syncs.
    drop(controller);
    let without = common::start_controller(
        plane.kubeconfig_path(),
        NAMESPACE,
        &["--all-namespaces=false", "--sync=false"],
    )
    .await?;
    tokio::time::sleep(Duration::from_secs(20)).await;
    let without_ui = peak_rss_kib(without.pid().unwrap_or_default());
    println!("peak_rss_without_ui_mib={:.1}", without_ui as f64 / 1024.0);
    println!(
        "ui_rss_mib={:.1}",
        with_ui.saturating_sub(without_ui) as f64 / 1024.0
    );
    Ok(())
}

/// One overview page: the server's time (`Server-Timing`), the time to the whole answer
/// (ms), and the body.
async fn page(
    http: &reqwest::Client,
    base: &str,
    cookie: &str,
    query: &str,
) -> anyhow::Result<(f64, f64, String)> {
    let asked = Instant::now();
    let response = http
        .get(format!("{base}/{query}"))
        .header("cookie", cookie)
        .send()
        .await?;
    let server = response
        .headers()
        .get("server-timing")
        .and_then(|t| t.to_str().ok())
        .and_then(|t| t.split_once("dur="))
        .and_then(|(_, ms)| ms.parse::<f64>().ok())
        .unwrap_or(f64::NAN);
    let body = response.text().await?;
    Ok((server, asked.elapsed().as_secs_f64() * 1000.0, body))
}

/// Median and 95th percentile.
fn spread(samples: &mut [f64]) -> (f64, f64) {
    samples.sort_by(f64::total_cmp);
    let at = |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize];
    (at(0.5), at(0.95))
}

/// A token of a ServiceAccount bound to `cluster-admin`.
async fn admin_token(client: &kube::Client) -> anyhow::Result<String> {
    let text = format!(
        "apiVersion: v1\nkind: ServiceAccount\nmetadata: {{name: ui-admin, namespace: {NAMESPACE}}}\n---\napiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: {{name: ui-bench-admin}}\nroleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: cluster-admin}}\nsubjects: [{{kind: ServiceAccount, name: ui-admin, namespace: {NAMESPACE}}}]\n"
    );
    lockstep_testenv::manifests::apply_yaml(client, &text).await?;
    let accounts: Api<k8s_openapi::api::core::v1::ServiceAccount> =
        Api::namespaced(client.clone(), NAMESPACE);
    let request = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                         "spec": {"expirationSeconds": 3600}});
    let answer: Value = accounts
        .create_subresource("token", "ui-admin", &PostParams::default(), &request)
        .await?;
    answer["status"]["token"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("no token in the TokenRequest's answer"))
}
