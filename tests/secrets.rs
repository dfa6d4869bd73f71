//! Secrets during reconciliation, end to end: the real `lockstep-controller` syncs a
//! repository of SOPS files (age, Vault transit, AWS KMS), Vault/KMS references and
//! SealedSecrets from the git daemon into the API server, with OpenBao and moto behind it;
//! every plaintext value must reach its Secret and nothing else (log, events, status, CLI
//! output, files), and each kind of failure must stop only its own Sync.

mod every_kind;
mod failures;
mod rejected;

use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ObjectMeta, Patch, PatchParams};
use lockstep_api::{Sync, SyncStatus};
use lockstep_testenv::{
    ControlPlane, ExternalSecretsOperator, GitRepo, GitServer, Kms, Vault, tool,
};
use serde_json::json;

use crate::support::{Controller, create_lockstep, eventually, install_sync_crds};

/// The credentials moto accepts; the controller's ambient AWS identity.
const AWS_TEST: &[u8] = b"aws_access_key_id: test\naws_secret_access_key: test\n";

/// One namespace with OpenBao, moto, a repository and a controller (logging everything, at
/// `trace`, from every crate; moto as its ambient KMS) syncing it through GitSource `repo`.
/// The sweeps use both log formats: JSON (the default, and what `deploy/` runs) and text.
struct Scene {
    client: kube::Client,
    ns: String,
    vault: Vault,
    kms: Kms,
    /// A KMS key of moto's default account.
    arn: String,
    /// `sops --hc-vault-transit` URI of the transit key `sops`.
    transit: String,
    repo: GitRepo,
    controller: Controller,
    artifacts: PathBuf,
    home: tempfile::TempDir,
    _git: GitServer,
}

impl Scene {
    /// `None` (after a loud skip) when a server or tool is missing; `log_format` is the
    /// controller's `--log-format` (`json` or `text`).
    async fn start(plane: &ControlPlane, name: &str, log_format: &str) -> Option<Scene> {
        let (vault, kms, git) = tokio::join!(Vault::start(), Kms::start(), GitServer::start());
        let (vault, kms, git) = (skip(vault)?, skip(kms)?, skip(git)?);
        skip(tool("sops"))?;
        vault.post("/v1/transit/keys/sops", "{}").await.unwrap();
        let arn = kms.create_key().await.unwrap();
        let transit = format!("{}/v1/transit/keys/sops", vault.addr());
        let (client, ns) = plane.namespace(name).await.unwrap();
        install_sync_crds(&client).await;
        crate::support::install_crd(&client).await;
        skip(ExternalSecretsOperator::install_crds(&client).await)?;
        let repo = git.create_repo(name, None).unwrap();
        let artifacts = tempfile::tempdir().unwrap().keep();
        let flags = [
            "--sync=true".to_owned(),
            "--external-secrets=true".to_owned(),
            "--requeue-dependency=1s".to_owned(),
            format!("--log-format={log_format}"),
            format!("--artifact-dir={}", artifacts.display()),
        ];
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let env: [(&str, &Path); 6] = [
            ("RUST_LOG", Path::new("trace")),
            ("AWS_ENDPOINT_URL_KMS", Path::new(kms.endpoint())),
            ("AWS_SECRETSMANAGER_ENDPOINT", Path::new(kms.endpoint())),
            ("AWS_ACCESS_KEY_ID", Path::new("test")),
            ("AWS_SECRET_ACCESS_KEY", Path::new("test")),
            ("AWS_REGION", Path::new("us-east-1")),
        ];
        let controller = Controller::start_with_env(plane, &ns, &flags, &env).await;
        Some(Scene {
            client,
            ns,
            vault,
            kms,
            arn,
            transit,
            repo,
            controller,
            artifacts,
            home: tempfile::tempdir().unwrap(),
            _git: git,
        })
    }

    /// Creates GitSource `repo` (after the first commit, so the first fetch finds it).
    async fn source(&self) {
        let url = self.repo.git_url().unwrap();
        let spec = json!({"metadata": {"name": "repo"}, "spec": {"url": url, "interval": "1s"}});
        create_lockstep(&self.client, &self.ns, "GitSource", spec).await;
    }

