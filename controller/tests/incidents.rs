//! Regression tests for the peers' security incidents (`shared/spec/peer-pain.md` §6), run
//! against the real controller: sealed-secrets' `/v1/verify` and `/v1/rotate` as a
//! decryption oracle and rotate widening a scope (CVE-2026-22728, PRs #2019 and #2049),
//! ciphertext applied as a Secret's value (flux2#2831), and symlinks or `../` leading a
//! render out of the checkout (Argo CD GHSA-r9cr-hvjj-496v, Flux CVE-2022-24877).

use crate::support;

use std::collections::BTreeSet;
use std::process::Command;
use std::sync::{Arc, Mutex};

use futures::StreamExt as _;
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::Api;
use kube::runtime::{WatchStreamExt as _, watcher};
use lockstep_api::{Sync, SyncStatus};
use lockstep_sealed::SealOptions;
use lockstep_testenv::{Canaries, ControlPlane, GitRepo, GitServer, need, tool};
use serde_json::{Value, json};
use support::{
    Controller, create_lockstep, eventually, input, install_crd, install_sync_crds, seal_json,
};

const CLUSTER_WIDE: &str = "sealedsecrets.bitnami.com/cluster-wide";

/// A strict SealedSecret `db` in `ns` with one item, `password`, sealed to the controller.
async fn sealed_db(controller: &Controller, ns: &str, password: &str) -> Value {
    let cert = controller.cert().await;
    seal_json(
        &cert,
        input(ns, "db", &[("password", password)]),
        &SealOptions::default(),
    )
}

/// `(status, body)` of a POST.
async fn post(controller: &Controller, path: &str, body: &Value) -> (u16, String) {
    let response = controller.post(path, &body.to_string()).await;
    (response.status, response.body)
}

/// CVE-2026-22728: `/v1/rotate` took the scope from `spec.template.metadata.annotations`,
/// which nothing authenticates, so a strict SealedSecret came back cluster-wide (then
/// unsealable anywhere). And PR #2049: rotate rendered `template.data` with the decrypted
/// items. Here the scope stays the one of the object's own annotations, the items and the
/// template come back as they were (only the blobs change), and the result still unseals
/// only under its own namespace and name.
#[tokio::test]
async fn rotate_keeps_the_scope_items_and_template_and_renders_nothing() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("incident-rotate").await.unwrap();
    install_crd(&client).await;
    let controller = Controller::start(plane, &ns).await;
    let canary = "Xk2rotate-canary-4c1e";
    let mut sealed = sealed_db(&controller, &ns, canary).await;
    let template = &mut sealed["spec"]["template"];
    template["metadata"]["annotations"][CLUSTER_WIDE] = "true".into();
    template["data"] = json!({"dsn": "user=app password={{ .password }}"});

    let (status, body) = post(&controller, "/v1/rotate", &sealed).await;
    assert_eq!(status, 200, "{body}");
    assert!(!body.contains(canary), "rotate answered with the plaintext");
    let rotated: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        rotated["metadata"]["annotations"].get(CLUSTER_WIDE),
        None,
        "the scope was widened: {body}"
    );
    let items: BTreeSet<&String> = rotated["spec"]["encryptedData"]
        .as_object()
        .unwrap()
        .keys()
        .collect();
    assert_eq!(
        items.into_iter().collect::<Vec<_>>(),
        ["password"],
        "items added or lost: {body}"
    );
    assert_eq!(
        rotated["spec"]["template"]["data"], sealed["spec"]["template"]["data"],
        "the template was rendered or dropped"
    );
    assert_ne!(
        rotated["spec"]["encryptedData"]["password"], sealed["spec"]["encryptedData"]["password"],
        "nothing was re-sealed"
    );

    // Still strict: it opens as `ns/db` only, also when its own annotations now claim more.
    let (status, body) = post(&controller, "/v1/verify", &rotated).await;
    assert_eq!(status, 200, "{body}");
    for (namespace, name, wider) in [(ns.as_str(), "stolen", false), ("elsewhere", "db", true)] {
        let mut moved = rotated.clone();
        moved["metadata"]["namespace"] = namespace.into();
        moved["metadata"]["name"] = name.into();
        if wider {
            moved["metadata"]["annotations"][CLUSTER_WIDE] = "true".into();
        }
        let (status, body) = post(&controller, "/v1/verify", &moved).await;
        assert_eq!(status, 409, "{namespace}/{name} opened: {body}");
    }
}

