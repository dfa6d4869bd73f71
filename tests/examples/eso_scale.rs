//! The External Secrets Operator and `lockstep-controller --external-secrets` side by side
//! on the same ExternalSecrets (issue 15's benchmark; not a test, `scripts/bench.sh` runs it).
//!
//! `N` ExternalSecrets (default 1,000), each of three keys (`data[]` with three properties of
//! one OpenBao KV v2 secret), one `SecretStore` with a token, one control plane and one
//! OpenBao in one run, each side in a namespace of its own and started only for its turn:
//! ESO v0.16.2 with its default flags (`eso-default`), ESO tuned (`eso-tuned`: `--concurrent`
//! and client QPS/burst raised), then Lockstep (`lockstep`, `--concurrent` as ESO tuned).
//! For each: the time from the first ExternalSecret created until each has been Ready — or
//! with `ESO_SCALE_BACKLOG=1`, every ExternalSecret created before the controller starts,
//! the time from its start, so the controller's own pace is measured, not the harness's
//! creation rate — the controller's CPU seconds and peak RSS, the API server's and etcd's
//! CPU seconds, the requests the API server served (by verb and resource, the harness's own
//! included) and those OpenBao received (request entries of its file audit device), then
//! one and a half refresh intervals of no-change refreshes: CPU, OpenBao requests, API
//! writes to Secrets and to ExternalSecrets' status (a no-change refresh must write none).
//!
//! Knobs: `ESO_SCALE_N`, `ESO_SCALE_CONCURRENT` (default 16), `ESO_SCALE_REFRESH` (seconds,
//! default 60), `ESO_SCALE_ONLY` (one side), `ESO_SCALE_BACKLOG` (1: created first). Prints `key=value` lines prefixed with the side.

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
use std::time::{Duration, Instant};

use kube::api::{Api, DynamicObject, PostParams};
use kube::core::{ApiResource, GroupVersionKind};
use lockstep_testenv::{
    ControlPlane, ControlPlaneOptions, ExternalSecretsOperator, Process, Vault, manifests,
};
use measure::{ServerLoad, cpu_seconds, env, grown, peak_rss_kib, requests, writes};
use serde_json::json;

/// Which controller serves a side of the run; dropped to stop it.
enum Controller {
    Eso(ExternalSecretsOperator),
    Lockstep(Process),
}

impl Controller {
    fn pid(&self) -> u32 {
        match self {
            Controller::Eso(eso) => eso.pid(),
            Controller::Lockstep(process) => process.pid(),
        }
        .unwrap_or_default()
    }
}

/// ESO's `kind` (`ExternalSecret`, `SecretStore`).
fn resource(kind: &str) -> ApiResource {
    ApiResource::from_gvk(&GroupVersionKind::gvk("external-secrets.io", "v1", kind))
}

/// Request entries OpenBao's file audit device has written so far.
fn vault_requests(audit: &Path) -> usize {
    std::fs::read_to_string(audit)
        .unwrap_or_default()
        .lines()
        .filter(|line| line.contains(r#""type":"request""#))
        .count()
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let n = env("ESO_SCALE_N", 1000);
    let concurrent = env("ESO_SCALE_CONCURRENT", 16);
    let refresh = env("ESO_SCALE_REFRESH", 60);
    let only = std::env::var("ESO_SCALE_ONLY").unwrap_or_default();
    let backlog = env("ESO_SCALE_BACKLOG", 0) == 1;

    let plane = ControlPlane::start(ControlPlaneOptions::default()).await?;
    let client = plane.client().await?;
    let audit_dir = tempfile::tempdir()?;
    let audit = audit_dir.path().join("audit.log");
    let vault = Vault::start_with_audit(Some(&audit)).await?;
    for i in 0..n {
        vault
            .post(
                &format!("/v1/secret/data/bench/app-{i:04}"),
                &json!({"data": {"user": format!("user-{i}"), "password": format!("pw-{i}"),
                                 "host": format!("db-{i}.example")}})
                .to_string(),
            )
            .await?;
    }
    // ESO's own CRDs serve every side; Lockstep's subsets of them stay out.
    ExternalSecretsOperator::install_crds(&client).await?;
    common::install_crds_except(&client, Some("external-secrets.io")).await?;

    let concurrent_flag = format!("--concurrent={concurrent}");
    for side in ["eso-default", "eso-tuned", "lockstep"] {
        if !only.is_empty() && only != side {
            continue;
        }
        manifests::apply_yaml(
            &client,
            &format!(
                "apiVersion: v1\nkind: Namespace\nmetadata: {{name: {side}}}\n---\n\
                 apiVersion: v1\nkind: Secret\nmetadata: {{name: vault-token, namespace: {side}}}\n\
                 stringData: {{token: {}}}\n",
                vault.token()
            ),
        )
        .await?;
        let external_secrets: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), side, &resource("ExternalSecret"));
        let requests_before = vault_requests(&audit);
        let mut api_before = ServerLoad::now(&client, &plane).await?;
        let mut started = Instant::now();
        if backlog {
            create_set(&client, side, &vault, n, refresh).await?;
            api_before = ServerLoad::now(&client, &plane).await?;
            started = Instant::now();
        }
        let controller = match side {
            "eso-default" => Controller::Eso(
                ExternalSecretsOperator::start_with(&plane, Some(side), &[], &["--loglevel=info"])
                    .await?,
            ),
            "eso-tuned" => Controller::Eso(
                ExternalSecretsOperator::start_with(
                    &plane,
                    Some(side),
                    &[],
                    &[
                        "--loglevel=info",
                        &concurrent_flag,
                        "--client-qps=500",
                        "--client-burst=1000",
                    ],
                )
                .await?,
            ),
            _ => Controller::Lockstep(
                common::start_controller(
                    plane.kubeconfig_path(),
                    side,
                    &[
                        "--all-namespaces=false",
                        "--sync=false",
                        "--external-secrets=true",
                        &concurrent_flag,
                        "--log-format=json",
                    ],
                )
                .await?,
            ),
        };
        if !backlog {
            started = Instant::now();
            create_set(&client, side, &vault, n, refresh).await?;
        }
        let created = if backlog {
            Duration::ZERO
        } else {
            started.elapsed()
        };
        let pid = controller.pid();
        let set = Set {
            external_secrets: &external_secrets,
            n,
            started,
            created,
            requests_before,
            api_before,
        };
        measure_side(&plane, side, &audit, refresh, pid, set).await?;
    }
    Ok(())
}

