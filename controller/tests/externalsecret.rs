//! The ExternalSecret front-end against the real External Secrets Operator (v0.16.2, built
//! by the installer) and a real OpenBao, on the test control plane with ESO's own CRDs:
//! the same ExternalSecrets give byte-identical Secrets, the same `Ready` reasons and
//! messages of the same class (also after their remote secrets are deleted, under each
//! deletion policy), and a cluster switches from ESO to `lockstep-controller` and back
//! without a Secret being recreated or rewritten.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::{Controller, eventually_within, install_crd};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::{ConfigMap, Secret, ServiceAccount};
use kube::api::{Api, ObjectMeta, PostParams};
use lockstep_api::ExternalSecret;
use lockstep_api::external_secrets::{ESO_CREATED_BY_LABEL, ESO_DATA_HASH_ANNOTATION};
use lockstep_testenv::{ControlPlane, ExternalSecretsOperator, TokenAuth, Vault, need};
use serde_json::{Value, json};

/// Values written to OpenBao; none may appear in a status, an event or a log.
const PASSWORD: &str = "pw-9f3c<&>";
const API_KEY: &str = "key-51ab";
const V1_PASSWORD: &str = "v1-pass-77e2";
const NAMESPACED_PASSWORD: &str = "ns-pass-2c91";
const PEM_BUNDLE: &str = "subject=test\n-----BEGIN CERTIFICATE-----\n\
    TG9ja3N0ZXAgdGVzdCBjZXJ0aWZpY2F0ZSBib2R5\n\
    OiBub3QgYSByZWFsIGNlcnRpZmljYXRlLCBvbmx5IGJ5dGVzIHRvIHJlLXdyYXAgMDEyMzQ1Njc4OQ==\n\
    -----END CERTIFICATE-----\n-----BEGIN PRIVATE KEY-----\n\
    TG9ja3N0ZXAgdGVzdCBrZXkgYm9keSwgYWxzbyBub3QgYSBrZXk=\n-----END PRIVATE KEY-----\n";
const REGISTRY_PASSWORD: &str = "reg-pass-4d1e\"<x>";

/// Writes the remote secrets every case reads: KV v2 at `secret/`, KV v1 at `kv1/`.
async fn seed(vault: &Vault) {
    let write = |path: &'static str, data: Value| async move {
        vault
            .post(path, &json!({ "data": data }).to_string())
            .await
            .unwrap();
    };
    write(
        "/v1/secret/data/db",
        json!({"password": PASSWORD, "port": 5432, "ratio": 1.5, "on": true,
               "nested": {"user": {"name": "app"}, "list": ["a", "b"]},
               "b64": "aGVsbG8gd29ybGQ=", "b64url": "aGk-Pz8="}),
    )
    .await;
    write(
        "/v1/secret/data/app",
        json!({"api-key": API_KEY, "user/name": "u", "n": 2}),
    )
    .await;
    // For dataFrom.find: a folder with a subfolder, one secret tagged.
    write("/v1/secret/data/team/app1", json!({"k": "v1"})).await;
    write("/v1/secret/data/team/app2", json!({"k": "v2"})).await;
    write("/v1/secret/data/team/other", json!({"x": "y"})).await;
    write("/v1/secret/data/team/sub/deep", json!({"d": 1})).await;
    vault
        .post(
            "/v1/secret/metadata/team/app2",
            r#"{"custom_metadata":{"env":"prod"}}"#,
        )
        .await
        .unwrap();
    // A registry login, read whole and taken apart by a template.
    write(
        "/v1/secret/data/registry",
        json!({"registry": "reg.example:5000", "user": "bot", "pass": REGISTRY_PASSWORD}),
    )
    .await;
    // A PEM bundle (made-up bytes) for filterPEM: junk first, lines of another width.
    write("/v1/secret/data/tls", json!({"bundle": PEM_BUNDLE})).await;
    // Keys a Secret cannot hold as they are, for conversionStrategy: a space, `@` and `/`,
    // a character beyond U+FFFF, a circled letter (a symbol to Go, alphabetic to Rust), and
    // letters no Secret key may have (Go's IsLetter keeps them).
    write(
        "/v1/secret/data/odd",
        json!({"a b": "1", "x@y/z": "2", "emoji\u{1f600}": "3", "\u{24b6}": "4", "ok.key-1_": "5"}),
    )
    .await;
    write("/v1/secret/data/letters", json!({"ключ": "v"})).await;
    // For decodingStrategy Base64URL: padded base64url (one value not UTF-8), and
    // standard base64 with `+` and `/`, which base64url refuses.
    write(
        "/v1/secret/data/encoded",
        json!({"url": "aGk-Pz8=", "bin": "_-8="}),
    )
    .await;
    write("/v1/secret/data/encoded-std", json!({"v": "+/8="})).await;
    // Two versions: version 1 is read by number.
    write("/v1/secret/data/versioned", json!({"v": "one"})).await;
    write("/v1/secret/data/versioned", json!({"v": "two"})).await;
    vault
        .post(
            "/v1/sys/mounts/kv1",
            r#"{"type":"kv","options":{"version":"1"}}"#,
        )
        .await
        .unwrap();
    vault
        .post(
            "/v1/kv1/legacy",
            &json!({"password": V1_PASSWORD}).to_string(),
        )
        .await
        .unwrap();
    // An OpenBao namespace (Vault Enterprise's, served by OpenBao since 2.3) with a KV v2
    // mount of the same path as the root one, for the provider's `namespace`: a store
    // without it reads the root's `secret/db`, a store with it this one.
    vault.post("/v1/sys/namespaces/team-a", "{}").await.unwrap();
    let kv2 = json!({"type": "kv", "options": {"version": "2"}}).to_string();
    vault
        .post("/v1/team-a/sys/mounts/secret", &kv2)
        .await
        .unwrap();
    write(
        "/v1/team-a/secret/data/db",
        json!({"password": NAMESPACED_PASSWORD}),
    )
    .await;
}

/// A Secret `name` holding `data`, to create.
pub(crate) fn secret(name: &str, data: &[(&str, &str)]) -> Secret {
    Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        data: Some(
            data.iter()
                .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Secret::default()
    }
}

/// The stores, the token Secret, a Secret for `creationPolicy: Merge` and a ConfigMap of
/// templates, in `namespace`.
/// AppRole auth in `vault`: role `eso` (role id `eso-role`, secret id `secret-id-4d1e`)
/// with a policy that reads `secret/data/*`.
async fn approle(vault: &Vault) {
    for (path, body) in [
        ("/v1/sys/auth/approle", json!({"type": "approle"})),
        (
            "/v1/sys/policies/acl/read",
            json!({"policy": "path \"secret/data/*\" { capabilities = [\"read\"] }"}),
        ),
        (
            "/v1/auth/approle/role/eso",
            json!({"token_policies": "read"}),
        ),
        (
            "/v1/auth/approle/role/eso/role-id",
            json!({"role_id": "eso-role"}),
        ),
        (
            "/v1/auth/approle/role/eso/custom-secret-id",
            json!({"secret_id": "secret-id-4d1e"}),
        ),
    ] {
        vault.post(path, &body.to_string()).await.unwrap();
    }
}

async fn stores(client: &kube::Client, namespace: &str, vault: &Vault) {
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let post = PostParams::default();
    let templates = json!({
        "apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "templates"},
        "data": {
            "config.yaml": "user: {{ (fromJson .whole).nested.user.name }}\nport: {{ .port }}\n",
            "copies": "{{ range $k, $v := . }}{{ if ne $k \"whole\" }}{{ $k }}-b64: {{ $v | b64enc | quote }}\n{{ end }}{{ end }}",
        },
    });
    Api::<ConfigMap>::namespaced(client.clone(), namespace)
        .create(&post, &serde_json::from_value(templates).unwrap())
        .await
        .unwrap();
    secrets
        .create(&post, &secret("vault-token", &[("token", vault.token())]))
        .await
        .unwrap();
    secrets
        .create(&post, &secret("merge-target", &[("kept", "k")]))
        .await
        .unwrap();
    let stores: Api<kube::api::DynamicObject> = Api::namespaced_with(
        client.clone(),
        namespace,
        &kube::api::ApiResource::erase::<lockstep_api::SecretStore>(&()),
    );
    for (name, path, version, bao_namespace) in [
        ("vault", "secret", "v2", None),
        ("vault-v1", "kv1", "v1", None),
        ("vault-team-a", "secret", "v2", Some("team-a")),
    ] {
        let mut store = json!({
            "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
            "metadata": {"name": name},
            "spec": {"provider": {"vault": {
                "server": vault.addr(), "path": path, "version": version,
                "auth": {"tokenSecretRef": {"name": "vault-token", "key": "token"}},
            }}},
        });
        if let Some(bao_namespace) = bao_namespace {
            store["spec"]["provider"]["vault"]["namespace"] = json!(bao_namespace);
        }
        stores
            .create(&post, &serde_json::from_value(store).unwrap())
            .await
            .unwrap();
    }
}

/// An AppRole SecretStore `vault-approle` in `namespace` (the auth of [`approle`]).
async fn approle_store(client: &kube::Client, namespace: &str, vault: &Vault) {
    let post = PostParams::default();
    Api::<Secret>::namespaced(client.clone(), namespace)
        .create(
            &post,
            &secret("approle-id", &[("secret-id", "secret-id-4d1e")]),
        )
        .await
        .unwrap();
    let store = json!({
        "apiVersion": "external-secrets.io/v1", "kind": "SecretStore",
        "metadata": {"name": "vault-approle"},
        "spec": {"provider": {"vault": {"server": vault.addr(), "path": "secret", "auth": {
            "appRole": {"roleId": "eso-role", "secretRef": {"name": "approle-id", "key": "secret-id"}},
        }}}},
    });
    Api::<kube::api::DynamicObject>::namespaced_with(
        client.clone(),
        namespace,
        &kube::api::ApiResource::erase::<lockstep_api::SecretStore>(&()),
    )
    .create(&post, &serde_json::from_value(store).unwrap())
    .await
    .unwrap();
}

/// The label [`ClusterStores`]' selectors choose the compared namespaces by.
const RUN_LABEL: &str = "lockstep.test/es-compare";

