//! Faults under the ExternalSecret front-end: a store's provider gone (OpenBao sealed, or
//! moto unreachable behind a relay) fails only the ExternalSecrets that read through it —
//! `Ready=False` naming the store and the field, no value in the message, the Secret left
//! as it was — while those of the other store stay Ready and keep refreshing; and each
//! recovers by itself once its provider is back, with no restart of the controller.

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use lockstep_api::ExternalSecret;
use lockstep_api::external_secrets::ExternalSecretCondition;
use lockstep_testenv::{ControlPlane, ExternalSecretsOperator, Kms, Relay, Vault, need};
use serde_json::json;

use crate::externalsecret::{assert_nowhere, create_cases, merge, secret};
use crate::support::{Controller, eventually_within};

/// The values each provider holds in turn; none may appear in a status, an event or a log.
const VAULT_VALUES: [&str; 3] = ["vault-1-3b7d", "vault-2-91ce", "vault-3-0f42"];
const AWS_VALUES: [&str; 3] = ["aws-1-c5a0", "aws-2-7e19", "aws-3-d266"];

/// Writes `password` to OpenBao's `secret/app`.
async fn vault_put(vault: &Vault, password: &str) {
    let body = json!({"data": {"password": password}}).to_string();
    vault.post("/v1/secret/data/app", &body).await.unwrap();
}

/// Writes `password` to moto's Secrets Manager secret `app`, straight (not through the
/// relay).
async fn aws_put(moto: &Kms, password: &str) {
    let text = json!({"password": password}).to_string();
    moto.put_secret("app", Ok(&text)).await.unwrap();
}

