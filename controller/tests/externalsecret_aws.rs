//! External Secrets' `aws` provider (Secrets Manager and Parameter Store, served by moto)
//! against the real External Secrets Operator v0.16.2: the same ExternalSecrets give
//! byte-identical Secrets, the same `Ready` reasons and messages of the same class, and a
//! value changed in Secrets Manager reaches the Secret within its refresh interval.

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, PostParams};
use lockstep_api::ExternalSecret;
use lockstep_testenv::{ControlPlane, ExternalSecretsOperator, Kms, need};
use serde_json::{Value, json};

use crate::externalsecret::{assert_same, keys, run, secret};
use crate::support::{Controller, eventually_within, install_crd};

/// Values written to moto; none may appear in a status, an event or a log.
const PASSWORD: &str = "sm-pw<&>";
const OLD_PASSWORD: &str = "sm-old-5d1e";
const SECURE: &str = "ps-secret-a7c0";
const ROTATED: &str = "sm-rotated-0b9f";

/// The Secrets Manager secret `db` with `password`, as its text is written: spaces and a
/// `1.50` that a re-encoding would lose.
fn db(password: &str) -> String {
    format!(
        r#"{{"password": "{password}", "port": 5432, "ratio": 1.50, "obj": {{ "b": 1, "a" : true }}, "list": ["x", {{"k": 2}}], "a.b": "dotted"}}"#
    )
}