    /// Environment in which the real `sops` (and `lockstep diff`) reach this Vault and moto.
    fn tool_env(&self) -> Vec<(&'static str, String)> {
        vec![
            ("HOME", self.home.path().display().to_string()),
            ("PATH", std::env::var("PATH").unwrap_or_default()),
            ("VAULT_ADDR", self.vault.addr().to_owned()),
            ("VAULT_TOKEN", self.vault.token().to_owned()),
            ("AWS_ENDPOINT_URL", self.kms.endpoint().to_owned()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_REGION", "us-east-1".into()),
        ]
    }

    /// Writes `text` to `path` in the work tree and encrypts it in place with the real
    /// `sops` and `args` (`--age …`, `--kms …`, `--encrypted-regex …`).
    fn write_encrypted(&self, path: &str, text: &str, args: &[&str]) {
        self.repo.write(path, text).unwrap();
        let out = Command::new(tool("sops").unwrap())
            .current_dir(self.repo.work_tree())
            .env_clear()
            .envs(self.tool_env())
            .args(["--encrypt", "--in-place"])
            .args(args)
            .arg(path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "sops --encrypt {path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Creates or replaces Secret `name` in this namespace with `entries`.
    async fn put_secret(&self, name: &str, entries: &[(&str, &[u8])]) {
        put_secret(&self.client, &self.ns, name, entries).await;
    }

    async fn delete_secret(&self, name: &str) {
        let api: Api<Secret> = Api::namespaced(self.client.clone(), &self.ns);
        api.delete(name, &DeleteParams::default()).await.unwrap();
    }

    /// Creates Sync `name` of folder `path` into this namespace, decrypting with Secret
    /// `keys`; `interval` is long so only commits, refreshes and retries (1 s) wake it.
    async fn sync(&self, name: &str, path: &str, keys: &str) {
        let body = self.sync_body(name, path, keys);
        create_lockstep(&self.client, &self.ns, "Sync", body).await;
    }

    /// The JSON of the Sync [`Scene::sync`] creates.
    fn sync_body(&self, name: &str, path: &str, keys: &str) -> serde_json::Value {
        let spec = json!({
            "sourceRef": {"name": "repo"}, "path": path, "interval": "1m",
            "retryInterval": "1s", "prune": true, "targetNamespace": self.ns,
            "decryption": {"provider": "sops", "secretRef": {"name": keys}},
        });
        json!({"metadata": {"name": name}, "spec": spec})
    }

    async fn status(&self, name: &str) -> SyncStatus {
        let api: Api<Sync> = Api::namespaced(self.client.clone(), &self.ns);
        api.get(name).await.unwrap().status.unwrap_or_default()
    }

    /// Waits until Sync `name` has applied `commit` and is Ready.
    async fn applied(&self, name: &str, commit: &str) -> SyncStatus {
        let want = format!("main@sha1:{commit}");
        let mut last = SyncStatus::default();
        eventually(&format!("Sync {name} to apply {want}"), async || {
            last = self.status(name).await;
            last.last_applied_revision.as_deref() == Some(want.as_str())
                && ready(&last).is_some_and(|(status, reason, _)| {
                    status == "True" && reason == "ReconciliationSucceeded"
                })
        })
        .await;
        last
    }

    /// Waits until Sync `name` is Ready=False for `reason`; returns the message.
    async fn failed(&self, name: &str, reason: &str) -> (String, SyncStatus) {
        let mut last = SyncStatus::default();
        eventually(&format!("Sync {name} to fail with {reason}"), async || {
            last = self.status(name).await;
            ready(&last).is_some_and(|(status, r, _)| status == "False" && r == reason)
        })
        .await;
        let message = ready(&last).unwrap().2.to_owned();
        (message, last)
    }

    /// Value `key` of Secret `name`, once the Secret exists.
    async fn value(&self, name: &str, key: &str) -> String {
        crate::support::value(
            &crate::support::secret(&self.client, &self.ns, name).await,
            key,
        )
    }
}

/// `Ready` as `(status, reason, message)`.
fn ready(status: &SyncStatus) -> Option<(&str, &str, &str)> {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| (c.status.as_str(), c.reason.as_str(), c.message.as_str()))
}

/// A started server, or `None` after a loud skip when it is not installed.
fn skip<T>(started: lockstep_testenv::Result<T>) -> Option<T> {
    match started {
        Ok(server) => Some(server),
        Err(err) => match lockstep_testenv::skip_reason(&err) {
            Some(message) => {
                eprintln!("{message}");
                None
            }
            None => panic!("test server: {err}"),
        },
    }
}

/// Creates or replaces Secret `namespace/name` with `entries`.
async fn put_secret(client: &kube::Client, namespace: &str, name: &str, entries: &[(&str, &[u8])]) {
    let secret = Secret {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            ..ObjectMeta::default()
        },
        data: Some(
            entries
                .iter()
                .map(|(k, v)| ((*k).to_owned(), ByteString(v.to_vec())))
                .collect(),
        ),
        ..Secret::default()
    };
    let api: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let params = PatchParams::apply("lockstep-e2e").force();
    api.patch(name, &params, &Patch::Apply(&secret))
        .await
        .unwrap();
}

/// A Secret manifest with one `stringData` value.
fn secret_yaml(name: &str, key: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  labels:\n    app: e2e\nstringData:\n  {key}: {value}\n"
    )
}

/// `sops` flags that encrypt only `data`/`stringData`, as Flux recommends.
const ONLY_DATA: [&str; 2] = ["--encrypted-regex", "^(data|stringData)$"];
