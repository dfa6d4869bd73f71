//! Waiting for health against the real kube-apiserver and kube-controller-manager.
//!
//! There is no scheduler or kubelet in the test environment, so no pod ever runs. The
//! cases are the ones a control plane alone decides honestly: a Deployment of zero
//! replicas rolled out by the deployment controller, a Job the job controller completes
//! (zero completions) or fails (past its active deadline), a CRD becoming established,
//! and a custom resource whose conditions the test writes through its status subresource.

use std::path::Path;
use std::time::Duration;

use kube::Client;
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::core::{ApiResource, GroupVersionKind};
use lockstep_api::InventoryEntry;
use lockstep_engine::apply::{ApplyOptions, ChangeSet, apply};
use lockstep_engine::health::{Rules, Status, WaitError, compute, wait};
use lockstep_engine::inventory;
use lockstep_engine::render::{RenderOptions, render};
use lockstep_testenv::{ControlPlane, need};
use serde_json::json;

const POLL: Duration = Duration::from_millis(250);
/// Long enough for the controllers on a loaded 2-core machine; the wait ends much sooner
/// when the objects settle.
const PATIENT: Duration = Duration::from_secs(90);

async fn apply_yaml(client: &Client, ns: &str, yaml: &str) -> ChangeSet {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("objects.yaml"), yaml).unwrap();
    let options = RenderOptions {
        owner: None,
        target_namespace: Some(ns.into()),
        overlay: None,
        directory: None,
    };
    let manifests = render(dir.path(), "", &options).unwrap().manifests;
    apply(client, &manifests, &ApplyOptions::default())
        .await
        .unwrap()
}

fn entries(changes: &ChangeSet) -> Vec<InventoryEntry> {
    inventory::from_change_set(changes)
}

async fn live(client: &Client, entry: &InventoryEntry) -> serde_json::Value {
    let gvk = GroupVersionKind::gvk(&entry.group, &entry.version, &entry.kind);
    let (resource, _) = kube::discovery::pinned_kind(client, &gvk).await.unwrap();
    let api: Api<DynamicObject> = Api::namespaced_with(client.clone(), &entry.namespace, &resource);
    serde_json::to_value(api.get(&entry.name).await.unwrap()).unwrap()
}

const DEPLOYMENTS: &str = r#"
apiVersion: apps/v1
kind: Deployment
metadata: {name: idle}
spec:
  replicas: 0
  selector: {matchLabels: {app: idle}}
  template:
    metadata: {labels: {app: idle}}
    spec: {containers: [{name: app, image: registry.invalid/app:1}]}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data: {a: "1"}
"#;

#[tokio::test]
async fn deployment_of_zero_replicas_becomes_current() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("health-deploy").await.unwrap();
    let changes = apply_yaml(&client, &ns, DEPLOYMENTS).await;
    wait(
        &client,
        &entries(&changes),
        &Rules::default(),
        PATIENT,
        POLL,
    )
    .await
    .unwrap();

    // The deployment controller, not the absence of status, made it current.
    let deployment = entries(&changes)
        .into_iter()
        .find(|e| e.kind == "Deployment")
        .unwrap();
    let object = live(&client, &deployment).await;
    assert_eq!(object["status"]["observedGeneration"], 1);
    assert_eq!(compute(&object).status, Status::Current);
}

#[tokio::test]
async fn a_rollout_that_cannot_finish_times_out_naming_what_is_pending() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("health-timeout").await.unwrap();
    // One replica: its pod is created but never scheduled, so it never becomes available.
    let changes = apply_yaml(
        &client,
        &ns,
        &DEPLOYMENTS.replace("replicas: 0", "replicas: 1"),
    )
    .await;
    let mut objects = entries(&changes);
    objects.push(InventoryEntry {
        group: String::new(),
        version: "v1".into(),
        kind: "ConfigMap".into(),
        namespace: ns.clone(),
        name: "absent".into(),
    });
    // A poll longer than what is left of the timeout: the last look is still at the
    // deadline, and the message says how long it waited (it gave up one poll early and
    // named the budget, UX review D12).
    let started = std::time::Instant::now();
    let err = wait(
        &client,
        &objects,
        &Rules::default(),
        Duration::from_secs(4),
        Duration::from_secs(3),
    )
    .await
    .unwrap_err();
    let waited = started.elapsed();
    assert!(waited >= Duration::from_secs(4), "gave up after {waited:?}");
    assert!(err.to_string().starts_with("timed out after 4."), "{err}");
    let WaitError::Timeout { pending, .. } = &err else {
        panic!("expected a timeout, got {err}");
    };
    let pending: Vec<(&str, Status)> = pending
        .iter()
        .map(|(object, health)| (object.as_str(), health.status))
        .collect();
    assert_eq!(
        pending,
        [
            (format!("Deployment/{ns}/idle").as_str(), Status::InProgress),
            (format!("ConfigMap/{ns}/absent").as_str(), Status::NotFound),
        ]
    );
    let text = err.to_string();
    assert!(
        text.contains(&format!("Deployment/{ns}/idle InProgress")),
        "{text}"
    );
}

