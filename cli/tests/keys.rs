//! `lockstep keys` against the real apiserver and our controller: list with the
//! repository's usage, renew through the controller, retire refused while needed and
//! honoured by the running controller at once; backup restored into a fresh control plane
//! whose controller then unseals everything.

// Shared with the rotation tests; this file uses part of it.
#[allow(dead_code)]
use crate::rotate_support;

// The harness allows its own unused items (each test binary uses a part of it).
use crate::support;

use std::path::Path;
use std::process::Output;

use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, ListParams, ObjectMeta, PostParams};
use lockstep_keys::sealing::{Certificate, SealingPublicKey};
use lockstep_sealed::manifest::{self, Format};
use lockstep_sealed::{Scope, SealOptions, SecretData, SecretInput, SecretValue, seal};
use lockstep_testenv::{ControlPlane, ControlPlaneOptions, need};
use rotate_support::{CANARY, Identity, lockstep};
use support::{Controller, create_sealed, install_crd, secret, synced, value};

const SCOPES: [Scope; 3] = [Scope::Strict, Scope::NamespaceWide, Scope::ClusterWide];

/// `count` SealedSecrets of every scope sealed to `key`, one YAML file each, under `dir`.
fn write_sealed(dir: &Path, namespace: &str, key: &SealingPublicKey, count: usize) {
    for i in 0..count {
        let input = SecretInput {
            metadata: ObjectMeta {
                name: Some(format!("k{i}")),
                namespace: Some(namespace.into()),
                ..ObjectMeta::default()
            },
            type_: Some("Opaque".into()),
            immutable: None,
            data: SecretData(
                [(
                    "password".to_owned(),
                    SecretValue::new(format!("{CANARY}-{i}").into_bytes()),
                )]
                .into(),
            ),
        };
        let options = SealOptions::default().with_scope(Some(SCOPES[i % 3]));
        let sealed = seal(input, key, &options).unwrap();
        let text = manifest::sealed_secrets_to_string(&[sealed], Format::Yaml).unwrap();
        std::fs::write(dir.join(format!("k{i}.yaml")), text).unwrap();
    }
}

fn run(dir: &Path, kubeconfig: &Path, args: &[&str]) -> Output {
    lockstep(dir, &[("KUBECONFIG", kubeconfig.to_str().unwrap())], args)
        .output()
        .unwrap()
}

fn ok(out: Output, what: &str) -> String {
    rotate_support::ok(out, what)
}

