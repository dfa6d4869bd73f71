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

/// Runs `program args` with `stdin` and `KUBECONFIG`, returning whether it succeeded, stdout
/// and stderr.
fn run_kube(
    program: &Path,
    args: &[&str],
    kubeconfig: &Path,
    stdin: &[u8],
) -> (bool, Vec<u8>, String) {
    let mut child = Command::new(program)
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    (output.status.success(), output.stdout, stderr)
}

/// `--fetch-cert`, sealing without `--cert`, `--validate` and `--re-encrypt` reach the
/// controller the way kubeseal does, through the API server's service proxy — and kubeseal
/// itself gets the same certificate and validation answers from our controller.
#[tokio::test]
async fn seal_flags_reach_the_controller_through_the_service_proxy() {
    use lockstep_testenv::service;
    let kubeseal = need!(tool("kubeseal"));
    let plane = need!(ControlPlane::shared().await);
    let Some(host_ip) = service::need_host_ip() else {
        return;
    };
    let (client, ns) = plane.namespace("e2e-proxy").await.unwrap();
    install_crd(&client).await;
    let controller = Controller::start_listening(plane, &ns, "0.0.0.0", &["--sync=false"]).await;
    let target = std::net::SocketAddr::new(host_ip, controller.api_port);
    service::expose(
        &client,
        &ns,
        "sealed-secrets-controller",
        "http",
        target,
        "/healthz",
    )
    .await
    .unwrap();
    let lockstep = crate::built_binary("lockstep");
    let kubeconfig = plane.kubeconfig_path();
    let at = ["--controller-namespace", ns.as_str()];
    let with = |args: &[&'static str]| -> Vec<String> {
        args.iter()
            .map(|a| (*a).to_owned())
            .chain(at.iter().map(|a| (*a).to_string()))
            .collect()
    };
    let call = |program: &Path, args: &[String], stdin: &[u8]| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_kube(program, &args, kubeconfig, stdin)
    };

    // Both tools fetch the certificate the controller serves.
    let served = controller.cert().await;
    for program in [&lockstep, &kubeseal] {
        let subcommand: &[&'static str] = if program == &lockstep { &["seal"] } else { &[] };
        let args = with(&[subcommand, &["--fetch-cert"]].concat());
        let (ok, cert, stderr) = call(program, &args, b"");
        assert!(ok, "{}: {stderr}", program.display());
        assert_eq!(String::from_utf8(cert).unwrap(), served);
    }
    // A Service that does not exist is a clean error naming it.
    let (ok, _, stderr) = call(
        &lockstep,
        &with(&["seal", "--fetch-cert", "--controller-name", "nope"]),
        b"",
    );
    assert!(!ok && stderr.contains("nope"), "{stderr}");

    // Sealing without --cert uses the fetched certificate; the controller unseals the result.
    let plain = serde_json::json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "proxied", "namespace": ns},
        "stringData": {"token": "canary-proxy-token"},
    });
    let (ok, sealed, stderr) = call(
        &lockstep,
        &with(&["seal", "-o", "json"]),
        plain.to_string().as_bytes(),
    );
    assert!(ok, "{stderr}");

    // --validate: ours and kubeseal's accept it; a SealedSecret for another name is refused.
    for program in [&lockstep, &kubeseal] {
        let subcommand: &[&'static str] = if program == &lockstep { &["seal"] } else { &[] };
        let (ok, _, stderr) = call(
            program,
            &with(&[subcommand, &["--validate"]].concat()),
            &sealed,
        );
        assert!(ok, "{}: {stderr}", program.display());
    }
    let mut moved: serde_json::Value = serde_json::from_slice(&sealed).unwrap();
    moved["metadata"]["name"] = "elsewhere".into();
    let (ok, _, stderr) = call(
        &lockstep,
        &with(&["seal", "--validate"]),
        moved.to_string().as_bytes(),
    );
    assert!(!ok, "a moved strict SealedSecret must not validate");
    assert!(
        stderr.contains("unable to decrypt sealed secret"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("canary"),
        "plaintext in an error: {stderr}"
    );

    // --re-encrypt after a key renewal: new ciphertext, same Secret once unsealed.
    controller.renew_key();
    crate::support::eventually("a new certificate", async || {
        controller.cert().await != served
    })
    .await;
    let (ok, resealed, stderr) = call(
        &lockstep,
        &with(&["seal", "--re-encrypt", "-o", "yaml"]),
        &sealed,
    );
    assert!(ok, "{stderr}");
    let resealed: serde_json::Value = serde_saphyr::from_slice(&resealed).unwrap();
    let before: serde_json::Value = serde_json::from_slice(&sealed).unwrap();
    assert_eq!(resealed["metadata"]["name"], "proxied");
    assert!(resealed["metadata"]["creationTimestamp"].is_null());
    assert_ne!(
        resealed["spec"]["encryptedData"]["token"],
        before["spec"]["encryptedData"]["token"]
    );
    // Only the new key opens the re-encrypted one, and it does not open the original.
    let newest = controller.cert().await;
    let keys: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let selector = "sealedsecrets.bitnami.com/sealed-secrets-key";
    let new_key = keys
        .list(&ListParams::default().labels(selector))
        .await
        .unwrap()
        .items
        .into_iter()
        .find(|k| k.data.as_ref().unwrap()["tls.crt"].0 == newest.as_bytes())
        .expect("the new key Secret");
    let dir = tempfile::tempdir().unwrap();
    let key_path = dir.path().join("new-key.json");
    std::fs::write(&key_path, serde_json::to_vec(&new_key).unwrap()).unwrap();
    let unseal = [
        "unseal",
        "--recovery-private-key",
        key_path.to_str().unwrap(),
        "-o",
        "json",
    ];
    let opened = run(&lockstep, &unseal, resealed.to_string().as_bytes());
    let opened: Secret = serde_json::from_slice(&opened).unwrap();
    assert_eq!(value(&opened, "token"), "canary-proxy-token");
    let (ok, _, _) = run_kube(&lockstep, &unseal, kubeconfig, &sealed);
    assert!(!ok, "the original was sealed to the old key");
}
