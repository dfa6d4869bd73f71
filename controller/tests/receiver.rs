//! Flux Receivers end to end: the real `lockstep-controller` binary with `--receivers`,
//! the real apiserver and git daemon, and webhooks sent the way GitHub, GitLab and a
//! generic-hmac sender send them. A GitSource and Sync polling hourly apply a pushed
//! commit as soon as a verified webhook arrives; a webhook that fails verification, an
//! unknown path or an oversized body reconcile nothing.

use crate::support;

use std::time::Duration;

use aws_lc_rs::{digest, hmac};
use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, ApiResource, DynamicObject, Patch, PatchParams, PostParams};
use lockstep_api::flux::{GitRepository, Kustomization, Receiver, ReceiverStatus};
use lockstep_testenv::{ControlPlane, GitHttpServer, GitServer, HttpAuth, free_port, http, need};
use serde_json::json;
use support::{
    Controller, create_lockstep, eventually, eventually_within, install_sync_crds, wait_for_event,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const TOKEN: &str = "receiver-token-3f9a1c";
const GIT_TOKEN: &str = "receiver-git-bearer-77d0";

fn cm(value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: hooked}}\ndata: {{value: \"{value}\"}}\n"
    )
}

fn sign(algorithm: hmac::Algorithm, prefix: &str, body: &str) -> String {
    let tag = hmac::sign(
        &hmac::Key::new(algorithm, TOKEN.as_bytes()),
        body.as_bytes(),
    );
    format!("{prefix}={}", hex::encode(tag.as_ref()))
}

/// A push event body shaped like GitHub's.
fn push_body(commit: &str) -> String {
    json!({
        "ref": "refs/heads/main",
        "after": commit,
        "repository": {"full_name": "team/apps", "clone_url": "https://example.invalid/team/apps.git"},
        "head_commit": {"id": commit, "message": "change"},
    })
    .to_string()
}

async fn status(client: &kube::Client, ns: &str, name: &str) -> ReceiverStatus {
    let api: Api<Receiver> = Api::namespaced(client.clone(), ns);
    api.get(name).await.unwrap().status.unwrap_or_default()
}

/// Waits until Receiver `name` is Ready=`ready` with `reason`; returns its status.
async fn wait_ready(
    client: &kube::Client,
    ns: &str,
    name: &str,
    ready: &str,
    reason: &str,
) -> ReceiverStatus {
    let mut last = ReceiverStatus::default();
    eventually(
        &format!("Receiver {name} Ready={ready} ({reason})"),
        async || {
            last = status(client, ns, name).await;
            last.conditions
                .iter()
                .any(|c| c.type_ == "Ready" && c.status.as_str() == ready && c.reason == reason)
        },
    )
    .await;
    last
}

async fn value(client: &kube::Client, ns: &str) -> Option<String> {
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    api.get_opt("hooked")
        .await
        .unwrap()
        .and_then(|c| c.data)
        .and_then(|d| d.get("value").cloned())
}

/// Waits (a few seconds at most: the source and Sync poll hourly) for the ConfigMap to hold `want`.
async fn applied(client: &kube::Client, ns: &str, want: &str) {
    eventually_within(
        &format!("the pushed value {want}"),
        Duration::from_secs(10),
        async || value(client, ns).await.as_deref() == Some(want),
    )
    .await;
}

/// POSTs `body` without reading it whole on the server's side: answers the status, or
/// `None` when the connection was reset before one arrived.
async fn post_large(port: u16, path: &str, body: &[u8]) -> Option<u16> {
    let mut stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nX-GitHub-Event: push\r\nContent-Length: {}\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.unwrap();
    let _ = stream.write_all(body).await;
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw).await;
    let text = String::from_utf8_lossy(&raw);
    text.split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
}

