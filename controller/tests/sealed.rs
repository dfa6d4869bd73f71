//! The SealedSecret controller against the real kube-apiserver: the upstream fixture, the
//! sealing key lifecycle, interop with the real `kubeseal`, scope enforcement and bad input.

use crate::support;
#[path = "sealed/throughput.rs"]
mod throughput;

use std::collections::BTreeMap;
use std::process::{Command, Stdio};

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{Namespace, Secret};
use kube::api::{Api, ListParams, ObjectMeta, PostParams};
use lockstep_keys::sealing::SealingPrivateKey;
use lockstep_sealed::{SealOptions, unseal};
use lockstep_testenv::{ControlPlane, need, tool};
use support::{
    Controller, create_sealed, input, install_crd, seal_json, secret, synced, value, wait_for_event,
};

const FIXTURE: &str = "../crates/sealed/tests/testdata/wingkwong-v0.14.1-strict";
const KEY_LABEL: &str = "sealedsecrets.bitnami.com/sealed-secrets-key";

async fn key_secrets(client: &kube::Client, namespace: &str) -> Vec<Secret> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let selector = format!("{KEY_LABEL}=active");
    api.list(&ListParams::default().labels(&selector))
        .await
        .unwrap()
        .items
}

#[tokio::test]
async fn upstream_fixture_unseals_with_the_imported_v0_14_key() {
    let plane = need!(ControlPlane::shared().await);
    let client = plane.client().await.unwrap();
    install_crd(&client).await;
    // The fixture is strict-scoped to foo/credentials, so this test owns namespace foo.
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let foo = serde_json::from_value(serde_json::json!({"metadata": {"name": "foo"}})).unwrap();
    let _ = namespaces.create(&PostParams::default(), &foo).await;

    // Import the upstream controller's key Secret as it is.
    let key_yaml =
        std::fs::read_to_string(format!("{FIXTURE}/controller-key-secret.yaml")).unwrap();
    let mut key: Secret = serde_saphyr::from_str(&key_yaml).unwrap();
    key.metadata.namespace = Some("foo".into());
    key.metadata.resource_version = None;
    key.metadata.uid = None;
    Api::<Secret>::namespaced(client.clone(), "foo")
        .create(&PostParams::default(), &key)
        .await
        .unwrap();

    let controller = Controller::start(plane, "foo").await;
    // The imported key is years older than the renewal period: a new one is made at once,
    // and the old one still unseals.
    assert_eq!(
        key_secrets(&client, "foo").await.len(),
        2,
        "{}",
        controller.log()
    );

    let sealed_yaml = std::fs::read_to_string(format!("{FIXTURE}/sealed-secret.yaml")).unwrap();
    let sealed: serde_json::Value = serde_saphyr::from_str(&sealed_yaml).unwrap();
    create_sealed(&client, "foo", sealed).await;

    let unsealed = secret(&client, "foo", "credentials").await;
    assert_eq!(value(&unsealed, "token"), "sealed-secrets-example");
    assert_eq!(unsealed.type_.as_deref(), Some("Opaque"));
    let owner = &unsealed.metadata.owner_references.unwrap()[0];
    assert_eq!(
        (owner.kind.as_str(), owner.controller),
        ("SealedSecret", Some(true))
    );
    // The condition names the key that unsealed it: the imported one, not the new one.
    let (status, message) = synced(&client, "foo", "credentials").await;
    assert_eq!(status, "True");
    let imported = key.metadata.name.as_deref().unwrap();
    assert!(
        message.starts_with(&format!("unsealed with sealing key {imported} (SHA256:"))
            && message.contains(", created 20"),
        "{message}"
    );
    wait_for_event(&client, "foo", "credentials", "Unsealed").await;

    let metrics =
        lockstep_testenv::http::request(controller.metrics_port, "GET", "/metrics", &[], "")
            .await
            .unwrap();
    assert!(
        metrics
            .body
            .contains("sealed_secrets_controller_unseal_requests_total"),
        "{}",
        metrics.body
    );
}