/// Creates the store and `n` ExternalSecrets in namespace `side`.
async fn create_set(
    client: &kube::Client,
    side: &str,
    vault: &Vault,
    n: u64,
    refresh: u64,
) -> anyhow::Result<()> {
    let stores: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), side, &resource("SecretStore"));
    let external_secrets: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), side, &resource("ExternalSecret"));
    let create = PostParams::default();
    stores
        .create(
            &create,
            &serde_json::from_value(json!({
                "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
                "metadata": {"name": "vault"},
                "spec": {"provider": {"vault": {
                    "server": vault.addr(), "path": "secret", "version": "v2",
                    "auth": {"tokenSecretRef": {"name": "vault-token", "key": "token"}},
                }}},
            }))?,
        )
        .await?;

    for i in 0..n {
        let key = format!("bench/app-{i:04}");
        let data: Vec<_> = ["user", "password", "host"]
            .iter()
            .map(|property| {
                json!({"secretKey": property, "remoteRef": {"key": key, "property": property}})
            })
            .collect();
        external_secrets
            .create(
                &create,
                &serde_json::from_value(json!({
                    "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                    "metadata": {"name": format!("app-{i:04}")},
                    "spec": {
                        "refreshInterval": format!("{refresh}s"),
                        "secretStoreRef": {"name": "vault", "kind": "SecretStore"},
                        "target": {"name": format!("app-{i:04}")},
                        "data": data,
                    },
                }))?,
            )
            .await?;
    }
    Ok(())
}

/// The ExternalSecrets of one side, and when its clock started.
struct Set<'a> {
    external_secrets: &'a Api<DynamicObject>,
    n: u64,
    /// The first created, or the controller started (a backlog).
    started: Instant,
    /// How long creating them took (nothing for a backlog).
    created: Duration,
    /// OpenBao's requests before the side's turn.
    requests_before: usize,
    /// The API server's requests and the control plane's CPU seconds when the clock started.
    api_before: ServerLoad,
}

/// Waits until each of `set` has been Ready, then through 1.5 refresh intervals, and
/// prints what it measured of the controller `pid`.
async fn measure_side(
    plane: &ControlPlane,
    side: &str,
    audit: &Path,
    refresh: u64,
    pid: u32,
    set: Set<'_>,
) -> anyhow::Result<()> {
    let Set {
        external_secrets,
        n,
        started,
        created,
        requests_before,
        api_before,
    } = set;
    let client = &plane.client().await?;
    measure::wait_each_ready(
        external_secrets,
        n,
        started,
        &format!("{side}: ExternalSecrets"),
    )
    .await?;
    let all_ready = started.elapsed();
    let cpu_ready = cpu_seconds(pid);
    let rss_ready = peak_rss_kib(pid) as f64 / 1024.0;
    let requests_ready = vault_requests(audit) - requests_before;
    let (plane_cpu_ready, api_ready) = api_before.since(client, plane).await?;

    let before = writes(client, &["secrets"]).await?;
    let served_before = requests(client).await?;
    let cpu_before = cpu_seconds(pid);
    let requests_before = vault_requests(audit);
    let window = refresh + refresh / 2;
    tokio::time::sleep(Duration::from_secs(window)).await;
    let delta = grown(&before, &writes(client, &["secrets"]).await?);
    let status_writes: f64 = grown(&served_before, &requests(client).await?)
        .iter()
        .filter(|(key, _)| {
            key.ends_with("/externalsecrets/status")
                && ["PATCH/", "PUT/", "APPLY/"]
                    .iter()
                    .any(|verb| key.starts_with(verb))
        })
        .map(|(_, count)| count)
        .sum();

    println!("{side} external_secrets={n}");
    println!(
        "{side} clock_from={}",
        if created.is_zero() {
            "controller start"
        } else {
            "first created"
        }
    );
    println!("{side} create_seconds={:.1}", created.as_secs_f64());
    println!("{side} all_ready_seconds={:.1}", all_ready.as_secs_f64());
    println!("{side} cpu_seconds_until_ready={cpu_ready:.1}");
    println!("{side} peak_rss_mib={rss_ready:.1}");
    println!("{side} vault_requests_until_ready={requests_ready}");
    println!("{side} control_plane_cpu_seconds_until_ready={plane_cpu_ready:.1}");
    println!(
        "{side} api_requests_until_ready={}",
        api_ready.values().sum::<f64>() as u64
    );
    for (key, value) in &api_ready {
        println!("{side} api_request_until_ready {key}={value}");
    }
    println!("{side} no_change_window_seconds={window}");
    println!(
        "{side} no_change_cpu_seconds={:.1}",
        cpu_seconds(pid) - cpu_before
    );
    println!(
        "{side} no_change_vault_requests={}",
        vault_requests(audit) - requests_before
    );
    println!(
        "{side} no_change_secret_writes={}",
        delta.values().sum::<f64>() as u64
    );
    println!("{side} no_change_status_writes={}", status_writes as u64);
    Ok(())
}
