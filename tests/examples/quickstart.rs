//! The quick start: Git reconciled into a real API server in one command.
//!
//! With a reachable cluster in the kubeconfig (`LOCKSTEP_DEMO_KUBECONFIG`, else
//! `KUBECONFIG`, else `~/.kube/config`), uses that cluster; with none (or with
//! `LOCKSTEP_DEMO_LOCAL=1`), starts the test environment's control plane (etcd,
//! kube-apiserver, kube-controller-manager). Then: commits `examples/app/` to a local Git repository served by
//! `git daemon`, installs the CRDs, runs `lockstep-controller` against it, creates a
//! `GitSource` and a `Sync`, and prints the objects and conditions that result. Finally it
//! commits a change and shows it arrive. Everything it starts stops when it exits.
//!
//! Run through `./scripts/demo.sh`, which installs the servers and builds the binaries.

#[path = "common/mod.rs"]
#[allow(
    dead_code,
    reason = "shared by the examples; this one needs only part of it"
)]
mod common;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::{ConfigMap, Event, Secret};
use kube::api::{Api, ListParams};
use lockstep_api::Sync;
use lockstep_testenv::{ControlPlane, ControlPlaneOptions, GitServer};
use serde_json::json;

const NAMESPACE: &str = "lockstep-demo";

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let (client, kubeconfig, _plane) = match configured_cluster().await {
        Some((client, path)) => {
            println!("==> using the cluster of {}", path.display());
            (client, path, None)
        }
        None => {
            println!(
                "==> no cluster configured: starting a local control plane (etcd, kube-apiserver, kube-controller-manager)"
            );
            let plane = ControlPlane::start(ControlPlaneOptions {
                controller_manager: true,
                ..ControlPlaneOptions::default()
            })
            .await?;
            println!("    API server: {}", plane.server_url());
            let path = plane.kubeconfig_path().to_path_buf();
            (plane.client().await?, path, Some(plane))
        }
    };

    println!("==> committing examples/app/ to a local Git repository");
    let git = GitServer::start().await?;
    let repo = git.create_repo("shop", Some(&common::workspace().join("examples/app")))?;
    let url = repo.git_url().unwrap_or_default().to_owned();
    println!("    {url}");
    println!("==> encrypting examples/secret.yaml with a fresh age key into the repository (SOPS)");
    let age_key = encrypt_secret(&repo)?;
    repo.commit("add the encrypted database Secret")?;

    println!("==> installing the CRDs and starting lockstep-controller");
    common::install_crds(&client).await?;
    lockstep_testenv::manifests::apply_yaml(
        &client,
        &format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {NAMESPACE}}}\n"),
    )
    .await?;
    let controller =
        common::start_controller(&kubeconfig, NAMESPACE, &["--log-format=text"]).await?;

    println!("==> creating GitSource 'shop' and Sync 'shop' (prune, wait for health)");
    common::create(
        &client,
        NAMESPACE,
        "GitSource",
        json!({
            "metadata": {"name": "shop"},
            "spec": {"url": url, "interval": "5s"},
        }),
    )
    .await?;
    // The age identity the controller decrypts with, in the Sync's own namespace.
    let keys = Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("sops-age".into()),
            ..Default::default()
        },
        string_data: Some([("demo.agekey".to_owned(), age_key)].into()),
        ..Default::default()
    };
    Api::<Secret>::namespaced(client.clone(), NAMESPACE)
        .create(&kube::api::PostParams::default(), &keys)
        .await?;
    common::create(&client, NAMESPACE, "Sync", json!({
        "metadata": {"name": "shop"},
        "spec": {
            "sourceRef": {"name": "shop"}, "interval": "5s", "prune": true, "wait": true, "timeout": "60s",
            "decryption": {"provider": "sops", "secretRef": {"name": "sops-age"}},
        },
    }))
    .await?;

    let syncs: Api<Sync> = Api::namespaced(client.clone(), NAMESPACE);
    let head = repo.git(&["rev-parse", "HEAD"])?.trim().to_owned();
    let took = until_applied(&syncs, &head).await?;
    println!("    Ready after {:.1} s", took.as_secs_f64());
    show(&client, &syncs).await?;
    let secret = Api::<Secret>::namespaced(client.clone(), "shop")
        .get("database")
        .await?;
    let data = secret.data.unwrap_or_default();
    let keys: Vec<&str> = data.keys().map(String::as_str).collect();
    let expected = std::fs::read_to_string(common::workspace().join("examples/secret.yaml"))?;
    let matches = data.get("password").is_some_and(|v| {
        expected.contains(&format!("password: {}", String::from_utf8_lossy(&v.0)))
    });
    println!(
        "==> Secret shop/database decrypted in memory by the controller: keys {keys:?}, password {} examples/secret.yaml (values not printed)",
        if matches { "matches" } else { "DOES NOT match" }
    );
    anyhow::ensure!(
        matches,
        "the decrypted password differs from examples/secret.yaml"
    );

    println!("==> a commit changes the ConfigMap's greeting");
    let config = std::fs::read_to_string(repo.work_tree().join("config.yaml"))?;
    repo.write(
        "config.yaml",
        config.replace("hello from Git", "hello again, from a new commit"),
    )?;
    let next = repo.commit("change the greeting")?;
    let took = until_applied(&syncs, &next).await?;
    let configs: Api<ConfigMap> = Api::namespaced(client.clone(), "shop");
    let greeting = configs.get("shop-config").await?.data.unwrap_or_default();
    println!(
        "    applied {} after {:.1} s: greeting = {:?}",
        &next[..12],
        took.as_secs_f64(),
        greeting.get("greeting").cloned().unwrap_or_default()
    );

    let events: Api<Event> = Api::namespaced(client.clone(), NAMESPACE);
    println!("==> events of Sync 'shop'");
    for event in events.list(&ListParams::default()).await?.items {
        if event.involved_object.name.as_deref() == Some("shop") {
            println!(
                "    {:<8} {:<26} {}",
                event.type_.unwrap_or_default(),
                event.reason.unwrap_or_default(),
                event.message.unwrap_or_default()
            );
        }
    }
    println!(
        "==> done; the controller log is {}",
        controller.log().display()
    );
    Ok(())
}

