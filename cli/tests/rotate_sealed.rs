//! `lockstep rotate` on SealedSecrets: 100 SealedSecrets of every scope re-sealed online
//! through the real controller's `/v1/rotate` to its newest key and unsealed by it in the
//! real apiserver; offline with the private keys and a certificate; `--dry-run` leaves
//! them byte for byte.

// Shared with the SOPS rotation tests; this file uses part of it.
#[allow(dead_code)]
use crate::rotate_support;

// The harness allows its own unused items (each test binary uses a part of it).
use crate::support;

use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ListParams, ObjectMeta};
use lockstep_keys::sealing::{
    Certificate, GenerateOptions, RsaKeyBits, SealingKeyPair, SealingPrivateKey, SealingPublicKey,
};
use lockstep_sealed::manifest::{self, Format};
use lockstep_sealed::{
    Scope, SealOptions, SealedSecret, SecretData, SecretInput, SecretValue, parse_sealed_secrets,
    seal, sealing_key,
};
use lockstep_testenv::{ControlPlane, need};
use rotate_support::{CANARY, lockstep, ok, snapshot};
use support::{Controller, create_sealed, install_crd, secret, synced, value};

const SCOPES: [Scope; 3] = [Scope::Strict, Scope::NamespaceWide, Scope::ClusterWide];

fn input(namespace: &str, name: &str, i: usize) -> SecretInput {
    SecretInput {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".into()),
        immutable: None,
        data: SecretData(
            [
                ("password".to_owned(), format!("{CANARY}-{i}")),
                ("user".to_owned(), format!("user-{i}")),
            ]
            .into_iter()
            .map(|(k, v)| (k, SecretValue::new(v.into_bytes())))
            .collect(),
        ),
    }
}

/// Writes `count` SealedSecrets (all scopes, YAML and JSON, one file holding two) sealed
/// to `key`; returns the files.
fn write_sealed(dir: &Path, namespace: &str, key: &SealingPublicKey, count: usize) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut i = 0;
    while i < count {
        let mut docs = Vec::new();
        let n = if i % 10 == 9 && i + 1 < count { 2 } else { 1 };
        for j in i..i + n {
            let options = SealOptions::default().with_scope(Some(SCOPES[j % 3]));
            docs.push(seal(input(namespace, &format!("s{j}"), j), key, &options).unwrap());
        }
        let format = if i % 4 == 1 {
            Format::Json
        } else {
            Format::Yaml
        };
        let ext = if format == Format::Json {
            "json"
        } else {
            "yaml"
        };
        let path = dir.join(format!("sealed-{i}.{ext}"));
        std::fs::write(
            &path,
            manifest::sealed_secrets_to_string(&docs, format).unwrap(),
        )
        .unwrap();
        files.push(path);
        i += n;
    }
    files
}

fn read_all(files: &[PathBuf]) -> Vec<SealedSecret> {
    files
        .iter()
        .flat_map(|f| parse_sealed_secrets(&std::fs::read(f).unwrap()).unwrap())
        .collect()
}

fn pair() -> SealingKeyPair {
    SealingKeyPair::generate(&{
        let mut options = GenerateOptions::default();
        options.bits = RsaKeyBits::Rsa2048;
        options
    })
    .unwrap()
}