const JOBS: &str = r#"
apiVersion: batch/v1
kind: Job
metadata: {name: nothing-to-do}
spec:
  completions: 0
  template:
    spec:
      restartPolicy: Never
      containers: [{name: job, image: registry.invalid/job:1}]
"#;

#[tokio::test]
async fn a_job_with_nothing_to_do_completes() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("health-job").await.unwrap();
    let changes = apply_yaml(&client, &ns, JOBS).await;
    wait(
        &client,
        &entries(&changes),
        &Rules::default(),
        PATIENT,
        POLL,
    )
    .await
    .unwrap();
    let job = live(&client, &entries(&changes)[0]).await;
    let complete = job["status"]["conditions"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["type"] == "Complete" && c["status"] == "True");
    assert!(complete, "{}", job["status"]);
}

#[tokio::test]
async fn a_job_past_its_deadline_fails_the_wait_early() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("health-jobfail").await.unwrap();
    // Its pod never runs; the job controller fails the Job when the deadline passes.
    let yaml = JOBS
        .replace("nothing-to-do", "too-slow")
        .replace("completions: 0", "activeDeadlineSeconds: 2");
    let changes = apply_yaml(&client, &ns, &yaml).await;
    let err = wait(
        &client,
        &entries(&changes),
        &Rules::default(),
        PATIENT,
        POLL,
    )
    .await
    .unwrap_err();
    let WaitError::Failed { object, health } = &err else {
        panic!("expected an early failure, got {err}");
    };
    assert_eq!(object, &format!("Job/{ns}/too-slow"));
    assert_eq!(health.status, Status::Failed);
    assert!(
        health.message.contains("DeadlineExceeded"),
        "{}",
        health.message
    );
    assert!(
        err.to_string()
            .starts_with(&format!("Job/{ns}/too-slow failed"))
    );
}

fn write(root: &Path, name: &str, text: &str) {
    std::fs::write(root.join(name), text).unwrap();
}

#[tokio::test]
async fn crd_and_custom_resource_conditions() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("health-cr").await.unwrap();
    let group = format!("{ns}.example.com");
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "crd.yaml",
        &format!(
            r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {{name: gadgets.{group}}}
spec:
  group: {group}
  scope: Namespaced
  names: {{kind: Gadget, plural: gadgets, singular: gadget, listKind: GadgetList}}
  versions:
  - name: v1
    served: true
    storage: true
    subresources: {{status: {{}}}}
    schema:
      openAPIV3Schema:
        type: object
        x-kubernetes-preserve-unknown-fields: true
---
apiVersion: {group}/v1
kind: Gadget
metadata: {{name: g, namespace: {ns}}}
spec: {{size: 1}}
"#
        ),
    );
    let manifests = render(dir.path(), "", &RenderOptions::default())
        .unwrap()
        .manifests;
    let changes = apply(&client, &manifests, &ApplyOptions::default())
        .await
        .unwrap();
    let objects = entries(&changes);
    assert_eq!(objects[0].kind, "CustomResourceDefinition");

    // No status yet: a custom resource without conditions is assumed healthy.
    wait(&client, &objects, &Rules::default(), PATIENT, POLL)
        .await
        .unwrap();

    let resource = ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(&group, "v1", "Gadget"),
        "gadgets",
    );
    let gadgets: Api<DynamicObject> = Api::namespaced_with(client.clone(), &ns, &resource);
    let set_status = async |type_: &str, status: &str, reason: &str| {
        let body = json!({"status": {"observedGeneration": 1, "conditions": [
            {"type": type_, "status": status, "reason": reason, "message": "from the test",
             "lastTransitionTime": "2026-01-01T00:00:00Z"}]}});
        gadgets
            .patch_status("g", &PatchParams::default(), &Patch::Merge(&body))
            .await
            .unwrap();
    };

    // Ready=False keeps the wait going (never Failed); the timeout names the reason.
    set_status("Ready", "False", "Provisioning").await;
    let err = wait(
        &client,
        &objects,
        &Rules::default(),
        Duration::from_secs(2),
        POLL,
    )
    .await
    .unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "Gadget/{ns}/g InProgress (not ready: Provisioning: from the test)"
        )),
        "{err}"
    );

    // Ready=True while the wait is running ends it.
    let flip = async {
        tokio::time::sleep(Duration::from_millis(800)).await;
        set_status("Ready", "True", "Provisioned").await;
    };
    let rules = Rules::default();
    let (waited, ()) = tokio::join!(wait(&client, &objects, &rules, PATIENT, POLL), flip);
    waited.unwrap();

    // Stalled=True fails the wait at once.
    set_status("Stalled", "True", "InvalidSpec").await;
    let err = wait(&client, &objects, &Rules::default(), PATIENT, POLL)
        .await
        .unwrap_err();
    assert!(
        matches!(&err, WaitError::Failed { object, .. } if object == &format!("Gadget/{ns}/g")),
        "{err}"
    );
}
