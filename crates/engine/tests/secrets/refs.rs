//! Vault KV (v1, v2, pinned versions, AppRole login) and KMS references resolved into
//! Secrets; a rotated Vault value is picked up without a commit; failures name the Secret,
//! key and reference and never a value.

use std::time::Duration;

use lockstep_engine::keys::{Ambient, Keys};
use lockstep_engine::redact::Redactor;
use lockstep_engine::refs::{RefError, Resolver, refresh_interval};
use lockstep_keys::kms::Credentials;
use lockstep_keys::{KeyService, KmsKey, VaultAuth, VaultSource};
use lockstep_testenv::{Kms, Vault, need};
use secrecy::SecretString;
use serde_json::json;

use super::{Repo, all_text, assert_no_leak, find};

/// A KMS ciphertext of `plaintext` (what `aws kms encrypt` prints), made through moto.
async fn kms_encrypt(kms: &Kms, arn: &str, context: &[(&str, &str)], plaintext: &str) -> String {
    let key = KmsKey::new(arn)
        .unwrap()
        .with_context(context.iter().map(|(k, v)| (*k, *v)))
        .with_endpoint(kms.endpoint())
        .with_credentials(test_credentials());
    let plaintext = plaintext.as_bytes().to_vec();
    tokio::task::spawn_blocking(move || key.wrap_share(&plaintext).unwrap().0)
        .await
        .unwrap()
}

fn test_credentials() -> Credentials {
    Credentials::new("test", "test", None, None, "test")
}