/// Writes `secret.enc.yaml`: examples/secret.yaml encrypted by `lockstep encrypt` to a
/// new age key; returns the key (identity file text) for the decryption Secret.
fn encrypt_secret(repo: &lockstep_testenv::GitRepo) -> anyhow::Result<String> {
    let lockstep = common::built_binary("lockstep");
    let dir = tempfile::tempdir()?;
    let key_file = dir.path().join("key.txt");
    let run = |args: &[&std::ffi::OsStr]| -> anyhow::Result<Vec<u8>> {
        let out = std::process::Command::new(&lockstep).args(args).output()?;
        anyhow::ensure!(out.status.success(), "lockstep {:?} failed", args);
        Ok(out.stdout)
    };
    run(&["age-keygen".as_ref(), "-o".as_ref(), key_file.as_os_str()])?;
    let recipient = String::from_utf8(run(&[
        "age-keygen".as_ref(),
        "-y".as_ref(),
        key_file.as_os_str(),
    ])?)?;
    let source = common::workspace().join("examples/secret.yaml");
    let encrypted = run(&[
        "encrypt".as_ref(),
        "--age".as_ref(),
        recipient.trim().as_ref(),
        "--encrypted-regex".as_ref(),
        "^(data|stringData)$".as_ref(),
        source.as_os_str(),
    ])?;
    repo.write("secret.enc.yaml", encrypted)?;
    Ok(std::fs::read_to_string(key_file)?)
}

/// The cluster of the user's kubeconfig, if there is one and it answers within 5 s.
async fn configured_cluster() -> Option<(kube::Client, PathBuf)> {
    if std::env::var_os("LOCKSTEP_DEMO_LOCAL").is_some() {
        return None;
    }
    let path = std::env::var_os("LOCKSTEP_DEMO_KUBECONFIG")
        .or_else(|| std::env::var_os("KUBECONFIG"))
        .map(PathBuf::from)
        .or_else(|| std::env::home_dir().map(|home| home.join(".kube/config")))
        .filter(|path| path.is_file())?;
    let kubeconfig = kube::config::Kubeconfig::read_from(&path).ok()?;
    let options = kube::config::KubeConfigOptions::default();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .ok()?;
    let client = kube::Client::try_from(config).ok()?;
    let answer = tokio::time::timeout(Duration::from_secs(5), client.apiserver_version()).await;
    matches!(answer, Ok(Ok(_))).then_some((client, path))
}

/// Waits until the Sync has applied `commit` and is Ready; returns how long it took.
async fn until_applied(syncs: &Api<Sync>, commit: &str) -> anyhow::Result<Duration> {
    let start = Instant::now();
    let want = format!("main@sha1:{commit}");
    loop {
        let status = syncs.get("shop").await?.status.unwrap_or_default();
        let ready = status.conditions.iter().find(|c| c.type_ == "Ready");
        if status.last_applied_revision.as_deref() == Some(want.as_str())
            && ready.is_some_and(|c| c.status == "True")
        {
            return Ok(start.elapsed());
        }
        if start.elapsed() > Duration::from_secs(120) {
            anyhow::bail!("Sync 'shop' is not Ready after 120 s: {:?}", ready);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// Prints the Sync's conditions and the objects of its inventory.
async fn show(_client: &kube::Client, syncs: &Api<Sync>) -> anyhow::Result<()> {
    let status = syncs.get("shop").await?.status.unwrap_or_default();
    println!(
        "==> Sync 'shop': revision {}",
        status.last_applied_revision.unwrap_or_default()
    );
    for c in &status.conditions {
        println!(
            "    {:<8} {:<6} {:<24} {}",
            c.type_, c.status, c.reason, c.message
        );
    }
    println!("==> objects applied from Git");
    for e in &status.inventory {
        let group = if e.group.is_empty() {
            String::new()
        } else {
            format!(".{}", e.group)
        };
        let place = if e.namespace.is_empty() {
            String::new()
        } else {
            format!("{}/", e.namespace)
        };
        println!("    {}{group} {place}{}", e.kind, e.name);
    }
    Ok(())
}