#[tokio::test]
async fn key_lifecycle_renewal_reencryption_and_restart() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("sealed-keys").await.unwrap();
    install_crd(&client).await;

    let controller = Controller::start(plane, &ns).await;
    let first = key_secrets(&client, &ns).await;
    assert_eq!(first.len(), 1, "first start creates exactly one key");
    assert_eq!(first[0].type_.as_deref(), Some("kubernetes.io/tls"));
    let cert1 = controller.cert().await;

    let old = seal_json(
        &cert1,
        input(&ns, "old", &[("password", "canary-old")]),
        &SealOptions::default(),
    );
    create_sealed(&client, &ns, old.clone()).await;
    assert_eq!(
        value(&secret(&client, &ns, "old").await, "password"),
        "canary-old"
    );

    controller.renew_key();
    support::eventually("a second key", async || {
        key_secrets(&client, &ns).await.len() == 2
    })
    .await;
    let mut cert2 = controller.cert().await;
    support::eventually("the new certificate to be served", async || {
        cert2 = controller.cert().await;
        cert2 != cert1
    })
    .await;

    // Sealed to the first key, applied after the renewal: still unseals.
    let older = seal_json(
        &cert1,
        input(&ns, "older", &[("token", "canary-older")]),
        &SealOptions::default(),
    );
    create_sealed(&client, &ns, older).await;
    assert_eq!(
        value(&secret(&client, &ns, "older").await, "token"),
        "canary-older"
    );

    // /v1/verify: 200 for what unseals, 409 for what does not.
    assert_eq!(
        controller.post("/v1/verify", &old.to_string()).await.status,
        200
    );
    let mut renamed = old.clone();
    renamed["metadata"]["name"] = "someone-else".into();
    assert_eq!(
        controller
            .post("/v1/verify", &renamed.to_string())
            .await
            .status,
        409
    );

    // /v1/rotate re-seals to the newest key only.
    let rotated = controller.post("/v1/rotate", &old.to_string()).await;
    assert_eq!(rotated.status, 200, "{}", rotated.body);
    let rotated: lockstep_sealed::SealedSecret = serde_json::from_str(&rotated.body).unwrap();
    let keys = key_secrets(&client, &ns).await;
    let private = |cert: &str| {
        let secret = keys
            .iter()
            .find(|s| s.data.as_ref().unwrap()["tls.crt"].0 == cert.as_bytes())
            .expect("a key Secret for the certificate");
        SealingPrivateKey::from_pem(&secret.data.as_ref().unwrap()["tls.key"].0).unwrap()
    };
    let only_new = unseal(&rotated, &[private(&cert2)]).expect("sealed to the newest key");
    assert_eq!(
        only_new.data.get("password").unwrap().expose_secret(),
        b"canary-old"
    );
    assert!(
        unseal(&rotated, &[private(&cert1)]).is_err(),
        "not to the old key"
    );

    // A restart keeps every key and makes no new one.
    drop(controller);
    let restarted = Controller::start(plane, &ns).await;
    assert_eq!(key_secrets(&client, &ns).await.len(), 2);
    assert_eq!(restarted.cert().await, cert2);
}

