//! Drift reported and reverted (issue 19): a field Git sets, edited in the cluster by
//! another field manager as `kubectl edit` does. Without `selfHeal` the Sync reports it —
//! the `Drifted` condition naming the object and the field path, a `DriftDetected` event,
//! `lockstep_drifted_objects` on /metrics — and clears it once the edit is undone; with
//! `selfHeal` the revert is an event naming the path. A Secret's drift names its key, never
//! a value: status, events and the log are scanned for both values.

use std::time::Duration;

use base64::Engine as _;
use k8s_openapi::api::core::v1::{ConfigMap, Event, Secret};
use kube::api::{Api, ListParams, Patch, PatchParams};
use lockstep_testenv::{ControlPlane, need};
use serde_json::json;

use crate::support::{create_lockstep, eventually, eventually_within, wait_for_event};
use crate::sync::{Setup, applied, setup, status, sync_spec};

/// The Secret's value in Git, and the one typed over it in the cluster.
const ORIGINAL: &str = "drift-canary-original-5d1c";
const EDITED: &str = "drift-canary-edited-a93e";

fn b64(text: &str) -> String {
    base64::engine::general_purpose::STANDARD.encode(text)
}

fn cm(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{value: \"{value}\"}}\n"
    )
}

/// Edits as `kubectl edit` does: a patch by another field manager.
async fn edit<K>(s: &Setup, name: &str, patch: serde_json::Value)
where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug,
{
    let api: Api<K> = Api::namespaced(s.client.clone(), &s.ns);
    let params = PatchParams {
        field_manager: Some("kubectl-edit".into()),
        ..PatchParams::default()
    };
    api.patch(name, &params, &Patch::Merge(&patch))
        .await
        .unwrap();
}

async fn value(s: &Setup, name: &str) -> Option<String> {
    let api: Api<ConfigMap> = Api::namespaced(s.client.clone(), &s.ns);
    api.get(name)
        .await
        .unwrap()
        .data
        .and_then(|d| d.get("value").cloned())
}

/// The `Drifted` condition's status and message, if set.
async fn drifted(s: &Setup, name: &str) -> Option<(String, String)> {
    let status = status(&s.client, &s.ns, name).await;
    status
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Drifted")
        .map(|c| (c.status.as_str().to_owned(), c.message))
}

async fn metric(s: &Setup, name: &str) -> Option<String> {
    let port = s.controller.metrics_port;
    let text = lockstep_testenv::http::request(port, "GET", "/metrics", &[], "")
        .await
        .unwrap()
        .body;
    let series = format!(
        "lockstep_drifted_objects{{kind=\"Sync\",namespace=\"{}\",name=\"{name}\"}} ",
        s.ns
    );
    text.lines()
        .find_map(|l| l.strip_prefix(series.as_str()).map(str::to_owned))
}