#[tokio::test]
async fn webhooks_reconcile_at_once_and_only_when_verified() {
    let plane = need!(ControlPlane::shared().await);
    let git = need!(GitServer::start().await);
    let (client, ns) = plane.namespace("receiver").await.unwrap();
    install_sync_crds(&client).await;
    lockstep_testenv::manifests::apply_yaml(
        &client,
        include_str!("../../deploy/crds/notification.toolkit.fluxcd.io_receivers.yaml"),
    )
    .await
    .unwrap();

    let repo = git.create_repo("receiver", None).unwrap();
    repo.write("deploy/cm.yaml", cm("1")).unwrap();
    repo.commit("one").unwrap();

    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let secret: Secret = serde_json::from_value(
        json!({"metadata": {"name": "webhook-token"}, "stringData": {"token": TOKEN}}),
    )
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();

    let port = free_port().unwrap();
    let addr = format!("--receiver-addr=127.0.0.1:{port}");
    let controller = Controller::start_syncing(plane, &ns, &["--receivers=true", &addr]).await;
    let url = repo.git_url().unwrap().to_owned();
    create_lockstep(
        &client,
        &ns,
        "GitSource",
        json!({"metadata": {"name": "repo"}, "spec": {"url": url, "interval": "1h"}}),
    )
    .await;
    let sync = json!({"sourceRef": {"name": "repo"}, "path": "deploy", "interval": "1h", "prune": true, "targetNamespace": ns});
    create_lockstep(
        &client,
        &ns,
        "Sync",
        json!({"metadata": {"name": "apps"}, "spec": sync}),
    )
    .await;

    let receivers: Api<Receiver> = Api::namespaced(client.clone(), &ns);
    let source = json!([{"kind": "GitSource", "name": "repo"}]);
    for (name, type_, events, resources) in [
        ("github", "github", json!(["push"]), source.clone()),
        ("gitlab", "gitlab", json!(["Push Hook"]), source.clone()),
        (
            "hmac",
            "generic-hmac",
            json!([]),
            json!([{"apiVersion": "lockstep.dev/v1alpha1", "kind": "GitSource", "name": "*"}]),
        ),
        (
            "elsewhere",
            "github",
            json!([]),
            json!([{"kind": "GitSource", "name": "repo", "namespace": "kube-system"}]),
        ),
        ("harbor", "harbor", json!([]), source.clone()),
    ] {
        let receiver: Receiver = serde_json::from_value(json!({
            "apiVersion": "notification.toolkit.fluxcd.io/v1",
            "kind": "Receiver",
            "metadata": {"name": name},
            "spec": {"type": type_, "events": events, "resources": resources, "secretRef": {"name": "webhook-token"}},
        }))
        .unwrap();
        receivers
            .create(&PostParams::default(), &receiver)
            .await
            .unwrap();
    }

    // The path is Flux's: sha256 of token + name + namespace.
    let mut paths = std::collections::BTreeMap::new();
    for name in ["github", "gitlab", "hmac"] {
        let status = wait_ready(&client, &ns, name, "True", "Succeeded").await;
        let sum = digest::digest(&digest::SHA256, format!("{TOKEN}{name}{ns}").as_bytes());
        let want = format!("/hook/{}", hex::encode(sum.as_ref()));
        assert_eq!(
            status.webhook_path.as_deref(),
            Some(want.as_str()),
            "{name}"
        );
        paths.insert(name, want);
    }
    let elsewhere = wait_ready(&client, &ns, "elsewhere", "False", "ValidationFailed").await;
    assert!(elsewhere.webhook_path.is_none());
    assert!(
        elsewhere.conditions[0]
            .message
            .contains("resources[0].namespace: kube-system"),
        "{elsewhere:?}"
    );
    let harbor = wait_ready(&client, &ns, "harbor", "False", "ValidationFailed").await;
    assert!(
        harbor.conditions[0]
            .message
            .contains("\"harbor\" is not served"),
        "{harbor:?}"
    );

    eventually("the first commit applied", async || {
        value(&client, &ns).await.as_deref() == Some("1")
    })
    .await;

    // GitHub: a wrong signature is 401 and reconciles nothing.
    let two = {
        repo.write("deploy/cm.yaml", cm("2")).unwrap();
        repo.commit("two").unwrap()
    };
    let body = push_body(&two);
    let github = &paths["github"];
    let forged = hmac::sign(
        &hmac::Key::new(hmac::HMAC_SHA256, b"not-the-token"),
        body.as_bytes(),
    );
    let forged = format!("sha256={}", hex::encode(forged.as_ref()));
    let headers = [
        ("Content-Type", "application/json"),
        ("X-GitHub-Event", "push"),
        ("X-Hub-Signature-256", forged.as_str()),
    ];
    let refused = http::request(port, "POST", github, &headers, &body)
        .await
        .unwrap();
    assert_eq!(refused.status, 401);
    assert!(
        refused.body.is_empty(),
        "a refusal carries no detail: {:?}",
        refused.body
    );
    let note = wait_for_event(&client, &ns, "github", "ValidationFailed").await;
    assert!(
        note.contains("X-Hub-Signature-256 header does not match"),
        "{note}"
    );
    // An event not in spec.events, correctly signed: 400.
    let signed = sign(hmac::HMAC_SHA256, "sha256", &body);
    let ping = [
        ("X-GitHub-Event", "ping"),
        ("X-Hub-Signature-256", signed.as_str()),
    ];
    assert_eq!(
        http::request(port, "POST", github, &ping, &body)
            .await
            .unwrap()
            .status,
        400
    );
    // An unknown path, and a path of a Receiver that is not ready: 404.
    let unknown = format!("/hook/{}", "0".repeat(64));
    assert_eq!(
        http::request(port, "POST", &unknown, &[], &body)
            .await
            .unwrap()
            .status,
        404
    );
    // Bigger than 3 MiB: refused before any check.
    let large = vec![b' '; 4 * 1024 * 1024];
    let status = post_large(port, github, &large).await;
    assert_eq!(status, Some(413), "oversized body");
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        value(&client, &ns).await.as_deref(),
        Some("1"),
        "a refused webhook reconciled"
    );

    // The push as GitHub sends it: applied at once.
    let headers = [
        ("Content-Type", "application/json"),
        ("X-GitHub-Event", "push"),
        ("X-GitHub-Delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958"),
        (
            "X-Hub-Signature",
            &sign(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, "sha1", &body),
        ),
        ("X-Hub-Signature-256", &signed),
    ];
    let accepted = http::request(port, "POST", github, &headers, &body)
        .await
        .unwrap();
    assert_eq!(accepted.status, 200, "{}", controller.log());
    applied(&client, &ns, "2").await;

    // The same delivery sent again, and again under a new delivery id (which nothing
    // signs): refused as replays, and the GitSource is not asked again.
    let sources: Api<DynamicObject> = Api::namespaced_with(
        client.clone(),
        &ns,
        &ApiResource::erase::<lockstep_api::GitSource>(&()),
    );
    let asked = async || sources.get("repo").await.unwrap().metadata.annotations;
    let before = asked().await;
    let mut again = headers;
    for delivery in [None, Some("0b4f6a2c-0000-4000-8000-replayed0001")] {
        if let Some(delivery) = delivery {
            again[2].1 = delivery;
        }
        let replayed = http::request(port, "POST", github, &again, &body)
            .await
            .unwrap();
        assert_eq!(replayed.status, 409, "{}", controller.log());
    }
    assert_eq!(asked().await, before, "a replay asked for a reconcile");

    // GitLab: the token header.
    repo.write("deploy/cm.yaml", cm("3")).unwrap();
    let three = repo.commit("three").unwrap();
    let body = json!({"object_kind": "push", "ref": "refs/heads/main", "after": three}).to_string();
    let gitlab = &paths["gitlab"];
    let wrong = [
        ("X-Gitlab-Event", "Push Hook"),
        ("X-Gitlab-Token", "receiver-token-3f9a1d"),
    ];
    assert_eq!(
        http::request(port, "POST", gitlab, &wrong, &body)
            .await
            .unwrap()
            .status,
        401
    );
    let right = [("X-Gitlab-Event", "Push Hook"), ("X-Gitlab-Token", TOKEN)];
    assert_eq!(
        http::request(port, "POST", gitlab, &right, &body)
            .await
            .unwrap()
            .status,
        200
    );
    applied(&client, &ns, "3").await;

    // generic-hmac: X-Signature, to every GitSource of the namespace (name "*").
    repo.write("deploy/cm.yaml", cm("4")).unwrap();
    let four = repo.commit("four").unwrap();
    let body = json!({"commit": four}).to_string();
    let hmac_path = &paths["hmac"];
    let unsigned: [(&str, &str); 0] = [];
    assert_eq!(
        http::request(port, "POST", hmac_path, &unsigned, &body)
            .await
            .unwrap()
            .status,
        401
    );
    let signed = sign(hmac::HMAC_SHA256, "sha256", &body);
    let headers = [("X-Signature", signed.as_str())];
    assert_eq!(
        http::request(port, "POST", hmac_path, &headers, &body)
            .await
            .unwrap()
            .status,
        200
    );
    applied(&client, &ns, "4").await;

    // Counted by Receiver and outcome.
    let metrics = http::request(controller.metrics_port, "GET", "/metrics", &[], "")
        .await
        .unwrap()
        .body;
    for (name, outcome, count) in [
        ("github", "Unauthorized", 1),
        ("github", "EventRefused", 1),
        ("github", "Accepted", 1),
        ("github", "Replayed", 2),
        ("gitlab", "Unauthorized", 1),
        ("gitlab", "Accepted", 1),
        ("hmac", "Accepted", 1),
        ("", "NotFound", 1),
    ] {
        let namespace = if name.is_empty() { "" } else { ns.as_str() };
        let line = format!(
            "lockstep_webhooks_total{{namespace=\"{namespace}\",name=\"{name}\",outcome=\"{outcome}\"}} {count}"
        );
        assert!(metrics.contains(&line), "{line} not in\n{metrics}");
    }
    // A flood is cut at the Receiver's burst (20), before its token is read.
    let mut throttled = 0;
    for _ in 0..40 {
        let answer = http::request(port, "POST", gitlab, &wrong, &body)
            .await
            .unwrap();
        assert!([401, 429].contains(&answer.status), "{}", answer.status);
        throttled += usize::from(answer.status == 429);
    }
    assert!(throttled >= 15, "only {throttled} of 40 throttled");

    let log = controller.log();
    assert!(!log.contains(TOKEN), "the token is in the controller's log");
    assert!(log.contains("webhook accepted"), "{log}");
}

