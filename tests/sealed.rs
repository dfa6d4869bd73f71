//! Sealed secrets across the CLI, the controller and the reference `kubeseal`: what
//! `lockstep seal` seals with the running controller's certificate is unsealed by the
//! controller, and the key Secrets backed up from the cluster recover it offline, with
//! `lockstep unseal` and with `kubeseal --recovery-unseal` alike.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams};
use lockstep_testenv::{ControlPlane, need, tool};

use crate::support::{Controller, create_sealed, install_crd, secret, value};

/// Runs `program args` with `stdin`, asserting success, and returns stdout.
fn run(program: &Path, args: &[&str], stdin: &[u8]) -> Vec<u8> {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{} {args:?}: {}",
        program.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    output.stdout
}

#[tokio::test]
async fn lockstep_seal_to_the_controller_then_recover_offline_with_both_tools() {
    let kubeseal = need!(tool("kubeseal"));
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("e2e-sealed").await.unwrap();
    install_crd(&client).await;
    let controller = Controller::start(plane, &ns).await;
    let lockstep = crate::built_binary("lockstep");

    // Seal with the certificate the running controller serves.
    let plain = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "api", "namespace": ns},
        "stringData": {"token": "canary-e2e-token"},
    });
    let cert_url = format!("http://127.0.0.1:{}/v1/cert.pem", controller.api_port);
    let sealed = run(
        &lockstep,
        &["seal", "--cert", &cert_url, "-o", "json"],
        plain.to_string().as_bytes(),
    );
    assert!(
        !String::from_utf8_lossy(&sealed).contains("canary"),
        "plaintext in the SealedSecret"
    );

    // The controller unseals it in the cluster.
    create_sealed(&client, &ns, serde_json::from_slice(&sealed).unwrap()).await;
    assert_eq!(
        value(&secret(&client, &ns, "api").await, "token"),
        "canary-e2e-token"
    );

    // Back up the key Secrets as the Bitnami docs say (`kubectl get secret -l … -o yaml`).
    let keys: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let selector = "sealedsecrets.bitnami.com/sealed-secrets-key";
    let list = keys
        .list(&ListParams::default().labels(selector))
        .await
        .unwrap();
    let backup = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": list.items});
    let dir = tempfile::tempdir().unwrap();
    let backup_path = dir.path().join("keys.json");
    std::fs::write(&backup_path, backup.to_string()).unwrap();
    let backup_arg = backup_path.to_str().unwrap();

    // Both tools recover the same Secret offline from that backup.
    let by_lockstep = run(
        &lockstep,
        &["unseal", "--recovery-private-key", backup_arg, "-o", "json"],
        &sealed,
    );
    let by_kubeseal = run(
        &kubeseal,
        &[
            "--recovery-unseal",
            "--recovery-private-key",
            backup_arg,
            "-o",
            "json",
        ],
        &sealed,
    );
    for recovered in [by_lockstep, by_kubeseal] {
        let recovered: Secret = serde_json::from_slice(&recovered).unwrap();
        assert_eq!(value(&recovered, "token"), "canary-e2e-token");
    }
}
