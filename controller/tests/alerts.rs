//! Flux's Alerts and Providers (`--alerts`): the events of a Sync reach local HTTP
//! servers in the shapes Flux's notification-controller posts — its event JSON for
//! `generic-hmac`, signed with the Secret's token, and a Slack message — filtered by
//! severity, with nothing else sent.

use std::sync::{Arc, Mutex};

use aws_lc_rs::hmac;
use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams, PostParams};
use lockstep_testenv::{ControlPlane, manifests, need};
use serde_json::{Value, json};

use crate::support::{create_lockstep, eventually};
use crate::sync::{applied, setup_with, sync_spec};

const TOKEN: &str = "alert-hmac-token-3f9a";

/// What a provider endpoint received: each request's headers and JSON body, by path.
#[derive(Clone, Default)]
struct Inbox(Arc<Mutex<Vec<(String, HeaderMap, Bytes)>>>);

impl Inbox {
    /// Serves `POST /<anything>` on a free port, recording every request.
    async fn serve(&self) -> String {
        let inbox = self.clone();
        let statuses = self.clone();
        let listed = self.clone();
        // GitHub's commit status API: the statuses posted to a commit, newest first.
        let github = axum::Router::new()
            .route(
                "/api/v3/repos/org/app/statuses/{sha}",
                post(
                    async move |axum::extract::Path(sha): axum::extract::Path<String>,
                                headers: HeaderMap,
                                body: Bytes| {
                        let path = format!("status:{sha}");
                        statuses.0.lock().unwrap().push((path, headers, body));
                        (axum::http::StatusCode::CREATED, "{}")
                    },
                ),
            )
            .route(
                "/api/v3/repos/org/app/commits/{sha}/statuses",
                axum::routing::get(
                    async move |axum::extract::Path(sha): axum::extract::Path<String>| {
                        let mut posted: Vec<Value> = listed
                            .bodies(&format!("status:{sha}"))
                            .into_iter()
                            .map(|(_, body)| body)
                            .collect();
                        posted.reverse();
                        axum::Json(posted)
                    },
                ),
            );
        let app = github.route(
            "/{path}",
            post(
                async move |axum::extract::Path(path): axum::extract::Path<String>,
                            headers: HeaderMap,
                            body: Bytes| {
                    inbox.0.lock().unwrap().push((path, headers, body));
                    "ok"
                },
            ),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        format!("http://{addr}")
    }

    fn bodies(&self, path: &str) -> Vec<(HeaderMap, Value)> {
        let received = self.0.lock().unwrap();
        received
            .iter()
            .filter(|(p, _, _)| p == path)
            .map(|(_, headers, body)| (headers.clone(), serde_json::from_slice(body).unwrap()))
            .collect()
    }

    fn raw(&self, path: &str) -> Vec<(HeaderMap, Bytes)> {
        let received = self.0.lock().unwrap();
        received
            .iter()
            .filter(|(p, _, _)| p == path)
            .map(|(_, headers, body)| (headers.clone(), body.clone()))
            .collect()
    }
}

fn cm(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{v: \"1\"}}\n")
}

#[tokio::test]
async fn sync_events_reach_generic_hmac_and_slack_providers_as_flux_sends_them() {
    let plane = need!(ControlPlane::shared().await);
    let inbox = Inbox::default();
    let base = inbox.serve().await;
    let s = setup_with(
        plane,
        "alerts",
        &[("deploy/a.yaml", cm("a"))],
        &["--alerts=true"],
        json!({}),
    )
    .await;
    for text in [
        include_str!("../../deploy/crds/notification.toolkit.fluxcd.io_alerts.yaml"),
        include_str!("../../deploy/crds/notification.toolkit.fluxcd.io_providers.yaml"),
    ] {
        manifests::apply_yaml(&s.client, text).await.unwrap();
    }
    let secrets: Api<Secret> = Api::namespaced(s.client.clone(), &s.ns);
    let secret = serde_json::from_value(json!({
        "metadata": {"name": "hook"},
        "stringData": {"token": TOKEN, "address": format!("{base}/signed"),
                       "headers": "X-Team: platform\n"},
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let token = serde_json::from_value(json!({
        "metadata": {"name": "github-token"}, "stringData": {"token": TOKEN},
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &token)
        .await
        .unwrap();
    let params = PatchParams::apply("alerts-test").force();
    let apply = async |kind: &str, plural: &str, name: &str, spec: Value| {
        let resource = kube::core::ApiResource {
            group: "notification.toolkit.fluxcd.io".into(),
            version: "v1beta3".into(),
            api_version: "notification.toolkit.fluxcd.io/v1beta3".into(),
            kind: kind.into(),
            plural: plural.into(),
        };
        let api: Api<kube::api::DynamicObject> =
            Api::namespaced_with(s.client.clone(), &s.ns, &resource);
        let object = json!({"apiVersion": "notification.toolkit.fluxcd.io/v1beta3",
                            "kind": kind, "metadata": {"name": name}, "spec": spec});
        api.patch(name, &params, &Patch::Apply(&object))
            .await
            .unwrap();
    };
    apply(
        "Provider",
        "providers",
        "signed",
        json!({"type": "generic-hmac", "secretRef": {"name": "hook"}}),
    )
    .await;
    apply(
        "Provider",
        "providers",
        "chat",
        json!({"type": "slack", "channel": "#ops", "address": format!("{base}/slack")}),
    )
    .await;
    apply("Provider", "providers", "commits", json!({"type": "github", "address": format!("{base}/org/app"), "secretRef": {"name": "github-token"}})).await;
    let every_sync = json!([{"kind": "Sync", "name": "*"}]);
    apply("Alert", "alerts", "all", json!({"providerRef": {"name": "signed"}, "eventSources": every_sync, "eventMetadata": {"cluster": "test"}})).await;
    apply("Alert", "alerts", "errors", json!({"providerRef": {"name": "chat"}, "eventSources": every_sync, "eventSeverity": "error"})).await;
    apply(
        "Alert",
        "alerts",
        "status",
        json!({"providerRef": {"name": "commits"}, "eventSources": every_sync}),
    )
    .await;
    // The watches see the Alerts before the first event.
    tokio::time::sleep(std::time::Duration::from_secs(2)).await;

    let spec = sync_spec("deploy", json!({"targetNamespace": s.ns}));
    create_lockstep(
        &s.client,
        &s.ns,
        "Sync",
        json!({"metadata": {"name": "web"}, "spec": spec}),
    )
    .await;
    let head = s.repo.git(&["rev-parse", "HEAD"]).unwrap();
    applied(&s, "web", head.trim()).await;
    eventually(
        "the apply's event to reach the generic-hmac provider",
        async || !inbox.bodies("signed").is_empty(),
    )
    .await;
    let (headers, body) = inbox.raw("signed").remove(0);
    let key = hmac::Key::new(hmac::HMAC_SHA256, TOKEN.as_bytes());
    let signature = format!("sha256={}", hex::encode(hmac::sign(&key, &body).as_ref()));
    assert_eq!(headers["x-signature"], signature.as_str());
    assert_eq!(headers["x-team"], "platform");
    assert_eq!(headers["gotk-component"], "lockstep-controller");
    let event: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(event["involvedObject"]["kind"], "Sync");
    assert_eq!(event["involvedObject"]["name"], "web");
    assert_eq!(event["involvedObject"]["namespace"], s.ns.as_str());
    assert_eq!(event["severity"], "info");
    assert_eq!(event["metadata"]["cluster"], "test");
    assert_eq!(event["reportingController"], "lockstep-controller");
    assert!(
        event["reason"].as_str().is_some_and(|r| !r.is_empty()),
        "{event}"
    );
    assert!(
        event["timestamp"]
            .as_str()
            .is_some_and(|t| t.ends_with('Z')),
        "{event}"
    );
    assert!(
        inbox.bodies("slack").is_empty(),
        "an info event reached the error-only alert"
    );
    assert_eq!(
        event["metadata"]["revision"],
        format!("main@sha1:{}", head.trim())
    );

    // The commit shows that the cluster took it: a GitHub commit status on that commit.
    let good = format!("status:{}", head.trim());
    eventually("a success status on the applied commit", async || {
        !inbox.bodies(&good).is_empty()
    })
    .await;
    let (headers, status) = inbox.bodies(&good).remove(0);
    assert_eq!(headers["authorization"], format!("Bearer {TOKEN}").as_str());
    assert_eq!(status["state"], "success");
    let context = status["context"].as_str().unwrap();
    assert!(context.starts_with("sync/web/"), "{status}");
    let description = status["description"].as_str().unwrap();
    assert!(
        !description.is_empty() && description == description.to_lowercase(),
        "{status}"
    );

    // A revision the API server refuses: a Warning, which both providers receive.
    s.repo
        .write(
            "deploy/bad.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name}\n",
        )
        .unwrap();
    let bad = s.repo.commit("invalid name").unwrap();
    eventually("the failure to reach Slack", async || {
        !inbox.bodies("slack").is_empty()
    })
    .await;
    let (_, message) = inbox.bodies("slack").remove(0);
    assert_eq!(message["channel"], "#ops");
    assert_eq!(message["username"], "lockstep-controller");
    let attachment = &message["attachments"][0];
    assert_eq!(attachment["color"], "danger");
    assert_eq!(attachment["author_name"], format!("sync/web.{}", s.ns));
    assert!(
        attachment["text"].as_str().unwrap().contains("Bad_Name"),
        "{message}"
    );
    assert!(
        inbox
            .bodies("signed")
            .iter()
            .any(|(_, e)| e["severity"] == "error"),
        "the Warning reached the info alert too"
    );
    let failed = format!("status:{bad}");
    eventually("a failure status on the refused commit", async || {
        inbox
            .bodies(&failed)
            .iter()
            .any(|(_, s)| s["state"] == "failure")
    })
    .await;
    assert_eq!(
        inbox.bodies(&good).len(),
        1,
        "the applied commit's status was posted again"
    );
}
