//! Flux's Alerts and Providers (`--alerts`): the events of a Sync reach local HTTP
//! servers in the shapes Flux's notification-controller posts — its event JSON for
//! `generic-hmac`, signed with the Secret's token, a Slack message, a Discord message at
//! the webhook's `/slack` endpoint, an Alertmanager alert, and commit statuses through
//! GitHub's, GitLab's and Gitea's APIs — filtered by severity, with nothing else sent.

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
use crate::sync::{Setup, applied, setup_with, sync_spec};

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
        // GitLab's: posted to the project (`org%2Fapp`, decoded by the extractor), listed
        // in GitLab's shape (`status`, `name`, `sha`).
        let (gitlab_posted, gitlab_listed) = (self.clone(), self.clone());
        let github = github
            .route(
                "/api/v4/projects/{project}/statuses/{sha}",
                post(
                    async move |axum::extract::Path((project, sha)): axum::extract::Path<(
                        String,
                        String,
                    )>,
                                headers: HeaderMap,
                                body: Bytes| {
                        let path = format!("gitlab:{project}:{sha}");
                        gitlab_posted.0.lock().unwrap().push((path, headers, body));
                        (axum::http::StatusCode::CREATED, "{}")
                    },
                ),
            )
            .route(
                "/api/v4/projects/{project}/repository/commits/{sha}/statuses",
                axum::routing::get(
                    async move |axum::extract::Path((project, sha)): axum::extract::Path<(
                        String,
                        String,
                    )>| {
                        let listed: Vec<Value> = gitlab_listed
                            .bodies(&format!("gitlab:{project}:{sha}"))
                            .into_iter()
                            .map(|(_, b)| {
                                json!({"sha": sha, "name": b["name"], "status": b["state"],
                                                 "description": b["description"]})
                            })
                            .collect();
                        axum::Json(listed)
                    },
                ),
            );
        // Gitea's: one path for both, listed newest first with the state as `status`.
        let (gitea_posted, gitea_listed) = (self.clone(), self.clone());
        let github = github.route(
            "/api/v1/repos/org/app/statuses/{sha}",
            post(
                async move |axum::extract::Path(sha): axum::extract::Path<String>,
                            headers: HeaderMap,
                            body: Bytes| {
                    gitea_posted
                        .0
                        .lock()
                        .unwrap()
                        .push((format!("gitea:{sha}"), headers, body));
                    (axum::http::StatusCode::CREATED, "{}")
                },
            )
            .get(
                async move |axum::extract::Path(sha): axum::extract::Path<String>| {
                    let mut listed: Vec<Value> = gitea_listed
                        .bodies(&format!("gitea:{sha}"))
                        .into_iter()
                        .map(|(_, b)| {
                            json!({"context": b["context"], "status": b["state"],
                                         "description": b["description"]})
                        })
                        .collect();
                    listed.reverse();
                    axum::Json(listed)
                },
            ),
        );
        // Discord's Slack-compatible endpoint: `<webhook>/slack`.
        let discord = self.clone();
        let github = github.route(
            "/{hook}/slack",
            post(
                async move |axum::extract::Path(hook): axum::extract::Path<String>,
                            headers: HeaderMap,
                            body: Bytes| {
                    discord
                        .0
                        .lock()
                        .unwrap()
                        .push((format!("{hook}/slack"), headers, body));
                    "ok"
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

/// The test Sync setup of `name` with `--alerts=true`, Flux's Alert and Provider CRDs
/// installed, and a Secret per `(name, stringData)`.
async fn setup_alerts(plane: &ControlPlane, name: &str, secrets: &[(&str, Value)]) -> Setup {
    let s = setup_with(
        plane,
        name,
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
    let api: Api<Secret> = Api::namespaced(s.client.clone(), &s.ns);
    for (secret, data) in secrets {
        let secret =
            serde_json::from_value(json!({"metadata": {"name": secret}, "stringData": data}))
                .unwrap();
        api.create(&PostParams::default(), &secret).await.unwrap();
    }
    s
}

/// Applies a `notification.toolkit.fluxcd.io` `kind` (`Alert`, `Provider`) of `version`
/// (`v1beta3`, Flux 2.9's, or `v1`, Flux 2.10's) named `name` with `spec` in the setup's
/// namespace.
async fn notification(s: &Setup, version: &str, kind: &str, name: &str, spec: Value) {
    let resource = kube::core::ApiResource {
        group: "notification.toolkit.fluxcd.io".into(),
        version: version.into(),
        api_version: format!("notification.toolkit.fluxcd.io/{version}"),
        kind: kind.into(),
        plural: format!("{}s", kind.to_lowercase()),
    };
    let api: Api<kube::api::DynamicObject> =
        Api::namespaced_with(s.client.clone(), &s.ns, &resource);
    let object = json!({"apiVersion": resource.api_version,
                        "kind": kind, "metadata": {"name": name}, "spec": spec});
    let params = PatchParams::apply("alerts-test").force();
    api.patch(name, &params, &Patch::Apply(&object))
        .await
        .unwrap();
}

#[tokio::test]
async fn sync_events_reach_generic_hmac_and_slack_providers_as_flux_sends_them() {
    let plane = need!(ControlPlane::shared().await);
    let inbox = Inbox::default();
    let base = inbox.serve().await;
    let hook = json!({"token": TOKEN, "address": format!("{base}/signed"),
                      "headers": "X-Team: platform\n"});
    let secrets = [("hook", hook), ("github-token", json!({"token": TOKEN}))];
    let s = setup_alerts(plane, "alerts", &secrets).await;
    // Written as for Flux 2.10 (`v1`); the other test writes Flux 2.9's `v1beta3`.
    notification(
        &s,
        "v1",
        "Provider",
        "signed",
        json!({"type": "generic-hmac", "secretRef": {"name": "hook"}}),
    )
    .await;
    notification(
        &s,
        "v1",
        "Provider",
        "chat",
        json!({"type": "slack", "channel": "#ops", "address": format!("{base}/slack")}),
    )
    .await;
    notification(&s, "v1", "Provider", "commits", json!({"type": "github", "address": format!("{base}/org/app"), "secretRef": {"name": "github-token"}})).await;
    let every_sync = json!([{"kind": "Sync", "name": "*"}]);
    notification(&s, "v1", "Alert", "all", json!({"providerRef": {"name": "signed"}, "eventSources": every_sync, "eventMetadata": {"cluster": "test"}})).await;
    notification(&s, "v1", "Alert", "errors", json!({"providerRef": {"name": "chat"}, "eventSources": every_sync, "eventSeverity": "error"})).await;
    notification(
        &s,
        "v1",
        "Alert",
        "status",
        json!({"providerRef": {"name": "commits"}, "eventSources": every_sync}),
    )
    .await;
    let sources = json!({"type": "generic", "address": format!("{base}/sources")});
    notification(&s, "v1", "Provider", "sources", sources).await;
    let every_source = json!([{"kind": "GitSource", "name": "*"}]);
    let alert = json!({"providerRef": {"name": "sources"}, "eventSources": every_source});
    notification(&s, "v1", "Alert", "sources", alert).await;
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
    // Each provider is sent to on its own: the Warning may reach it after Slack.
    eventually("the Warning to reach the info alert too", async || {
        inbox
            .bodies("signed")
            .iter()
            .any(|(_, e)| e["severity"] == "error")
    })
    .await;
    // The GitSource's new artifact carries its revision, as source-controller's do.
    let fetched = format!("main@sha1:{bad}");
    eventually(
        "the GitSource's new revision to reach its alert",
        async || {
            inbox
                .bodies("sources")
                .iter()
                .any(|(_, e)| e["reason"] == "NewArtifact" && e["metadata"]["revision"] == fetched)
        },
    )
    .await;
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

/// Discord, Microsoft Teams, Alertmanager, GitLab and Gitea providers receive a Sync's event in the shapes
/// Flux's notification-controller sends, each with its own credentials, and a commit status
/// already set is not posted again.
#[tokio::test]
async fn discord_teams_alertmanager_gitlab_and_gitea_receive_what_flux_sends() {
    const AM_PASSWORD: &str = "am-basic-pass-88c1";
    let plane = need!(ControlPlane::shared().await);
    let inbox = Inbox::default();
    let base = inbox.serve().await;
    let secrets = [
        ("forge-token", json!({"token": TOKEN})),
        (
            "am-auth",
            json!({"username": "flux", "password": AM_PASSWORD}),
        ),
    ];
    let s = setup_alerts(plane, "alerts-more", &secrets).await;
    let providers = [
        (
            "discord",
            json!({"type": "discord", "address": format!("{base}/discord")}),
        ),
        (
            "teams",
            json!({"type": "msteams", "address": format!("{base}/teams")}),
        ),
        (
            "am",
            json!({"type": "alertmanager", "address": format!("{base}/alertmanager"),
                      "secretRef": {"name": "am-auth"}}),
        ),
        (
            "gitlab",
            json!({"type": "gitlab", "address": format!("{base}/org/app.git"),
                          "secretRef": {"name": "forge-token"}}),
        ),
        (
            "gitea",
            json!({"type": "gitea", "address": format!("{base}/org/app"),
                         "secretRef": {"name": "forge-token"}}),
        ),
    ];
    let every_sync = json!([{"kind": "Sync", "name": "*"}]);
    for (name, spec) in providers {
        notification(&s, "v1beta3", "Provider", name, spec).await;
        let alert = json!({"providerRef": {"name": name}, "eventSources": every_sync,
                           "summary": "cluster test"});
        notification(&s, "v1beta3", "Alert", name, alert).await;
    }
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
    let head = head.trim();
    applied(&s, "web", head).await;
    let (gitlab, gitea) = (format!("gitlab:org/app:{head}"), format!("gitea:{head}"));
    eventually("every provider to receive the apply", async || {
        !inbox.bodies("discord/slack").is_empty()
            && !inbox.bodies("alertmanager").is_empty()
            && !inbox.bodies("teams").is_empty()
            && !inbox.bodies(&gitlab).is_empty()
            && !inbox.bodies(&gitea).is_empty()
    })
    .await;

    let (_, message) = inbox.bodies("discord/slack").remove(0);
    assert_eq!(message["username"], "lockstep-controller");
    assert!(
        message.get("icon_url").is_none() && message.get("channel").is_none(),
        "{message}"
    );
    let attachment = &message["attachments"][0];
    assert_eq!(attachment["author_name"], format!("sync/web.{}", s.ns));
    assert_eq!(attachment["color"], "good");

    let (_, card) = inbox.bodies("teams").remove(0);
    assert_eq!(card["type"], "message");
    let content = &card["attachments"][0]["content"];
    assert_eq!(
        card["attachments"][0]["contentType"],
        "application/vnd.microsoft.card.adaptive"
    );
    assert_eq!(
        (&content["type"], &content["version"]),
        (&json!("AdaptiveCard"), &json!("1.4"))
    );
    let items = &content["body"][0]["items"];
    assert_eq!(items[0]["text"], format!("sync/web.{}", s.ns));
    assert!(
        items[1].get("color").is_none(),
        "info is not in the attention color: {card}"
    );
    assert_eq!(
        items[2]["facts"][0],
        json!({"title": "summary", "value": "cluster test"})
    );

    let (headers, alerts) = inbox.bodies("alertmanager").remove(0);
    let basic = format!("flux:{AM_PASSWORD}");
    use base64::Engine as _;
    let basic = base64::engine::general_purpose::STANDARD.encode(basic);
    assert_eq!(headers["authorization"], format!("Basic {basic}").as_str());
    let alert = &alerts[0];
    assert_eq!(alert["status"], "firing");
    let labels = &alert["labels"];
    assert!(
        labels["alertname"]
            .as_str()
            .unwrap()
            .starts_with("FluxSync"),
        "{alert}"
    );
    assert_eq!(
        (&labels["name"], &labels["kind"], &labels["severity"]),
        (&json!("web"), &json!("Sync"), &json!("info"))
    );
    assert_eq!(labels["namespace"], s.ns.as_str());
    assert_eq!(labels["revision"], format!("main@sha1:{head}"));
    assert!(
        labels.get("summary").is_none(),
        "the summary is an annotation: {alert}"
    );
    assert_eq!(alert["annotations"]["summary"], "cluster test");
    assert!(!alert["annotations"]["message"].as_str().unwrap().is_empty());
    assert!(alert["startsAt"].as_str().unwrap().ends_with('Z'));

    let (headers, status) = inbox.bodies(&gitlab).remove(0);
    assert_eq!(headers["private-token"], TOKEN);
    assert_eq!(status["state"], "success");
    assert!(
        status["name"].as_str().unwrap().starts_with("sync/web/"),
        "{status}"
    );
    let (headers, status) = inbox.bodies(&gitea).remove(0);
    assert_eq!(headers["authorization"], format!("token {TOKEN}").as_str());
    assert_eq!(status["state"], "success");
    assert!(
        status["context"].as_str().unwrap().starts_with("sync/web/"),
        "{status}"
    );

    // A revision the API server refuses: failure statuses on that commit, in each forge's
    // words, and the applied commit's statuses are not posted again.
    s.repo
        .write(
            "deploy/bad.yaml",
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: Bad_Name}\n",
        )
        .unwrap();
    let bad = s.repo.commit("invalid name").unwrap();
    let (gitlab_bad, gitea_bad) = (format!("gitlab:org/app:{bad}"), format!("gitea:{bad}"));
    // Each provider is sent to on its own: wait for every one to have the failure.
    eventually("the failure to reach every provider", async || {
        let card_color = |c: &Value| {
            c["attachments"][0]["content"]["body"][0]["items"][1]["color"] == "attention"
        };
        inbox
            .bodies(&gitlab_bad)
            .iter()
            .any(|(_, s)| s["state"] == "failed")
            && inbox
                .bodies(&gitea_bad)
                .iter()
                .any(|(_, s)| s["state"] == "failure")
            && inbox
                .bodies("discord/slack")
                .iter()
                .any(|(_, m)| m["attachments"][0]["color"] == "danger")
            && inbox
                .bodies("alertmanager")
                .iter()
                .any(|(_, a)| a[0]["labels"]["severity"] == "error")
            && inbox.bodies("teams").iter().any(|(_, c)| card_color(c))
    })
    .await;
    assert_eq!(inbox.bodies(&gitlab).len(), 1, "GitLab status posted again");
    assert_eq!(inbox.bodies(&gitea).len(), 1, "Gitea status posted again");
}