#[tokio::test]
async fn with_flux_a_webhook_reconciles_a_git_repository_and_its_kustomization() {
    let plane = need!(ControlPlane::shared().await);
    let git = need!(GitHttpServer::start(HttpAuth::Bearer(GIT_TOKEN.into())).await);
    let (client, ns) = plane.namespace("receiver-flux").await.unwrap();
    install_sync_crds(&client).await;
    crate::flux::install_flux_crds(&client).await;
    lockstep_testenv::manifests::apply_yaml(
        &client,
        include_str!("../../deploy/crds/notification.toolkit.fluxcd.io_receivers.yaml"),
    )
    .await
    .unwrap();
    let repo = git.create_repo("apps", None).unwrap();
    repo.write("apps/cm.yaml", cm("1")).unwrap();
    repo.commit("one").unwrap();

    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    for (name, key, value) in [
        ("git-auth", "bearerToken", GIT_TOKEN),
        ("webhook-token", "token", TOKEN),
    ] {
        let secret: Secret =
            serde_json::from_value(json!({"metadata": {"name": name}, "stringData": {key: value}}))
                .unwrap();
        secrets
            .create(&PostParams::default(), &secret)
            .await
            .unwrap();
    }
    let params = PatchParams::apply("flux-tests").force();
    let repos: Api<GitRepository> = Api::namespaced(client.clone(), &ns);
    let repository = json!({
        "apiVersion": "source.toolkit.fluxcd.io/v1", "kind": "GitRepository",
        "metadata": {"name": "repo"},
        "spec": {"url": git.url("apps"), "interval": "1h", "ref": {"branch": "main"}, "secretRef": {"name": "git-auth"}},
    });
    repos
        .patch("repo", &params, &Patch::Apply(&repository))
        .await
        .unwrap();
    let kss: Api<Kustomization> = Api::namespaced(client.clone(), &ns);
    let kustomization = json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "apps"},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "repo"}, "path": "./apps",
                 "interval": "1h", "prune": true, "targetNamespace": ns},
    });
    kss.patch("apps", &params, &Patch::Apply(&kustomization))
        .await
        .unwrap();
    let receivers: Api<Receiver> = Api::namespaced(client.clone(), &ns);
    let receiver = json!({
        "apiVersion": "notification.toolkit.fluxcd.io/v1", "kind": "Receiver",
        "metadata": {"name": "flux"},
        "spec": {"type": "github", "events": ["push"], "secretRef": {"name": "webhook-token"},
                 "resources": [{"kind": "GitRepository", "name": "repo"},
                               {"apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization", "name": "apps"}]},
    });
    receivers
        .patch("flux", &params, &Patch::Apply(&receiver))
        .await
        .unwrap();

    let port = free_port().unwrap();
    let addr = format!("--receiver-addr=127.0.0.1:{port}");
    let _controller =
        Controller::start_syncing(plane, &ns, &["--flux=true", "--receivers=true", &addr]).await;
    let path = wait_ready(&client, &ns, "flux", "True", "Succeeded")
        .await
        .webhook_path
        .unwrap();
    eventually("the first commit applied", async || {
        value(&client, &ns).await.as_deref() == Some("1")
    })
    .await;

    repo.write("apps/cm.yaml", cm("2")).unwrap();
    let two = repo.commit("two").unwrap();
    let body = push_body(&two);
    let signed = sign(hmac::HMAC_SHA256, "sha256", &body);
    let headers = [
        ("X-GitHub-Event", "push"),
        ("X-Hub-Signature-256", signed.as_str()),
    ];
    assert_eq!(
        http::request(port, "POST", &path, &headers, &body)
            .await
            .unwrap()
            .status,
        200
    );
    applied(&client, &ns, "2").await;
    // Flux's contract, as `flux reconcile` reads it: the annotation, then the status field.
    let repo = repos.get("repo").await.unwrap();
    let requested =
        repo.metadata.annotations.unwrap_or_default()["reconcile.fluxcd.io/requestedAt"].clone();
    eventually("lastHandledReconcileAt", async || {
        let repo = repos.get("repo").await.unwrap();
        repo.status
            .and_then(|s| s.last_handled_reconcile_at)
            .as_deref()
            == Some(requested.as_str())
    })
    .await;
}