/// The ClusterSecretStores of one run of the comparison, `<run>-<what>`, each limited by
/// `spec.conditions`. They are cluster-scoped on the shared control plane, so they are
/// named for the run and deleted when this is dropped, a failed test included. Their
/// token Secret has no namespace: each ExternalSecret's own namespace's `vault-token` is
/// used (ESO's referent auth), which ESO scoped to one namespace can read.
struct ClusterStores {
    plane: &'static ControlPlane,
    names: Vec<String>,
}

impl ClusterStores {
    /// Labels `namespaces` with [`RUN_LABEL`]` = run` and creates the stores: by that
    /// label, by name, by regular expressions, by label before a regular expression that
    /// does not compile (ESO looks at the selector first), and one no condition of which
    /// includes `namespaces`.
    async fn create(
        plane: &'static ControlPlane,
        vault: &Vault,
        run: &str,
        namespaces: [&str; 2],
    ) -> Self {
        let client = plane.client().await.unwrap();
        let labelled = json!({"metadata": {"labels": {RUN_LABEL: run}}});
        for namespace in namespaces {
            let api = Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone());
            merge(&api, namespace, labelled.clone()).await;
        }
        let [first, second] = namespaces;
        let provider = json!({"vault": {"server": vault.addr(), "path": "secret",
            "auth": {"tokenSecretRef": {"name": "vault-token", "key": "token"}}}});
        let api = Api::<kube::api::DynamicObject>::all_with(
            client,
            &kube::api::ApiResource::erase::<lockstep_api::ClusterSecretStore>(&()),
        );
        let mut stores = Self {
            plane,
            names: Vec::new(),
        };
        for (what, conditions) in [
            (
                "by-label",
                json!([{"namespaceSelector": {"matchLabels": {RUN_LABEL: run}}}]),
            ),
            (
                "by-name",
                json!([{"namespaces": ["elsewhere"]}, {"namespaces": [first, second]}]),
            ),
            (
                "by-regex",
                json!([{"namespaceRegexes": ["^nothing$", format!("{first}$"), format!("^{second}")]}]),
            ),
            (
                "bad-regex",
                json!([{"namespaceSelector": {"matchExpressions":
                    [{"key": RUN_LABEL, "operator": "In", "values": ["x", run]}]},
                    "namespaceRegexes": ["(unclosed"]}]),
            ),
            (
                "denied",
                json!([{"namespaces": ["elsewhere"]},
                    {"namespaceSelector": {"matchLabels": {RUN_LABEL: "nobody"}}},
                    {"namespaceRegexes": ["^kube-"]}]),
            ),
        ] {
            let name = format!("{run}-{what}");
            let object = json!({"apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore",
                "metadata": {"name": name},
                "spec": {"provider": provider, "conditions": conditions}});
            api.create(
                &PostParams::default(),
                &serde_json::from_value(object).unwrap(),
            )
            .await
            .unwrap();
            stores.names.push(name);
        }
        stores
    }
}

impl Drop for ClusterStores {
    /// Deletes the stores from a thread of its own: the test's runtime may be gone (a
    /// panic) and a client is bound to the runtime it was made in.
    fn drop(&mut self) {
        let (plane, names) = (self.plane, std::mem::take(&mut self.names));
        let deleted = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            runtime.block_on(async {
                let client = plane.client().await.ok()?;
                let api = Api::<kube::api::DynamicObject>::all_with(
                    client,
                    &kube::api::ApiResource::erase::<lockstep_api::ClusterSecretStore>(&()),
                );
                for name in names {
                    api.delete(&name, &Default::default()).await.ok()?;
                }
                Some(())
            })
        })
        .join();
        if !matches!(deleted, Ok(Some(()))) {
            eprintln!("ClusterSecretStores of the ExternalSecret comparison left behind");
        }
    }
}

/// The `Ready` reason each of [`cases`] ends with, under ESO and Lockstep alike.
const EXPECTED: &[(&str, &str)] = &[
    ("approle", "SecretSynced"),
    ("bad-property", "SecretSyncedError"),
    ("cluster-bad-regex", "SecretSynced"),
    ("cluster-denied", "SecretSyncedError"),
    ("cluster-label", "SecretSynced"),
    ("cluster-names", "SecretSynced"),
    ("cluster-regex", "SecretSynced"),
    ("decode-url", "SecretSynced"),
    ("decode-url-bad", "SecretSyncedError"),
    ("extract", "SecretSynced"),
    ("extract-letters", "SecretSyncedError"),
    ("extract-odd", "SecretSynced"),
    ("extract-rewrite", "SecretSynced"),
    ("extract-unicode", "SecretSynced"),
    ("find-name", "SecretSynced"),
    ("find-nowhere", "SecretSyncedError"),
    ("find-rewrite", "SecretSynced"),
    ("find-tags", "SecretSynced"),
    ("find-unicode", "SecretSynced"),
    ("gone-delete", "SecretDeleted"),
    ("gone-merge", "SecretSynced"),
    ("legacy", "SecretSynced"),
    ("merge", "SecretSynced"),
    ("merge-missing", "SecretMissing"),
    ("namespaced", "SecretSynced"),
    ("no-write", "SecretSynced"),
    ("once-immutable", "SecretSynced"),
    ("props", "SecretSynced"),
    ("rewrite-transform", "SecretSynced"),
    ("tpl-bad", "SecretSyncedError"),
    ("tpl-data", "SecretSynced"),
    ("tpl-docker", "SecretSynced"),
    ("tpl-from", "SecretSynced"),
    ("tpl-missing", "SecretSyncedError"),
    ("tpl-pem", "SecretSynced"),
];