fn fails(out: Output, what: &str) -> String {
    assert!(!out.status.success(), "{what} should fail");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// `(secret, state, count)` of every line of `keys list`.
fn rows(list: &str) -> Vec<(String, String, String)> {
    list.lines()
        .skip(1)
        .map(|l| {
            let cols: Vec<&str> = l.split_whitespace().collect();
            let state = cols[3..cols.len() - 1].join(" ");
            (cols[0].to_owned(), state, cols[cols.len() - 1].to_owned())
        })
        .collect()
}

fn git_init(dir: &Path) {
    let status = std::process::Command::new("git")
        .args(["init", "-q"])
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(status.success());
}

/// `seal` without `--cert` where no controller Service is: kubeseal's advice (the Service,
/// the flags that name it, `--cert`), not kube-rs' Debug dump of the Status (UX review D1).
#[tokio::test(flavor = "multi_thread")]
async fn seal_names_a_missing_controller_service_and_the_flags() {
    let plane = need!(ControlPlane::shared().await);
    let (_client, ns) = plane.namespace("noctl").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("s.yaml");
    std::fs::write(
        &secret,
        format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: s, namespace: {ns}}}\nstringData: {{a: {CANARY}}}\n"),
    )
    .unwrap();
    let args = [
        "seal",
        "--controller-namespace",
        &ns,
        "-f",
        secret.to_str().unwrap(),
    ];
    let err = fails(run(dir.path(), plane.kubeconfig_path(), &args), "seal");
    assert!(
        err.contains(&format!(
            "cannot get sealed secret service {ns}/sealed-secrets-controller: not found"
        )),
        "{err}"
    );
    assert!(
        err.contains("--controller-name and --controller-namespace"),
        "{err}"
    );
    assert!(err.contains("--cert"), "{err}");
    assert!(!err.contains("Status {"), "{err}");
    assert!(!err.contains(CANARY), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn list_renew_and_retire_with_the_controller() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("keys").await.unwrap();
    install_crd(&client).await;
    let controller = Controller::start(plane, &ns).await;
    let first = Certificate::from_pem(controller.cert().await.as_bytes()).unwrap();
    let repo = tempfile::tempdir().unwrap();
    git_init(repo.path());
    write_sealed(repo.path(), &ns, first.public_key(), 6);
    let old_sealed = std::fs::read_to_string(repo.path().join("k0.yaml")).unwrap();
    let kc = plane.kubeconfig_path();
    let dir = repo.path();

    let list = ok(run(dir, kc, &["keys", "list", "-n", &ns]), "keys list");
    let r = rows(&list);
    assert_eq!(r.len(), 1, "{list}");
    assert_eq!(
        (r[0].1.as_str(), r[0].2.as_str()),
        ("active, sealing", "6"),
        "{list}"
    );
    let old = r[0].0.clone();
    assert!(list.contains(first.public_key().fingerprint()), "{list}");

    // renew: the controller makes a key and seals with it (even within the first key's
    // second: keys are ordered by NotBefore, in whole seconds).
    let renew = ["keys", "renew", "-n", &ns, "--timeout", "90s"];
    let renewed = ok(run(dir, kc, &renew), "keys renew");
    let new = renewed.split('\t').next().unwrap().to_owned();
    assert_ne!(new, old);
    support::eventually("the controller to seal with the new key", async || {
        controller.cert().await != first.to_pem()
    })
    .await;
    let list = ok(run(dir, kc, &["keys", "list", "-n", &ns]), "keys list");
    let r = rows(&list);
    assert_eq!(r.len(), 2, "{list}");
    assert_eq!(r[0], (old.clone(), "active".into(), "6".into()), "{list}");
    assert_eq!(
        r[1],
        (new.clone(), "active, sealing".into(), "0".into()),
        "{list}"
    );
    // The same, for scripts: `-o json`, as `get` and `history` print.
    let json = ok(
        run(dir, kc, &["keys", "list", "-n", &ns, "-o", "json"]),
        "keys list -o json",
    );
    let listed: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(listed[0]["secret"], old.as_str(), "{json}");
    assert_eq!(listed[0]["sealedSecrets"], 6, "{json}");
    assert_eq!(listed[1]["state"], "active, sealing", "{json}");
    assert!(
        listed[1]["fingerprint"]
            .as_str()
            .unwrap()
            .starts_with("SHA256:"),
        "{json}"
    );

    // retire: refused for the sealing key and while SealedSecrets need the old one.
    let err = fails(
        run(dir, kc, &["keys", "retire", "-n", &ns, &new]),
        "retire newest",
    );
    assert!(err.contains("keys renew"), "{err}");
    let err = fails(
        run(dir, kc, &["keys", "retire", "-n", &ns, &old]),
        "retire used",
    );
    assert!(err.contains("still sealed 6 SealedSecret(s)"), "{err}");

    // After re-sealing, the old key retires and the running controller drops it.
    let url = format!("http://127.0.0.1:{}", controller.api_port);
    ok(
        run(dir, kc, &["rotate", "--yes", "--controller-url", &url]),
        "rotate",
    );
    assert_eq!(controller.post("/v1/verify", &old_sealed).await.status, 200);
    let fingerprint = first.public_key().fingerprint().to_owned();
    ok(
        run(dir, kc, &["keys", "retire", "-n", &ns, &fingerprint]),
        "retire",
    );
    let list = ok(run(dir, kc, &["keys", "list", "-n", &ns]), "keys list");
    let r = rows(&list);
    assert_eq!(
        r[0],
        (old, "retired (compromised)".into(), "0".into()),
        "{list}"
    );
    assert_eq!(r[1].2, "6", "{list}");
    support::eventually("the controller to drop the retired key", async || {
        controller.post("/v1/verify", &old_sealed).await.status == 409
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn backup_restored_into_a_fresh_control_plane_unseals_everything() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("backup").await.unwrap();
    install_crd(&client).await;
    let controller = Controller::start(plane, &ns).await;
    let cert = controller.cert().await;
    let sealing = Certificate::from_pem(cert.as_bytes()).unwrap();
    let repo = tempfile::tempdir().unwrap();
    write_sealed(repo.path(), &ns, sealing.public_key(), 21);
    let dir = repo.path();
    let id = Identity::new(dir, "backup-id");

    let backup = dir.join("keys.age");
    let backup_arg = backup.to_str().unwrap();
    ok(
        run(
            dir,
            plane.kubeconfig_path(),
            &[
                "keys",
                "backup",
                "-n",
                &ns,
                "--age",
                &id.recipient,
                "-o",
                backup_arg,
            ],
        ),
        "keys backup",
    );
    let text = std::fs::read_to_string(&backup).unwrap();
    assert!(
        text.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"),
        "{text}"
    );
    assert!(!text.contains("PRIVATE KEY") && !text.contains("tls.key"));
    drop(controller);

    // import: the same keys as plaintext Secrets (kubectl's `-o json`) into another namespace.
    let (_, other) = plane.namespace("import").await.unwrap();
    let api: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let listed = api
        .list(&ListParams::default().labels("sealedsecrets.bitnami.com/sealed-secrets-key"))
        .await
        .unwrap();
    let plain = dir.join("keys.json");
    let list = serde_json::json!({"apiVersion": "v1", "kind": "List", "items": listed.items});
    std::fs::write(&plain, serde_json::to_vec(&list).unwrap()).unwrap();
    let kc = plane.kubeconfig_path();
    ok(
        run(
            dir,
            kc,
            &["keys", "import", "-n", &other, plain.to_str().unwrap()],
        ),
        "keys import",
    );
    let imported = ok(run(dir, kc, &["keys", "list", "-n", &other]), "keys list");
    assert!(
        imported.contains(sealing.public_key().fingerprint()),
        "{imported}"
    );
    ok(
        run(
            dir,
            kc,
            &["keys", "import", "-n", &other, plain.to_str().unwrap()],
        ),
        "import again",
    );

    // A fresh control plane: restore first, then the controller loads what it finds.
    let fresh = need!(ControlPlane::start(ControlPlaneOptions::default()).await);
    let client2 = fresh.client().await.unwrap();
    let namespaces: Api<Namespace> = Api::all(client2.clone());
    let namespace = Namespace {
        metadata: ObjectMeta {
            name: Some(ns.clone()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    namespaces
        .create(&PostParams::default(), &namespace)
        .await
        .unwrap();
    install_crd(&client2).await;
    let wrong = Identity::new(dir, "wrong");
    let err = fails(
        run(
            dir,
            fresh.kubeconfig_path(),
            &[
                "keys",
                "restore",
                "-n",
                &ns,
                "-i",
                wrong.file.to_str().unwrap(),
                backup_arg,
            ],
        ),
        "restore with the wrong identity",
    );
    assert!(err.contains("none of the identities"), "{err}");
    ok(
        run(
            dir,
            fresh.kubeconfig_path(),
            &[
                "keys",
                "restore",
                "-n",
                &ns,
                "-i",
                id.file.to_str().unwrap(),
                backup_arg,
            ],
        ),
        "keys restore",
    );
    let restored = Controller::start(&fresh, &ns).await;
    assert_eq!(restored.cert().await, cert, "the restored key seals");
    for i in 0..21 {
        let bytes = std::fs::read(dir.join(format!("k{i}.yaml"))).unwrap();
        let sealed = manifest::parse_sealed_secret(&bytes).unwrap();
        create_sealed(&client2, &ns, serde_json::to_value(&sealed).unwrap()).await;
    }
    for i in 0..21 {
        let name = format!("k{i}");
        let (status, message) = synced(&client2, &ns, &name).await;
        assert_eq!(status, "True", "{name}: {message}");
        let secret = secret(&client2, &ns, &name).await;
        assert_eq!(value(&secret, "password"), format!("{CANARY}-{i}"));
    }
}

/// `--kubeconfig` and `--context` pick the cluster, as for `seal`, `diff` and `apply`
/// (issue 12: `lockstep keys` only read `KUBECONFIG`). The file's current context points
/// at a closed port, so only `--context` reaches the API server.
#[tokio::test(flavor = "multi_thread")]
async fn kubeconfig_and_context_flags_pick_the_cluster() {
    let plane = need!(ControlPlane::shared().await);
    let (_client, ns) = plane.namespace("keys-flags").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut config = kube::config::Kubeconfig::read_from(plane.kubeconfig_path()).unwrap();
    let live = config.contexts[0].name.clone();
    let mut dead_cluster = config.clusters[0].clone();
    dead_cluster.name = "dead".into();
    dead_cluster.cluster.as_mut().unwrap().server = Some("https://127.0.0.1:1".into());
    let mut dead = config.contexts[0].clone();
    dead.name = "dead".into();
    dead.context.as_mut().unwrap().cluster = "dead".into();
    config.clusters.push(dead_cluster);
    config.contexts.push(dead);
    config.current_context = Some("dead".into());
    let file = dir.path().join("kubeconfig.json");
    std::fs::write(&file, serde_json::to_vec(&config).unwrap()).unwrap();
    let file = file.to_str().unwrap();
    let list = |extra: &[&str]| {
        let mut args = vec![
            "keys",
            "list",
            "-n",
            &ns,
            "--repo",
            ".",
            "--kubeconfig",
            file,
        ];
        args.extend_from_slice(extra);
        lockstep(dir.path(), &[("KUBECONFIG", "/nonexistent")], &args)
            .output()
            .unwrap()
    };
    let listed = ok(list(&["--context", &live]), "keys list --context");
    assert!(listed.starts_with("SECRET"), "{listed}");
    // The flags go after the subcommand too (they are global to `keys`).
    let err = fails(list(&[]), "keys list with the dead current context");
    assert!(
        err.contains("127.0.0.1:1") || err.contains("onnect"),
        "{err}"
    );
}