#[tokio::test]
async fn kubeseal_seals_with_our_certificate_in_every_scope() {
    let kubeseal = need!(tool("kubeseal"));
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("sealed-kubeseal").await.unwrap();
    install_crd(&client).await;
    let controller = Controller::start(plane, &ns).await;
    let cert_url = format!("http://127.0.0.1:{}/v1/cert.pem", controller.api_port);

    for scope in ["strict", "namespace-wide", "cluster-wide"] {
        let name = format!("from-kubeseal-{scope}");
        let plain = serde_json::json!({
            "apiVersion": "v1", "kind": "Secret",
            "metadata": {"name": name, "namespace": ns},
            "stringData": {"password": format!("canary-{scope}")},
        });
        let mut child = Command::new(&kubeseal)
            .args(["--cert", &cert_url, "--scope", scope, "-o", "json"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(plain.to_string().as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(
            output.status.success(),
            "kubeseal: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let sealed: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
        create_sealed(&client, &ns, sealed).await;
        let unsealed = secret(&client, &ns, &name).await;
        assert_eq!(value(&unsealed, "password"), format!("canary-{scope}"));
    }
}

#[tokio::test]
async fn strict_scope_is_enforced_and_namespace_wide_allows_renaming() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("sealed-scope").await.unwrap();
    install_crd(&client).await;
    let controller = Controller::start(plane, &ns).await;
    let cert = controller.cert().await;

    let mut strict = seal_json(
        &cert,
        input(&ns, "original", &[("k", "canary-strict")]),
        &SealOptions::default(),
    );
    strict["metadata"]["name"] = "renamed".into();
    create_sealed(&client, &ns, strict).await;
    let (status, message) = synced(&client, &ns, "renamed").await;
    assert_eq!(status, "False");
    assert!(message.contains("no key could decrypt"), "{message}");
    let note = wait_for_event(&client, &ns, "renamed", "ErrUnsealFailed").await;
    assert!(!note.contains("canary"), "{note}");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    assert!(
        secrets.get_opt("renamed").await.unwrap().is_none(),
        "no Secret is written"
    );

    let wide = SealOptions::default().with_scope(Some(lockstep_sealed::Scope::NamespaceWide));
    let mut namespace_wide = seal_json(
        &cert,
        input(&ns, "original", &[("k", "canary-wide")]),
        &wide,
    );
    namespace_wide["metadata"]["name"] = "renamed-wide".into();
    create_sealed(&client, &ns, namespace_wide).await;
    assert_eq!(
        value(&secret(&client, &ns, "renamed-wide").await, "k"),
        "canary-wide"
    );
}

/// `/v1/verify` is rate limited per client as upstream (`--rate-limit 2`, burst 2): three
/// at once pass, the fourth gets 429 with `Retry-After`; another client has its own budget.
/// The client is the last `X-Forwarded-For` hop, and only from a `--trusted-proxy`: the
/// probe's bypass (a new first address per request, `1.2.3.N, 10.0.0.1`) no longer works.
#[tokio::test]
async fn verify_is_rate_limited_per_client() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("sealed-limit").await.unwrap();
    install_crd(&client).await;
    let controller = Controller::start_with(plane, &ns, &["--trusted-proxy=127.0.0.1"]).await;
    let verify = async |forwarded_for: &str| {
        let headers = [("X-Forwarded-For", forwarded_for)];
        lockstep_testenv::http::request(controller.api_port, "POST", "/v1/verify", &headers, "")
            .await
            .unwrap()
    };
    for n in 0..3 {
        assert_ne!(verify(&format!("1.2.3.{n}, 10.0.0.1")).await.status, 429);
    }
    let limited = verify("1.2.3.99, 10.0.0.1").await;
    assert_eq!(limited.status, 429);
    assert!(limited.body.contains("limit exceeded"), "{}", limited.body);
    assert_ne!(verify("10.0.0.2").await.status, 429);
}

/// `--all-namespaces=false` with `--additional-namespaces`: the controller's namespace and
/// the listed ones are served, others are not.
#[tokio::test]
async fn additional_namespaces_are_watched_and_others_are_not() {
    let plane = need!(ControlPlane::shared().await);
    let (client, own) = plane.namespace("sealed-own").await.unwrap();
    let (_, extra) = plane.namespace("sealed-extra").await.unwrap();
    let (_, other) = plane.namespace("sealed-other").await.unwrap();
    install_crd(&client).await;
    let flag = format!("--additional-namespaces={extra}");
    let controller = Controller::start_with(plane, &own, &["--sync=false", &flag]).await;
    let cert = controller.cert().await;
    let cluster_wide = SealOptions::default().with_scope(Some(lockstep_sealed::Scope::ClusterWide));
    // The unwatched one first: by the time the watched ones are done, it would be too.
    for ns in [&other, &extra, &own] {
        let sealed = seal_json(
            &cert,
            input(ns, "app", &[("k", "canary-ns")]),
            &cluster_wide,
        );
        create_sealed(&client, ns, sealed).await;
    }
    for ns in [&extra, &own] {
        assert_eq!(value(&secret(&client, ns, "app").await, "k"), "canary-ns");
    }
    let others: Api<Secret> = Api::namespaced(client.clone(), &other);
    assert!(others.get_opt("app").await.unwrap().is_none());
}

#[tokio::test]
async fn managed_patch_and_skip_owner_annotations_are_honoured() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("sealed-annotations").await.unwrap();
    install_crd(&client).await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let existing = |name: &str, annotation: &str| Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            annotations: Some(BTreeMap::from([(annotation.to_owned(), "true".to_owned())])),
            ..ObjectMeta::default()
        },
        string_data: Some(BTreeMap::from([
            ("k".to_owned(), "old".to_owned()),
            ("kept".to_owned(), "theirs".to_owned()),
        ])),
        ..Secret::default()
    };
    secrets
        .create(
            &PostParams::default(),
            &existing("managed", lockstep_sealed::MANAGED_ANNOTATION),
        )
        .await
        .unwrap();
    secrets
        .create(
            &PostParams::default(),
            &existing("patched", lockstep_sealed::PATCH_ANNOTATION),
        )
        .await
        .unwrap();
    let controller = Controller::start(plane, &ns).await;
    let cert = controller.cert().await;
    for name in ["managed", "patched"] {
        let sealed = seal_json(
            &cert,
            input(&ns, name, &[("k", "canary-new")]),
            &SealOptions::default(),
        );
        create_sealed(&client, &ns, sealed).await;
        assert_eq!(synced(&client, &ns, name).await.0, "True", "{name}");
    }

    // `managed`: replaced by the SealedSecret's data, and now owned by it.
    let managed = secrets.get("managed").await.unwrap();
    assert_eq!(value(&managed, "k"), "canary-new");
    assert!(!managed.data.as_ref().unwrap().contains_key("kept"));
    assert_eq!(
        managed.metadata.owner_references.unwrap()[0].kind,
        "SealedSecret"
    );

    // `patch`: our item merged in, theirs kept.
    let patched = secrets.get("patched").await.unwrap();
    assert_eq!(value(&patched, "k"), "canary-new");
    assert_eq!(value(&patched, "kept"), "theirs");

    // `skip-set-owner-references` in the template: a Secret with no owner.
    let mut unowned = input(&ns, "unowned", &[("k", "canary-unowned")]);
    unowned.metadata.annotations = Some(BTreeMap::from([(
        lockstep_sealed::SKIP_SET_OWNER_REFERENCES_ANNOTATION.to_owned(),
        "true".to_owned(),
    )]));
    create_sealed(
        &client,
        &ns,
        seal_json(&cert, unowned, &SealOptions::default()),
    )
    .await;
    let unowned = secret(&client, &ns, "unowned").await;
    assert_eq!(value(&unowned, "k"), "canary-unowned");
    assert!(
        unowned
            .metadata
            .owner_references
            .unwrap_or_default()
            .is_empty()
    );
}