/// The ExternalSecrets compared, by name: every field served, the creation policies, an
/// AppRole store, the ClusterSecretStores of run `run` ([`ClusterStores`]), and some that
/// end other than `SecretSynced`.
fn cases(run: &str) -> Vec<Value> {
    let es = |name: &str, spec: Value| {
        json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": name, "labels": {"team": "payments"},
                         "annotations": {"owner": "ops"}},
            "spec": spec,
        })
    };
    let store = json!({"name": "vault", "kind": "SecretStore"});
    let db_values = json!([
        {"secretKey": "password", "remoteRef": {"key": "db", "property": "password"}},
        {"secretKey": "port", "remoteRef": {"key": "db", "property": "port"}},
        {"secretKey": "on", "remoteRef": {"key": "db", "property": "on"}},
        {"secretKey": "whole", "remoteRef": {"key": "db"}},
    ]);
    let cluster =
        |what: &str| json!({"name": format!("{run}-{what}"), "kind": "ClusterSecretStore"});
    let password =
        json!([{"secretKey": "password", "remoteRef": {"key": "db", "property": "password"}}]);
    vec![
        es(
            "props",
            json!({
                "refreshInterval": "5s", "secretStoreRef": store,
                "data": [
                    {"secretKey": "password", "remoteRef": {"key": "db", "property": "password"}},
                    {"secretKey": "port", "remoteRef": {"key": "db", "property": "port"}},
                    {"secretKey": "ratio", "remoteRef": {"key": "db", "property": "ratio"}},
                    {"secretKey": "on", "remoteRef": {"key": "db", "property": "on"}},
                    {"secretKey": "user", "remoteRef": {"key": "db", "property": "nested.user.name"}},
                    {"secretKey": "list", "remoteRef": {"key": "db", "property": "nested.list"}},
                    {"secretKey": "count", "remoteRef": {"key": "db", "property": "nested.list.#"}},
                    {"secretKey": "whole", "remoteRef": {"key": "secret/data/db"}},
                    {"secretKey": "hello", "remoteRef": {"key": "db", "property": "b64", "decodingStrategy": "Base64"}},
                    {"secretKey": "auto", "remoteRef": {"key": "db", "property": "b64url", "decodingStrategy": "Auto"}},
                    {"secretKey": "old", "remoteRef": {"key": "versioned", "property": "v", "version": "1"}},
                ],
            }),
        ),
        es(
            "extract",
            json!({
                "refreshInterval": "1h", "secretStoreRef": store,
                "target": {"name": "extracted"},
                "dataFrom": [{"extract": {"key": "app"}}, {"extract": {"key": "db", "property": "nested.user"}}],
            }),
        ),
        es(
            "extract-rewrite",
            json!({
                "secretStoreRef": store,
                "dataFrom": [{"extract": {"key": "db", "property": "nested.user"},
                    "rewrite": [{"regexp": {"source": "^", "target": "user_"}}]}],
            }),
        ),
        es(
            "rewrite-transform",
            json!({
                "secretStoreRef": store,
                "dataFrom": [
                    {"extract": {"key": "db", "property": "nested.user"},
                     "rewrite": [{"regexp": {"source": "^", "target": "x-"}},
                                 {"transform": {"template": "{{ .value | upper | replace \"-\" \"_\" }}"}}]},
                    {"find": {"path": "team", "name": {"regexp": "app"}},
                     "rewrite": [{"transform": {"template": "{{ .value | replace \"/\" \".\" }}.v"}}]},
                ],
            }),
        ),
        es(
            "find-name",
            json!({
                "secretStoreRef": store,
                "dataFrom": [{"find": {"path": "team", "name": {"regexp": "app"}}}],
            }),
        ),
        es(
            "find-tags",
            json!({
                "secretStoreRef": store,
                "dataFrom": [{"find": {"path": "team", "tags": {"env": "prod"}}}],
            }),
        ),
        es(
            "find-rewrite",
            json!({
                "secretStoreRef": store,
                "dataFrom": [{"find": {"name": {"regexp": "^team/(sub|other)"}},
                    "rewrite": [{"regexp": {"source": "^team/(sub/)?(.*)$", "target": "${2}"}},
                                {"regexp": {"source": "e", "target": "E"}}]}],
            }),
        ),
        es(
            "find-nowhere",
            json!({
                "secretStoreRef": store,
                "dataFrom": [{"find": {"path": "nowhere", "name": {"regexp": "."}}}],
            }),
        ),
        es(
            "namespaced",
            json!({
                "secretStoreRef": {"name": "vault-team-a"},
                "data": [{"secretKey": "password", "remoteRef": {"key": "db", "property": "password"}}],
            }),
        ),
        es(
            "legacy",
            json!({
                "secretStoreRef": {"name": "vault-v1"},
                "target": {"creationPolicy": "Orphan"},
                "data": [{"secretKey": "password", "remoteRef": {"key": "legacy", "property": "password"}}],
            }),
        ),
        es(
            "merge",
            json!({
                "secretStoreRef": store,
                "target": {"name": "merge-target", "creationPolicy": "Merge"},
                "data": [{"secretKey": "added", "remoteRef": {"key": "app", "property": "n"}}],
            }),
        ),
        es(
            "merge-missing",
            json!({
                "secretStoreRef": store,
                "target": {"name": "absent", "creationPolicy": "Merge"},
                "data": [{"secretKey": "a", "remoteRef": {"key": "app", "property": "n"}}],
            }),
        ),
        es(
            "bad-property",
            json!({
                "secretStoreRef": store,
                "data": [{"secretKey": "a", "remoteRef": {"key": "db", "property": "no.such"}}],
            }),
        ),
        es(
            "gone-delete",
            json!({
                "secretStoreRef": store,
                "target": {"deletionPolicy": "Delete"},
                "data": [{"secretKey": "a", "remoteRef": {"key": "never/written"}}],
            }),
        ),
        es(
            "gone-merge",
            json!({
                "secretStoreRef": store,
                "target": {"deletionPolicy": "Merge"},
                "data": [{"secretKey": "a", "remoteRef": {"key": "never/written"}}],
            }),
        ),
        es(
            "once-immutable",
            json!({
                "refreshInterval": "0", "secretStoreRef": store,
                "target": {"immutable": true},
                "data": [{"secretKey": "a", "remoteRef": {"key": "app", "property": "api-key"}}],
            }),
        ),
        es(
            "tpl-data",
            json!({
                "secretStoreRef": store, "data": db_values.clone(),
                "target": {"template": {
                    "engineVersion": "v2", "type": "kubernetes.io/basic-auth",
                    "metadata": {
                        "labels": {"app": "{{ (fromJson .whole).nested.user.name | upper }}", "static": "s"},
                        "annotations": {"port": "p{{ .port }}"},
                    },
                    "data": {
                        "username": "{{ (fromJson .whole).nested.user.name }}",
                        "password": "{{ .password }}",
                        "quoted": "{{ quote .password }} {{ squote .on }}",
                        "dsn": "{{ printf \"%s:%s@db:%s\" (fromJson .whole).nested.user.name .password .port }}",
                        "json": "{{ dict \"p\" .password \"n\" (fromJson .whole).ratio \"l\" (splitList \",\" \"a,b\") | toJson }}",
                        "trimmed": "{{- if eq .on \"true\" }}\n  on\n{{- else }}off{{ end -}}\n",
                        "lengths": "{{ range $k, $v := . }}{{ $k }}={{ len $v }};{{ end }}",
                        "defaulted": "{{ default \"none\" (index . \"absent\") }}|{{ .password | b64enc | b64dec | trimSuffix \">\" }}",
                        "indented": "x:{{ .whole | indent 2 }}{{ \"y\" | nindent 1 }}",
                    },
                }},
            }),
        ),
        es(
            "tpl-docker",
            json!({
                "secretStoreRef": store,
                "data": [{"secretKey": "creds", "remoteRef": {"key": "registry"}}],
                "target": {"name": "registry-pull", "template": {
                    "type": "kubernetes.io/dockerconfigjson",
                    "data": {".dockerconfigjson": concat!(
                        "{{ $c := .creds | fromJson }}",
                        "{{ dict \"auths\" (dict $c.registry (dict \"username\" $c.user \"password\" $c.pass ",
                        "\"auth\" (printf \"%s:%s\" $c.user $c.pass | b64enc))) | toJson }}",
                    )},
                }},
            }),
        ),
        es(
            "tpl-from",
            json!({
                "secretStoreRef": store, "data": db_values.clone(),
                "target": {"template": {
                    "mergePolicy": "Merge",
                    "templateFrom": [
                        {"configMap": {"name": "templates", "items": [
                            {"key": "config.yaml"},
                            {"key": "copies", "templateAs": "KeysAndValues"},
                        ]}},
                        {"target": "Annotations", "literal": "user-port: \"{{ .port }}\""},
                        {"target": "Labels", "literal": "{{ if .on }}switch: \"{{ .on }}\"{{ end }}"},
                    ],
                    "data": {"password": "replaced-{{ len .password }}"},
                }},
            }),
        ),
        es(
            "tpl-pem",
            json!({
                "secretStoreRef": store,
                "data": [{"secretKey": "bundle", "remoteRef": {"key": "tls", "property": "bundle"}}],
                "target": {"template": {"type": "kubernetes.io/tls", "data": {
                    "tls.crt": "{{ .bundle | filterPEM \"CERTIFICATE\" }}",
                    "tls.key": "{{ .bundle | filterPEM \"private key\" }}",
                }}},
            }),
        ),
        es(
            "tpl-bad",
            json!({
                "secretStoreRef": store, "data": db_values,
                "target": {"template": {"data": {"broken": "ok\n{{ .password | nosuchfn }}"}}},
            }),
        ),
        es(
            "no-write",
            json!({
                "secretStoreRef": store,
                "target": {"creationPolicy": "None"},
                "data": [{"secretKey": "a", "remoteRef": {"key": "app", "property": "api-key"}}],
            }),
        ),
        es(
            "tpl-missing",
            json!({
                "secretStoreRef": store, "data": password,
                "target": {"template": {"templateFrom": [
                    {"configMap": {"name": "absent-templates", "items": [{"key": "x"}]}},
                ]}},
            }),
        ),
        es(
            "approle",
            json!({"secretStoreRef": {"name": "vault-approle"}, "data": password}),
        ),
        es(
            "cluster-label",
            json!({"secretStoreRef": cluster("by-label"), "data": password}),
        ),
        es(
            "cluster-names",
            json!({"secretStoreRef": cluster("by-name"), "dataFrom": [{"extract": {"key": "app"}}]}),
        ),
        es(
            "cluster-regex",
            json!({"secretStoreRef": cluster("by-regex"), "data": password}),
        ),
        es(
            "cluster-bad-regex",
            json!({"secretStoreRef": cluster("bad-regex"), "data": password}),
        ),
        es(
            "cluster-denied",
            json!({"secretStoreRef": cluster("denied"), "data": password}),
        ),
        es(
            "extract-odd",
            json!({"secretStoreRef": store, "dataFrom": [{"extract": {"key": "odd"}}]}),
        ),
        es(
            "extract-unicode",
            json!({"secretStoreRef": store,
                "dataFrom": [{"extract": {"key": "odd", "conversionStrategy": "Unicode"}}]}),
        ),
        es(
            "extract-letters",
            json!({"secretStoreRef": store,
                "dataFrom": [{"extract": {"key": "letters", "conversionStrategy": "Unicode"}}]}),
        ),
        es(
            "find-unicode",
            json!({"secretStoreRef": store, "dataFrom": [{"find":
                {"path": "team", "name": {"regexp": "app"}, "conversionStrategy": "Unicode"}}]}),
        ),
        es(
            "decode-url",
            json!({
                "secretStoreRef": store,
                "data": [{"secretKey": "hi", "remoteRef":
                    {"key": "db", "property": "b64url", "decodingStrategy": "Base64URL"}}],
                "dataFrom": [{"extract": {"key": "encoded", "decodingStrategy": "Base64URL"}}],
            }),
        ),
        es(
            "decode-url-bad",
            json!({"secretStoreRef": store, "data": [{"secretKey": "v", "remoteRef":
                {"key": "encoded-std", "property": "v", "decodingStrategy": "Base64URL"}}]}),
        ),
    ]
}

/// The value each of [`removed_cases`]' remote secrets holds until it is deleted.
const REMOVED_VALUE: &str = "removed-8e1b";

/// The remote secrets of [`removed_cases`], under a prefix of each controller's own.
const REMOVED_KEYS: [&str; 4] = ["delete", "merge", "merge-owner", "retain"];

/// Each of [`removed_cases`]' `Ready` reason while its remote secret exists.
const REMOVED_BEFORE: &[(&str, &str)] = &[
    ("removed-delete", "SecretSynced"),
    ("removed-merge", "SecretSynced"),
    ("removed-merge-owner", "SecretSynced"),
    ("removed-retain", "SecretSynced"),
];

/// And once it is deleted and a refresh requested, under ESO and Lockstep alike. `Retain`
/// ends `SecretSyncedError`: ESO v0.16.2 skips a remote secret that does not exist only
/// for the other deletion policies (`getProviderSecretData`), so with `Retain` the read
/// fails and the Secret is left as it was.
const REMOVED_AFTER: &[(&str, &str)] = &[
    ("removed-delete", "SecretDeleted"),
    ("removed-merge", "SecretSynced"),
    ("removed-merge-owner", "SecretSynced"),
    ("removed-retain", "SecretSyncedError"),
];

/// One ExternalSecret per deletion policy, each reading a remote secret under `prefix/`
/// that exists at first and is deleted later ([`remote_removed`]); `removed-merge` merges
/// into Secret `removed-merge-target`, made beforehand with a key of its own.
fn removed_cases(prefix: &str) -> Vec<Value> {
    let es = |name: &str, key: &str, target: Value| {
        json!({
            "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": name},
            "spec": {
                "refreshInterval": "1h",
                "secretStoreRef": {"name": "vault", "kind": "SecretStore"},
                "target": target,
                "data": [{"secretKey": "v", "remoteRef": {"key": format!("{prefix}/{key}"), "property": "v"}}],
            },
        })
    };
    vec![
        es(
            "removed-delete",
            "delete",
            json!({"deletionPolicy": "Delete"}),
        ),
        es(
            "removed-merge",
            "merge",
            json!({"name": "removed-merge-target", "creationPolicy": "Merge", "deletionPolicy": "Merge"}),
        ),
        es(
            "removed-merge-owner",
            "merge-owner",
            json!({"deletionPolicy": "Merge"}),
        ),
        es(
            "removed-retain",
            "retain",
            json!({"deletionPolicy": "Retain"}),
        ),
    ]
}