/// sealed-secrets PRs #2019 and #2049: `template.data` is not covered by the AEAD label,
/// so an endpoint that renders it answers for a template the attacker wrote around the
/// victim's ciphertext — one bit of plaintext per request. `/v1/verify` and `/v1/rotate`
/// check and re-seal the items only: a template, supported or not, never changes their
/// answer, so a right and a wrong guess get the same bytes back.
#[tokio::test]
async fn verify_and_rotate_never_execute_a_template() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("incident-oracle").await.unwrap();
    install_crd(&client).await;
    let controller = Controller::start(plane, &ns).await;
    let canary = "Wq9oracle-canary-77d2";
    let victim = sealed_db(&controller, &ns, canary).await;
    let probe = |guess: &str| {
        let mut crafted = victim.clone();
        crafted["spec"]["template"]["data"] = json!({
            "probe": format!("{{{{ if eq .password \"{guess}\" }}}}{{{{ fail \"hit\" }}}}{{{{ end }}}}"),
        });
        crafted
    };
    let (right, wrong) = (probe(canary), probe("not-the-password"));

    let answers = [
        post(&controller, "/v1/verify", &right).await,
        post(&controller, "/v1/verify", &wrong).await,
    ];
    assert_eq!(answers[0], answers[1], "verify tells a right guess apart");
    assert_eq!(answers[0].0, 200, "{}", answers[0].1);

    let (status, body) = post(&controller, "/v1/rotate", &right).await;
    assert_eq!(status, 200, "{body}");
    let rotated: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        rotated["spec"]["template"]["data"],
        right["spec"]["template"]["data"]
    );
    let (wrong_status, _) = post(&controller, "/v1/rotate", &wrong).await;
    assert_eq!(wrong_status, status, "rotate tells a right guess apart");
}

/// A repository with `files` (path → text) committed, served by `git`.
fn repo_with(git: &GitServer, name: &str, files: &[(&str, String)]) -> GitRepo {
    let repo = git.create_repo(name, None).unwrap();
    for (path, text) in files {
        repo.write(path, text).unwrap();
    }
    repo
}

async fn status(client: &kube::Client, ns: &str, name: &str) -> SyncStatus {
    let api: Api<Sync> = Api::namespaced(client.clone(), ns);
    api.get(name).await.unwrap().status.unwrap_or_default()
}

/// Waits until Sync `name` is `Ready` with `want` (`"True"`/`"False"`) at `commit`;
/// returns `(reason, message)`.
async fn ready_at(
    client: &kube::Client,
    ns: &str,
    name: &str,
    commit: &str,
    want: &str,
) -> (String, String) {
    let revision = format!("main@sha1:{commit}");
    let mut found = None;
    eventually(
        &format!("Sync {name} Ready={want} at {commit}"),
        async || {
            let st = status(client, ns, name).await;
            found = st
                .conditions
                .iter()
                .find(|c| c.type_ == "Ready" && c.status == want)
                .filter(|_| st.last_attempted_revision.as_deref() == Some(revision.as_str()))
                .map(|c| (c.reason.clone(), c.message.clone()));
            found.is_some()
        },
    )
    .await;
    found.unwrap()
}

/// A GitSource `repo` over `repo`, and a Sync per `(name, path)` into `ns`, none with
/// `decryption`.
async fn syncs(client: &kube::Client, ns: &str, repo: &GitRepo, paths: &[(&str, &str)]) {
    create_lockstep(
        client,
        ns,
        "GitSource",
        json!({"metadata": {"name": "repo"}, "spec": {"url": repo.git_url().unwrap(), "interval": "1m"}}),
    )
    .await;
    for (name, path) in paths {
        create_lockstep(
            client,
            ns,
            "Sync",
            json!({"metadata": {"name": name}, "spec": {
                "sourceRef": {"name": "repo"}, "path": path, "interval": "1m",
                "retryInterval": "1s", "prune": true, "targetNamespace": ns,
            }}),
        )
        .await;
    }
}

