//! An ExternalSecret in a Sync's path: applied like any object, and healthy when ESO's
//! `Ready` condition says its Secret is synced, so `wait` and `dependsOn` hold across it.

use std::time::Duration;

use crate::externalsecret::secret;
use crate::support::eventually_within;
use crate::sync::{applied, failed, ready, setup_with, status, sync_spec};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, PostParams};
use lockstep_testenv::{ControlPlane, ExternalSecretsOperator, Vault, need};
use serde_json::json;

/// The value in OpenBao: never in a Sync's status.
const PASSWORD: &str = "sync-pw-31c7";

fn store(vault: &Vault) -> String {
    format!(
        "apiVersion: external-secrets.io/v1\nkind: SecretStore\nmetadata: {{name: vault}}\n\
         spec:\n  provider:\n    vault:\n      server: {}\n      path: secret\n      version: v2\n      \
         auth: {{tokenSecretRef: {{name: vault-token, key: token}}}}\n",
        vault.addr()
    )
}

fn external_secret(property: &str) -> String {
    format!(
        "apiVersion: external-secrets.io/v1\nkind: ExternalSecret\nmetadata: {{name: db}}\n\
         spec:\n  refreshInterval: 1h\n  secretStoreRef: {{name: vault, kind: SecretStore}}\n  \
         target: {{name: db}}\n  data:\n    - secretKey: password\n      \
         remoteRef: {{key: db, property: {property}}}\n"
    )
}

#[tokio::test]
async fn a_sync_waits_for_its_external_secrets_and_its_dependents_wait_for_it() {
    let plane = need!(ControlPlane::shared().await);
    let vault = need!(Vault::start().await);
    vault
        .post(
            "/v1/secret/data/db",
            &json!({"data": {"password": PASSWORD}}).to_string(),
        )
        .await
        .unwrap();
    let client = plane.client().await.unwrap();
    need!(ExternalSecretsOperator::install_crds(&client).await);
    let app = "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app}\ndata: {value: \"1\"}\n";
    let files = [
        ("secrets/store.yaml", store(&vault)),
        // A property the secret does not have: never Ready.
        ("secrets/db.yaml", external_secret("no-such-property")),
        ("app/app.yaml", app.to_owned()),
    ];
    let s = setup_with(
        plane,
        "es-sync",
        &files,
        &["--external-secrets=true"],
        json!({}),
    )
    .await;
    Api::<Secret>::namespaced(client.clone(), &s.ns)
        .create(
            &PostParams::default(),
            &secret("vault-token", &[("token", vault.token())]),
        )
        .await
        .unwrap();
    let first = s.repo.git(&["rev-parse", "HEAD"]).unwrap();
    let spec = |path: &str, extra| {
        let mut spec = sync_spec(path, extra);
        spec["targetNamespace"] = json!(s.ns);
        spec
    };
    let syncs = [
        (
            "secrets",
            spec("secrets", json!({"wait": true, "timeout": "5s"})),
        ),
        (
            "app",
            spec("app", json!({"dependsOn": [{"name": "secrets"}]})),
        ),
    ];
    for (name, spec) in syncs {
        crate::support::create_lockstep(
            &client,
            &s.ns,
            "Sync",
            json!({"metadata": {"name": name}, "spec": spec}),
        )
        .await;
    }

    // The ExternalSecret is applied; its `Ready=False` fails the health check, by name, and
    // the dependent waits.
    let message = failed(
        &s,
        "secrets",
        first.trim(),
        "HealthCheckFailed",
        Duration::from_secs(60),
    )
    .await;
    assert!(message.contains("ExternalSecret"), "{message}");
    assert!(message.contains("db"), "{message}");
    eventually_within(
        "app to wait for secrets",
        Duration::from_secs(30),
        async || {
            ready(&status(&client, &s.ns, "app").await) == Some(("False", "DependencyNotReady"))
        },
    )
    .await;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &s.ns);
    assert!(configmaps.get_opt("app").await.unwrap().is_none());

    // Fixed in Git: the Secret is written, the Sync turns Ready, the dependent applies.
    s.repo
        .write("secrets/db.yaml", external_secret("password"))
        .unwrap();
    s.repo.commit("the right property").unwrap();
    let fixed = s.repo.git(&["rev-parse", "HEAD"]).unwrap();
    applied(&s, "secrets", fixed.trim()).await;
    let written = Api::<Secret>::namespaced(client.clone(), &s.ns)
        .get("db")
        .await
        .unwrap();
    assert_eq!(written.data.unwrap()["password"].0, PASSWORD.as_bytes());
    applied(&s, "app", fixed.trim()).await;
    assert!(configmaps.get_opt("app").await.unwrap().is_some());

    let statuses = serde_json::to_string(&[
        status(&client, &s.ns, "secrets").await,
        status(&client, &s.ns, "app").await,
    ])
    .unwrap();
    assert!(
        !statuses.contains(PASSWORD),
        "a value is in a Sync's status"
    );
    assert!(
        !s.controller.log().contains(PASSWORD),
        "a value is in the log"
    );
}