#[tokio::test]
async fn a_deleted_secret_comes_back_and_goes_with_its_sealed_secret() {
    use kube::api::{DeleteParams, DynamicObject};
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("sealed-lifecycle").await.unwrap();
    install_crd(&client).await;
    let controller = Controller::start(plane, &ns).await;
    let cert = controller.cert().await;
    let sealed = seal_json(
        &cert,
        input(&ns, "app", &[("k", "canary-app")]),
        &SealOptions::default(),
    );
    create_sealed(&client, &ns, sealed).await;
    let first = secret(&client, &ns, "app").await;

    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    secrets
        .delete("app", &DeleteParams::default())
        .await
        .unwrap();
    support::eventually("the Secret to be recreated", async || {
        secrets
            .get_opt("app")
            .await
            .unwrap()
            .is_some_and(|s| s.metadata.uid != first.metadata.uid)
    })
    .await;
    assert_eq!(value(&secrets.get("app").await.unwrap(), "k"), "canary-app");

    // Deleting the SealedSecret lets the garbage collector remove the owned Secret.
    let sealed_api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), &ns, &support::sealed_resource());
    sealed_api
        .delete("app", &DeleteParams::default())
        .await
        .unwrap();
    let gc = std::time::Duration::from_secs(150);
    support::eventually_within("the Secret to be garbage collected", gc, async || {
        secrets.get_opt("app").await.unwrap().is_none()
    })
    .await;
}