fn cm(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{value: {value}}}\n"
    )
}

/// flux2#2831: a SOPS Secret applied with its `ENC[…]` values for a while on each
/// reconcile. Whatever the decryption setup — none at all, or an `ENC[…]` value pasted
/// without the file's `sops` block — no object holding ciphertext is ever written: the
/// Sync fails before its first write, and a watch over the namespace's Secrets and
/// ConfigMaps from the start sees nothing of it, not even briefly.
#[tokio::test]
async fn ciphertext_is_never_applied_whatever_the_decryption_setup() {
    let plane = need!(ControlPlane::shared().await);
    let sops = need!(tool("sops"));
    let (client, ns) = plane.namespace("incident-enc").await.unwrap();
    install_sync_crds(&client).await;

    // Everything the API server shows of this namespace's Secrets and ConfigMaps.
    let seen = Arc::new(Mutex::new(String::new()));
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let watch = {
        let seen = seen.clone();
        let secrets = watcher(secrets.clone(), watcher::Config::default())
            .applied_objects()
            .map(|o| o.map(|s| serde_json::to_string(&s).unwrap()));
        let configmaps = watcher(configmaps, watcher::Config::default())
            .applied_objects()
            .map(|o| o.map(|c| serde_json::to_string(&c).unwrap()));
        let mut both = futures::stream::select(secrets.boxed(), configmaps.boxed());
        tokio::spawn(async move {
            while let Some(Ok(text)) = both.next().await {
                seen.lock().unwrap().push_str(&text);
            }
        })
    };

    let git = GitServer::start().await.unwrap();
    let secret = "apiVersion: v1\nkind: Secret\nmetadata: {name: db}\nstringData: {password: Zr4enc-canary-31ab}\n";
    let repo = repo_with(
        &git,
        "enc",
        &[
            ("encrypted/db.yaml", secret.to_owned()),
            ("encrypted/marker.yaml", cm("marker-encrypted", "x")),
            (
                "pasted/db.yaml",
                "apiVersion: v1\nkind: Secret\nmetadata: {name: pasted}\nstringData:\n  password: ENC[AES256_GCM,data:3q2+7w==,iv:AAAAAAAAAAAAAAAAAAAAAA==,tag:AAAAAAAAAAAAAAAAAAAAAA==,type:str]\n".to_owned(),
            ),
            ("pasted/marker.yaml", cm("marker-pasted", "x")),
        ],
    );
    let (recipient, _identity) = lockstep_keys::age::generate();
    let out = Command::new(sops)
        .current_dir(repo.work_tree())
        .env("HOME", repo.work_tree())
        .args(["--encrypt", "--in-place", "--age", &recipient])
        .args([
            "--encrypted-regex",
            "^(data|stringData)$",
            "encrypted/db.yaml",
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let commit = repo.commit("ciphertext").unwrap();
    let _controller = Controller::start_syncing(plane, &ns, &[]).await;
    syncs(
        &client,
        &ns,
        &repo,
        &[("encrypted", "encrypted"), ("pasted", "pasted")],
    )
    .await;

    for name in ["encrypted", "pasted"] {
        let (reason, message) = ready_at(&client, &ns, name, &commit, "False").await;
        assert_eq!(reason, "DecryptionFailed", "Sync {name}: {message}");
        assert!(message.contains("db.yaml"), "Sync {name}: {message}");
    }
    // A few more retries (every second) to catch a late or transient write.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    watch.abort();
    let seen = seen.lock().unwrap().clone();
    assert!(
        seen.contains("kube-root-ca.crt"),
        "the watch saw nothing: nothing was tested"
    );
    for needle in ["ENC[", "sops", "marker-", "\"pasted\"", "\"db\""] {
        assert!(
            !seen.contains(needle),
            "an object of the failed revisions was written ({needle})"
        );
    }
}

/// Argo CD GHSA-r9cr-hvjj-496v and Flux CVE-2022-24877: a repository's symlinks (to a file,
/// to a folder, relative ones climbing out) and `../` paths must not read anything outside
/// the checkout. Symlinks are not followed, a kustomization reaching out fails its build,
/// and a Sync whose own path climbs out is refused; nothing from outside is applied.
#[tokio::test]
async fn symlinks_and_dot_dot_paths_never_leave_the_checkout() {
    use std::os::unix::fs::symlink;

    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("incident-path").await.unwrap();
    install_sync_crds(&client).await;
    let canary = "Qv7wpath-canary-0b9e";
    // What lies outside the checkout, where a controller's keys might.
    let outside = tempfile::tempdir().unwrap();
    std::fs::write(outside.path().join("file.yaml"), cm("outside-file", canary)).unwrap();
    std::fs::create_dir(outside.path().join("dir")).unwrap();
    std::fs::write(
        outside.path().join("dir/cm.yaml"),
        cm("outside-dir", canary),
    )
    .unwrap();
    std::fs::write(outside.path().join("env"), format!("TOKEN={canary}\n")).unwrap();

    let git = GitServer::start().await.unwrap();
    let repo = repo_with(
        &git,
        "paths",
        &[
            ("links/inside.yaml", cm("inside", "ok")),
            (
                "kust/kustomization.yaml",
                format!(
                    "resources: [cm.yaml]\nconfigMapGenerator:\n- name: stolen\n  envs: [{}]\n",
                    outside.path().join("env").display()
                ),
            ),
            ("kust/cm.yaml", cm("kust-inside", "ok")),
            (
                "climb/kustomization.yaml",
                "resources: [../../../../../../../..]\n".to_owned(),
            ),
        ],
    );
    let work = repo.work_tree();
    symlink(
        outside.path().join("file.yaml"),
        work.join("links/absolute.yaml"),
    )
    .unwrap();
    symlink(outside.path().join("dir"), work.join("links/folder")).unwrap();
    let climb = format!(
        "../../../../../../../../../..{}",
        outside.path().join("file.yaml").display()
    );
    symlink(&climb, work.join("links/relative.yaml")).unwrap();
    let commit = repo.commit("symlinks and climbing paths").unwrap();
    let _controller = Controller::start_syncing(plane, &ns, &[]).await;
    syncs(
        &client,
        &ns,
        &repo,
        &[
            ("links", "links"),
            ("kust", "kust"),
            ("climb", "climb"),
            ("up", "../.."),
        ],
    )
    .await;

    ready_at(&client, &ns, "links", &commit, "True").await;
    let mut messages = String::new();
    for name in ["kust", "climb"] {
        let (reason, message) = ready_at(&client, &ns, name, &commit, "False").await;
        assert_eq!(reason, "BuildFailed", "Sync {name}: {message}");
        messages.push_str(&message);
    }
    eventually("Sync up to be refused", async || {
        let st = status(&client, &ns, "up").await;
        st.conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "False")
    })
    .await;
    let up = status(&client, &ns, "up").await;
    messages.push_str(&serde_json::to_string(&up).unwrap());
    for reason in [
        "is not in or below",
        "leaves the source",
        "stay inside the source",
    ] {
        assert!(messages.contains(reason), "no {reason:?} in {messages}");
    }

    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let names: BTreeSet<String> = configmaps
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|c| c.metadata.name)
        .collect();
    assert!(names.contains("inside"), "{names:?}");
    for name in ["outside-file", "outside-dir", "kust-inside"] {
        assert!(
            !names.iter().any(|n| n.starts_with(name)),
            "{name} applied: {names:?}"
        );
    }
    assert!(!names.iter().any(|n| n.starts_with("stolen")), "{names:?}");
    let canaries = Canaries::new([canary]);
    let all = serde_json::to_string(&configmaps.list(&Default::default()).await.unwrap()).unwrap();
    canaries.assert_absent("the namespace's ConfigMaps", &all);
    canaries.assert_absent("the Syncs' status", &messages);
}