/// What the controller serving `namespace` made of [`removed_cases`]: once synced, and
/// again after each remote secret was deleted (`DELETE .../metadata/<key>`: every version
/// gone) and a refresh requested with ESO's `force-sync` annotation.
async fn remote_removed(
    client: &kube::Client,
    namespace: &str,
    vault: &Vault,
    prefix: &str,
) -> (Run, Run) {
    for key in REMOVED_KEYS {
        let data = json!({"data": {"v": REMOVED_VALUE}}).to_string();
        let path = format!("/v1/secret/data/{prefix}/{key}");
        vault.post(&path, &data).await.unwrap();
    }
    let target = secret("removed-merge-target", &[("kept", "k")]);
    Api::<Secret>::namespaced(client.clone(), namespace)
        .create(&PostParams::default(), &target)
        .await
        .unwrap();
    let cases = removed_cases(prefix);
    let before = run(client, namespace, &cases, REMOVED_BEFORE).await;

    for key in REMOVED_KEYS {
        let path = format!("/v1/secret/metadata/{prefix}/{key}");
        vault.delete(&path).await.unwrap();
    }
    let es_api: Api<ExternalSecret> = Api::namespaced(client.clone(), namespace);
    for case in &cases {
        let name = case["metadata"]["name"].as_str().unwrap();
        let forced = json!({"metadata": {"annotations": {"force-sync": "removed"}}});
        merge(&es_api, name, forced).await;
    }
    let (reasons, messages) = reasons(client, namespace, &cases, REMOVED_AFTER).await;
    // Two keep their reason: wait for the requested refresh itself, which records the
    // annotated ExternalSecret's version as synced (a failed one records nothing).
    eventually_within(
        "the requested refreshes",
        Duration::from_secs(60),
        async || {
            for case in &cases {
                let es = es_api
                    .get(case["metadata"]["name"].as_str().unwrap())
                    .await
                    .unwrap();
                let status = es.status.clone().unwrap_or_default();
                let ready = status
                    .conditions
                    .iter()
                    .any(|c| c.type_ == "Ready" && c.status == "True");
                let version = lockstep_eso::status::synced_resource_version(&es.metadata);
                if ready && status.synced_resource_version.as_deref() != Some(version.as_str()) {
                    return false;
                }
            }
            true
        },
    )
    .await;
    let after = Run {
        reasons,
        messages,
        secrets: secrets_of(client, namespace, &cases).await,
    };
    (before, after)
}

/// What [`remote_removed`] must leave, whichever controller ran it: `Delete` removed the
/// Secret, `Merge` took out only the key read from the provider (the Secret made
/// beforehand keeps its own; the one the ExternalSecret created is kept, empty), `Retain`
/// left the Secret as it was.
fn assert_removed((before, after): &(Run, Run)) {
    assert!(before.secrets.contains_key("removed-delete"));
    assert!(
        !after.secrets.contains_key("removed-delete"),
        "deletionPolicy Delete kept the Secret"
    );
    assert_eq!(keys(&before.secrets, "removed-merge"), ["kept", "v"]);
    let merged = &after.secrets["removed-merge"];
    let data = merged.data.clone().unwrap_or_default();
    assert_eq!(
        data.into_iter().collect::<Vec<_>>(),
        [("kept".to_owned(), ByteString(b"k".to_vec()))],
        "deletionPolicy Merge over a Secret made by someone else"
    );
    assert_eq!(
        merged.metadata.uid,
        before.secrets["removed-merge"].metadata.uid
    );
    assert_eq!(keys(&before.secrets, "removed-merge-owner"), ["v"]);
    let emptied = &after.secrets["removed-merge-owner"];
    assert!(emptied.data.clone().unwrap_or_default().is_empty());
    assert_eq!(
        emptied.metadata.uid, before.secrets["removed-merge-owner"].metadata.uid,
        "deletionPolicy Merge recreated the Secret"
    );
    let (kept, was) = (
        &after.secrets["removed-retain"],
        &before.secrets["removed-retain"],
    );
    assert_eq!(
        (&kept.metadata.resource_version, &kept.data),
        (&was.metadata.resource_version, &was.data),
        "deletionPolicy Retain changed the Secret"
    );
}

fn target_of(case: &Value) -> String {
    case["spec"]["target"]["name"]
        .as_str()
        .or(case["metadata"]["name"].as_str())
        .unwrap()
        .to_owned()
}

/// What one controller made of `cases` in one namespace.
pub(crate) struct Run {
    /// Each case's `Ready` reason.
    pub reasons: BTreeMap<String, String>,
    /// And its message.
    pub messages: BTreeMap<String, String>,
    /// The Secret each case wrote, where one exists.
    pub secrets: BTreeMap<String, Secret>,
}

/// Creates `cases` in `namespace` and waits for their `Ready` reasons to be `expected`.
pub(crate) async fn run(
    client: &kube::Client,
    namespace: &str,
    cases: &[Value],
    expected: &[(&str, &str)],
) -> Run {
    create_cases(client, namespace, cases).await;
    let (reasons, messages) = reasons(client, namespace, cases, expected).await;
    Run {
        reasons,
        messages,
        secrets: secrets_of(client, namespace, cases).await,
    }
}

/// Lockstep's run equals ESO's: the same reasons, messages of the same class, and
/// byte-identical Secrets. ESO's message is a fixed one per class of failure (the detail
/// goes to an event); Lockstep's is the same or starts with it and adds the detail after
/// `": "` (`could not get secret data from provider: spec.data[0].remoteRef: …`).
pub(crate) fn assert_same((ours, by_lockstep): (&Run, &str), (theirs, by_eso): (&Run, &str)) {
    assert_eq!(ours.reasons, theirs.reasons);
    assert_eq!(
        ours.messages.keys().collect::<Vec<_>>(),
        theirs.messages.keys().collect::<Vec<_>>()
    );
    for (name, message) in &ours.messages {
        let class = &theirs.messages[name];
        assert!(
            message == class || message.starts_with(&format!("{class}: ")),
            "Ready message of ExternalSecret {name}: Lockstep's {message:?} is not of ESO's \
             class {class:?}"
        );
    }
    assert_eq!(
        ours.secrets.keys().collect::<Vec<_>>(),
        theirs.secrets.keys().collect::<Vec<_>>()
    );
    for (name, secret) in &ours.secrets {
        assert_eq!(
            comparable(secret, by_lockstep, name),
            comparable(&theirs.secrets[name], by_eso, name),
            "Secret of ExternalSecret {name}: Lockstep (left) and ESO (right) differ"
        );
    }
}

/// The keys of the Secret case `case` wrote.
pub(crate) fn keys(secrets: &BTreeMap<String, Secret>, case: &str) -> Vec<String> {
    secrets[case]
        .data
        .as_ref()
        .unwrap()
        .keys()
        .cloned()
        .collect()
}

/// Creates ExternalSecrets `cases` in `namespace`.
pub(crate) async fn create_cases(client: &kube::Client, namespace: &str, cases: &[Value]) {
    let api: Api<ExternalSecret> = Api::namespaced(client.clone(), namespace);
    for case in cases {
        api.create(
            &PostParams::default(),
            &serde_json::from_value(case.clone()).unwrap(),
        )
        .await
        .unwrap();
    }
}