#[tokio::test]
async fn bad_input_is_reported_and_nothing_existing_is_touched() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("sealed-bad").await.unwrap();
    install_crd(&client).await;
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);

    // A key Secret that does not parse must not stop the controller.
    let broken = Secret {
        metadata: ObjectMeta {
            name: Some("sealed-secrets-key-broken".into()),
            labels: Some(BTreeMap::from([(
                KEY_LABEL.to_owned(),
                "active".to_owned(),
            )])),
            ..ObjectMeta::default()
        },
        type_: Some("kubernetes.io/tls".into()),
        data: Some(BTreeMap::from([
            ("tls.key".to_owned(), ByteString(b"not a key".to_vec())),
            ("tls.crt".to_owned(), ByteString(b"not a cert".to_vec())),
        ])),
        ..Secret::default()
    };
    secrets
        .create(&PostParams::default(), &broken)
        .await
        .unwrap();
    let controller = Controller::start(plane, &ns).await;
    wait_for_event(&client, &ns, "sealed-secrets-key-broken", "ErrKeyInvalid").await;
    let cert = controller.cert().await;

    // Garbage and truncated ciphertext.
    let mut garbage = seal_json(
        &cert,
        input(&ns, "garbage", &[("k", "canary-garbage")]),
        &SealOptions::default(),
    );
    garbage["spec"]["encryptedData"]["k"] = "%%% not base64 %%%".into();
    create_sealed(&client, &ns, garbage).await;
    let (status, message) = synced(&client, &ns, "garbage").await;
    assert_eq!(
        (status.as_str(), message.contains("base64")),
        ("False", true),
        "{message}"
    );

    let mut truncated = seal_json(
        &cert,
        input(&ns, "truncated", &[("k", "canary-truncated")]),
        &SealOptions::default(),
    );
    let blob = truncated["spec"]["encryptedData"]["k"]
        .as_str()
        .unwrap()
        .to_owned();
    truncated["spec"]["encryptedData"]["k"] = blob[..40].to_owned().into();
    create_sealed(&client, &ns, truncated).await;
    assert_eq!(synced(&client, &ns, "truncated").await.0, "False");

    // A Secret of someone else in the way stays exactly as it was.
    let theirs = Secret {
        metadata: ObjectMeta {
            name: Some("taken".into()),
            ..ObjectMeta::default()
        },
        string_data: Some(BTreeMap::from([("k".to_owned(), "theirs".to_owned())])),
        ..Secret::default()
    };
    secrets
        .create(&PostParams::default(), &theirs)
        .await
        .unwrap();
    let ours = seal_json(
        &cert,
        input(&ns, "taken", &[("k", "canary-ours")]),
        &SealOptions::default(),
    );
    create_sealed(&client, &ns, ours).await;
    let (status, message) = synced(&client, &ns, "taken").await;
    assert_eq!(status, "False");
    assert!(message.contains("not managed by SealedSecret"), "{message}");
    wait_for_event(&client, &ns, "taken", "ErrUpdateFailed").await;
    assert_eq!(value(&secrets.get("taken").await.unwrap(), "k"), "theirs");

    // No data at all: an empty Secret, as the Bitnami controller makes.
    let empty = serde_json::json!({
        "apiVersion": "bitnami.com/v1alpha1", "kind": "SealedSecret",
        "metadata": {"name": "empty"}, "spec": {"encryptedData": {}},
    });
    create_sealed(&client, &ns, empty).await;
    assert_eq!(synced(&client, &ns, "empty").await.0, "True");

    // Still serving, and no plaintext in its log.
    assert_eq!(
        controller
            .post("/v1/verify", "not yaml at all: [")
            .await
            .status,
        500
    );
    assert!(
        !controller.log().contains("canary"),
        "a value reached the log"
    );
}