/// Writes every remote value the cases read; returns the id of `db`'s first version.
async fn seed(moto: &Kms) -> String {
    let first = moto.put_secret("db", Ok(&db(OLD_PASSWORD))).await.unwrap();
    moto.put_secret("db", Ok(&db(PASSWORD))).await.unwrap();
    moto.put_secret("blob", Err(&[0, 1, 2, 255])).await.unwrap();
    moto.put_secret("team/db2", Ok(r#"{"user": "u2"}"#))
        .await
        .unwrap();
    // For dataFrom.find: two secrets under app/, one tagged.
    moto.put_secret("app/one", Ok(r#"{"a": "1"}"#))
        .await
        .unwrap();
    moto.put_secret("app/two", Ok(r#"{"b": "2"}"#))
        .await
        .unwrap();
    moto.tag_secret("app/two", "env", "prod").await.unwrap();
    moto.put_parameter("/app/plain", "plain-value", false)
        .await
        .unwrap();
    moto.put_parameter("/app/secure", SECURE, true)
        .await
        .unwrap();
    moto.put_parameter("/app/versioned", "one", false)
        .await
        .unwrap();
    moto.put_parameter("/app/versioned", "two", false)
        .await
        .unwrap();
    moto.put_parameter("/app/json", r#"{"user": "psu", "n": 2.0}"#, false)
        .await
        .unwrap();
    first
}

/// The access-key Secret, the three stores, and a Secret for each service's
/// `creationPolicy: Merge`, in `namespace`.
async fn stores(client: &kube::Client, namespace: &str) {
    let post = PostParams::default();
    let keys = secret("aws-keys", &[("id", "test"), ("secret", "test")]);
    let secrets = Api::<Secret>::namespaced(client.clone(), namespace);
    secrets.create(&post, &keys).await.unwrap();
    for name in ["sm-merge-target", "ps-merge-target"] {
        let target = secret(name, &[("kept", "k")]);
        secrets.create(&post, &target).await.unwrap();
    }
    let stores: Api<kube::api::DynamicObject> = Api::namespaced_with(
        client.clone(),
        namespace,
        &kube::api::ApiResource::erase::<lockstep_api::SecretStore>(&()),
    );
    let auth = json!({"secretRef": {
        "accessKeyIDSecretRef": {"name": "aws-keys", "key": "id"},
        "secretAccessKeySecretRef": {"name": "aws-keys", "key": "secret"},
    }});
    for (name, service, prefix) in [
        ("sm", "SecretsManager", None),
        ("sm-prefixed", "SecretsManager", Some("team/")),
        ("ps", "ParameterStore", None),
    ] {
        let mut aws = json!({"service": service, "region": "us-east-1", "auth": auth});
        if let Some(prefix) = prefix {
            aws["prefix"] = json!(prefix);
        }
        let store = json!({
            "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
            "metadata": {"name": name},
            "spec": {"provider": {"aws": aws}},
        });
        stores
            .create(&post, &serde_json::from_value(store).unwrap())
            .await
            .unwrap();
    }
}

/// The `Ready` reason each of [`cases`] ends with, under ESO and Lockstep alike.
const EXPECTED: &[(&str, &str)] = &[
    ("ps-extract", "SecretSynced"),
    ("ps-find", "SecretSynced"),
    ("ps-gone-merge", "SecretSynced"),
    ("ps-merge", "SecretSynced"),
    ("ps-merge-missing", "SecretMissing"),
    ("ps-none", "SecretSynced"),
    ("ps-orphan", "SecretSynced"),
    ("ps-props", "SecretSynced"),
    ("sm-bad-property", "SecretSyncedError"),
    ("sm-binary", "SecretSynced"),
    ("sm-extract", "SecretSynced"),
    ("sm-find-name", "SecretSynced"),
    ("sm-find-path", "SecretSynced"),
    ("sm-find-rewrite", "SecretSynced"),
    ("sm-find-tags", "SecretSynced"),
    ("sm-gone-delete", "SecretDeleted"),
    ("sm-merge", "SecretSynced"),
    ("sm-merge-missing", "SecretMissing"),
    ("sm-none", "SecretSynced"),
    ("sm-orphan", "SecretSynced"),
    ("sm-prefix", "SecretSynced"),
    ("sm-props", "SecretSynced"),
    ("sm-template", "SecretSynced"),
];

/// The ExternalSecrets compared: every AWS rule served (properties over the value's text,
/// stages and version ids, binary secrets, prefixes, parameter versions, extract), the
/// creation policies other than `Owner` on each service, and some that end other than
/// `SecretSynced`.
fn cases(first_version: &str) -> Vec<Value> {
    let es = |name: &str, spec: Value| {
        json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": name}, "spec": spec,
        })
    };
    let sm = json!({"name": "sm"});
    let ps = json!({"name": "ps"});
    let prop = |key: &str, property: &str| json!({"key": key, "property": property});
    let mut cases = vec![
        es(
            "sm-props",
            json!({
                "refreshInterval": "5s", "secretStoreRef": sm,
                "data": [
                    {"secretKey": "password", "remoteRef": prop("db", "password")},
                    {"secretKey": "port", "remoteRef": prop("db", "port")},
                    {"secretKey": "ratio", "remoteRef": prop("db", "ratio")},
                    {"secretKey": "obj", "remoteRef": prop("db", "obj")},
                    {"secretKey": "flag", "remoteRef": prop("db", "obj.a")},
                    {"secretKey": "count", "remoteRef": prop("db", "list.#")},
                    {"secretKey": "k", "remoteRef": prop("db", "list.1.k")},
                    {"secretKey": "dotted", "remoteRef": prop("db", "a.b")},
                    {"secretKey": "whole", "remoteRef": {"key": "db"}},
                    {"secretKey": "prev", "remoteRef":
                        {"key": "db", "property": "password", "version": "AWSPREVIOUS"}},
                    {"secretKey": "by-id", "remoteRef":
                        {"key": "db", "property": "password", "version": format!("uuid/{first_version}")}},
                ],
            }),
        ),
        es(
            "sm-binary",
            json!({"secretStoreRef": sm,
                "data": [{"secretKey": "blob", "remoteRef": {"key": "blob"}}]}),
        ),
        es(
            "sm-extract",
            json!({"secretStoreRef": sm, "target": {"name": "sm-extracted"},
                "dataFrom": [{"extract": {"key": "db"}}]}),
        ),
        es(
            "sm-find-name",
            json!({"secretStoreRef": sm, "dataFrom": [{"find": {"name": {"regexp": "^app/"}}}]}),
        ),
        es(
            "sm-find-path",
            json!({"secretStoreRef": sm,
                "dataFrom": [{"find": {"path": "app/", "name": {"regexp": "one"}}}]}),
        ),
        es(
            "sm-find-tags",
            json!({"secretStoreRef": sm, "dataFrom": [{"find": {"tags": {"env": "prod"}}}]}),
        ),
        es(
            "sm-find-rewrite",
            json!({"secretStoreRef": sm,
                "dataFrom": [{"find": {"name": {"regexp": "^app/"}},
                    "rewrite": [{"regexp": {"source": "^app/", "target": ""}}]}]}),
        ),
        es(
            "sm-prefix",
            json!({"secretStoreRef": {"name": "sm-prefixed"},
                "data": [{"secretKey": "user", "remoteRef": prop("db2", "user")}]}),
        ),
        es(
            "sm-gone-delete",
            json!({"secretStoreRef": sm, "target": {"deletionPolicy": "Delete"},
                "data": [{"secretKey": "a", "remoteRef": {"key": "never/written"}}]}),
        ),
        es(
            "sm-bad-property",
            json!({"secretStoreRef": sm,
                "data": [{"secretKey": "a", "remoteRef": prop("db", "no.such")}]}),
        ),
        es(
            "ps-props",
            json!({"secretStoreRef": ps,
            "data": [
                {"secretKey": "plain", "remoteRef": {"key": "/app/plain"}},
                {"secretKey": "secure", "remoteRef": {"key": "/app/secure"}},
                {"secretKey": "old", "remoteRef": {"key": "/app/versioned", "version": "1"}},
                {"secretKey": "user", "remoteRef": prop("/app/json", "user")},
            ]}),
        ),
        es(
            "ps-extract",
            json!({"secretStoreRef": ps, "target": {"name": "ps-extracted"},
                "dataFrom": [{"extract": {"key": "/app/json"}}]}),
        ),
        es(
            "ps-find",
            json!({"secretStoreRef": ps, "dataFrom": [{"find": {"name": {"regexp": "^/app"}}}]}),
        ),
        es(
            "sm-template",
            json!({"secretStoreRef": sm,
            "data": [
                {"secretKey": "db", "remoteRef": {"key": "db"}},
                {"secretKey": "obj", "remoteRef": prop("db", "obj")},
                {"secretKey": "password", "remoteRef": prop("db", "password")},
            ],
            "target": {"template": {
                "mergePolicy": "Merge",
                "metadata": {"annotations": {"password-length": "{{ len .password }}"}},
                "data": {
                    "reencoded": "{{ .db | fromJson | toJson }}",
                    "ratio": "{{ (fromJson .db).ratio }} {{ (fromJson .db).port }}",
                    "obj": "{{ .obj }}|{{ (fromJson .obj).a }}",
                    "list": "{{ range (fromJson .db).list }}{{ . }};{{ end }}",
                },
            }}}),
        ),
        es(
            "ps-gone-merge",
            json!({"secretStoreRef": ps, "target": {"deletionPolicy": "Merge"},
                "data": [{"secretKey": "a", "remoteRef": {"key": "/never/written"}}]}),
        ),
    ];
    // Each creation policy but `Owner` on each service: `Orphan`, `Merge` over a Secret
    // made beforehand, `Merge` with no Secret (`SecretMissing`), `None` (nothing written).
    for (service, store, key, property) in [
        ("sm", &sm, "db", Some("port")),
        ("ps", &ps, "/app/plain", None),
    ] {
        let mut remote = json!({"key": key});
        if let Some(property) = property {
            remote["property"] = json!(property);
        }
        let data = json!([{"secretKey": "read", "remoteRef": remote}]);
        for (case, target) in [
            ("orphan", json!({"creationPolicy": "Orphan"})),
            (
                "merge",
                json!({"name": format!("{service}-merge-target"), "creationPolicy": "Merge"}),
            ),
            (
                "merge-missing",
                json!({"name": format!("{service}-absent"), "creationPolicy": "Merge"}),
            ),
            ("none", json!({"creationPolicy": "None"})),
        ] {
            cases.push(es(
                &format!("{service}-{case}"),
                json!({"secretStoreRef": store, "target": target, "data": data}),
            ));
        }
    }
    cases
}

#[tokio::test]
async fn aws_providers_write_what_eso_writes() {
    // A control plane of its own: a Lockstep controller serves ExternalSecrets in every
    // namespace, so on the shared one this test's and the Vault test's would answer each
    // other's ExternalSecrets (without the other's endpoints).
    let plane = &need!(ControlPlane::start(Default::default()).await);
    let moto = need!(Kms::start().await);
    let client = plane.client().await.unwrap();
    need!(ExternalSecretsOperator::install_crds(&client).await);
    install_crd(&client).await;
    let first_version = seed(&moto).await;
    let cases = cases(&first_version);
    let (_, by_eso) = plane.namespace("aws-eso").await.unwrap();
    let (_, by_lockstep) = plane.namespace("aws-lockstep").await.unwrap();
    let (_, controller_ns) = plane.namespace("aws-ctl").await.unwrap();
    for namespace in [&by_eso, &by_lockstep] {
        stores(&client, namespace).await;
    }
    // The endpoints as ESO reads them; Lockstep reads the same variables.
    let endpoint = Path::new(moto.endpoint());
    let env = [
        ("AWS_SECRETSMANAGER_ENDPOINT", endpoint),
        ("AWS_SSM_ENDPOINT", endpoint),
    ];

    let eso = need!(ExternalSecretsOperator::start_with_env(plane, Some(&by_eso), &env).await);
    // ESO reads no store before its store controller has validated it (its flood gate):
    // the first reconciles would fail for a reason of ESO's making.
    let eso_stores: Api<kube::api::DynamicObject> = Api::namespaced_with(
        client.clone(),
        &by_eso,
        &kube::api::ApiResource::erase::<lockstep_api::SecretStore>(&()),
    );
    eventually_within(
        "ESO to validate its stores",
        Duration::from_secs(60),
        async || {
            let listed = eso_stores.list(&Default::default()).await.unwrap().items;
            listed.iter().all(|store| {
                store.data["status"]["conditions"]
                    .as_array()
                    .is_some_and(|c| {
                        c.iter()
                            .any(|c| c["type"] == "Ready" && c["status"] == "True")
                    })
            })
        },
    )
    .await;
    let eso_run = run(&client, &by_eso, &cases, EXPECTED).await;
    drop(eso);

    let watched = format!("--additional-namespaces={by_eso},{by_lockstep}");
    let controller = Controller::start_with_env(
        plane,
        &controller_ns,
        &["--sync=false", "--external-secrets=true", &watched],
        &env,
    )
    .await;
    let lockstep_run = run(&client, &by_lockstep, &cases, EXPECTED).await;
    assert_same((&lockstep_run, &by_lockstep), (&eso_run, &by_eso));
    let lockstep_secrets = lockstep_run.secrets;
    let value = |case: &str, key: &str| {
        let data = lockstep_secrets[case].data.as_ref().unwrap();
        String::from_utf8_lossy(&data[key].0).into_owned()
    };
    assert_eq!(value("sm-props", "password"), PASSWORD);
    assert_eq!(value("sm-props", "ratio"), "1.5");
    assert_eq!(value("sm-props", "obj"), r#"{ "b": 1, "a" : true }"#);
    assert_eq!(value("sm-props", "whole"), db(PASSWORD));
    assert_eq!(value("sm-props", "prev"), OLD_PASSWORD);
    assert_eq!(value("sm-props", "by-id"), OLD_PASSWORD);
    assert_eq!(
        lockstep_secrets["sm-binary"].data.as_ref().unwrap()["blob"].0,
        [0, 1, 2, 255]
    );
    assert_eq!(value("sm-prefix", "user"), "u2");
    assert_eq!(value("ps-props", "secure"), SECURE);
    assert_eq!(value("ps-props", "old"), "one");
    assert_eq!(value("ps-extract", "n"), "2.0");
    assert_eq!(
        value("sm-template", "obj"),
        r#"{ "b": 1, "a" : true }|true"#
    );
    assert_eq!(value("sm-template", "ratio"), "1.5 5432");
    assert_eq!(value("sm-template", "list"), "x;map[k:2];");
    assert_eq!(
        keys(&lockstep_secrets, "sm-find-name"),
        ["app_one", "app_two"]
    );
    assert_eq!(keys(&lockstep_secrets, "sm-find-path"), ["app_one"]);
    assert_eq!(keys(&lockstep_secrets, "sm-find-tags"), ["app_two"]);
    assert_eq!(keys(&lockstep_secrets, "sm-find-rewrite"), ["one", "two"]);
    assert_eq!(value("sm-find-rewrite", "one"), r#"{"a": "1"}"#);
    assert_eq!(
        keys(&lockstep_secrets, "ps-find"),
        ["_app_json", "_app_plain", "_app_secure", "_app_versioned"]
    );
    for service in ["sm", "ps"] {
        let merged = format!("{service}-merge");
        assert_eq!(keys(&lockstep_secrets, &merged), ["kept", "read"]);
        assert!(
            lockstep_secrets[&format!("{service}-orphan")]
                .metadata
                .owner_references
                .iter()
                .flatten()
                .next()
                .is_none(),
            "creationPolicy Orphan: no owner"
        );
        for nothing in ["merge-missing", "none"] {
            let case = format!("{service}-{nothing}");
            assert!(
                !lockstep_secrets.contains_key(&case),
                "{case} wrote a Secret"
            );
        }
    }
    assert_eq!(value("sm-orphan", "read"), "5432");
    assert_eq!(value("ps-merge", "read"), "plain-value");

    // A new version in Secrets Manager reaches the Secret within its refresh interval.
    moto.put_secret("db", Ok(&db(ROTATED))).await.unwrap();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &by_lockstep);
    eventually_within(
        "the rotated password in Lockstep's Secret",
        Duration::from_secs(30),
        async || {
            secrets.get("sm-props").await.unwrap().data.unwrap()["password"].0 == ROTATED.as_bytes()
        },
    )
    .await;
    let rotated = secrets.get("sm-props").await.unwrap();
    assert_eq!(
        rotated.metadata.uid,
        lockstep_secrets["sm-props"].metadata.uid
    );

    // Nothing AWS returned is in a status or the controller's log.
    let log = controller.log();
    let es: Api<ExternalSecret> = Api::namespaced(client.clone(), &by_lockstep);
    let statuses =
        serde_json::to_string(&es.list(&Default::default()).await.unwrap().items).unwrap();
    for value in [PASSWORD, OLD_PASSWORD, SECURE, ROTATED, "plain-value"] {
        assert!(!log.contains(value), "a value is in the controller log");
        assert!(!statuses.contains(value), "a value is in an ExternalSecret");
    }
    let bad = es.get("sm-bad-property").await.unwrap().status.unwrap();
    let message = bad.conditions[0].message.clone().unwrap();
    assert!(
        message.contains("spec.data[0].remoteRef.property"),
        "{message}"
    );
    assert!(message.contains("no.such"), "{message}");
}
