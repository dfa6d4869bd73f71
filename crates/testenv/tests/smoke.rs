//! Proof that each server of the test environment is the real thing: every test drives a
//! feature only the real server has (server-side apply's managed fields, a controller
//! updating status, Vault's transit engine, KMS encryption contexts, the git protocol).

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use base64::Engine as _;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use lockstep_testenv::{ControlPlane, GitServer, Kms, Vault, need, tool};

const FIELD_MANAGER: &str = "lockstep";

#[tokio::test]
async fn apiserver_server_side_apply_records_our_field_manager() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("smoke-ssa").await.unwrap();
    let configmaps: Api<ConfigMap> = Api::namespaced(client, &ns);
    let desired = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": "settings"},
        "data": {"greeting": "hello"},
    });
    let params = PatchParams::apply(FIELD_MANAGER).force();
    configmaps
        .patch("settings", &params, &Patch::Apply(&desired))
        .await
        .unwrap();

    let live = configmaps.get("settings").await.unwrap();
    assert_eq!(live.data.unwrap()["greeting"], "hello");
    let managed = live.metadata.managed_fields.unwrap();
    let ours = managed
        .iter()
        .find(|entry| entry.manager.as_deref() == Some(FIELD_MANAGER))
        .expect("an entry for our field manager");
    assert_eq!(ours.operation.as_deref(), Some("Apply"));
    let fields = serde_json::to_string(&ours.fields_v1).unwrap();
    assert!(fields.contains("f:greeting"), "managed fields: {fields}");
}

#[tokio::test]
async fn controller_manager_updates_deployment_status() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("smoke-deploy").await.unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client, &ns);
    let desired = serde_json::json!({
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": "idle"},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": {"app": "idle"}},
            "template": {
                "metadata": {"labels": {"app": "idle"}},
                "spec": {"containers": [{"name": "idle", "image": "registry.invalid/idle:1"}]},
            },
        },
    });
    deployments
        .patch(
            "idle",
            &PatchParams::apply(FIELD_MANAGER),
            &Patch::Apply(&desired),
        )
        .await
        .unwrap();

    // Only the deployment controller writes status; the API server alone never does.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let live = deployments.get("idle").await.unwrap();
        let status = live.status.unwrap_or_default();
        let available = status
            .conditions
            .unwrap_or_default()
            .into_iter()
            .any(|c| c.type_ == "Available" && c.status == "True");
        if status.observed_generation == Some(1) && available {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "deployment status never updated; logs in {}",
            plane.logs().path().display()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn openbao_serves_kv_v2_and_transit() {
    use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};
    let vault = need!(Vault::start().await);
    let settings = VaultClientSettingsBuilder::default()
        .address(vault.addr())
        .token(vault.token())
        .build()
        .unwrap();
    let client = VaultClient::new(settings).unwrap();

    let written = std::collections::HashMap::from([("password", "canary-kv-value")]);
    vaultrs::kv2::set(&client, "secret", "smoke/db", &written)
        .await
        .unwrap();
    let read: std::collections::HashMap<String, String> =
        vaultrs::kv2::read(&client, "secret", "smoke/db")
            .await
            .unwrap();
    assert_eq!(read["password"], "canary-kv-value");

    vaultrs::transit::key::create(&client, "transit", "smoke", None)
        .await
        .unwrap();
    let plaintext = base64::engine::general_purpose::STANDARD.encode(b"canary-transit");
    let encrypted = vaultrs::transit::data::encrypt(&client, "transit", "smoke", &plaintext, None)
        .await
        .unwrap();
    assert!(
        encrypted.ciphertext.starts_with("vault:v1:"),
        "{}",
        encrypted.ciphertext
    );
    let decrypted =
        vaultrs::transit::data::decrypt(&client, "transit", "smoke", &encrypted.ciphertext, None)
            .await
            .unwrap();
    assert_eq!(decrypted.plaintext, plaintext);
}

#[tokio::test]
async fn moto_kms_enforces_the_encryption_context() {
    use aws_sdk_kms::primitives::Blob;
    let kms = need!(Kms::start().await);
    let key = kms.create_key().await.unwrap();
    assert!(key.starts_with("arn:aws:kms:"), "{key}");
    let client = aws_sdk_kms::Client::new(&kms.sdk_config().await);

    let encrypted = client
        .encrypt()
        .key_id(&key)
        .plaintext(Blob::new(b"canary-kms".to_vec()))
        .encryption_context("app", "lockstep")
        .send()
        .await
        .unwrap();
    let blob = encrypted.ciphertext_blob().unwrap().clone();

    let decrypted = client
        .decrypt()
        .ciphertext_blob(blob.clone())
        .encryption_context("app", "lockstep")
        .send()
        .await
        .unwrap();
    assert_eq!(decrypted.plaintext().unwrap().as_ref(), b"canary-kms");

    let mismatched = client
        .decrypt()
        .ciphertext_blob(blob)
        .encryption_context("app", "someone-else")
        .send()
        .await;
    assert!(mismatched.is_err(), "a mismatched context must be rejected");
}

#[tokio::test]
async fn gix_clones_from_git_daemon() {
    let git = need!(GitServer::start().await);
    let seed = tempfile::tempdir().unwrap();
    std::fs::write(seed.path().join("hello.yaml"), "kind: ConfigMap\n").unwrap();
    let repo = git.create_repo("smoke", Some(seed.path())).unwrap();
    repo.write("second.yaml", "kind: Secret\n").unwrap();
    let head = repo.commit("second file").unwrap();

    let url = repo.git_url().unwrap().to_owned();
    let dest = tempfile::tempdir().unwrap();
    let path = dest.path().to_owned();
    let cloned_head = tokio::task::spawn_blocking(move || {
        let interrupt = AtomicBool::new(false);
        let mut prepare = gix::prepare_clone(url.as_str(), &path).unwrap();
        let (mut checkout, _) = prepare
            .fetch_then_checkout(gix::progress::Discard, &interrupt)
            .unwrap();
        let (cloned, _) = checkout
            .main_worktree(gix::progress::Discard, &interrupt)
            .unwrap();
        cloned.head_id().unwrap().to_string()
    })
    .await
    .unwrap();

    assert_eq!(cloned_head, head);
    let second = std::fs::read_to_string(dest.path().join("second.yaml")).unwrap();
    assert_eq!(second, "kind: Secret\n");
}

#[test]
fn reference_tools_report_their_pinned_versions() {
    for (program, args, expected) in [
        (
            "sops",
            &["--version", "--disable-version-check"][..],
            "3.13.3",
        ),
        ("kubeseal", &["--version"][..], "0.36.6"),
        ("age", &["--version"][..], "1.1.1"),
    ] {
        let path = need!(tool(program));
        let output = std::process::Command::new(&path)
            .args(args)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&output.stdout).into_owned()
            + &String::from_utf8_lossy(&output.stderr);
        assert!(text.contains(expected), "{program} printed: {text}");
    }
}
