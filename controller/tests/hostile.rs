//! One tenant's hostile input cannot take the controller down (the reliability probe's
//! defect 1): the 559-byte alias bomb as a `secretGenerator` source fails that tenant's
//! Sync, naming the file and the line, while another tenant's Sync keeps applying and
//! SealedSecrets keep unsealing. The controller runs under a 3 GiB address-space cap, so a
//! regression aborts it (and fails the test) instead of eating the machine.

use crate::support;

use std::sync::OnceLock;
use std::time::Duration;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, PostParams};
use lockstep_api::Sync;
use lockstep_sealed::SealOptions;
use lockstep_testenv::{ControlPlane, GitServer, http, need};
use serde_json::json;
use support::{
    Controller, create_lockstep, create_sealed, eventually, input, install_crd, install_sync_crds,
    seal_json, secret, value,
};

const BOMB: &str = include_str!("../../crates/limits/testdata/alias-bomb.yaml");
const CAP_BYTES: u64 = 3 << 30;

/// The controller under a memory cap: a script that `exec`s it through `prlimit`, so the
/// process the tests signal and stop is the controller itself.
fn capped_controller() -> std::path::PathBuf {
    static SCRIPT: OnceLock<std::path::PathBuf> = OnceLock::new();
    SCRIPT
        .get_or_init(|| {
            use std::os::unix::fs::PermissionsExt as _;
            let dir = tempfile::tempdir().unwrap().keep();
            let script = dir.join("lockstep-controller-capped");
            let controller = env!("CARGO_BIN_EXE_lockstep-controller");
            std::fs::write(
                &script,
                format!("#!/bin/sh\nexec prlimit --as={CAP_BYTES} -- {controller} \"$@\"\n"),
            )
            .unwrap();
            std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
            script
        })
        .clone()
}

fn cm(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{value: \"{value}\"}}\n"
    )
}

/// The Sync's `Ready` condition as `(status, reason, message)`.
async fn ready(client: &kube::Client, ns: &str, name: &str) -> Option<(String, String, String)> {
    let api: Api<Sync> = Api::namespaced(client.clone(), ns);
    let status = api.get(name).await.unwrap().status.unwrap_or_default();
    status
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| (c.status.to_string(), c.reason, c.message))
}

/// Waits for the Sync to fail at a stage past its source; its `(reason, message)`.
async fn failed_past_source(client: &kube::Client, ns: &str, name: &str) -> (String, String) {
    let mut failed = None;
    eventually(
        &format!("Sync {name} to fail past its source"),
        async || {
            failed = ready(client, ns, name)
                .await
                .filter(|(status, reason, _)| status == "False" && reason != "ArtifactFailed");
            failed.is_some()
        },
    )
    .await;
    let (_, reason, message) = failed.unwrap();
    (reason, message)
}

#[tokio::test]
async fn an_alias_bomb_fails_its_sync_and_nothing_else() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("hostile-ctl").await.unwrap();
    let (_, tenant_a) = plane.namespace("hostile-a").await.unwrap();
    let (_, tenant_b) = plane.namespace("hostile-b").await.unwrap();
    install_crd(&client).await;
    install_sync_crds(&client).await;

    let git = GitServer::start().await.unwrap();
    let good = git.create_repo("good", None).unwrap();
    good.write("apps/a.yaml", cm("a", "1")).unwrap();
    good.commit("tenant a").unwrap();
    let bomb = git.create_repo("bomb", None).unwrap();
    bomb.write(
        "bomb/kustomization.yaml",
        "secretGenerator:\n- name: settings\n  files: [config.yaml]\n",
    )
    .unwrap();
    bomb.write("bomb/config.yaml", BOMB).unwrap();
    bomb.commit("tenant b").unwrap();

    let namespaces = format!("--additional-namespaces={tenant_a},{tenant_b}");
    let controller =
        Controller::start_syncing_as(plane, &ns, &capped_controller(), &[&namespaces]).await;
    for (name, repo, path, target) in [
        ("good", &good, "apps", &tenant_a),
        ("bomb", &bomb, "bomb", &tenant_b),
    ] {
        create_lockstep(
            &client,
            &ns,
            "GitSource",
            json!({"metadata": {"name": name}, "spec": {"url": repo.git_url().unwrap(), "interval": "1s"}}),
        )
        .await;
        // No `decryption`: the bomb reaches the SOPS loader all the same.
        create_lockstep(
            &client,
            &ns,
            "Sync",
            json!({"metadata": {"name": name}, "spec": {"sourceRef": {"name": name}, "path": path, "interval": "1s", "prune": true, "targetNamespace": target}}),
        )
        .await;
    }

    let (reason, message) = failed_past_source(&client, &ns, "bomb").await;
    assert_eq!(reason, "DecryptionFailed", "{message}");
    assert!(
        message.contains("bomb/config.yaml")
            && message.contains("line 7, column 18")
            && message.contains("excessive aliasing"),
        "{message}"
    );

    // The other tenant's Sync applied, and keeps applying new commits.
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &tenant_a);
    eventually("tenant a's ConfigMap", async || {
        configmaps.get_opt("a").await.unwrap().is_some()
    })
    .await;
    good.write("apps/a.yaml", cm("a", "2")).unwrap();
    good.commit("tenant a again").unwrap();
    eventually("tenant a's next commit", async || {
        configmaps
            .get_opt("a")
            .await
            .unwrap()
            .and_then(|c| c.data)
            .is_some_and(|d| d["value"] == "2")
    })
    .await;

    // SealedSecrets still unseal, and the API still serves, after several failed
    // reconciles of the bomb (its Sync retries every second).
    let cert = controller.cert().await;
    let sealed = seal_json(
        &cert,
        input(&tenant_a, "db", &[("k", "canary-unsealed")]),
        &SealOptions::default(),
    );
    create_sealed(&client, &tenant_a, sealed).await;
    assert_eq!(
        value(&secret(&client, &tenant_a, "db").await, "k"),
        "canary-unsealed"
    );
    assert!(http::is_ok(controller.api_port, "/healthz").await);
    let (status, reason, _) = ready(&client, &ns, "bomb").await.unwrap();
    assert_eq!(
        (status.as_str(), reason.as_str()),
        ("False", "DecryptionFailed")
    );
    let log = controller.log();
    assert!(
        !log.contains("memory allocation") && !log.contains("panicked"),
        "{log}"
    );
}

