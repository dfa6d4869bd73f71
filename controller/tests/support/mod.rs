//! Running the real `lockstep-controller` binary against the test environment's control
//! plane, and reading what it did through the API.
//!
//! Shared by the controller's own tests and the cross-crate tests in `tests/`; each test
//! crate root provides `controller_binary()`, since only the controller package knows its
//! binary through `CARGO_BIN_EXE_*`.

// The controller's tests and `tests/` each use a different part of this module.
#![allow(dead_code)]

use std::path::Path;
use std::time::Duration;

use k8s_openapi::api::core::v1::{Event, Secret, ServiceAccount};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use kube::api::{Api, ApiResource, DynamicObject, ListParams, ObjectMeta, PostParams};
use lockstep_keys::sealing::Certificate;
use lockstep_sealed::{SealOptions, SecretData, SecretInput, SecretValue, seal};
use lockstep_testenv::{ControlPlane, LogDir, Process, free_port, http};
use serde_json::{Value, json};

/// The annotation `kubectl apply` (client-side) writes with a whole copy of the object.
pub const LAST_APPLIED: &str = "kubectl.kubernetes.io/last-applied-configuration";

/// The SealedSecret CRD this controller serves.
pub const CRD: &str = include_str!("../../../deploy/crds/sealedsecrets.bitnami.com.yaml");

/// `bitnami.com/v1alpha1` SealedSecrets.
pub fn sealed_resource() -> ApiResource {
    ApiResource {
        group: "bitnami.com".into(),
        version: "v1alpha1".into(),
        api_version: "bitnami.com/v1alpha1".into(),
        kind: "SealedSecret".into(),
        plural: "sealedsecrets".into(),
    }
}

/// Installs the CRD (idempotent) and waits until the API serves it.
pub async fn install_crd(client: &kube::Client) {
    use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
    use kube::api::{Patch, PatchParams};
    let crd: CustomResourceDefinition = serde_saphyr::from_str(CRD).unwrap();
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    crds.patch(
        "sealedsecrets.bitnami.com",
        &PatchParams::apply("lockstep-tests").force(),
        &Patch::Apply(&crd),
    )
    .await
    .unwrap();
    let sealed: Api<DynamicObject> = Api::all_with(client.clone(), &sealed_resource());
    eventually("the SealedSecret CRD to be served", async || {
        sealed.list(&ListParams::default().limit(1)).await.is_ok()
    })
    .await;
}

/// A running controller, stopped on drop.
pub struct Controller {
    process: Process,
    /// Port of the certificate / verify / rotate API.
    pub api_port: u16,
    /// Port of `/metrics`.
    pub metrics_port: u16,
}

impl Controller {
    /// Starts the controller for `namespace` only, with 2048-bit keys (4096-bit key
    /// generation in an unoptimised build takes long enough to slow every test), and waits
    /// until it serves a certificate.
    pub async fn start(plane: &ControlPlane, namespace: &str) -> Self {
        Self::start_with(plane, namespace, &["--sync=false"]).await
    }

    /// [`Controller::start`] with more flags.
    pub async fn start_with(plane: &ControlPlane, namespace: &str, extra: &[&str]) -> Self {
        Self::start_listening(plane, namespace, "127.0.0.1", extra).await
    }

    /// [`Controller::start_with`] with the Git sync controllers on and an artifact cache
    /// of its own (two controllers must not share one).
    pub async fn start_syncing(plane: &ControlPlane, namespace: &str, extra: &[&str]) -> Self {
        let cache = tempfile::tempdir().unwrap().keep();
        let artifact_dir = format!("--artifact-dir={}", cache.display());
        let mut args = vec!["--sync=true", artifact_dir.as_str()];
        args.extend_from_slice(extra);
        Self::start_with(plane, namespace, &args).await
    }

    /// [`Controller::start_syncing`] of another binary: the controller wrapped in a
    /// script (under a memory cap, say) that `exec`s it, so the process the tests signal
    /// is still the controller.
    pub async fn start_syncing_as(
        plane: &ControlPlane,
        namespace: &str,
        bin: &Path,
        extra: &[&str],
    ) -> Self {
        let cache = tempfile::tempdir().unwrap().keep();
        let artifact_dir = format!("--artifact-dir={}", cache.display());
        let mut args = vec!["--sync=true", artifact_dir.as_str()];
        args.extend_from_slice(extra);
        Self::launch(plane, namespace, "127.0.0.1", false, &args, &[], bin).await
    }