/// Each case's `Ready` reason, once they are `expected`, and its message: a reconcile that
/// failed for a passing reason (a store not validated yet, a slow endpoint under load) is
/// retried by either controller, so the first reason seen is not the one compared. Panics
/// with every reason and message seen (messages hold no values) when they do not get
/// there in time.
async fn reasons(
    client: &kube::Client,
    namespace: &str,
    cases: &[Value],
    expected: &[(&str, &str)],
) -> (BTreeMap<String, String>, BTreeMap<String, String>) {
    let api: Api<ExternalSecret> = Api::namespaced(client.clone(), namespace);
    let expected: BTreeMap<String, String> = expected
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    loop {
        let mut found = BTreeMap::new();
        let mut seen = BTreeMap::new();
        for case in cases {
            let name = case["metadata"]["name"].as_str().unwrap();
            let es = api.get(name).await.unwrap();
            let ready = es
                .status
                .and_then(|s| s.conditions.into_iter().find(|c| c.type_ == "Ready"));
            if let Some(ready) = ready {
                let reason = ready.reason.unwrap_or_default();
                seen.insert(name.to_owned(), (reason.clone(), ready.message));
                found.insert(name.to_owned(), reason);
            }
        }
        if found == expected {
            let messages = seen
                .into_iter()
                .map(|(name, (_, message))| (name, message.unwrap_or_default()))
                .collect();
            return (found, messages);
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the ExternalSecrets in {namespace} did not reach their expected reasons in 120 s; \
             seen: {seen:#?}"
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The parts of a Secret that must be byte-identical, with the `created-by` label (a hash
/// of the ExternalSecret's namespace and name) checked against `namespace` and left out.
fn comparable(secret: &Secret, namespace: &str, es_name: &str) -> Value {
    let mut labels = secret.metadata.labels.clone().unwrap_or_default();
    if let Some(created_by) = labels.remove(ESO_CREATED_BY_LABEL) {
        assert_eq!(
            created_by,
            lockstep_eso::go::hash_str(&format!("{namespace}/{es_name}")),
            "created-by label of {namespace}/{es_name}"
        );
    }
    json!({
        "type": secret.type_,
        "data": secret.data,
        "labels": labels,
        "annotations": secret.metadata.annotations,
        "immutable": secret.immutable,
        "owners": secret.metadata.owner_references.iter().flatten()
            .map(|o| (o.api_version.clone(), o.kind.clone(), o.name.clone(), o.controller, o.block_owner_deletion))
            .collect::<Vec<_>>(),
    })
}

/// The Secret each of `cases` writes, by case name, where one exists.
pub(crate) async fn secrets_of(
    client: &kube::Client,
    namespace: &str,
    cases: &[Value],
) -> BTreeMap<String, Secret> {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut out = BTreeMap::new();
    for case in cases {
        let target = target_of(case);
        if let Some(secret) = api.get_opt(&target).await.unwrap() {
            out.insert(
                case["metadata"]["name"].as_str().unwrap().to_owned(),
                secret,
            );
        }
    }
    out
}

#[tokio::test]
async fn lockstep_writes_what_eso_writes_and_takes_over_from_it() {
    let plane = need!(ControlPlane::shared().await);
    let vault = need!(Vault::start().await);
    let client = plane.client().await.unwrap();
    need!(ExternalSecretsOperator::install_crds(&client).await);
    install_crd(&client).await;
    seed(&vault).await;
    approle(&vault).await;
    let (_, by_eso) = plane.namespace("es-eso").await.unwrap();
    let (_, by_lockstep) = plane.namespace("es-lockstep").await.unwrap();
    let (_, controller_ns) = plane.namespace("es-ctl").await.unwrap();
    let (_, unwatched) = plane.namespace("es-unwatched").await.unwrap();
    for namespace in [&by_eso, &by_lockstep, &unwatched] {
        stores(&client, namespace, &vault).await;
    }
    for namespace in [&by_eso, &by_lockstep] {
        approle_store(&client, namespace, &vault).await;
    }
    // This run's ClusterSecretStores, named after the second namespace (unique).
    let run_id = by_lockstep.clone();
    let cluster_stores =
        ClusterStores::create(plane, &vault, &run_id, [&by_eso, &by_lockstep]).await;
    let cases = cases(&run_id);
    // An ExternalSecret in a namespace the controller is not scoped to is left to others.
    let first_case = &cases[..1];
    create_cases(&client, &unwatched, first_case).await;

    // ESO alone processes the first namespace.
    let eso = need!(ExternalSecretsOperator::start(plane, Some(&by_eso)).await);
    let eso_run = run(&client, &by_eso, &cases, EXPECTED).await;
    let eso_removed = remote_removed(&client, &by_eso, &vault, "eso").await;
    drop(eso);

    // Lockstep processes the same ExternalSecrets in the second, and adopts the first.
    // Scoped as ESO's `--namespace` scopes ESO: the two namespaces of the test only.
    let watched = format!("--additional-namespaces={by_eso},{by_lockstep}");
    let controller = Controller::start_with(
        plane,
        &controller_ns,
        &["--sync=false", "--external-secrets=true", &watched],
    )
    .await;
    let lockstep_run = run(&client, &by_lockstep, &cases, EXPECTED).await;
    assert_same((&lockstep_run, &by_lockstep), (&eso_run, &by_eso));
    // Read in the store's OpenBao namespace, not the root's secret of the same path.
    let namespaced = &lockstep_run.secrets["namespaced"];
    let password = &namespaced.data.as_ref().unwrap()["password"].0;
    assert!(
        password == NAMESPACED_PASSWORD.as_bytes(),
        "not the namespace's value"
    );
    // Remote secrets deleted after a first sync: the same Secrets and reasons as ESO's.
    let lockstep_removed = remote_removed(&client, &by_lockstep, &vault, "lockstep").await;
    for (ours, theirs) in [
        (&lockstep_removed.0, &eso_removed.0),
        (&lockstep_removed.1, &eso_removed.1),
    ] {
        assert_same((ours, &by_lockstep), (theirs, &by_eso));
    }
    assert_removed(&eso_removed);
    assert_removed(&lockstep_removed);
    let ignored: Api<ExternalSecret> = Api::namespaced(client.clone(), &unwatched);
    for case in first_case {
        let name = case["metadata"]["name"].as_str().unwrap();
        let es = ignored.get(name).await.unwrap();
        assert!(es.status.is_none(), "{name} in {unwatched} was reconciled");
    }
    // ESO's messages are its classes alone (Lockstep's add what failed, checked below).
    for (name, class) in [
        ("cluster-denied", "could not get secret data from provider"),
        ("decode-url-bad", "could not get secret data from provider"),
        ("extract-letters", "could not update secret"),
        ("tpl-missing", "could not update secret"),
    ] {
        assert_eq!(eso_run.messages[name], class, "{name}");
    }
    for (name, words) in [
        (
            "cluster-denied",
            &[
                "spec.secretStoreRef",
                "-denied",
                "may not be used from namespace",
            ][..],
        ),
        (
            "decode-url-bad",
            &["spec.data[0].remoteRef.decodingStrategy", "base64url"],
        ),
        ("extract-letters", &["the API server refused it", "data["]),
        (
            "tpl-missing",
            &[
                "spec.target.template.templateFrom[0].configMap",
                "absent-templates",
            ],
        ),
    ] {
        let message = &lockstep_run.messages[name];
        for word in words {
            assert!(
                message.contains(word),
                "{name}: {word:?} not in {message:?}"
            );
        }
    }
    let (eso_secrets, lockstep_secrets) = (eso_run.secrets, lockstep_run.secrets);
    let props = &lockstep_secrets["props"];
    let value = |key: &str| String::from_utf8(props.data.as_ref().unwrap()[key].0.clone()).unwrap();
    assert_eq!(value("password"), PASSWORD);
    assert_eq!(value("hello"), "hello world");
    assert_eq!(value("old"), "one");
    let bytes =
        |case: &str, key: &str| lockstep_secrets[case].data.as_ref().unwrap()[key].0.clone();
    for case in [
        "approle",
        "cluster-label",
        "cluster-regex",
        "cluster-bad-regex",
    ] {
        assert_eq!(bytes(case, "password"), PASSWORD.as_bytes(), "{case}");
    }
    assert_eq!(
        keys(&lockstep_secrets, "cluster-names"),
        ["api-key", "n", "user_name"]
    );
    assert!(!lockstep_secrets.contains_key("cluster-denied"));
    assert_eq!(
        keys(&lockstep_secrets, "extract-odd"),
        ["_", "a_b", "emoji_", "ok.key-1_", "x_y_z"]
    );
    assert_eq!(
        keys(&lockstep_secrets, "extract-unicode"),
        [
            "_U24b6_",
            "a_U0020_b",
            "emoji_U1f600_",
            "ok.key-1_",
            "x_U0040_y_U002f_z"
        ]
    );
    assert_eq!(
        keys(&lockstep_secrets, "find-unicode"),
        ["team_U002f_app1", "team_U002f_app2"]
    );
    assert_eq!(bytes("decode-url", "hi"), b"hi>??");
    assert_eq!(bytes("decode-url", "url"), b"hi>??");
    assert_eq!(bytes("decode-url", "bin"), [0xff, 0xef]);
    assert!(value("whole").contains(r#""password":"pw-9f3c\u003c\u0026\u003e""#));
    assert_eq!(
        keys(&lockstep_secrets, "find-name"),
        ["team_app1", "team_app2"]
    );
    assert_eq!(keys(&lockstep_secrets, "find-tags"), ["team_app2"]);
    assert_eq!(keys(&lockstep_secrets, "find-rewrite"), ["dEEp", "othEr"]);
    assert_eq!(keys(&lockstep_secrets, "extract-rewrite"), ["user_name"]);
    assert_eq!(
        keys(&lockstep_secrets, "rewrite-transform"),
        ["X_NAME", "team.app1.v", "team.app2.v"]
    );
    let docker = &lockstep_secrets["tpl-docker"];
    assert_eq!(
        docker.type_.as_deref(),
        Some("kubernetes.io/dockerconfigjson")
    );
    let config = &docker.data.as_ref().unwrap()[".dockerconfigjson"].0;
    assert!(
        String::from_utf8_lossy(config).starts_with(r#"{"auths":{"reg.example:5000":{"auth":"#)
    );
    let pem = &lockstep_secrets["tpl-pem"].data.as_ref().unwrap()["tls.crt"].0;
    assert_eq!(
        String::from_utf8_lossy(pem)
            .lines()
            .map(str::len)
            .collect::<Vec<_>>(),
        [27, 64, 56, 25],
        "the certificate, rewrapped at 64 characters"
    );
    assert_eq!(
        keys(&lockstep_secrets, "tpl-from"),
        [
            "config.yaml",
            "on",
            "on-b64",
            "password",
            "password-b64",
            "port",
            "port-b64",
            "whole"
        ]
    );

    // ESO's Secrets, refreshed by Lockstep (`props` every 5 s), are neither recreated nor
    // rewritten: the same uid and resourceVersion.
    tokio::time::sleep(Duration::from_secs(8)).await;
    let adopted = secrets_of(&client, &by_eso, &cases).await;
    for (name, before) in &eso_secrets {
        let after = &adopted[name];
        assert_eq!(
            after.metadata.uid, before.metadata.uid,
            "{name} was recreated"
        );
        assert_eq!(
            after.metadata.resource_version, before.metadata.resource_version,
            "{name} was rewritten"
        );
    }
    let es: Api<ExternalSecret> = Api::namespaced(client.clone(), &by_eso);
    let refreshed = es.get("props").await.unwrap().status.unwrap();
    let eso_refresh = refreshed.refresh_time.clone().unwrap();

    // A value changed in OpenBao reaches the adopted Secret within its refresh interval.
    vault
        .post(
            "/v1/secret/data/db",
            &json!({"data": {"password": "rotated-1", "port": 1, "ratio": 1, "on": false,
                "nested": {"user": {"name": "x"}, "list": []}, "b64": "", "b64url": ""}})
            .to_string(),
        )
        .await
        .unwrap();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &by_eso);
    eventually_within(
        "the rotated password in the adopted Secret",
        Duration::from_secs(30),
        async || {
            let secret = secrets.get("props").await.unwrap();
            secret.data.unwrap()["password"].0 == b"rotated-1"
        },
    )
    .await;
    let rotated = secrets.get("props").await.unwrap();
    assert_eq!(rotated.metadata.uid, eso_secrets["props"].metadata.uid);
    // refreshTime has a resolution of one second: a refresh in the same second as the one
    // read before (one woken by its own write) leaves it equal, never earlier.
    let status = es.get("props").await.unwrap().status.unwrap();
    assert!(status.refresh_time.unwrap() >= eso_refresh);
    assert_eq!(
        rotated.metadata.annotations.unwrap()[ESO_DATA_HASH_ANNOTATION],
        lockstep_eso::target::data_hash(rotated.data.as_ref().unwrap())
    );

    // Nothing OpenBao returned is in a status, an event or the controller's log.
    let log = controller.log();
    let statuses =
        serde_json::to_string(&es.list(&Default::default()).await.unwrap().items).unwrap();
    for value in [
        PASSWORD,
        API_KEY,
        V1_PASSWORD,
        NAMESPACED_PASSWORD,
        REGISTRY_PASSWORD,
        "rotated-1",
        REMOVED_VALUE,
        "secret-id-4d1e",
    ] {
        assert!(!log.contains(value), "a value is in the controller log");
        assert!(!statuses.contains(value), "a value is in an ExternalSecret");
    }
    let bad = es.get("bad-property").await.unwrap().status.unwrap();
    let message = bad.conditions[0].message.clone().unwrap();
    assert!(
        message.contains("spec.data[0].remoteRef.property"),
        "{message}"
    );
    assert!(message.contains("no.such"), "{message}");
    let bad = es.get("tpl-bad").await.unwrap().status.unwrap();
    let message = bad.conditions[0].message.clone().unwrap();
    assert!(
        message.contains("spec.target.template.data[broken]: line 2, column 16")
            && message.contains("function \"nosuchfn\" not defined"),
        "{message}"
    );

    // And back: Lockstep stopped, ESO takes the Secrets Lockstep wrote. It recognises them
    // (its managed label, its data hash) and rewrites none, even when `props` is refreshed.
    // (First Lockstep's own `props` must hold the rotated value, or ESO would rightly
    // write it.)
    let own: Api<Secret> = Api::namespaced(client.clone(), &by_lockstep);
    eventually_within(
        "the rotated password in Lockstep's Secret",
        Duration::from_secs(30),
        async || own.get("props").await.unwrap().data.unwrap()["password"].0 == b"rotated-1",
    )
    .await;
    drop(controller);
    let ours = secrets_of(&client, &by_lockstep, &cases).await;
    let es: Api<ExternalSecret> = Api::namespaced(client.clone(), &by_lockstep);
    let before = es.get("props").await.unwrap().status.unwrap().refresh_time;
    let eso = need!(ExternalSecretsOperator::start(plane, Some(&by_lockstep)).await);
    eventually_within(
        "ESO to refresh props",
        Duration::from_secs(30),
        async || es.get("props").await.unwrap().status.unwrap().refresh_time != before,
    )
    .await;
    let after = secrets_of(&client, &by_lockstep, &cases).await;
    for (name, ours) in &ours {
        let theirs = &after[name];
        assert_eq!(
            theirs.metadata.uid, ours.metadata.uid,
            "ESO recreated {name}"
        );
        assert_eq!(
            theirs.metadata.resource_version,
            ours.metadata.resource_version,
            "ESO rewrote {name}; its log: {}",
            eso.log().display()
        );
    }
    drop(eso);
    drop(cluster_stores);
    let left = Api::<kube::api::DynamicObject>::all_with(
        client.clone(),
        &kube::api::ApiResource::erase::<lockstep_api::ClusterSecretStore>(&()),
    )
    .list_metadata(&Default::default())
    .await
    .unwrap()
    .items
    .into_iter()
    .filter_map(|store| store.metadata.name)
    .filter(|name| name.starts_with(&format!("{run_id}-")))
    .collect::<Vec<_>>();
    assert!(left.is_empty(), "ClusterSecretStores left behind: {left:?}");
}

/// Lockstep's own CRDs (no ESO): AppRole and a ClusterSecretStore work, nothing is
/// defaulted into the stored objects, and every bad input ends `Ready=False` naming the
/// field, with the Secrets in the way (an auth refused, a property or a path missing, a
/// template that does not parse) left as they were.
#[tokio::test]
async fn lockstep_crds_approle_and_bad_input() {
    // A control plane of its own: the shared one carries ESO's CRDs of the same names.
    let plane = need!(ControlPlane::start(Default::default()).await);
    let vault = need!(Vault::start().await);
    let client = plane.client().await.unwrap();
    for crd in [
        include_str!("../../deploy/crds/external-secrets.io_externalsecrets.yaml"),
        include_str!("../../deploy/crds/external-secrets.io_secretstores.yaml"),
        include_str!("../../deploy/crds/external-secrets.io_clustersecretstores.yaml"),
    ] {
        lockstep_testenv::manifests::apply_yaml(&client, crd)
            .await
            .unwrap();
    }
    install_crd(&client).await;
    seed(&vault).await;
    approle(&vault).await;
    for (path, body) in [
        ("/v1/sys/auth/userpass", json!({"type": "userpass"})),
        (
            "/v1/auth/userpass/users/eso",
            json!({"password": "userpass-pw-77c2", "token_policies": "read"}),
        ),
    ] {
        vault.post(path, &body.to_string()).await.unwrap();
    }
    let (_, ns) = plane.namespace("es-own").await.unwrap();
    let (_, controller_ns) = plane.namespace("es-own-ctl").await.unwrap();
    stores(&client, &ns, &vault).await;
    // Kubernetes auth: OpenBao reviews the token the store's ServiceAccount is given.
    vault
        .token_auth(TokenAuth::Kubernetes, &plane, "eso", "reader", &ns)
        .await
        .unwrap();
    // JWT auth: OpenBao verifies the token with the API server's ServiceAccount key.
    vault
        .token_auth(TokenAuth::Jwt, &plane, "eso-jwt", "reader", &ns)
        .await
        .unwrap();
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), &ns);
    let reader = serde_json::from_value(json!({"metadata": {"name": "reader"}})).unwrap();
    accounts
        .create(&PostParams::default(), &reader)
        .await
        .unwrap();

    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let plain = |name: &str, pairs: &[(&str, &str)]| Secret {
        metadata: ObjectMeta {
            name: Some(name.into()),
            ..ObjectMeta::default()
        },
        data: Some(
            pairs
                .iter()
                .map(|(k, v)| ((*k).to_owned(), ByteString(v.as_bytes().to_vec())))
                .collect(),
        ),
        ..Secret::default()
    };
    let post = PostParams::default();
    for secret in [
        plain("approle", &[("secret-id", "secret-id-4d1e")]),
        plain("userpass", &[("password", "userpass-pw-77c2")]),
        plain("wrong-token", &[("token", "not-a-token")]),
        plain("in-the-way", &[("a", "before")]),
        plain("kept-property", &[("a", "before")]),
        plain("kept-path", &[("a", "before")]),
        plain("kept-template", &[("a", "before")]),
    ] {
        secrets.create(&post, &secret).await.unwrap();
    }
    // The Secrets the failing ExternalSecrets name as their target, as they were made.
    let in_the_way = ["in-the-way", "kept-property", "kept-path", "kept-template"];
    let mut before = BTreeMap::new();
    for name in in_the_way {
        before.insert(name, secrets.get(name).await.unwrap());
    }

    let store_api = |cluster: bool| {
        let resource = if cluster {
            kube::api::ApiResource::erase::<lockstep_api::ClusterSecretStore>(&())
        } else {
            kube::api::ApiResource::erase::<lockstep_api::SecretStore>(&())
        };
        if cluster {
            Api::<kube::api::DynamicObject>::all_with(client.clone(), &resource)
        } else {
            Api::namespaced_with(client.clone(), &ns, &resource)
        }
    };
    let vault_store =
        |auth: Value| json!({"vault": {"server": vault.addr(), "path": "secret", "auth": auth}});
    let cluster_store = format!("{ns}-cluster");
    for (cluster, name, provider) in [
        (
            false,
            "approle",
            vault_store(json!({"appRole": {"roleId": "eso-role",
            "secretRef": {"name": "approle", "key": "secret-id"}}})),
        ),
        (
            false,
            "no-secret",
            vault_store(json!({"tokenSecretRef": {"name": "absent", "key": "token"}})),
        ),
        (
            false,
            "wrong-token",
            vault_store(json!({"tokenSecretRef": {"name": "wrong-token", "key": "token"}})),
        ),
        (
            false,
            "kubernetes",
            vault_store(
                json!({"kubernetes": {"role": "eso", "mountPath": "kubernetes",
            "serviceAccountRef": {"name": "reader"}}}),
            ),
        ),
        (
            false,
            "kubernetes-own",
            vault_store(json!({"kubernetes": {"role": "eso"}})),
        ),
        (
            false,
            "jwt",
            vault_store(json!({"jwt": {"path": "jwt", "role": "eso-jwt",
            "kubernetesServiceAccountToken": {"serviceAccountRef": {"name": "reader"}}}})),
        ),
        (
            false,
            "jwt-nothing",
            vault_store(json!({"jwt": {"role": "eso-jwt"}})),
        ),
        (
            false,
            "userpass",
            vault_store(json!({"userPass": {"username": "eso",
            "secretRef": {"name": "userpass", "key": "password"}}})),
        ),
        (
            false,
            "ldap",
            vault_store(json!({"ldap": {"username": "u"}})),
        ),
        (false, "gcp", json!({"gcpsm": {"projectID": "p"}})),
        (
            false,
            "aws-jwt",
            json!({"aws": {"service": "SecretsManager", "region": "eu-west-1",
                "auth": {"jwt": {"serviceAccountRef": {"name": "app"}}}}}),
        ),
        (
            true,
            cluster_store.as_str(),
            vault_store(json!({"tokenSecretRef":
            {"name": "vault-token", "key": "token", "namespace": ns}})),
        ),
    ] {
        let kind = if cluster {
            "ClusterSecretStore"
        } else {
            "SecretStore"
        };
        let object = json!({"apiVersion": "external-secrets.io/v1", "kind": kind,
            "metadata": {"name": name}, "spec": {"provider": provider}});
        store_api(cluster)
            .create(&post, &serde_json::from_value(object).unwrap())
            .await
            .unwrap();
    }

    // ClusterSecretStores limited by spec.conditions: by label selector, by regular
    // expression, and one that leaves this namespace out.
    let token = vault_store(json!({"tokenSecretRef":
        {"name": "vault-token", "key": "token", "namespace": ns}}));
    for (name, conditions) in [
        (
            format!("{ns}-by-label"),
            json!([{"namespaces": ["elsewhere"]},
                {"namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name",
                    "operator": "In", "values": ["x", ns]}]}}]),
        ),
        (
            format!("{ns}-by-regex"),
            json!([{"namespaceRegexes": ["^nothing$", format!("^{ns}$")]}]),
        ),
        (
            format!("{ns}-denied"),
            json!([{"namespaces": ["elsewhere"]},
                {"namespaceSelector": {"matchLabels": {"team": "nobody"}}},
                {"namespaceRegexes": ["^kube-"]}]),
        ),
    ] {
        let object = json!({"apiVersion": "external-secrets.io/v1", "kind": "ClusterSecretStore",
            "metadata": {"name": name}, "spec": {"provider": token, "conditions": conditions}});
        store_api(true)
            .create(&post, &serde_json::from_value(object).unwrap())
            .await
            .unwrap();
    }

    let es_api: Api<ExternalSecret> = Api::namespaced(client.clone(), &ns);
    let password =
        json!([{"secretKey": "password", "remoteRef": {"key": "db", "property": "password"}}]);
    let cluster = |name: String| {
        json!({"secretStoreRef": {"name": name, "kind": "ClusterSecretStore"},
        "data": password})
    };
    let cases = [
        (
            "by-approle",
            json!({"secretStoreRef": {"name": "approle"}, "data": password}),
        ),
        (
            "by-cluster-store",
            json!({"secretStoreRef": {"name": cluster_store, "kind": "ClusterSecretStore"},
            "dataFrom": [{"extract": {"key": "app"}}]}),
        ),
        ("by-label", cluster(format!("{ns}-by-label"))),
        ("by-regex", cluster(format!("{ns}-by-regex"))),
        ("cluster-denied", cluster(format!("{ns}-denied"))),
        (
            "no-secret",
            json!({"secretStoreRef": {"name": "no-secret"}, "data": password}),
        ),
        (
            "wrong-token",
            json!({"secretStoreRef": {"name": "wrong-token"}, "data": password,
            "target": {"name": "in-the-way", "creationPolicy": "Orphan"}}),
        ),
        (
            "kubernetes",
            json!({"secretStoreRef": {"name": "kubernetes"}, "data": password}),
        ),
        (
            "kubernetes-own",
            json!({"secretStoreRef": {"name": "kubernetes-own"}, "data": password}),
        ),
        (
            "jwt",
            json!({"secretStoreRef": {"name": "jwt"}, "data": password}),
        ),
        (
            "jwt-nothing",
            json!({"secretStoreRef": {"name": "jwt-nothing"}, "data": password}),
        ),
        (
            "userpass",
            json!({"secretStoreRef": {"name": "userpass"}, "data": password}),
        ),
        (
            "ldap",
            json!({"secretStoreRef": {"name": "ldap"}, "data": password}),
        ),
        (
            "gcp",
            json!({"secretStoreRef": {"name": "gcp"}, "data": password}),
        ),
        (
            "aws-jwt",
            json!({"secretStoreRef": {"name": "aws-jwt"}, "data": password}),
        ),
        (
            "no-store",
            json!({"secretStoreRef": {"name": "nowhere"}, "data": password}),
        ),
        (
            "missing-path",
            json!({"secretStoreRef": {"name": "vault"},
            "data": [{"secretKey": "a", "remoteRef": {"key": "does/not/exist"}}]}),
        ),
        (
            "bad-version",
            json!({"secretStoreRef": {"name": "vault"},
            "data": [{"secretKey": "a", "remoteRef": {"key": "db", "version": "latest"}}]}),
        ),
        (
            "template",
            json!({"secretStoreRef": {"name": "vault"}, "data": password,
            "target": {"template": {"engineVersion": "v1", "type": "kubernetes.io/tls"}}}),
        ),
        (
            "template-tls",
            json!({"secretStoreRef": {"name": "vault"}, "data": password,
            "target": {"template": {"type": "kubernetes.io/tls"}}}),
        ),
        (
            "template-canary",
            json!({"secretStoreRef": {"name": "vault"}, "data": password,
            "target": {"template": {"data": {"bad": "{{ mustFromJson .password }}"}}}}),
        ),
        (
            "find",
            json!({"secretStoreRef": {"name": "vault"}, "dataFrom": [{"find": {"path": "db"}}]}),
        ),
        // Bad input over a Secret that exists: a property the secret lacks, a path with no
        // secret, a template that does not parse.
        (
            "property-over",
            json!({"secretStoreRef": {"name": "vault"},
            "data": [{"secretKey": "a", "remoteRef": {"key": "db", "property": "no.such"}}],
            "target": {"name": "kept-property", "creationPolicy": "Orphan"}}),
        ),
        (
            "path-over",
            json!({"secretStoreRef": {"name": "vault"},
            "data": [{"secretKey": "a", "remoteRef": {"key": "does/not/exist"}}],
            "target": {"name": "kept-path", "creationPolicy": "Merge"}}),
        ),
        (
            "template-over",
            json!({"secretStoreRef": {"name": "vault"}, "data": password,
            "target": {"name": "kept-template", "creationPolicy": "Merge",
                "template": {"data": {"broken": "{{ if .password }}never closed"}}}}),
        ),
    ];
    for (name, spec) in &cases {
        let object = json!({"apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
            "metadata": {"name": name}, "spec": spec});
        es_api
            .create(&post, &serde_json::from_value(object).unwrap())
            .await
            .unwrap();
    }
    // Stored as written: no defaults, and the fields not served are kept, not pruned.
    let stored: Api<kube::api::DynamicObject> = Api::namespaced_with(
        client.clone(),
        &ns,
        &kube::api::ApiResource::erase::<ExternalSecret>(&()),
    );
    let template = stored.get("template").await.unwrap().data;
    assert_eq!(
        template["spec"]["target"],
        json!({"template": {"engineVersion": "v1", "type": "kubernetes.io/tls"}})
    );
    assert!(template["spec"].get("refreshInterval").is_none());
    let find = stored.get("find").await.unwrap().data;
    assert_eq!(find["spec"]["dataFrom"][0]["find"]["path"], "db");

    let watched = format!("--additional-namespaces={ns}");
    let controller = Controller::start_with(
        &plane,
        &controller_ns,
        &["--sync=false", "--external-secrets=true", &watched],
    )
    .await;
    let mut conditions = BTreeMap::new();
    eventually_within(
        "every ExternalSecret to get a Ready condition",
        Duration::from_secs(60),
        async || {
            for (name, _) in &cases {
                let status = es_api.get(name).await.unwrap().status.unwrap_or_default();
                if let Some(ready) = status.conditions.into_iter().find(|c| c.type_ == "Ready") {
                    conditions.insert(*name, ready);
                }
            }
            conditions.len() == cases.len()
        },
    )
    .await;
    let log = controller.log();
    for name in [
        "by-approle",
        "by-cluster-store",
        "by-label",
        "by-regex",
        "kubernetes",
        "jwt",
        "userpass",
    ] {
        assert_eq!(
            conditions[name].reason.as_deref(),
            Some("SecretSynced"),
            "{name}: {log}"
        );
    }
    for name in ["by-approle", "kubernetes", "jwt", "userpass"] {
        let read = secrets.get(name).await.unwrap();
        assert_eq!(
            read.data.unwrap()["password"].0,
            PASSWORD.as_bytes(),
            "{name}"
        );
    }
    let by_cluster = secrets.get("by-cluster-store").await.unwrap();
    let keys: Vec<String> = by_cluster.data.unwrap().into_keys().collect();
    assert_eq!(keys, ["api-key", "n", "user_name"]);

    let expected = [
        (
            "cluster-denied",
            vec![
                "spec.secretStoreRef",
                "-denied",
                "may not be used from namespace",
                "spec.conditions",
            ],
        ),
        (
            "no-secret",
            vec![
                "spec.provider.vault.auth.tokenSecretRef",
                "absent",
                "does not exist",
            ],
        ),
        (
            "wrong-token",
            vec![
                "spec.data[0].remoteRef",
                "SecretStore",
                "wrong-token",
                "access denied",
            ],
        ),
        (
            "kubernetes-own",
            vec![
                "spec.provider.vault.auth.kubernetes",
                "controller's own ServiceAccount token",
            ],
        ),
        (
            "ldap",
            vec!["spec.provider.vault.auth", "\"ldap\" is not supported"],
        ),
        (
            "jwt-nothing",
            vec![
                "spec.provider.vault.auth.jwt",
                "neither secretRef nor kubernetesServiceAccountToken",
            ],
        ),
        ("gcp", vec!["spec.provider.gcpsm is not supported"]),
        (
            "aws-jwt",
            vec!["spec.provider.aws.auth.jwt", "not supported"],
        ),
        (
            "no-store",
            vec!["spec.secretStoreRef", "nowhere", "does not exist"],
        ),
        (
            "missing-path",
            vec!["spec.data[0].remoteRef", "does/not/exist", "does not exist"],
        ),
        (
            "bad-version",
            vec!["spec.data[0].remoteRef.version", "number"],
        ),
        (
            "template",
            vec!["spec.target.template.engineVersion", "v1 was removed"],
        ),
        ("template-tls", vec!["creating Secret", "tls.crt"]),
        (
            "template-canary",
            vec![
                "spec.target.template.data[bad]: line 1, column 4",
                "mustFromJson",
            ],
        ),
        ("find", vec!["spec.dataFrom[0].find", "does not exist"]),
        (
            "property-over",
            vec!["spec.data[0].remoteRef.property", "no.such"],
        ),
        (
            "path-over",
            vec!["spec.data[0].remoteRef", "does/not/exist", "does not exist"],
        ),
        (
            "template-over",
            vec!["spec.target.template.data[broken]", "unexpected EOF"],
        ),
    ];
    for (name, words) in expected {
        let condition = &conditions[name];
        assert_eq!(
            (condition.status.as_str(), condition.reason.as_deref()),
            ("False", Some("SecretSyncedError")),
            "{name}"
        );
        let message = condition.message.clone().unwrap_or_default();
        for word in words {
            assert!(
                message.contains(word),
                "{name}: {word:?} not in {message:?}"
            );
        }
    }
    // The Secrets in the way of the failing `wrong-token`, `property-over`, `path-over`
    // and `template-over` are as they were: not written, not even labelled.
    for (name, was) in &before {
        let after = secrets.get(name).await.unwrap();
        assert_eq!(
            (&after.metadata.resource_version, &after.data),
            (&was.metadata.resource_version, &was.data),
            "{name} was changed"
        );
    }

    let values = [
        PASSWORD,
        API_KEY,
        "secret-id-4d1e",
        "userpass-pw-77c2",
        "not-a-token",
        vault.token(),
    ];
    assert_nowhere(&client, &ns, &log, &values).await;
}

/// Asserts that none of `values` is in the controller's `log`, an ExternalSecret of
/// namespace `ns` or an event there.
pub(crate) async fn assert_nowhere(client: &kube::Client, ns: &str, log: &str, values: &[&str]) {
    let es_api: Api<ExternalSecret> = Api::namespaced(client.clone(), ns);
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(client.clone(), ns);
    let list = Default::default();
    let statuses = serde_json::to_string(&es_api.list(&list).await.unwrap().items).unwrap();
    let events = serde_json::to_string(&events.list(&list).await.unwrap().items).unwrap();
    for value in values {
        assert!(!log.contains(value), "a value is in the controller log");
        assert!(!statuses.contains(value), "a value is in an ExternalSecret");
        assert!(!events.contains(value), "a value is in an event");
    }
}

/// Merge-patches `name` with `patch`.
pub(crate) async fn merge<K>(api: &Api<K>, name: &str, patch: Value)
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    let params = kube::api::PatchParams::default();
    api.patch(name, &params, &kube::api::Patch::Merge(&patch))
        .await
        .unwrap();
}

/// New ExternalSecrets read their provider once each: the target Secret's creation wakes it
/// again before its new status is in the watch cache, and that wake-up must not read
/// Vault a second time (counted by OpenBao's own file audit device). Three properties of
/// one Vault secret are one read (ESO makes three). A requested refresh (ESO's
/// `force-sync` annotation) does read it again. ExternalSecrets of one AppRole store share
/// one login.
#[tokio::test]
async fn a_new_external_secret_reads_its_provider_once() {
    let plane = need!(ControlPlane::shared().await);
    let audit_dir = tempfile::tempdir().unwrap();
    let audit = audit_dir.path().join("audit.log");
    let vault = need!(Vault::start_with_audit(Some(&audit)).await);
    let client = plane.client().await.unwrap();
    need!(ExternalSecretsOperator::install_crds(&client).await);
    seed(&vault).await;
    let (_, ns) = plane.namespace("es-once").await.unwrap();
    let (_, controller_ns) = plane.namespace("es-once-ctl").await.unwrap();
    stores(&client, &ns, &vault).await;
    // The requests OpenBao's audit device logged for `path`.
    let requests = |path: &str| {
        let path = format!(r#""path":"{path}""#);
        std::fs::read_to_string(&audit)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains(r#""type":"request""#) && l.contains(&path))
            .count()
    };
    // The seed's own write is one of them.
    let seeded = requests("secret/data/db");
    let reads = || requests("secret/data/db") - seeded;
    // Several, so that the race the fix is about shows without it.
    const N: usize = 5;
    let cases = (0..N)
        .map(|i| {
            json!({
                "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                "metadata": {"name": format!("once-{i}")},
                "spec": {"refreshInterval": "1h",
                         "secretStoreRef": {"name": "vault", "kind": "SecretStore"},
                         "target": {"name": format!("once-{i}")},
                         "data": [{"secretKey": "password", "remoteRef": {"key": "db", "property": "password"}},
                                  {"secretKey": "port", "remoteRef": {"key": "db", "property": "port"}},
                                  {"secretKey": "ratio", "remoteRef": {"key": "db", "property": "ratio"}}]},
            })
        })
        .collect::<Vec<_>>();
    create_cases(&client, &ns, &cases).await;
    let watched = format!("--additional-namespaces={ns}");
    let _controller = Controller::start_with(
        plane,
        &controller_ns,
        &["--sync=false", "--external-secrets=true", &watched],
    )
    .await;
    let es_api: Api<ExternalSecret> = Api::namespaced(client.clone(), &ns);
    let ready = async || {
        for i in 0..N {
            let es = es_api.get(&format!("once-{i}")).await.unwrap();
            let status = es.status.unwrap_or_default();
            if !status
                .conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status == "True")
            {
                return false;
            }
        }
        true
    };
    eventually_within(
        "the ExternalSecrets to be Ready",
        Duration::from_secs(60),
        ready,
    )
    .await;
    // Time for every wake-up the creation caused (the Secret's event, the status's).
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        reads(),
        N,
        "one read of the secret its three remoteRefs name, in one reconcile each"
    );

    let forced = json!({"metadata": {"annotations": {"force-sync": "1"}}});
    merge(&es_api, "once-0", forced).await;
    eventually_within(
        "a requested refresh to read again",
        Duration::from_secs(30),
        async || reads() == N + 1,
    )
    .await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(reads(), N + 1);

    // A target Secret deleted or edited by hand is written again at once, an hour before
    // the refresh: the controller knows a Secret it wrote without reading it only until
    // someone else's change reaches its watch.
    let secrets = Api::<Secret>::namespaced(client.clone(), &ns);
    let deleted = secrets.get("once-1").await.unwrap();
    let written = secrets.get("once-2").await.unwrap();
    secrets
        .delete("once-1", &kube::api::DeleteParams::default())
        .await
        .unwrap();
    let edit = json!({"data": {"password": ByteString(b"edited by hand".to_vec())}});
    merge(&secrets, "once-2", edit).await;
    eventually_within(
        "the deleted and the edited target Secret to be written again",
        Duration::from_secs(30),
        async || {
            let recreated = secrets.get_opt("once-1").await.unwrap();
            let restored = secrets.get("once-2").await.unwrap();
            recreated
                .is_some_and(|s| s.metadata.uid != deleted.metadata.uid && s.data == deleted.data)
                && restored.data == written.data
        },
    )
    .await;
    assert_eq!(
        reads(),
        N + 3,
        "each written again from a read of its provider"
    );

    // A renamed target: the Secret under the new name is written and the one the
    // ExternalSecret created under the old name (ESO's `created-by` label) is deleted.
    let renamed = json!({"spec": {"target": {"name": "once-3-renamed"}}});
    merge(&es_api, "once-3", renamed).await;
    eventually_within(
        "the renamed target written and the old one deleted",
        Duration::from_secs(30),
        async || {
            secrets.get_opt("once-3-renamed").await.unwrap().is_some()
                && secrets.get_opt("once-3").await.unwrap().is_none()
        },
    )
    .await;
    // The events, published in the background, arrive with ESO's reasons and notes: a
    // creation for each ExternalSecret, the orphan's deletion.
    let events = Api::<k8s_openapi::api::core::v1::Event>::namespaced(client.clone(), &ns);
    let told = async |reason: &str, note: &str| {
        let list = events.list(&Default::default()).await.unwrap().items;
        list.into_iter()
            .filter(|e| e.reason.as_deref() == Some(reason) && e.message.as_deref() == Some(note))
            .filter(|e| e.involved_object.kind.as_deref() == Some("ExternalSecret"))
            .filter_map(|e| e.involved_object.name)
            .collect::<std::collections::BTreeSet<_>>()
    };
    let all = (0..N).map(|i| format!("once-{i}")).collect();
    eventually_within(
        "the ExternalSecrets' events",
        Duration::from_secs(30),
        async || {
            told("Created", "secret created").await == all
                && told("Deleted", "secret deleted because it was orphaned").await
                    == ["once-3".to_owned()].into()
        },
    )
    .await;

    // Refreshes that find the values unchanged write nothing: neither the Secret nor the
    // status (ESO writes each one's `refreshTime`), and each still reads the provider once
    // per interval, not at every wake-up.
    let fast = json!({"spec": {"refreshInterval": "2s"}});
    merge(&es_api, "once-4", fast).await;
    let synced = |es: &ExternalSecret| {
        let generation = es.metadata.generation.unwrap_or_default();
        es.status
            .as_ref()
            .and_then(|s| s.synced_resource_version.as_deref())
            .is_some_and(|v| v.starts_with(&format!("{generation}-")))
    };
    eventually_within(
        "the new refresh interval taken",
        Duration::from_secs(30),
        async || synced(&es_api.get("once-4").await.unwrap()),
    )
    .await;
    let es_before = es_api.get("once-4").await.unwrap();
    let secret_before = secrets.get("once-4").await.unwrap();
    let read_before = reads();
    tokio::time::sleep(Duration::from_secs(9)).await;
    let refreshes = reads() - read_before;
    assert!(
        (3..=5).contains(&refreshes),
        "{refreshes} reads in 9 s at a 2 s interval (with up to 10 % jitter)"
    );
    assert_eq!(
        es_api
            .get("once-4")
            .await
            .unwrap()
            .metadata
            .resource_version,
        es_before.metadata.resource_version,
        "a refresh that changed nothing wrote the ExternalSecret's status"
    );
    assert_eq!(
        secrets
            .get("once-4")
            .await
            .unwrap()
            .metadata
            .resource_version,
        secret_before.metadata.resource_version
    );
    merge(
        &es_api,
        "once-4",
        json!({"spec": {"refreshInterval": "1h"}}),
    )
    .await;

    // N more through an AppRole store: one login for all of them, not one each.
    approle(&vault).await;
    let logins = || requests("auth/approle/login");
    approle_store(&client, &ns, &vault).await;
    let by_approle = (0..N)
        .map(|i| {
            json!({
                "apiVersion": "external-secrets.io/v1", "kind": "ExternalSecret",
                "metadata": {"name": format!("approle-{i}")},
                "spec": {"refreshInterval": "1h",
                         "secretStoreRef": {"name": "vault-approle", "kind": "SecretStore"},
                         "data": [{"secretKey": "password", "remoteRef": {"key": "db", "property": "password"}}]},
            })
        })
        .collect::<Vec<_>>();
    create_cases(&client, &ns, &by_approle).await;
    eventually_within(
        "the AppRole ExternalSecrets' Secrets",
        Duration::from_secs(60),
        async || {
            for i in 0..N {
                if secrets
                    .get_opt(&format!("approle-{i}"))
                    .await
                    .unwrap()
                    .is_none()
                {
                    return false;
                }
            }
            true
        },
    )
    .await;
    assert_eq!(logins(), 1, "one AppRole login for {N} ExternalSecrets");
}