#[tokio::test]
async fn drift_is_reported_without_self_heal_and_named_when_reverted() {
    let plane = need!(ControlPlane::shared().await);
    let secret = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: creds}}\ndata: {{password: {}}}\n",
        b64(ORIGINAL)
    );
    let s = setup(
        plane,
        "sync-drift-report",
        &[
            ("report/web.yaml", cm("web", "1")),
            ("report/creds.yaml", secret),
            ("heal/healed.yaml", cm("healed", "1")),
        ],
    )
    .await;
    let head = s.repo.git(&["rev-parse", "HEAD"]).unwrap();
    let ns = json!({"targetNamespace": s.ns});
    let report = json!({"metadata": {"name": "report"}, "spec": sync_spec("report", ns)});
    create_lockstep(&s.client, &s.ns, "Sync", report).await;
    let heal = json!({"targetNamespace": s.ns, "selfHeal": true});
    let heal = json!({"metadata": {"name": "heal"}, "spec": sync_spec("heal", heal)});
    create_lockstep(&s.client, &s.ns, "Sync", heal).await;
    applied(&s, "report", head.trim()).await;
    applied(&s, "heal", head.trim()).await;
    assert_eq!(
        drifted(&s, "report").await,
        None,
        "no drift after the apply"
    );

    // Without selfHeal: reported within an interval (1 s; a reconcile is a dry-run of
    // three objects), never reverted.
    edit::<ConfigMap>(&s, "web", json!({"data": {"value": "2"}})).await;
    edit::<Secret>(&s, "creds", json!({"data": {"password": b64(EDITED)}})).await;
    let web = format!("ConfigMap/{}/web (data.value)", s.ns);
    let creds = format!("Secret/{}/creds (data.password)", s.ns);
    let mut message = String::new();
    eventually_within(
        "Drifted naming both objects",
        Duration::from_secs(5),
        async || match drifted(&s, "report").await {
            Some((status, m)) if status == "True" && m.contains(&web) && m.contains(&creds) => {
                message = m;
                true
            }
            _ => false,
        },
    )
    .await;
    assert!(
        message.starts_with("2 object(s) differ from revision main@sha1:"),
        "{message}"
    );
    let note = wait_for_event(&s.client, &s.ns, "report", "DriftDetected").await;
    assert!(note.contains(&creds) && note.contains(&web), "{note}");
    eventually("lockstep_drifted_objects 2", async || {
        metric(&s, "report").await.as_deref() == Some("2")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        value(&s, "web").await.as_deref(),
        Some("2"),
        "reported, not reverted"
    );
    let ready = status(&s.client, &s.ns, "report").await;
    let ready = ready
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .unwrap();
    assert_eq!(ready.status.as_str(), "True", "drift is not a failure");

    // Undone: the condition goes, the gauge drops to 0, and it is said.
    edit::<ConfigMap>(&s, "web", json!({"data": {"value": "1"}})).await;
    edit::<Secret>(&s, "creds", json!({"data": {"password": b64(ORIGINAL)}})).await;
    eventually("Drifted to clear", async || {
        drifted(&s, "report").await.is_none()
    })
    .await;
    assert_eq!(metric(&s, "report").await.as_deref(), Some("0"));
    wait_for_event(&s.client, &s.ns, "report", "DriftResolved").await;

    // With selfHeal: the revert is an event naming the path; no Drifted condition.
    edit::<ConfigMap>(&s, "healed", json!({"data": {"value": "2"}})).await;
    eventually("selfHeal to revert", async || {
        value(&s, "healed").await.as_deref() == Some("1")
    })
    .await;
    let note = wait_for_event(&s.client, &s.ns, "heal", "DriftCorrected").await;
    let healed = format!("ConfigMap/{}/healed (data.value)", s.ns);
    assert!(note.contains(&healed), "{note}");
    assert_eq!(drifted(&s, "heal").await, None);

    // No value of the Secret anywhere: status, events, log.
    let api: Api<lockstep_api::Sync> = Api::namespaced(s.client.clone(), &s.ns);
    let syncs = serde_json::to_string(&api.list(&ListParams::default()).await.unwrap()).unwrap();
    let events: Api<Event> = Api::namespaced(s.client.clone(), &s.ns);
    let events = events.list(&ListParams::default()).await.unwrap();
    let events = serde_json::to_string(&events).unwrap();
    let log = s.controller.log();
    for canary in [ORIGINAL, EDITED] {
        for text in [canary.to_owned(), b64(canary)] {
            assert!(!syncs.contains(&text), "a Secret value in a Sync");
            assert!(!events.contains(&text), "a Secret value in an event");
            assert!(!log.contains(&text), "a Secret value in the log");
        }
    }
    assert!(events.contains("DriftDetected"), "the scan saw the events");

    // A deleted Sync's series go with it.
    api.delete("report", &Default::default()).await.unwrap();
    eventually("the deleted Sync's gauge to go", async || {
        metric(&s, "report").await.is_none()
    })
    .await;
}