fn keys(vault: &Vault, kms: &Kms) -> Keys {
    Keys::from_secret(
        [
            ("vault.address", vault.addr().as_bytes()),
            ("sops.vault-token", vault.token().as_bytes()),
            (
                "sops.aws-kms",
                b"aws_access_key_id: test\naws_secret_access_key: test\n".as_slice(),
            ),
        ],
        Ambient {
            kms_endpoint: Some(kms.endpoint().to_owned()),
            ..Ambient::none()
        },
    )
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn vault_kv2_kv1_and_kms_references_resolve_and_follow_a_rotation() {
    let vault = need!(Vault::start().await);
    let kms = need!(Kms::start().await);
    let Some(repo) = Repo::new(&[]) else { return };
    vault
        .post(
            "/v1/secret/data/app/db",
            r#"{"data": {"password": "canary-kv2-v1-4411"}}"#,
        )
        .await
        .unwrap();
    vault
        .post(
            "/v1/sys/mounts/kv1",
            r#"{"type": "kv", "options": {"version": "1"}}"#,
        )
        .await
        .unwrap();
    vault
        .post(
            "/v1/kv1/app",
            r#"{"user": "canary-kv1-8822", "port": 5432}"#,
        )
        .await
        .unwrap();
    let arn = kms.create_key().await.unwrap();
    let ciphertext = kms_encrypt(&kms, &arn, &[("app", "web")], "canary-kms-ref-6633").await;
    repo.write(
        "apps/db.yaml",
        &format!(
            "apiVersion: v1
kind: Secret
metadata:
  name: db
  annotations:
    lockstep.dev/resolve: enabled
    lockstep.dev/refresh-interval: 10m
stringData:
  password: ref+vault://secret/app/db#password
  first: ref+vault://secret/app/db?version=1#password
  user: ref+vault://kv1/app?kv=1#user
  port: ref+vault://kv1/app?kv=1#port
  api-key: ref+awskms://{ciphertext}?key={arn}&context=app:web
  plain: not-a-reference
"
        ),
    );
    repo.write(
        "apps/other.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: other}\nstringData: {x: 'ref+vault://secret/app/db#password'}\n",
    );
    let resolver = Resolver::from_keys(&keys(&vault, &kms)).unwrap();

    let mut manifests = repo.render("apps").manifests;
    assert_eq!(refresh_interval(&manifests), Some(Duration::from_secs(600)));
    let mut redactor = Redactor::new();
    let resolved = resolver
        .resolve(&mut manifests, &mut redactor)
        .await
        .unwrap();
    assert_eq!(resolved.len(), 5);
    // Where each value came from is told (what the Sync's `status.secrets` lists), and
    // nothing resolved is in it.
    let told = format!("{resolved:?}");
    assert!(told.contains("ref+vault://"), "{told}");
    assert_no_leak(
        &told,
        &[
            "canary-kv2-v1-4411",
            "canary-kv1-8822",
            "canary-kms-ref-6633",
        ],
    );
    let db = find(&manifests, "Secret", "db");
    assert_eq!(
        db["stringData"],
        json!({
            "password": "canary-kv2-v1-4411",
            "first": "canary-kv2-v1-4411",
            "user": "canary-kv1-8822",
            "port": "5432",
            "api-key": "canary-kms-ref-6633",
            "plain": "not-a-reference",
        })
    );
    // Not annotated: applied as written.
    let other = find(&manifests, "Secret", "other");
    assert_eq!(
        other["stringData"]["x"],
        "ref+vault://secret/app/db#password"
    );
    let echoed = format!("Secret \"db\" is invalid: {}", db["stringData"]);
    assert_no_leak(
        &redactor.scrub(&echoed),
        &[
            "canary-kv2-v1-4411",
            "canary-kv1-8822",
            "canary-kms-ref-6633",
        ],
    );

    // Vault rotates the value; the next resolve of the same Git revision sees it.
    vault
        .post(
            "/v1/secret/data/app/db",
            r#"{"data": {"password": "canary-kv2-v2-5599"}}"#,
        )
        .await
        .unwrap();
    let mut manifests = repo.render("apps").manifests;
    resolver
        .resolve(&mut manifests, &mut Redactor::new())
        .await
        .unwrap();
    let db = find(&manifests, "Secret", "db");
    assert_eq!(db["stringData"]["password"], "canary-kv2-v2-5599");
    assert_eq!(db["stringData"]["first"], "canary-kv2-v1-4411");
}

#[tokio::test(flavor = "multi_thread")]
async fn approle_login_reads_and_a_wrong_secret_id_is_denied() {
    let vault = need!(Vault::start().await);
    let Some(repo) = Repo::new(&[]) else { return };
    for (path, body) in [
        ("/v1/sys/auth/approle", r#"{"type": "approle"}"#),
        (
            "/v1/sys/policies/acl/reader",
            r#"{"policy": "path \"secret/data/*\" { capabilities = [\"read\"] }"}"#,
        ),
        (
            "/v1/auth/approle/role/app",
            r#"{"token_policies": ["reader"]}"#,
        ),
        (
            "/v1/auth/approle/role/app/role-id",
            r#"{"role_id": "app-role"}"#,
        ),
        (
            "/v1/auth/approle/role/app/custom-secret-id",
            r#"{"secret_id": "canary-secret-id-7070"}"#,
        ),
        (
            "/v1/secret/data/app",
            r#"{"data": {"token": "canary-approle-3030"}}"#,
        ),
    ] {
        vault.post(path, body).await.unwrap();
    }
    repo.write(
        "apps/s.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  annotations: {lockstep.dev/resolve: enabled}\nstringData: {token: 'ref+vault://secret/app#token'}\n",
    );
    let source = |secret_id: &str| VaultSource {
        address: vault.addr().to_owned(),
        auth: VaultAuth::AppRole {
            mount: "approle".into(),
            role_id: "app-role".into(),
            secret_id: SecretString::from(secret_id),
        },
        namespace: None,
    };
    // Through a decryption Secret: address and AppRole login, no token.
    let approle = "role_id: app-role\nsecret_id: canary-secret-id-7070\n";
    let keys = Keys::from_secret(
        [
            ("vault.address", vault.addr().as_bytes()),
            ("vault.approle", approle.as_bytes()),
        ],
        Ambient::none(),
    )
    .unwrap();
    assert_no_leak(&format!("{keys:?}"), &["canary-secret-id-7070"]);
    let mut manifests = repo.render("apps").manifests;
    Resolver::from_keys(&keys)
        .unwrap()
        .resolve(&mut manifests, &mut Redactor::new())
        .await
        .unwrap();
    assert_eq!(
        find(&manifests, "Secret", "s")["stringData"]["token"],
        "canary-approle-3030"
    );

    let mut manifests = repo.render("apps").manifests;
    let err = Resolver::new(Some(source("canary-wrong-id-0000")))
        .resolve(&mut manifests, &mut Redactor::new())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("login (approle)") && text.contains("team-a/s"),
        "{text}"
    );
    assert_no_leak(
        &all_text(&err),
        &["canary-wrong-id-0000", "canary-approle-3030"],
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn failures_name_the_secret_key_and_reference_never_the_value() {
    let vault = need!(Vault::start().await);
    let kms = need!(Kms::start().await);
    let Some(repo) = Repo::new(&[]) else { return };
    vault
        .post(
            "/v1/secret/data/app",
            r#"{"data": {"password": "canary-fail-1212"}}"#,
        )
        .await
        .unwrap();
    let arn = kms.create_key().await.unwrap();
    let ciphertext = kms_encrypt(&kms, &arn, &[("app", "web")], "canary-fail-kms-3434").await;
    let secret = |value: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n  annotations: {{lockstep.dev/resolve: enabled}}\nstringData:\n  k: '{value}'\n"
        )
    };
    let resolver = Resolver::from_keys(&keys(&vault, &kms)).unwrap();
    let canaries = ["canary-fail-1212", "canary-fail-kms-3434"];
    let attempt = |resolver: Resolver, value: String| {
        let repo = &repo;
        async move {
            repo.write("apps/s.yaml", &secret(&value));
            let mut manifests = repo.render("apps").manifests;
            resolver
                .resolve(&mut manifests, &mut Redactor::new())
                .await
                .unwrap_err()
        }
    };

    let err = attempt(resolver.clone(), "ref+vault://secret/app#nope".into()).await;
    assert!(matches!(err, RefError::NoField { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("Secret team-a/s, key k: ref+vault://secret/app#nope"),
        "{err}"
    );

    let err = attempt(resolver.clone(), "ref+vault://secret/app".into()).await;
    assert!(matches!(err, RefError::Invalid { .. }), "{err:?}");

    // The wrong encryption context: KMS refuses.
    let wrong = format!("ref+awskms://{ciphertext}?key={arn}&context=app:other");
    let err = attempt(resolver.clone(), wrong).await;
    assert!(matches!(err, RefError::Kms { .. }), "{err:?}");
    assert!(err.to_string().contains(&arn), "{err}");
    assert_no_leak(&all_text(&err), &canaries);

    let err = attempt(
        Resolver::new(None),
        "ref+vault://secret/app#password".into(),
    )
    .await;
    assert!(matches!(err, RefError::NoVault { .. }), "{err:?}");

    drop(vault);
    let err = attempt(resolver, "ref+vault://secret/app#password".into()).await;
    assert!(matches!(err, RefError::Vault { .. }), "{err:?}");
    assert!(
        err.to_string().contains("unreachable") || err.to_string().contains("Unreachable"),
        "{err}"
    );
    assert_no_leak(&all_text(&err), &canaries);
}