    /// [`Controller::start_with`], with more environment: the ambient identity a Sync's
    /// decryption falls back to (`AWS_*`, `VAULT_ADDR`) or `RUST_LOG`.
    pub async fn start_with_env(
        plane: &ControlPlane,
        namespace: &str,
        extra: &[&str],
        env: &[(&str, &Path)],
    ) -> Self {
        Self::start_full(plane, namespace, "127.0.0.1", extra, env).await
    }

    /// [`Controller::start_with`], with the API listening on `host` (`0.0.0.0` for the API
    /// server's service proxy to reach it on a routable address).
    pub async fn start_listening(
        plane: &ControlPlane,
        namespace: &str,
        host: &str,
        extra: &[&str],
    ) -> Self {
        Self::start_full(plane, namespace, host, extra, &[]).await
    }

    /// A syncing controller whose own namespace is `namespace` and that handles the
    /// GitSources and Syncs of every namespace labelled with `selector` (so that tenants
    /// live in namespaces of their own). Only for a control plane of its own: its
    /// SealedSecret side watches every namespace.
    pub async fn start_cluster_wide(
        plane: &ControlPlane,
        namespace: &str,
        selector: &str,
        extra: &[&str],
    ) -> Self {
        Self::start_cluster_wide_with_env(plane, namespace, selector, extra, &[]).await
    }

    /// [`Controller::start_cluster_wide`] with more environment: `KUBECONFIG` there
    /// replaces the admin's (to run the controller as its ServiceAccount).
    pub async fn start_cluster_wide_with_env(
        plane: &ControlPlane,
        namespace: &str,
        selector: &str,
        extra: &[&str],
        env: &[(&str, &Path)],
    ) -> Self {
        let cache = tempfile::tempdir().unwrap().keep();
        let artifact_dir = format!("--artifact-dir={}", cache.display());
        let selector = format!("--watch-label-selector={selector}");
        let mut args = vec!["--sync=true", artifact_dir.as_str(), selector.as_str()];
        args.extend_from_slice(extra);
        Self::launch(
            plane,
            namespace,
            "127.0.0.1",
            true,
            &args,
            env,
            &crate::controller_binary(),
        )
        .await
    }

    async fn start_full(
        plane: &ControlPlane,
        namespace: &str,
        host: &str,
        extra: &[&str],
        env: &[(&str, &Path)],
    ) -> Self {
        Self::launch(
            plane,
            namespace,
            host,
            false,
            extra,
            env,
            &crate::controller_binary(),
        )
        .await
    }

    async fn launch(
        plane: &ControlPlane,
        namespace: &str,
        host: &str,
        all_namespaces: bool,
        extra: &[&str],
        env: &[(&str, &Path)],
        bin: &Path,
    ) -> Self {
        let logs = LogDir::for_server("lockstep-controller").unwrap();
        let api_port = free_port().unwrap();
        let metrics_port = free_port().unwrap();
        let mut args = vec![
            format!("--namespace={namespace}"),
            format!("--all-namespaces={all_namespaces}"),
            "--key-size=2048".to_owned(),
            format!("--listen-addr={host}:{api_port}"),
            format!("--listen-metrics-addr=127.0.0.1:{metrics_port}"),
        ];
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        let mut env = env.to_vec();
        if !env.iter().any(|(name, _)| *name == "KUBECONFIG") {
            env.push(("KUBECONFIG", plane.kubeconfig_path()));
        }
        let mut process = Process::start("lockstep-controller", bin, &args, &env, &logs).unwrap();
        process
            .wait_ready(Duration::from_secs(120), || {
                http::is_ok(api_port, "/v1/cert.pem")
            })
            .await
            .unwrap();
        Self {
            process,
            api_port,
            metrics_port,
        }
    }

    /// The certificate the controller seals with now.
    pub async fn cert(&self) -> String {
        let response = http::request(self.api_port, "GET", "/v1/cert.pem", &[], "")
            .await
            .unwrap();
        assert_eq!(response.status, 200);
        response.body
    }

    /// POSTs `body` to `path` of the API.
    pub async fn post(&self, path: &str, body: &str) -> http::Response {
        http::request(self.api_port, "POST", path, &[], body)
            .await
            .unwrap()
    }

    /// Kills the controller with SIGKILL: no cleanup, no Lease given up.
    pub fn kill(&self) {
        self.process.signal("KILL").unwrap();
    }

