//! Each way secrets can fail — the decryption Secret missing, a wrong age key, a tampered
//! file, Vault sealed (for a SOPS file and for a reference) or down, KMS denying — fails only its
//! own Sync, keeps what it applied before, and recovers by itself once fixed; and a Sync
//! cannot decrypt with a Secret of another namespace.

use k8s_openapi::api::core::v1::{Event, Secret};
use kube::api::{Api, ListParams};
use lockstep_testenv::{Canaries, ControlPlane, Relay, need};

use crate::support::create_lockstep;

use super::{AWS_TEST, ONLY_DATA, Scene, put_secret, secret_yaml};

/// The Syncs that get broken: `(name, reason, what the message must name)`.
const BROKEN: [(&str, &str, &[&str]); 7] = [
    (
        "missing",
        "DecryptionFailed",
        &["keys-missing", "not found"],
    ),
    ("wrong", "DecryptionFailed", &["wrong/db.yaml", "age1"]),
    ("tampered", "DecryptionFailed", &["tampered/db.yaml", "MAC"]),
    ("vault", "DecryptionFailed", &["vault/db.yaml", "sealed"]),
    (
        "refs",
        "ReferenceFailed",
        &["password", "ref+vault://secret/e2e/refs#password"],
    ),
    ("kms", "DecryptionFailed", &["kms/db.yaml", "arn:aws:kms"]),
    ("down", "DecryptionFailed", &["down/db.yaml", "unreachable"]),
];

/// Every Sync that works until it is broken.
const SYNCS: [&str; 8] = [
    "healthy", "missing", "wrong", "tampered", "vault", "refs", "kms", "down",
];

fn value(sync: &str, version: u8) -> String {
    format!("e2e-failure-{sync}-v{version}-83b1e6f0a4d2")
}

/// Writes every Sync's folder with values of `version` (but for the value in Vault, see
/// [`write_vault`]).
fn write_all(s: &Scene, relay: &Relay, recipient: &str, version: u8) {
    let age = ["--age", recipient];
    for sync in ["healthy", "missing", "wrong", "tampered"] {
        s.write_encrypted(
            &format!("{sync}/db.yaml"),
            &secret_yaml(sync, "password", &value(sync, version)),
            &[&ONLY_DATA[..], &age].concat(),
        );
    }
    s.write_encrypted(
        "vault/db.yaml",
        &secret_yaml("vault", "password", &value("vault", version)),
        &[&ONLY_DATA[..], &["--hc-vault-transit", &s.transit]].concat(),
    );
    s.write_encrypted(
        "down/db.yaml",
        &secret_yaml("down", "password", &value("down", version)),
        &[
            &ONLY_DATA[..],
            &[
                "--hc-vault-transit",
                &format!("{}/v1/transit/keys/sops", relay.url()),
            ],
        ]
        .concat(),
    );
    s.write_encrypted(
        "kms/db.yaml",
        &secret_yaml("kms", "password", &value("kms", version)),
        &[&ONLY_DATA[..], &["--kms", &s.arn]].concat(),
    );
    s.repo
        .write(
            "refs/db.yaml",
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: refs\n  annotations:\n    lockstep.dev/resolve: enabled\n    lockstep.dev/refresh-interval: 2s\n    version: \"{version}\"\nstringData:\n  password: ref+vault://secret/e2e/refs#password\n"
            ),
        )
        .unwrap();
}

/// Writes the `refs` Sync's value of `version` to Vault KV.
async fn write_vault(s: &Scene, version: u8) {
    let kv = serde_json::json!({"data": {"password": value("refs", version)}}).to_string();
    s.vault.post("/v1/secret/data/e2e/refs", &kv).await.unwrap();
}