#[test]
fn offline_reseal_with_private_keys_and_a_certificate() {
    let (old, new) = (pair(), pair());
    let keys = tempfile::tempdir().unwrap();
    let key_file = keys.path().join("old.key");
    std::fs::write(&key_file, old.tls_key_pem().unwrap().as_bytes()).unwrap();
    let cert_file = keys.path().join("new.crt");
    std::fs::write(&cert_file, new.tls_crt_pem()).unwrap();
    let repo = tempfile::tempdir().unwrap();
    let files = write_sealed(repo.path(), "apps", old.certificate().public_key(), 30);
    let root = repo.path().to_str().unwrap();
    let offline = [
        "rotate",
        "--yes",
        "--recovery-private-key",
        key_file.to_str().unwrap(),
        "--cert",
        cert_file.to_str().unwrap(),
        root,
    ];

    let before = snapshot(repo.path());
    let mut dry = offline.to_vec();
    dry.insert(1, "--dry-run");
    let plan = ok(
        lockstep(repo.path(), &[], &dry).output().unwrap(),
        "dry run",
    );
    assert_eq!(plan.lines().count(), files.len(), "{plan}");
    assert_eq!(snapshot(repo.path()), before);

    // Without a way to re-seal, SealedSecrets are skipped, not failed.
    let out = lockstep(repo.path(), &[], &["rotate", "--yes", root])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("skipped"));
    assert_eq!(snapshot(repo.path()), before);

    ok(
        lockstep(repo.path(), &[], &offline).output().unwrap(),
        "offline rotate",
    );
    let keys = [old.private_key(), new.private_key()];
    let resealed = read_all(&files);
    assert_eq!(resealed.len(), 30);
    let originals: Vec<SealedSecret> = before
        .values()
        .flat_map(|b| parse_sealed_secrets(b).unwrap())
        .collect();
    for s in &resealed {
        assert_eq!(sealing_key(s, keys), Some(1), "{}", s.display_name());
        let was = originals
            .iter()
            .find(|o| o.metadata.name == s.metadata.name)
            .unwrap();
        assert_eq!(s.metadata, was.metadata);
        assert_eq!(s.scope(), was.scope());
    }
    let plain = lockstep_sealed::unseal(
        &resealed[0],
        &[SealingPrivateKey::from_pem(new.tls_key_pem().unwrap().as_bytes()).unwrap()],
    )
    .unwrap();
    assert!(
        String::from_utf8_lossy(plain.data.get("password").unwrap().expose_secret())
            .starts_with(CANARY)
    );

    // A key that opens nothing: every file fails, none changes, exit non-zero.
    let now = snapshot(repo.path());
    let out = lockstep(repo.path(), &[], &offline).output().unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("no key could decrypt secret"), "{stderr}");
    assert!(!stderr.contains(CANARY));
    assert_eq!(snapshot(repo.path()), now);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_scope_reseals_online_to_the_newest_key_and_unseals_in_the_cluster() {
    let plane = need!(ControlPlane::shared().await);
    let (client, namespace) = plane.namespace("rotate-sealed").await.unwrap();
    install_crd(&client).await;
    let controller = Controller::start(plane, &namespace).await;
    let first = Certificate::from_pem(controller.cert().await.as_bytes()).unwrap();
    let repo = tempfile::tempdir().unwrap();
    let files = write_sealed(repo.path(), &namespace, first.public_key(), 100);

    controller.renew_key();
    support::eventually("a new sealing key", async || {
        controller.cert().await != first.to_pem()
    })
    .await;
    let newest = Certificate::from_pem(controller.cert().await.as_bytes()).unwrap();

    let url = format!("http://127.0.0.1:{}", controller.api_port);
    let out = ok(
        lockstep(
            repo.path(),
            &[],
            &["rotate", "--yes", "--controller-url", &url, "."],
        )
        .output()
        .unwrap(),
        "rotate --controller-url",
    );
    assert_eq!(out.lines().count(), files.len(), "{out}");

    // Sealed to the newest key only: check with the controller's own key Secrets.
    let api: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let key_secrets = api
        .list(&ListParams::default().labels("sealedsecrets.bitnami.com/sealed-secrets-key"))
        .await
        .unwrap()
        .items;
    let private: Vec<SealingPrivateKey> = key_secrets
        .iter()
        .map(|s| SealingPrivateKey::from_pem(&s.data.as_ref().unwrap()["tls.key"].0).unwrap())
        .collect();
    assert_eq!(private.len(), 2);
    let newest_index = private
        .iter()
        .position(|k| k.public_key() == newest.public_key())
        .unwrap();
    let resealed = read_all(&files);
    assert_eq!(resealed.len(), 100);
    for s in &resealed {
        assert_eq!(
            sealing_key(s, &private),
            Some(newest_index),
            "{}",
            s.display_name()
        );
    }

    for s in &resealed {
        create_sealed(&client, &namespace, serde_json::to_value(s).unwrap()).await;
    }
    for (i, s) in resealed.iter().enumerate() {
        let name = s.metadata.name.as_deref().unwrap();
        let (status, message) = synced(&client, &namespace, name).await;
        assert_eq!(status, "True", "{name}: {message}");
        if i % 10 == 0 {
            let secret = secret(&client, &namespace, name).await;
            assert!(value(&secret, "password").starts_with(CANARY));
        }
    }
}