/// A provider taken away fails its own ExternalSecrets only, leaves their Secrets as they
/// were, and they recover by themselves once it is back: first OpenBao sealed (a refresh
/// requested at once with ESO's `force-sync` annotation) while the moto-backed
/// ExternalSecret goes on refreshing every two seconds; then OpenBao unsealed and moto
/// unreachable (its relay down), the other way round. Both refresh periodically, so a
/// value written right after the unseal cannot be missed by a recovery a moment earlier.
#[tokio::test]
async fn a_provider_down_fails_only_its_external_secrets_until_it_is_back() {
    let plane = need!(ControlPlane::shared().await);
    let vault = need!(Vault::start().await);
    let moto = need!(Kms::start().await);
    let client = plane.client().await.unwrap();
    need!(ExternalSecretsOperator::install_crds(&client).await);
    let (_, ns) = plane.namespace("es-faults").await.unwrap();
    let (_, controller_ns) = plane.namespace("es-faults-ctl").await.unwrap();
    let moto_port = moto.endpoint().rsplit(':').next().unwrap().parse().unwrap();
    let relay = Relay::start(moto_port).await.unwrap();
    vault_put(&vault, VAULT_VALUES[0]).await;
    aws_put(&moto, AWS_VALUES[0]).await;

    let post = PostParams::default();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    for auth in [
        secret("vault-token", &[("token", vault.token())]),
        secret("aws-keys", &[("id", "test"), ("secret", "test")]),
    ] {
        secrets.create(&post, &auth).await.unwrap();
    }
    let stores: Api<kube::api::DynamicObject> = Api::namespaced_with(
        client.clone(),
        &ns,
        &kube::api::ApiResource::erase::<lockstep_api::SecretStore>(&()),
    );
    for (name, provider) in [
        (
            "vault",
            json!({"vault": {"server": vault.addr(), "path": "secret", "version": "v2",
                "auth": {"tokenSecretRef": {"name": "vault-token", "key": "token"}}}}),
        ),
        (
            "aws",
            json!({"aws": {"service": "SecretsManager", "region": "us-east-1",
            "auth": {"secretRef": {
                "accessKeyIDSecretRef": {"name": "aws-keys", "key": "id"},
                "secretAccessKeySecretRef": {"name": "aws-keys", "key": "secret"},
            }}}}),
        ),
    ] {
        let store = json!({"apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
            "metadata": {"name": name}, "spec": {"provider": provider}});
        stores
            .create(&post, &serde_json::from_value(store).unwrap())
            .await
            .unwrap();
    }
    let es = |name: &str, store: &str, interval: &str| {
        json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": name},
            "spec": {"refreshInterval": interval, "secretStoreRef": {"name": store},
                "data": [{"secretKey": "password",
                          "remoteRef": {"key": "app", "property": "password"}}]}})
    };
    create_cases(
        &client,
        &ns,
        &[es("from-vault", "vault", "5s"), es("from-aws", "aws", "2s")],
    )
    .await;

    // moto's endpoint as ESO reads it, here the relay's.
    let relayed = relay.url();
    let watched = format!("--additional-namespaces={ns}");
    let controller = Controller::start_with_env(
        plane,
        &controller_ns,
        &["--sync=false", "--external-secrets=true", &watched],
        &[("AWS_SECRETSMANAGER_ENDPOINT", Path::new(&relayed))],
    )
    .await;
    let es_api: Api<ExternalSecret> = Api::namespaced(client.clone(), &ns);
    let ready = async |name: &str| -> ExternalSecretCondition {
        let status = es_api.get(name).await.unwrap().status.unwrap_or_default();
        let ready = status.conditions.into_iter().find(|c| c.type_ == "Ready");
        ready.unwrap_or_else(|| ExternalSecretCondition {
            type_: "Ready".into(),
            status: "Unknown".into(),
            ..ExternalSecretCondition::default()
        })
    };
    let holds = async |name: &str, value: &str| {
        let secret = secrets.get_opt(name).await.unwrap();
        let data = secret.and_then(|s| s.data).unwrap_or_default();
        data.get("password")
            .is_some_and(|v| v.0 == value.as_bytes())
    };
    let synced = async |name: &str, value: &str| {
        holds(name, value).await && ready(name).await.status == "True"
    };
    let failed = async |name: &str| {
        let ready = ready(name).await;
        ready.status == "False" && ready.reason.as_deref() == Some("SecretSyncedError")
    };
    eventually_within(
        "both ExternalSecrets synced",
        Duration::from_secs(60),
        async || {
            synced("from-vault", VAULT_VALUES[0]).await && synced("from-aws", AWS_VALUES[0]).await
        },
    )
    .await;

    // OpenBao sealed and a refresh requested: from-vault fails, its Secret untouched;
    // from-aws goes on refreshing (a new value arrives).
    let vault_before = secrets.get("from-vault").await.unwrap();
    vault.seal().await.unwrap();
    let forced = |n: &str| json!({"metadata": {"annotations": {"force-sync": n}}});
    merge(&es_api, "from-vault", forced("1")).await;
    aws_put(&moto, AWS_VALUES[1]).await;
    eventually_within(
        "from-vault failed and from-aws refreshed",
        Duration::from_secs(60),
        async || failed("from-vault").await && synced("from-aws", AWS_VALUES[1]).await,
    )
    .await;
    let message = ready("from-vault").await.message.unwrap_or_default();
    for word in [
        "could not get secret data from provider",
        "spec.data[0].remoteRef",
        &format!("SecretStore {ns}/vault"),
    ] {
        assert!(message.contains(word), "{word:?} not in {message:?}");
    }
    let after = secrets.get("from-vault").await.unwrap();
    assert_eq!(
        (&after.metadata.resource_version, &after.data),
        (&vault_before.metadata.resource_version, &vault_before.data),
        "the Secret of the failing from-vault was changed"
    );

    // OpenBao unsealed with a new value: from-vault recovers by its own retry (every 30 s
    // while failing), no refresh requested. Meanwhile moto goes away: from-aws fails at its next refresh and keeps its
    // Secret, though moto has a new value.
    let aws_before = secrets.get("from-aws").await.unwrap();
    relay.down();
    aws_put(&moto, AWS_VALUES[2]).await;
    vault.unseal().await.unwrap();
    vault_put(&vault, VAULT_VALUES[1]).await;
    eventually_within(
        "from-vault recovered and from-aws failed",
        Duration::from_secs(90),
        async || synced("from-vault", VAULT_VALUES[1]).await && failed("from-aws").await,
    )
    .await;
    let message = ready("from-aws").await.message.unwrap_or_default();
    for word in [
        "could not get secret data from provider",
        "spec.data[0].remoteRef",
        &format!("SecretStore {ns}/aws"),
    ] {
        assert!(message.contains(word), "{word:?} not in {message:?}");
    }
    // OpenBao, healthy again, is read while moto is away.
    vault_put(&vault, VAULT_VALUES[2]).await;
    merge(&es_api, "from-vault", forced("2")).await;
    eventually_within(
        "from-vault refreshed while moto is away",
        Duration::from_secs(30),
        async || synced("from-vault", VAULT_VALUES[2]).await,
    )
    .await;
    let after = secrets.get("from-aws").await.unwrap();
    assert_eq!(
        (&after.metadata.resource_version, &after.data),
        (&aws_before.metadata.resource_version, &aws_before.data),
        "the Secret of the failing from-aws was changed"
    );
    assert!(
        failed("from-aws").await,
        "from-aws recovered with moto away"
    );

    // moto back: from-aws recovers by itself with the value written while it was away.
    relay.up().await.unwrap();
    eventually_within("from-aws recovered", Duration::from_secs(60), async || {
        synced("from-aws", AWS_VALUES[2]).await
    })
    .await;

    // Nothing either provider returned is in a status, an event or the controller's log.
    let mut values = VAULT_VALUES.to_vec();
    values.extend(AWS_VALUES);
    values.push(vault.token());
    assert_nowhere(&client, &ns, &controller.log(), &values).await;
}