/// A TCP server that records every byte sent to it and answers nothing: where a Vault
/// token must never arrive.
struct Trap {
    address: String,
    received: Arc<Mutex<Vec<u8>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Trap {
    async fn start() -> Trap {
        use tokio::io::AsyncReadExt as _;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        let received = Arc::new(Mutex::new(Vec::new()));
        let sink = received.clone();
        let task = tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let sink = sink.clone();
                tokio::spawn(async move {
                    sink.lock().unwrap().extend_from_slice(b"<connection>");
                    let mut buffer = [0u8; 4096];
                    while let Ok(n @ 1..) = stream.read(&mut buffer).await {
                        sink.lock().unwrap().extend_from_slice(&buffer[..n]);
                    }
                });
            }
        });
        Trap {
            address,
            received,
            task,
        }
    }

    fn received(&self) -> String {
        String::from_utf8_lossy(&self.received.lock().unwrap()).into_owned()
    }
}

impl Drop for Trap {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// sops 3.13 `SOPS_HC_VAULT_ALLOWLIST`: a SOPS file's `hc_vault` metadata names the
/// server its data key is sent to, and nothing authenticates that metadata. A Sync's Vault
/// token — from its decryption Secret, or the controller's own `VAULT_TOKEN` — goes only
/// to the Vault the operator named (the Secret's `vault.address`, else the controller's
/// `VAULT_ADDR`); a file naming another server fails, and that server hears nothing.
#[tokio::test]
async fn a_sops_file_cannot_send_the_vault_token_to_a_server_of_its_choosing() {
    let plane = need!(ControlPlane::shared().await);
    let sops = need!(tool("sops"));
    let vault = need!(lockstep_testenv::Vault::start().await);
    vault.post("/v1/transit/keys/sops", "{}").await.unwrap();
    let trap = Trap::start().await;
    let (client, ns) = plane.namespace("incident-vault").await.unwrap();
    install_sync_crds(&client).await;

    let git = GitServer::start().await.unwrap();
    let secret = |name: &str| {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}}}\nstringData: {{password: Hn5vault-canary-{name}}}\n"
        )
    };
    let repo = repo_with(
        &git,
        "vault",
        &[
            ("good/db.yaml", secret("good")),
            ("trap/db.yaml", secret("trapped")),
        ],
    );
    let transit = format!("{}/v1/transit/keys/sops", vault.addr());
    for file in ["good/db.yaml", "trap/db.yaml"] {
        let out = Command::new(&sops)
            .current_dir(repo.work_tree())
            .env("HOME", repo.work_tree())
            .env("VAULT_TOKEN", vault.token())
            .args(["--encrypt", "--in-place", "--hc-vault-transit", &transit])
            .args(["--encrypted-regex", "^(data|stringData)$", file])
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    // Nothing covers the metadata: point this file's key at the trap.
    let trapped = std::fs::read_to_string(repo.work_tree().join("trap/db.yaml")).unwrap();
    assert!(trapped.contains(vault.addr()), "{trapped}");
    repo.write("trap/db.yaml", trapped.replace(vault.addr(), &trap.address))
        .unwrap();
    let commit = repo.commit("a file naming another Vault").unwrap();
    let keys: Secret = serde_json::from_value(json!({
        "metadata": {"name": "keys"},
        "stringData": {"sops.vault-token": vault.token(), "vault.address": vault.addr()},
    }))
    .unwrap();
    Api::<Secret>::namespaced(client.clone(), &ns)
        .create(&kube::api::PostParams::default(), &keys)
        .await
        .unwrap();

    // The controller has a token of its own too (Flux uses it for SOPS transit keys).
    let token = std::path::PathBuf::from(vault.token());
    let artifacts = tempfile::tempdir().unwrap();
    let artifact_dir = format!("--artifact-dir={}", artifacts.path().display());
    let controller = Controller::start_with_env(
        plane,
        &ns,
        &["--sync=true", &artifact_dir],
        &[("VAULT_TOKEN", &token)],
    )
    .await;
    syncs(&client, &ns, &repo, &[("ambient", "trap")]).await;
    for (name, path) in [("good", "good"), ("trap", "trap")] {
        create_lockstep(
            &client,
            &ns,
            "Sync",
            json!({"metadata": {"name": name}, "spec": {
                "sourceRef": {"name": "repo"}, "path": path, "interval": "1m",
                "retryInterval": "1s", "prune": true, "targetNamespace": ns,
                "decryption": {"provider": "sops", "secretRef": {"name": "keys"}},
            }}),
        )
        .await;
    }

    // The Vault the Secret names works.
    ready_at(&client, &ns, "good", &commit, "True").await;
    for name in ["trap", "ambient"] {
        let (reason, message) = ready_at(&client, &ns, name, &commit, "False").await;
        assert_eq!(reason, "DecryptionFailed", "Sync {name}: {message}");
        assert!(
            message.contains("trap/db.yaml") && message.contains(&trap.address),
            "Sync {name}: {message}"
        );
    }
    // Retries happen every second: give a leaking one the time to reach the trap.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    let heard = trap.received();
    assert!(
        !heard.contains(vault.token()),
        "the Vault token reached the file's server"
    );
    assert_eq!(heard, "", "the file's server was contacted");
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    assert!(secrets.get_opt("trapped").await.unwrap().is_none());
    assert!(!controller.log().contains(vault.token()));
}