#[tokio::test(flavor = "multi_thread")]
async fn each_failure_stops_only_its_sync_and_recovers_once_fixed() {
    let plane = need!(ControlPlane::shared().await);
    let Some(s) = Scene::start(plane, "e2e-secrets-fail", "text").await else {
        return;
    };
    let (recipient, identity) = lockstep_testenv::age_keygen().unwrap();
    let (_, stranger) = lockstep_testenv::age_keygen().unwrap();
    let good: Vec<(&str, &[u8])> = vec![
        ("team.agekey", identity.as_bytes()),
        ("sops.vault-token", s.vault.token().as_bytes()),
        ("sops.aws-kms", AWS_TEST),
        ("vault.address", s.vault.addr().as_bytes()),
    ];
    let (foreign_id, foreign_secret) = s.kms.foreign_credentials().await.unwrap();
    let foreign_kms =
        format!("aws_access_key_id: {foreign_id}\naws_secret_access_key: {foreign_secret}\n");

    let vault_port = s.vault.addr().rsplit(':').next().unwrap().parse().unwrap();
    let relay = Relay::start(vault_port).await.unwrap();
    write_all(&s, &relay, &recipient, 1);
    write_vault(&s, 1).await;
    let first = s.repo.commit("v1").unwrap();
    for keys in ["keys", "keys-missing", "keys-wrong", "keys-kms"] {
        s.put_secret(keys, &good).await;
    }
    // The Vault behind the relay is the one this Sync names: its token goes nowhere else.
    let relay_url = relay.url();
    let relayed: Vec<(&str, &[u8])> = vec![
        ("sops.vault-token", s.vault.token().as_bytes()),
        ("vault.address", relay_url.as_bytes()),
    ];
    s.put_secret("keys-down", &relayed).await;
    // Tenancy: a Secret of this name exists, with working keys, only in another namespace.
    let (_, other_ns) = plane.namespace("e2e-secrets-other").await.unwrap();
    put_secret(&s.client, &other_ns, "foreign-keys", &good).await;
    s.source().await;
    for sync in ["healthy", "tampered", "vault", "refs"] {
        s.sync(sync, sync, "keys").await;
    }
    for sync in ["missing", "wrong", "kms", "down"] {
        s.sync(sync, sync, &format!("keys-{sync}")).await;
    }
    s.sync("tenant", "healthy", "foreign-keys").await;
    // Naming the other namespace does not help: `secretRef` has no such field.
    let mut sneaky = s.sync_body("sneaky", "healthy", "foreign-keys");
    sneaky["spec"]["decryption"]["secretRef"]["namespace"] = other_ns.clone().into();
    create_lockstep(&s.client, &s.ns, "Sync", sneaky).await;
    for sync in SYNCS {
        s.applied(sync, &first).await;
        assert_eq!(s.value(sync, "password").await, value(sync, 1));
    }
    for sync in ["tenant", "sneaky"] {
        let (message, _) = s.failed(sync, "DecryptionFailed").await;
        let want = format!(
            "decryption Secret {}/foreign-keys not found (it must be in the Sync's namespace)",
            s.ns
        );
        assert!(message.contains(&want), "{message}");
    }

    // Break each one its own way, then commit v2 everywhere (a tampered file for one).
    write_all(&s, &relay, &recipient, 2);
    s.delete_secret("keys-missing").await;
    let wrong: Vec<(&str, &[u8])> = vec![("team.agekey", stranger.as_bytes())];
    s.put_secret("keys-wrong", &wrong).await;
    let denied: Vec<(&str, &[u8])> = vec![("sops.aws-kms", foreign_kms.as_bytes())];
    s.put_secret("keys-kms", &denied).await;
    s.vault.seal().await.unwrap();
    relay.down();
    let tampered = std::fs::read_to_string(s.repo.work_tree().join("tampered/db.yaml")).unwrap();
    assert!(tampered.contains("app: e2e"));
    s.repo
        .write(
            "tampered/db.yaml",
            tampered.replace("app: e2e", "app: evil"),
        )
        .unwrap();
    let second = s.repo.commit("v2, one file tampered").unwrap();

    let healthy = s.applied("healthy", &second).await;
    assert_eq!(s.value("healthy", "password").await, value("healthy", 2));
    let mut everything = vec![identity.clone(), stranger.clone(), foreign_secret.clone()];
    for (sync, reason, names) in BROKEN {
        let (message, status) = s.failed(sync, reason).await;
        eprintln!("Sync {sync}: {reason}: {message}");
        for name in names {
            assert!(message.contains(name), "Sync {sync}: {message}");
        }
        assert_eq!(
            status.last_applied_revision.as_deref(),
            Some(format!("main@sha1:{first}").as_str()),
            "Sync {sync} keeps its last applied revision"
        );
        assert_eq!(status.inventory.len(), 1, "Sync {sync} pruned nothing");
        assert_eq!(
            s.value(sync, "password").await,
            value(sync, 1),
            "Sync {sync}: the previous Secret stays"
        );
        everything.extend([value(sync, 1), value(sync, 2)]);
    }
    assert_eq!(healthy.inventory.len(), 1);
    let secrets: Api<Secret> = Api::namespaced(s.client.clone(), &s.ns);
    assert!(secrets.get_opt("healthy").await.unwrap().is_some());
    let canaries = Canaries::new(everything);
    for sync in SYNCS.iter().chain(&["tenant", "sneaky"]) {
        let status = serde_json::to_string(&s.status(sync).await).unwrap();
        canaries.assert_absent(&format!("status of Sync {sync}"), &status);
    }

    // Fix each cause; every Sync recovers by itself (the tampered one with a new commit).
    s.put_secret("keys-missing", &good).await;
    s.put_secret("keys-wrong", &good).await;
    s.put_secret("keys-kms", &good).await;
    s.vault.unseal().await.unwrap();
    relay.up().await.unwrap();
    write_vault(&s, 2).await;
    s.write_encrypted(
        "tampered/db.yaml",
        &secret_yaml("tampered", "password", &value("tampered", 2)),
        &[&ONLY_DATA[..], &["--age", &recipient]].concat(),
    );
    let third = s.repo.commit("tampered file re-encrypted").unwrap();
    for sync in SYNCS {
        s.applied(sync, &third).await;
        assert_eq!(s.value(sync, "password").await, value(sync, 2), "{sync}");
    }
    s.failed("tenant", "DecryptionFailed").await;
    s.failed("sneaky", "DecryptionFailed").await;
    let log = s.controller.log();
    assert!(log.contains("TRACE"), "the controller logged text at trace");
    canaries.assert_absent("the controller log", &log);
    let events: Api<Event> = Api::namespaced(s.client.clone(), &s.ns);
    let events = events.list(&ListParams::default()).await.unwrap();
    canaries.assert_absent("events", &serde_json::to_string(&events).unwrap());
    canaries.assert_absent_in_files(s.controller.workdir());
    canaries.assert_absent_in_files(&s.artifacts);
}
