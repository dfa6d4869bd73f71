//! DRAFT, NEVER COMPILED: no package builds this file (the workspace root is virtual). It
//! was written for `controller/examples/unseal_throughput.rs` and parked here because the
//! release build of the controller did not fit in the benchmark session's time box; move it
//! there (its dev-dependencies are the controller's) and make it compile before use.
//!
//! Unsealing throughput of `lockstep-controller` against the real kube-apiserver of the
//! test environment (a benchmark, not a test; see BENCHMARKS.md and scripts/bench.sh).
//!
//! Starts etcd + kube-apiserver (`lockstep_testenv::ControlPlane`), installs the SealedSecret
//! CRD, starts the controller binary for one namespace, seals N Secrets to its certificate
//! (before the clock starts), then creates the N SealedSecrets and measures the time until
//! all N Secrets exist.
//!
//! ```sh
//! cargo build --release -p lockstep-controller --bin lockstep-controller --example unseal_throughput
//! target/release/examples/unseal_throughput [N] [KEY_SIZE]     # default 1000 4096
//! ```
//!
//! The controller binary is found next to the example's folder (`../lockstep-controller`)
//! or at `$LOCKSTEP_CONTROLLER_BIN`. The Secrets hold canary values only.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{
    Api, ApiResource, DynamicObject, ListParams, ObjectMeta, Patch, PatchParams, PostParams,
};
use lockstep_keys::sealing::Certificate;
use lockstep_sealed::{SealOptions, SecretData, SecretInput, SecretValue, seal};
use lockstep_testenv::{ControlPlane, ControlPlaneOptions, LogDir, Process, free_port, http};

const CRD: &str = include_str!("../../deploy/crds/sealedsecrets.bitnami.com.yaml");

fn sealed_resource() -> ApiResource {
    ApiResource {
        group: "bitnami.com".into(),
        version: "v1alpha1".into(),
        api_version: "bitnami.com/v1alpha1".into(),
        kind: "SealedSecret".into(),
        plural: "sealedsecrets".into(),
    }
}

fn controller_bin() -> PathBuf {
    if let Some(path) = std::env::var_os("LOCKSTEP_CONTROLLER_BIN") {
        return path.into();
    }
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(|examples| examples.parent())
        .expect("the example runs from target/<profile>/examples")
        .join("lockstep-controller")
}