    /// Sends SIGTERM and waits up to `within` for the controller to exit; whether it did.
    pub async fn terminate(&self, within: Duration) -> bool {
        self.process.signal("TERM").unwrap();
        self.exits_within(within).await
    }

    /// Waits up to `within` for the controller to exit by itself; whether it did.
    pub async fn exits_within(&self, within: Duration) -> bool {
        let pid = self.process.pid().unwrap();
        let started = std::time::Instant::now();
        while started.elapsed() < within {
            // Gone, or a zombie its supervisor has not reaped yet.
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return true;
            };
            if stat
                .rsplit(')')
                .next()
                .is_some_and(|rest| rest.trim_start().starts_with('Z'))
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        false
    }

    /// Asks for a new sealing key now, as `kill -USR1` does for the Bitnami controller.
    pub fn renew_key(&self) {
        self.process.signal("USR1").unwrap();
    }

    /// The controller's log so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.process.log()).unwrap_or_default()
    }

    /// The controller's working directory (its log is in it).
    pub fn workdir(&self) -> &Path {
        self.process.log().parent().unwrap()
    }
}

/// A Secret to seal: `name` in `namespace` with the given string items.
pub fn input(namespace: &str, name: &str, items: &[(&str, &str)]) -> SecretInput {
    SecretInput {
        metadata: ObjectMeta {
            name: Some(name.into()),
            namespace: Some(namespace.into()),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".into()),
        immutable: None,
        data: SecretData(
            items
                .iter()
                .map(|(k, v)| ((*k).to_owned(), SecretValue::new(v.as_bytes().to_vec())))
                .collect(),
        ),
    }
}

/// `secret` sealed to `cert_pem`, as the JSON of a SealedSecret.
pub fn seal_json(cert_pem: &str, secret: SecretInput, options: &SealOptions) -> serde_json::Value {
    let cert = Certificate::from_pem(cert_pem.as_bytes()).unwrap();
    serde_json::to_value(seal(secret, cert.public_key(), options).unwrap()).unwrap()
}

/// Creates a SealedSecret from its JSON form.
pub async fn create_sealed(client: &kube::Client, namespace: &str, json: serde_json::Value) {
    let mut object: DynamicObject = serde_json::from_value(json).unwrap();
    object.metadata.namespace = Some(namespace.to_owned());
    object.metadata.resource_version = None;
    object.metadata.uid = None;
    object.metadata.creation_timestamp = None;
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &sealed_resource());
    api.create(&PostParams::default(), &object).await.unwrap();
}

/// The SealedSecret's `Synced` condition as `(status, message)`, once it has one.
pub async fn synced(client: &kube::Client, namespace: &str, name: &str) -> (String, String) {
    let api: Api<DynamicObject> =
        Api::namespaced_with(client.clone(), namespace, &sealed_resource());
    let mut found = None;
    eventually(
        &format!("SealedSecret {name} to get a Synced condition"),
        async || {
            let object = api.get(name).await.unwrap();
            let condition = object.data["status"]["conditions"][0].clone();
            if condition["type"] == "Synced" {
                found = Some((
                    condition["status"].as_str().unwrap_or_default().to_owned(),
                    condition["message"].as_str().unwrap_or_default().to_owned(),
                ));
            }
            found.is_some()
        },
    )
    .await;
    found.unwrap()
}

/// The Secret, once it exists.
pub async fn secret(client: &kube::Client, namespace: &str, name: &str) -> Secret {
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let mut found = None;
    eventually(&format!("Secret {name}"), async || {
        found = api.get_opt(name).await.unwrap();
        found.is_some()
    })
    .await;
    found.unwrap()
}

/// One value of a Secret as text.
pub fn value(secret: &Secret, key: &str) -> String {
    String::from_utf8(secret.data.as_ref().unwrap()[key].0.clone()).unwrap()
}

/// Reasons of the events about `name`, once one with `reason` exists.
pub async fn wait_for_event(
    client: &kube::Client,
    namespace: &str,
    name: &str,
    reason: &str,
) -> String {
    let api: Api<Event> = Api::namespaced(client.clone(), namespace);
    let mut note = String::new();
    eventually(&format!("a {reason} event for {name}"), async || {
        let events = api.list(&ListParams::default()).await.unwrap();
        if let Some(event) = events.items.into_iter().find(|e| {
            e.involved_object.name.as_deref() == Some(name) && e.reason.as_deref() == Some(reason)
        }) {
            note = event.message.unwrap_or_default();
            return true;
        }
        false
    })
    .await;
    note
}

