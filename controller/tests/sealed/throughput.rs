//! Unsealing throughput — a benchmark, not a test: ignored, and run by `scripts/bench.sh`
//! (`cargo test --release -p lockstep-controller --test tests -- --ignored --nocapture
//! unseal_throughput`). It prints one `unseal-throughput` line per controller run and asserts
//! nothing about speed.
//!
//! Each run gets a namespace holding one 4096-bit sealing key Secret and N cluster-wide
//! SealedSecrets sealed to it beforehand; the clock starts when the controller process is
//! spawned and stops when a watch has seen all N Secrets. With `BENCH_UPSTREAM_CONTROLLER`
//! (the Bitnami controller binary, `go install …/cmd/controller@v0.36.6`) the same is timed
//! for it, once with its defaults and once without its client-side rate limit. It only
//! reads the in-cluster service account, so it runs in a private mount namespace
//! (`unshare -m`) with a tmpfs over `/run` holding the admin token and CA as that account.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::{StreamExt as _, TryStreamExt as _};
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, PostParams, WatchEvent, WatchParams};
use lockstep_keys::sealing::{GenerateOptions, SealingKeyPair};
use lockstep_sealed::{Scope, SealOptions};
use lockstep_testenv::{ControlPlane, LogDir, Process, free_port, need};

use super::{KEY_LABEL, input, seal_json};
use crate::support::{Controller, create_sealed, install_crd};

fn env_usize(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::test]
#[ignore = "benchmark, run by scripts/bench.sh on a release build"]
async fn unseal_throughput() {
    let plane = need!(ControlPlane::shared().await);
    let client = plane.client().await.unwrap();
    install_crd(&client).await;
    let n = env_usize("BENCH_UNSEAL_SECRETS", 500);
    let n_limited = env_usize("BENCH_UNSEAL_SECRETS_RATE_LIMITED", 100);
    let pair = SealingKeyPair::generate(&GenerateOptions::default()).unwrap();
    let cert = pair.tls_crt_pem();
    let options = SealOptions::default().with_scope(Some(Scope::ClusterWide));
    let sealed: Vec<serde_json::Value> = (0..n.max(n_limited))
        .map(|i| {
            let name = format!("bench-{i:05}");
            let items = [("username", "canary-user"), ("password", "canary-password")];
            seal_json(&cert, input("any", &name, &items), &options)
        })
        .collect();

    let ours = time_run(plane, &client, &pair, &sealed[..n], async |ns| {
        Running::Ours(Controller::start_with(plane, ns, &["--sync=false"]).await)
    })
    .await;
    report("lockstep-controller", n, ours);

    let Some(upstream) = std::env::var_os("BENCH_UPSTREAM_CONTROLLER").map(PathBuf::from) else {
        println!("unseal-throughput controller=upstream skipped (BENCH_UPSTREAM_CONTROLLER unset)");
        return;
    };
    for (label, extra, count) in [
        ("sealed-secrets-v0.36.6-defaults", None, n_limited),
        (
            "sealed-secrets-v0.36.6-qps-unlimited",
            Some("--kubeclient-qps=-1"),
            n,
        ),
    ] {
        let elapsed = time_run(plane, &client, &pair, &sealed[..count], async |ns| {
            Running::Upstream(start_upstream(plane, &upstream, ns, extra))
        })
        .await;
        report(label, count, elapsed);
    }
}

/// A controller process; dropping it stops it.
#[allow(dead_code)] // Held only to keep the process alive.
enum Running {
    Ours(Controller),
    Upstream(Process),
}

fn report(label: &str, n: usize, elapsed: Duration) {
    let secs = elapsed.as_secs_f64();
    println!(
        "unseal-throughput controller={label} secrets={n} seconds={secs:.2} per_second={:.1}",
        n as f64 / secs
    );
}