async fn count_secrets(secrets: &Api<Secret>) -> usize {
    secrets
        .list(&ListParams::default())
        .await
        .map(|list| {
            list.items
                .iter()
                .filter(|s| {
                    s.metadata
                        .name
                        .as_deref()
                        .is_some_and(|n| n.starts_with("bench-"))
                })
                .count()
        })
        .unwrap_or(0)
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let n: usize = args.next().map_or(Ok(1000), |a| a.parse())?;
    let key_size: u32 = args.next().map_or(Ok(4096), |a| a.parse())?;

    let plane = ControlPlane::start(ControlPlaneOptions::default()).await?;
    let (client, namespace) = plane.namespace("bench").await?;

    // The CRD, served before anything is created.
    let crd: CustomResourceDefinition = serde_saphyr::from_str(CRD)?;
    Api::<CustomResourceDefinition>::all(client.clone())
        .patch(
            "sealedsecrets.bitnami.com",
            &PatchParams::apply("lockstep-bench").force(),
            &Patch::Apply(&crd),
        )
        .await?;
    let sealed: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &namespace, &sealed_resource());
    let deadline = Instant::now() + Duration::from_secs(60);
    while sealed.list(&ListParams::default().limit(1)).await.is_err() {
        anyhow::ensure!(Instant::now() < deadline, "the CRD was not served in 60 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // The controller, for this namespace only, as the tests start it.
    let logs = LogDir::for_server("lockstep-controller")?;
    let api_port = free_port()?;
    let metrics_port = free_port()?;
    let controller_args = [
        format!("--namespace={namespace}"),
        "--all-namespaces=false".to_owned(),
        format!("--key-size={key_size}"),
        format!("--listen-addr=127.0.0.1:{api_port}"),
        format!("--listen-metrics-addr=127.0.0.1:{metrics_port}"),
    ];
    let env = [("KUBECONFIG", plane.kubeconfig_path())];
    let started = Instant::now();
    let mut controller = Process::start(
        "lockstep-controller",
        &controller_bin(),
        &controller_args,
        &env,
        &logs,
    )?;
    controller
        .wait_ready(Duration::from_secs(300), || {
            http::is_ok(api_port, "/v1/cert.pem")
        })
        .await?;
    let ready = started.elapsed();
    let cert = http::request(api_port, "GET", "/v1/cert.pem", &[], "").await?;
    anyhow::ensure!(cert.status == 200, "cert.pem: {}", cert.status);
    let cert = Certificate::from_pem(cert.body.as_bytes())?;

    // Seal N Secrets (strict scope, two canary items each) before the clock starts.
    let options = SealOptions::default();
    let objects = (0..n)
        .map(|i| {
            let mut data = BTreeMap::new();
            for (k, v) in [
                ("username", format!("canary-user-{i}")),
                ("password", format!("canary-password-{i}")),
            ] {
                data.insert(k.to_owned(), SecretValue::new(v.into_bytes()));
            }
            let input = SecretInput {
                metadata: ObjectMeta {
                    name: Some(format!("bench-{i:05}")),
                    namespace: Some(namespace.clone()),
                    ..ObjectMeta::default()
                },
                type_: Some("Opaque".into()),
                immutable: None,
                data: SecretData(data),
            };
            let json = serde_json::to_value(seal(input, cert.public_key(), &options)?)?;
            Ok(serde_json::from_value::<DynamicObject>(json)?)
        })
        .collect::<anyhow::Result<Vec<_>>>()?;

    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let t0 = Instant::now();
    // Create them as a client would apply a folder: 8 requests in flight.
    let created = futures::stream::iter(objects)
        .map(|object| {
            let sealed = sealed.clone();
            async move { sealed.create(&PostParams::default(), &object).await }
        })
        .buffer_unordered(8)
        .collect::<Vec<_>>()
        .await;
    let errors = created.iter().filter(|r| r.is_err()).count();
    anyhow::ensure!(errors == 0, "{errors} SealedSecrets could not be created");
    let all_created = t0.elapsed();

    let deadline = Instant::now() + Duration::from_secs(600);
    let mut done = count_secrets(&secrets).await;
    while done < n {
        anyhow::ensure!(
            Instant::now() < deadline,
            "only {done} of {n} Secrets after 600 s; controller log: {}",
            controller.log().display()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
        done = count_secrets(&secrets).await;
    }
    let all_unsealed = t0.elapsed();

    // Spot check: the last Secret holds its canary value (not printed).
    let last = secrets.get(&format!("bench-{:05}", n - 1)).await?;
    let ok = last
        .data
        .as_ref()
        .and_then(|d| d.get("username"))
        .is_some_and(|v| v.0 == format!("canary-user-{}", n - 1).into_bytes());
    anyhow::ensure!(ok, "the last Secret does not hold its canary value");

    println!(
        "controller ready (key generation included, {key_size}-bit): {:.2} s",
        ready.as_secs_f64()
    );
    println!(
        "SealedSecrets: {n}; created in {:.2} s ({:.0}/s, 8 in flight)",
        all_created.as_secs_f64(),
        n as f64 / all_created.as_secs_f64()
    );
    println!(
        "all {n} Secrets exist after {:.2} s: {:.0} Secrets/s (from the first create; {:.2} s after the last create)",
        all_unsealed.as_secs_f64(),
        n as f64 / all_unsealed.as_secs_f64(),
        (all_unsealed - all_created).as_secs_f64()
    );
    drop(controller);
    Ok(())
}