/// Polls `check` every 200 ms for up to 60 s; panics naming `what` if it never holds.
pub async fn eventually(what: &str, check: impl AsyncFnMut() -> bool) {
    eventually_within(what, Duration::from_secs(60), check).await;
}

/// [`eventually`] with its own deadline, for what a slower controller does (the garbage
/// collector notices a new CRD's resources only at its next discovery, every 30 s).
pub async fn eventually_within(
    what: &str,
    timeout: Duration,
    mut check: impl AsyncFnMut() -> bool,
) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !check().await {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// Installs the GitSource and Sync CRDs (idempotent) and waits until they are served.
pub async fn install_sync_crds(client: &kube::Client) {
    for text in [
        include_str!("../../../deploy/crds/lockstep.dev_gitsources.yaml"),
        include_str!("../../../deploy/crds/lockstep.dev_syncs.yaml"),
    ] {
        lockstep_testenv::manifests::apply_yaml(client, text)
            .await
            .unwrap();
    }
}

/// Creates a `lockstep.dev/v1alpha1` object of `kind` (`GitSource`, `Sync`) from JSON.
pub async fn create_lockstep(
    client: &kube::Client,
    namespace: &str,
    kind: &str,
    mut body: serde_json::Value,
) {
    body["apiVersion"] = "lockstep.dev/v1alpha1".into();
    body["kind"] = kind.into();
    let resource = ApiResource {
        group: "lockstep.dev".into(),
        version: "v1alpha1".into(),
        api_version: "lockstep.dev/v1alpha1".into(),
        kind: kind.into(),
        plural: format!("{}s", kind.to_lowercase()),
    };
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), namespace, &resource);
    let object: DynamicObject = serde_json::from_value(body).unwrap();
    api.create(&PostParams::default(), &object).await.unwrap();
}

/// A ServiceAccount bound to a Role of `rules` in `ns`, and a token for it.
pub async fn account(
    client: &kube::Client,
    ns: &str,
    name: &str,
    rules: Vec<PolicyRule>,
) -> String {
    let meta = || ObjectMeta {
        name: Some(name.to_owned()),
        ..ObjectMeta::default()
    };
    let params = PostParams::default();
    let accounts: Api<ServiceAccount> = Api::namespaced(client.clone(), ns);
    let sa = ServiceAccount {
        metadata: meta(),
        ..ServiceAccount::default()
    };
    accounts.create(&params, &sa).await.unwrap();
    let role = Role {
        metadata: meta(),
        rules: Some(rules),
    };
    Api::<Role>::namespaced(client.clone(), ns)
        .create(&params, &role)
        .await
        .unwrap();
    let binding = RoleBinding {
        metadata: meta(),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".into(),
            kind: "Role".into(),
            name: name.into(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".into(),
            name: name.into(),
            namespace: Some(ns.into()),
            ..Subject::default()
        }]),
    };
    Api::<RoleBinding>::namespaced(client.clone(), ns)
        .create(&params, &binding)
        .await
        .unwrap();
    let request = json!({"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                         "spec": {"expirationSeconds": 3600}});
    let answer: Value = accounts
        .create_subresource("token", name, &params, &request)
        .await
        .unwrap();
    answer["status"]["token"].as_str().unwrap().to_owned()
}

/// A rule of `verbs` on `resources` of the API `groups`.
pub fn rule(groups: &[&str], resources: &[&str], verbs: &[&str]) -> PolicyRule {
    let owned = |items: &[&str]| Some(items.iter().map(|s| (*s).to_owned()).collect());
    PolicyRule {
        api_groups: owned(groups),
        resources: owned(resources),
        verbs: owned(verbs).unwrap(),
        ..PolicyRule::default()
    }
}

/// Signs in to the controller's web UI at `base` with `token`, as a browser would post the
/// form; returns the session cookie (`lockstep-session=…`) to send with each request.
pub async fn ui_session(base: &str, token: &str) -> String {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let answer = http
        .post(format!("{base}/sign-in"))
        .header("origin", base)
        .header("content-type", "application/x-www-form-urlencoded")
        // A ServiceAccount token is base64url and dots: nothing to percent-encode.
        .body(format!("token={token}"))
        .send()
        .await
        .unwrap();
    let cookie = answer.headers()["set-cookie"].to_str().unwrap();
    cookie.split(';').next().unwrap().to_owned()
}