/// Prepares a namespace, starts a controller with `start`, and times it until every
/// SealedSecret has its Secret.
async fn time_run(
    plane: &ControlPlane,
    client: &kube::Client,
    pair: &SealingKeyPair,
    sealed: &[serde_json::Value],
    start: impl AsyncFnOnce(&str) -> Running,
) -> Duration {
    let (_, ns) = plane.namespace("bench-unseal").await.unwrap();
    let key: Secret = serde_json::from_value(serde_json::json!({
        "metadata": {"name": "sealed-secrets-keybench", "labels": {KEY_LABEL: "active"}},
        "type": "kubernetes.io/tls",
        "stringData": {"tls.crt": pair.tls_crt_pem(), "tls.key": pair.tls_key_pem().unwrap().as_str()},
    }))
    .unwrap();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    secrets.create(&PostParams::default(), &key).await.unwrap();
    futures::stream::iter(sealed)
        .for_each_concurrent(8, |s| create_sealed(client, &ns, s.clone()))
        .await;

    let watch = WatchParams::default().fields("type=Opaque").timeout(290);
    let mut events = secrets.watch(&watch, "0").await.unwrap().boxed();
    let started = Instant::now();
    let _running = start(&ns).await;
    let mut seen = 0;
    while seen < sealed.len() {
        let event = tokio::time::timeout(Duration::from_secs(600), events.try_next())
            .await
            .expect("the controller stalled for 10 minutes")
            .unwrap();
        match event {
            Some(WatchEvent::Added(_)) => seen += 1,
            Some(_) => {}
            // The API server may end a watch early; count what exists and watch on from there.
            None => {
                let list = secrets
                    .list(&ListParams::default().fields("type=Opaque"))
                    .await
                    .unwrap();
                seen = list.items.len();
                let version = list.metadata.resource_version.unwrap_or_default();
                events = secrets.watch(&watch, &version).await.unwrap().boxed();
            }
        }
    }
    started.elapsed()
}

/// Starts the Bitnami controller for `namespace` as if in-cluster (see the module docs).
fn start_upstream(
    plane: &ControlPlane,
    bin: &Path,
    namespace: &str,
    extra: Option<&str>,
) -> Process {
    let logs = LogDir::for_server("sealed-secrets-controller").unwrap();
    let kubeconfig: serde_json::Value =
        serde_saphyr::from_str(&std::fs::read_to_string(plane.kubeconfig_path()).unwrap()).unwrap();
    let server = kubeconfig["clusters"][0]["cluster"]["server"]
        .as_str()
        .unwrap();
    let (host, port) = server
        .trim_start_matches("https://")
        .rsplit_once(':')
        .unwrap();
    let sa = logs.join("serviceaccount");
    std::fs::create_dir_all(&sa).unwrap();
    let cluster = &kubeconfig["clusters"][0]["cluster"];
    let ca = match cluster["certificate-authority"].as_str() {
        Some(path) => std::fs::read(path).unwrap(),
        None => {
            use base64::Engine as _;
            let data = cluster["certificate-authority-data"].as_str().unwrap();
            base64::engine::general_purpose::STANDARD
                .decode(data)
                .unwrap()
        }
    };
    std::fs::write(sa.join("ca.crt"), ca).unwrap();
    let token = kubeconfig["users"][0]["user"]["token"].as_str().unwrap();
    std::fs::write(sa.join("token"), token).unwrap();
    std::fs::write(sa.join("namespace"), namespace).unwrap();
    let script = format!(
        "mount -t tmpfs tmpfs /run && d=/run/secrets/kubernetes.io/serviceaccount && \
         mkdir -p $d && cp '{sa}'/* $d/ && exec '{bin}' --all-namespaces=false \
         --key-renew-period=0 --listen-addr=127.0.0.1:{api} --listen-metrics-addr=127.0.0.1:{metrics} {extra}",
        sa = sa.display(),
        bin = bin.display(),
        api = free_port().unwrap(),
        metrics = free_port().unwrap(),
        extra = extra.unwrap_or(""),
    );
    let args = ["-m", "--propagation", "private", "sh", "-c", &script].map(str::to_owned);
    let env = [
        ("KUBERNETES_SERVICE_HOST", Path::new(host)),
        ("KUBERNETES_SERVICE_PORT", Path::new(port)),
        ("POD_NAMESPACE", Path::new(namespace)),
    ];
    Process::start(
        "sealed-secrets-controller",
        Path::new("/usr/bin/unshare"),
        &args,
        &env,
        &logs,
    )
    .unwrap()
}