/// Argo CD CVE-2023-40029, GHSA-rg3g-4rw9-gqrp: Secret values leaked through the
/// `kubectl.kubernetes.io/last-applied-configuration` annotation. A Secret first made with
/// `kubectl apply` (client-side: the annotation holds its whole data) and then taken over
/// by a Sync: the controller writes with server-side apply and never writes such an
/// annotation itself, so the new value never lands in one; and neither value reaches the
/// Sync's status, its events or the controller's log.
#[tokio::test]
async fn a_kubectl_applied_secret_taken_over_never_gets_its_value_into_last_applied() {
    use k8s_openapi::api::core::v1::Event;
    use kube::api::{ListParams, PostParams};

    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("incident-applied").await.unwrap();
    install_sync_crds(&client).await;
    let (old, new) = ("Jt6old-applied-canary-5e", "Jt6new-applied-canary-a1");
    // What `kubectl apply -f` of a Secret writes: data, plus the annotation copying it.
    let encoded = |v: &str| {
        use base64::Engine as _;
        base64::engine::general_purpose::STANDARD.encode(v)
    };
    let copy = json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "db", "namespace": ns},
        "data": {"password": encoded(old)},
    })
    .to_string();
    let by_kubectl: Secret = serde_json::from_value(json!({
        "metadata": {"name": "db", "annotations": {support::LAST_APPLIED: copy}},
        "data": {"password": encoded(old)},
    }))
    .unwrap();
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    secrets
        .create(&PostParams::default(), &by_kubectl)
        .await
        .unwrap();

    let git = GitServer::start().await.unwrap();
    let repo = repo_with(
        &git,
        "applied",
        &[(
            "apps/db.yaml",
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata: {{name: db}}\nstringData: {{password: {new}}}\n"
            ),
        )],
    );
    let commit = repo.commit("taken over").unwrap();
    let controller = Controller::start_syncing(plane, &ns, &[]).await;
    syncs(&client, &ns, &repo, &[("apps", "apps")]).await;
    ready_at(&client, &ns, "apps", &commit, "True").await;

    let live = secrets.get("db").await.unwrap();
    assert_eq!(support::value(&live, "password"), new);
    let annotation = live
        .metadata
        .annotations
        .unwrap_or_default()
        .remove(support::LAST_APPLIED)
        .unwrap_or_default();
    Canaries::new([new]).assert_absent("the last-applied annotation", &annotation);

    let canaries = Canaries::new([old, new]);
    let status = serde_json::to_string(&status(&client, &ns, "apps").await).unwrap();
    canaries.assert_absent("the Sync's status", &status);
    let events: Api<Event> = Api::namespaced(client.clone(), &ns);
    let events = events.list(&ListParams::default()).await.unwrap();
    canaries.assert_absent("events", &serde_json::to_string(&events).unwrap());
    canaries.assert_absent("the controller log", &controller.log());
}