/// A Sync whose secrets take longer than its `timeout` (here a Vault that accepts the
/// connection and never answers) fails with `DecryptionFailed` at the timeout, instead of
/// holding a worker for the whole Vault request timeout every interval; and SIGTERM while
/// it waits stops the controller at once (it used to wait for in-flight decryption).
#[tokio::test]
async fn slow_secrets_are_cut_at_the_timeout_and_do_not_hold_shutdown() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("hostile-slow").await.unwrap();
    install_crd(&client).await;
    install_sync_crds(&client).await;
    // The kernel completes the handshake; nothing ever reads or answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let vault = format!("http://{}", silent.local_addr().unwrap());

    let git = GitServer::start().await.unwrap();
    let repo = git.create_repo("slow", None).unwrap();
    repo.write(
        "refs/db.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: refs\n  annotations:\n    lockstep.dev/resolve: enabled\nstringData:\n  password: ref+vault://secret/slow#password\n",
    )
    .unwrap();
    repo.commit("slow").unwrap();
    let keys: Secret = serde_json::from_value(json!({
        "metadata": {"name": "keys"},
        "stringData": {"sops.vault-token": "not-a-real-token", "vault.address": vault},
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), &ns)
        .create(&PostParams::default(), &keys)
        .await
        .unwrap();

    let controller = Controller::start_syncing_as(plane, &ns, &capped_controller(), &[]).await;
    create_lockstep(
        &client,
        &ns,
        "GitSource",
        json!({"metadata": {"name": "slow"}, "spec": {"url": repo.git_url().unwrap(), "interval": "1m"}}),
    )
    .await;
    create_lockstep(
        &client,
        &ns,
        "Sync",
        json!({"metadata": {"name": "slow"}, "spec": {
            "sourceRef": {"name": "slow"}, "path": "refs", "interval": "1m",
            "retryInterval": "1s", "timeout": "2s",
            "decryption": {"provider": "sops", "secretRef": {"name": "keys"}},
        }}),
    )
    .await;

    let (reason, message) = failed_past_source(&client, &ns, "slow").await;
    assert_eq!(reason, "DecryptionFailed", "{message}");
    assert!(
        message.contains("took longer than the timeout (2s)"),
        "{message}"
    );

    // It retries every second and waits up to 2 s each time: SIGTERM finds one in flight.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert!(
        controller.terminate(Duration::from_secs(5)).await,
        "the controller did not exit within 5 s of SIGTERM:\n{}",
        controller.log()
    );
    drop(silent);
}

/// A GitSource whose server accepts the connection and never answers, with an hour to
/// fetch in: SIGTERM while the fetch waits stops the controller within `--shutdown-grace`
/// instead of holding it (kube-runtime waits for every reconcile in flight).
#[tokio::test]
async fn a_silent_git_server_does_not_hold_shutdown() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("hostile-silent-git").await.unwrap();
    install_crd(&client).await;
    install_sync_crds(&client).await;
    // The kernel completes the handshake; nothing ever reads or answers.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/repo.git", silent.local_addr().unwrap());

    let controller = Controller::start_syncing(plane, &ns, &["--shutdown-grace=2s"]).await;
    create_lockstep(
        &client,
        &ns,
        "GitSource",
        json!({"metadata": {"name": "silent"},
               "spec": {"url": url, "interval": "1h", "timeout": "1h"}}),
    )
    .await;
    // The fetch is in flight.
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(
        controller.terminate(Duration::from_secs(10)).await,
        "the controller did not exit within 10 s of SIGTERM:\n{}",
        controller.log()
    );
    assert!(
        controller.log().contains("--shutdown-grace"),
        "the exit does not say why:\n{}",
        controller.log()
    );
    drop(silent);
}
