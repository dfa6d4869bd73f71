//! The Git sync controllers end to end: the real `lockstep-controller` binary reconciles
//! `GitSource`s and `Sync`s from the real git daemon into the real kube-apiserver.

use crate::support;

use std::time::Duration;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::core::ApiResource;
use lockstep_api::{GitSource, PlanAction, Sync, SyncStatus};
use lockstep_testenv::{ControlPlane, ControlPlaneOptions, GitRepo, GitServer, need};
use serde_json::json;
use support::{
    Controller, create_lockstep, eventually, eventually_within, install_sync_crds, wait_for_event,
};

/// A namespace with a running controller, a repository and its GitSource `repo`.
pub(crate) struct Setup {
    pub(crate) client: kube::Client,
    pub(crate) ns: String,
    pub(crate) repo: GitRepo,
    pub(crate) controller: Controller,
    _git: GitServer,
}

pub(crate) async fn setup(plane: &ControlPlane, name: &str, files: &[(&str, String)]) -> Setup {
    setup_with(plane, name, files, &[], json!({})).await
}

/// [`setup`] with more controller flags and labels on the GitSource.
pub(crate) async fn setup_with(
    plane: &ControlPlane,
    name: &str,
    files: &[(&str, String)],
    flags: &[&str],
    source_labels: serde_json::Value,
) -> Setup {
    let git = GitServer::start().await.unwrap();
    let (client, ns) = plane.namespace(name).await.unwrap();
    install_sync_crds(&client).await;
    let repo = git.create_repo(name, None).unwrap();
    for (path, text) in files {
        repo.write(path, text).unwrap();
    }
    repo.commit("initial objects").unwrap();
    let mut args = vec!["--requeue-dependency=1s"];
    args.extend_from_slice(flags);
    let controller = Controller::start_syncing(plane, &ns, &args).await;
    create_lockstep(
        &client,
        &ns,
        "GitSource",
        json!({
            "metadata": {"name": "repo", "labels": source_labels},
            "spec": {"url": repo.git_url().unwrap(), "interval": "1s"},
        }),
    )
    .await;
    Setup {
        client,
        ns,
        repo,
        controller,
        _git: git,
    }
}

pub(crate) fn sync_spec(path: &str, extra: serde_json::Value) -> serde_json::Value {
    let mut spec =
        json!({"sourceRef": {"name": "repo"}, "path": path, "interval": "1s", "prune": true});
    for (k, v) in extra.as_object().unwrap() {
        spec[k] = v.clone();
    }
    spec
}

fn cm(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{value: \"{value}\"}}\n"
    )
}

pub(crate) async fn status(client: &kube::Client, ns: &str, name: &str) -> SyncStatus {
    let api: Api<Sync> = Api::namespaced(client.clone(), ns);
    api.get(name).await.unwrap().status.unwrap_or_default()
}

pub(crate) fn ready(status: &SyncStatus) -> Option<(&str, &str)> {
    status
        .conditions
        .iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| (c.status.as_str(), c.reason.as_str()))
}

/// Waits until Sync `name` has applied `commit` and is Ready.
pub(crate) async fn applied(s: &Setup, name: &str, commit: &str) -> SyncStatus {
    let want = format!("main@sha1:{commit}");
    let mut last = SyncStatus::default();
    eventually(&format!("Sync {name} to apply {want}"), async || {
        last = status(&s.client, &s.ns, name).await;
        last.last_applied_revision.as_deref() == Some(want.as_str())
            && ready(&last) == Some(("True", "ReconciliationSucceeded"))
    })
    .await;
    last
}

/// Waits up to `within` until Sync `name` has attempted `commit` and says `Ready=False`
/// with `reason`; the Ready message.
pub(crate) async fn failed(
    s: &Setup,
    name: &str,
    commit: &str,
    reason: &str,
    within: std::time::Duration,
) -> String {
    let want = format!("main@sha1:{commit}");
    let mut message = String::new();
    let what = format!("Sync {name} to fail {want} with {reason}");
    crate::support::eventually_within(&what, within, async || {
        let st = status(&s.client, &s.ns, name).await;
        let failed = ready(&st) == Some(("False", reason))
            && st.last_attempted_revision.as_deref() == Some(want.as_str());
        if let Some(ready) = st.conditions.iter().find(|c| c.type_ == "Ready") {
            message = ready.message.clone();
        }
        failed
    })
    .await;
    message
}

async fn value(s: &Setup, name: &str) -> Option<String> {
    let api: Api<ConfigMap> = Api::namespaced(s.client.clone(), &s.ns);
    api.get_opt(name)
        .await
        .unwrap()
        .and_then(|c| c.data)
        .and_then(|d| d.get("value").cloned())
}

#[tokio::test]
async fn commits_are_applied_updated_pruned_and_reverted() {
    let plane = need!(ControlPlane::shared().await);
    let s = setup(
        plane,
        "sync-life",
        &[
            ("deploy/a.yaml", cm("a", "1")),
            ("deploy/b.yaml", cm("b", "1")),
        ],
    )
    .await;
    create_lockstep(&s.client, &s.ns, "Sync", json!({"metadata": {"name": "apps"}, "spec": sync_spec("deploy", json!({"targetNamespace": s.ns}))})).await;
    let head = s.repo.git(&["rev-parse", "HEAD"]).unwrap();
    let first = applied(&s, "apps", head.trim()).await;
    assert_eq!(first.inventory.len(), 2, "{:?}", first.inventory);
    assert_eq!(value(&s, "a").await.as_deref(), Some("1"));
    wait_for_event(&s.client, &s.ns, "apps", "ReconciliationSucceeded").await;

    s.repo.write("deploy/a.yaml", cm("a", "2")).unwrap();
    let changed = s.repo.commit("change a").unwrap();
    applied(&s, "apps", &changed).await;
    assert_eq!(value(&s, "a").await.as_deref(), Some("2"));
    let events: Api<k8s_openapi::api::core::v1::Event> = Api::namespaced(s.client.clone(), &s.ns);
    let notes: Vec<String> = events
        .list(&Default::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter(|e| e.reason.as_deref() == Some("ReconciliationSucceeded"))
        .filter_map(|e| e.message)
        .collect();
    assert!(
        notes.iter().any(|n| n.contains(&changed)),
        "an event for each applied revision: {notes:?}"
    );

    s.repo.remove("deploy/b.yaml").unwrap();
    let removed = s.repo.commit("remove b").unwrap();
    let after = applied(&s, "apps", &removed).await;
    assert_eq!(value(&s, "b").await, None, "b is pruned");
    assert_eq!(after.inventory.len(), 1);

    s.repo.git(&["revert", "--no-edit", "HEAD"]).unwrap();
    let reverted = s.repo.push().unwrap();
    applied(&s, "apps", &reverted).await;
    assert_eq!(
        value(&s, "b").await.as_deref(),
        Some("1"),
        "revert restores b"
    );
    let log = s.controller.log();
    assert!(!log.contains("panicked"));
    // One INFO line per outcome naming the Sync and revision (UX review D18); no library
    // chatter at the default level.
    let sync = format!("{}/apps", s.ns);
    let outcome = log.lines().find(|line| {
        line.contains(r#""level":"INFO""#)
            && line.contains("applied: ")
            && line.contains(&sync)
            && line.contains(&removed)
    });
    assert!(outcome.is_some(), "no outcome line for {removed}:\n{log}");
    // And one per fetch of the source, with the revision.
    let fetched = log.lines().any(|line| {
        line.contains(r#""level":"INFO""#)
            && line.contains("fetched")
            && line.contains(&format!("{}/", s.ns))
            && line.contains("@sha1:")
    });
    assert!(fetched, "no fetch line:\n{log}");
    assert!(!log.contains("press ctrl+c"), "{log}");
    assert!(!log.contains("\u{1b}["), "colour codes in a file: {log}");
}

fn deployment(name: &str, replicas: Option<i32>) -> String {
    let replicas = replicas
        .map(|r| format!("  replicas: {r}\n"))
        .unwrap_or_default();
    format!(
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: {name}}}\nspec:\n{replicas}  selector: {{matchLabels: {{app: {name}}}}}\n  template:\n    metadata: {{labels: {{app: {name}}}}}\n    spec: {{containers: [{{name: app, image: registry.k8s.io/pause:3.10}}]}}\n"
    )
}

async fn replicas(s: &Setup, name: &str) -> Option<i32> {
    let api: Api<Deployment> = Api::namespaced(s.client.clone(), &s.ns);
    api.get(name).await.unwrap().spec.and_then(|s| s.replicas)
}

async fn scale(s: &Setup, name: &str, to: i32) {
    let api: Api<Deployment> = Api::namespaced(s.client.clone(), &s.ns);
    let patch = json!({"spec": {"replicas": to}});
    let params = PatchParams {
        field_manager: Some("kubectl-scale".into()),
        ..PatchParams::default()
    };
    api.patch(name, &params, &Patch::Merge(&patch))
        .await
        .unwrap();
}

#[tokio::test]
async fn self_heal_reverts_drift_and_leaves_fields_git_does_not_set() {
    let plane = need!(ControlPlane::shared().await);
    let s = setup(
        plane,
        "sync-drift",
        &[
            ("heal/web.yaml", deployment("healed", Some(1))),
            ("keep/web.yaml", deployment("kept", Some(1))),
            ("hpa/web.yaml", deployment("autoscaled", None)),
        ],
    )
    .await;
    let head = s.repo.git(&["rev-parse", "HEAD"]).unwrap();
    let ns = json!({"targetNamespace": s.ns});
    create_lockstep(&s.client, &s.ns, "Sync", json!({"metadata": {"name": "heal"}, "spec": sync_spec("heal", json!({"targetNamespace": s.ns, "selfHeal": true}))})).await;
    create_lockstep(
        &s.client,
        &s.ns,
        "Sync",
        json!({"metadata": {"name": "keep"}, "spec": sync_spec("keep", ns.clone())}),
    )
    .await;
    create_lockstep(&s.client, &s.ns, "Sync", json!({"metadata": {"name": "hpa"}, "spec": sync_spec("hpa", json!({"targetNamespace": s.ns, "selfHeal": true}))})).await;
    for name in ["heal", "keep", "hpa"] {
        applied(&s, name, head.trim()).await;
    }

    scale(&s, "healed", 3).await;
    scale(&s, "kept", 3).await;
    scale(&s, "autoscaled", 4).await;
    eventually("selfHeal to revert replicas to 1", async || {
        replicas(&s, "healed").await == Some(1)
    })
    .await;
    // Several intervals pass: without selfHeal the manual edit stays, and replicas Git
    // does not set stay with the manager that set them.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(replicas(&s, "kept").await, Some(3));
    assert_eq!(replicas(&s, "autoscaled").await, Some(4));
}

/// `ignoreDifferences`: replicas an autoscaler changed are neither reverted by selfHeal nor
/// reported as drift, and a new revision that changes the Deployment keeps them. A rule
/// Lockstep cannot serve (a jq expression) stalls the Sync, naming it.
#[tokio::test]
async fn ignored_differences_survive_self_heal_and_new_revisions() {
    let plane = need!(ControlPlane::shared().await);
    let s = setup(
        plane,
        "sync-ignore",
        &[("ignore/web.yaml", deployment("ignoring", Some(1)))],
    )
    .await;
    let head = s.repo.git(&["rev-parse", "HEAD"]).unwrap();
    let rule = json!({"group": "apps", "kind": "Deployment", "jsonPointers": ["/spec/replicas"]});
    let spec = sync_spec(
        "ignore",
        json!({"targetNamespace": s.ns, "selfHeal": true,
                                          "ignoreDifferences": [rule]}),
    );
    create_lockstep(
        &s.client,
        &s.ns,
        "Sync",
        json!({"metadata": {"name": "ignoring"}, "spec": spec}),
    )
    .await;
    applied(&s, "ignoring", head.trim()).await;
    scale(&s, "ignoring", 5).await;
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(replicas(&s, "ignoring").await, Some(5));
    let now = status(&s.client, &s.ns, "ignoring").await;
    assert!(
        !now.conditions.iter().any(|c| c.type_ == "Drifted"),
        "{:?}",
        now.conditions
    );

    let changed = deployment("ignoring", Some(1)).replace("pause:3.10", "pause:3.9");
    s.repo.write("ignore/web.yaml", changed).unwrap();
    let next = s.repo.commit("new image").unwrap();
    applied(&s, "ignoring", &next).await;
    let api: Api<Deployment> = Api::namespaced(s.client.clone(), &s.ns);
    let live = api.get("ignoring").await.unwrap().spec.unwrap();
    let image = live.template.spec.unwrap().containers[0].image.clone();
    assert_eq!(
        (live.replicas, image.as_deref()),
        (Some(5), Some("registry.k8s.io/pause:3.9"))
    );

    let jq = json!({"kind": "Deployment", "jqPathExpressions": [".spec.replicas"]});
    let spec = sync_spec(
        "ignore",
        json!({"targetNamespace": s.ns, "ignoreDifferences": [jq]}),
    );
    create_lockstep(
        &s.client,
        &s.ns,
        "Sync",
        json!({"metadata": {"name": "jq"}, "spec": spec}),
    )
    .await;
    eventually("the jq rule to be refused", async || {
        status(&s.client, &s.ns, "jq")
            .await
            .conditions
            .iter()
            .any(|c| {
                c.type_ == "Ready" && c.status == "False" && c.message.contains("jqPathExpressions")
            })
    })
    .await;
}

/// `deletionPolicy`, as Flux's: `Delete` deletes what the Sync applied even without
/// `prune`, `Orphan` leaves it even with `prune`, and `WaitForTermination` deletes and
/// waits up to `timeout` for the objects to go, naming one a finalizer still holds.
#[tokio::test]
async fn deletion_policies_delete_orphan_and_wait_for_termination() {
    let plane = need!(ControlPlane::shared().await);
    let held =
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: held, finalizers: [example.com/hold]}\n";
    let s = setup(
        plane,
        "sync-deletion",
        &[
            ("delete/a.yaml", cm("deleted", "1")),
            ("orphan/b.yaml", cm("orphaned", "1")),
            ("wait/c.yaml", held.to_owned()),
        ],
    )
    .await;
    let head = s.repo.git(&["rev-parse", "HEAD"]).unwrap();
    for (name, extra) in [
        (
            "delete",
            json!({"prune": false, "deletionPolicy": "Delete"}),
        ),
        ("orphan", json!({"prune": true, "deletionPolicy": "Orphan"})),
        (
            "wait",
            json!({"deletionPolicy": "WaitForTermination", "timeout": "3s"}),
        ),
    ] {
        let mut spec = sync_spec(name, extra);
        spec["targetNamespace"] = json!(s.ns);
        create_lockstep(
            &s.client,
            &s.ns,
            "Sync",
            json!({"metadata": {"name": name}, "spec": spec}),
        )
        .await;
        applied(&s, name, head.trim()).await;
    }
    let syncs: Api<Sync> = Api::namespaced(s.client.clone(), &s.ns);
    let configmaps: Api<ConfigMap> = Api::namespaced(s.client.clone(), &s.ns);
    for name in ["delete", "orphan", "wait"] {
        syncs.delete(name, &Default::default()).await.unwrap();
    }
    eventually("the Syncs to be gone", async || {
        syncs
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .is_empty()
    })
    .await;
    assert!(configmaps.get_opt("deleted").await.unwrap().is_none());
    assert!(configmaps.get_opt("orphaned").await.unwrap().is_some());
    let note = wait_for_event(&s.client, &s.ns, "wait", "PruneFailed").await;
    assert!(
        note.contains("still terminating") && note.contains("/held"),
        "{note}"
    );
    let release = json!({"metadata": {"finalizers": null}});
    configmaps
        .patch("held", &PatchParams::default(), &Patch::Merge(&release))
        .await
        .unwrap();
    eventually("held to go once released", async || {
        configmaps.get_opt("held").await.unwrap().is_none()
    })
    .await;
}

#[tokio::test]
async fn manual_mode_reports_a_plan_and_applies_only_the_approved_revision() {
    let plane = need!(ControlPlane::shared().await);
    let s = setup(plane, "sync-manual", &[("deploy/a.yaml", cm("a", "1"))]).await;
    create_lockstep(&s.client, &s.ns, "Sync", json!({"metadata": {"name": "gated"}, "spec": sync_spec("deploy", json!({"targetNamespace": s.ns, "mode": "manual"}))})).await;
    let head = s.repo.git(&["rev-parse", "HEAD"]).unwrap();
    let revision = format!("main@sha1:{}", head.trim());
    let mut planned = SyncStatus::default();
    eventually("a plan in status", async || {
        planned = status(&s.client, &s.ns, "gated").await;
        planned.plan.is_some()
    })
    .await;
    let plan = planned.plan.clone().unwrap();
    assert_eq!(plan.revision, revision);
    assert_eq!(plan.changes.len(), 1);
    assert_eq!(plan.changes[0].action, PlanAction::Created);
    assert!(plan.changes[0].object.ends_with("/a"), "{:?}", plan.changes);
    assert_eq!(ready(&planned), Some(("False", "ApprovalRequired")));
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        value(&s, "a").await,
        None,
        "nothing is applied before approval"
    );

    let api: Api<Sync> = Api::namespaced(s.client.clone(), &s.ns);
    let patch = json!({"metadata": {"annotations": {"lockstep.dev/approvedRevision": revision}}});
    api.patch("gated", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    let done = applied(&s, "gated", head.trim()).await;
    assert_eq!(value(&s, "a").await.as_deref(), Some("1"));
    assert!(done.plan.is_none(), "the plan is cleared once applied");
}

/// `dependsOn` waits for the dependency's `Ready`, or, with a `readyExpr` (Flux's), for
/// that CEL expression over `self` and `dep` alone.
#[tokio::test]
async fn depends_on_holds_the_dependent_until_the_dependency_is_ready() {
    let plane = need!(ControlPlane::shared().await);
    let files = [
        ("app/a.yaml", cm("app", "1")),
        ("expr/e.yaml", cm("expr", "1")),
    ];
    let s = setup(plane, "sync-deps", &files).await;
    // `infra` points at a folder that does not exist yet: it fails, `app` must wait.
    create_lockstep(&s.client, &s.ns, "Sync", json!({"metadata": {"name": "infra"}, "spec": sync_spec("infra", json!({"targetNamespace": s.ns}))})).await;
    create_lockstep(&s.client, &s.ns, "Sync", json!({"metadata": {"name": "app"}, "spec": sync_spec("app", json!({"targetNamespace": s.ns, "dependsOn": [{"name": "infra"}]}))})).await;
    let go = "has(dep.metadata.labels) && dep.metadata.labels.stage == 'go' \
              && self.spec.path == 'expr'";
    create_lockstep(&s.client, &s.ns, "Sync", json!({"metadata": {"name": "expr"}, "spec": sync_spec("expr", json!({"targetNamespace": s.ns, "dependsOn": [{"name": "infra", "readyExpr": go}]}))})).await;
    create_lockstep(&s.client, &s.ns, "Sync", json!({"metadata": {"name": "broken"}, "spec": sync_spec("expr", json!({"targetNamespace": s.ns, "dependsOn": [{"name": "infra", "readyExpr": "dep."}]}))})).await;
    eventually("app to wait for infra", async || {
        ready(&status(&s.client, &s.ns, "app").await) == Some(("False", "DependencyNotReady"))
    })
    .await;
    eventually("infra to fail its render", async || {
        ready(&status(&s.client, &s.ns, "infra").await).map(|r| r.1) == Some("BuildFailed")
    })
    .await;
    eventually("expr to wait for its readyExpr", async || {
        let status = status(&s.client, &s.ns, "expr").await;
        status.conditions.iter().any(|c| {
            c.type_ == "Ready"
                && c.reason == "DependencyNotReady"
                && c.message.contains("not ready according to readyExpr")
        })
    })
    .await;
    eventually("broken to stall on its readyExpr", async || {
        let status = status(&s.client, &s.ns, "broken").await;
        status.conditions.iter().any(|c| {
            c.type_ == "Ready"
                && c.reason == "InvalidSpec"
                && c.message
                    .starts_with("spec.dependsOn[0].readyExpr: does not parse")
        })
    })
    .await;
    assert_eq!(value(&s, "app").await, None);
    assert_eq!(value(&s, "expr").await, None);

    // The expression alone decides: true while infra still fails, expr applies; app waits.
    let syncs: Api<Sync> = Api::namespaced(s.client.clone(), &s.ns);
    let label = json!({"metadata": {"labels": {"stage": "go"}}});
    syncs
        .patch("infra", &PatchParams::default(), &Patch::Merge(&label))
        .await
        .unwrap();
    let head = s.repo.git(&["rev-parse", "HEAD"]).unwrap();
    applied(&s, "expr", head.trim()).await;
    assert_eq!(value(&s, "expr").await.as_deref(), Some("1"));
    assert_eq!(
        ready(&status(&s.client, &s.ns, "app").await),
        Some(("False", "DependencyNotReady"))
    );
    assert_eq!(value(&s, "app").await, None);

    s.repo.write("infra/base.yaml", cm("base", "1")).unwrap();
    let head = s.repo.commit("add infra").unwrap();
    applied(&s, "infra", &head).await;
    applied(&s, "app", &head).await;
    assert_eq!(value(&s, "app").await.as_deref(), Some("1"));
}

#[tokio::test]
async fn a_crd_and_its_custom_resource_apply_in_one_commit() {
    let plane = need!(ControlPlane::shared().await);
    let group = format!("{}.example.com", plane.namespace("grp").await.unwrap().1);
    let crd = format!(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {{name: widgets.{group}}}\nspec:\n  group: {group}\n  scope: Namespaced\n  names: {{plural: widgets, singular: widget, kind: Widget}}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema: {{openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}}}\n"
    );
    let widget =
        format!("apiVersion: {group}/v1\nkind: Widget\nmetadata: {{name: w}}\nspec: {{size: 3}}\n");
    let s = setup(
        plane,
        "sync-crd",
        &[("deploy/crd.yaml", crd), ("deploy/widget.yaml", widget)],
    )
    .await;
    create_lockstep(&s.client, &s.ns, "Sync", json!({"metadata": {"name": "crd"}, "spec": sync_spec("deploy", json!({"targetNamespace": s.ns}))})).await;
    let head = s.repo.git(&["rev-parse", "HEAD"]).unwrap();
    let done = applied(&s, "crd", head.trim()).await;
    let kinds: Vec<&str> = done.inventory.iter().map(|e| e.kind.as_str()).collect();
    assert_eq!(kinds, ["CustomResourceDefinition", "Widget"], "CRD first");
    let resource = ApiResource {
        group: group.clone(),
        version: "v1".into(),
        api_version: format!("{group}/v1"),
        kind: "Widget".into(),
        plural: "widgets".into(),
    };
    let widgets: Api<DynamicObject> = Api::namespaced_with(s.client.clone(), &s.ns, &resource);
    assert_eq!(widgets.get("w").await.unwrap().data["spec"]["size"], 3);
}

#[tokio::test]
async fn an_immutable_change_fails_clearly_and_force_recreates() {
    let plane = need!(ControlPlane::shared().await);
    let frozen = |v: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: frozen}}\nimmutable: true\ndata: {{value: \"{v}\"}}\n"
        )
    };
    let s = setup(
        plane,
        "sync-immutable",
        &[("deploy/frozen.yaml", frozen("1"))],
    )
    .await;
    create_lockstep(&s.client, &s.ns, "Sync", json!({"metadata": {"name": "imm"}, "spec": sync_spec("deploy", json!({"targetNamespace": s.ns}))})).await;
    let head = s.repo.git(&["rev-parse", "HEAD"]).unwrap();
    applied(&s, "imm", head.trim()).await;

    s.repo.write("deploy/frozen.yaml", frozen("2")).unwrap();
    let changed = s.repo.commit("change an immutable ConfigMap").unwrap();
    let mut message = String::new();
    eventually("the immutable-field failure", async || {
        let st = status(&s.client, &s.ns, "imm").await;
        let c = st.conditions.iter().find(|c| c.type_ == "Ready").cloned();
        message = c.as_ref().map(|c| c.message.clone()).unwrap_or_default();
        c.is_some_and(|c| c.status == "False" && c.reason == "ReconciliationFailed")
            && st.last_attempted_revision == Some(format!("main@sha1:{changed}"))
    })
    .await;
    assert!(
        message.contains("ConfigMap") && message.contains("frozen") && message.contains("force"),
        "{message}"
    );
    assert_eq!(
        value(&s, "frozen").await.as_deref(),
        Some("1"),
        "nothing half-applied"
    );

    let api: Api<Sync> = Api::namespaced(s.client.clone(), &s.ns);
    api.patch(
        "imm",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"force": true}})),
    )
    .await
    .unwrap();
    applied(&s, "imm", &changed).await;
    assert_eq!(value(&s, "frozen").await.as_deref(), Some("2"));
}

#[tokio::test]
async fn git_down_or_a_render_error_keeps_the_last_applied_state() {
    let plane = need!(ControlPlane::shared().await);
    let mut s = setup(
        plane,
        "sync-safety",
        &[
            ("deploy/a.yaml", cm("a", "1")),
            ("deploy/b.yaml", cm("b", "1")),
        ],
    )
    .await;
    create_lockstep(&s.client, &s.ns, "Sync", json!({"metadata": {"name": "safe"}, "spec": sync_spec("deploy", json!({"targetNamespace": s.ns}))})).await;
    let head = s.repo.git(&["rev-parse", "HEAD"]).unwrap();
    applied(&s, "safe", head.trim()).await;

    // A broken file: nothing of the revision is applied, nothing is pruned.
    s.repo.remove("deploy/b.yaml").unwrap();
    s.repo.write("deploy/a.yaml", cm("a", "2")).unwrap();
    s.repo
        .write(
            "deploy/broken.yaml",
            "apiVersion: v1\nkind: [not, a, kind\n",
        )
        .unwrap();
    let broken = s.repo.commit("broken").unwrap();
    eventually("BuildFailed", async || {
        let st = status(&s.client, &s.ns, "safe").await;
        ready(&st) == Some(("False", "BuildFailed"))
            && st.last_attempted_revision == Some(format!("main@sha1:{broken}"))
    })
    .await;
    assert_eq!(value(&s, "a").await.as_deref(), Some("1"));
    assert_eq!(value(&s, "b").await.as_deref(), Some("1"));

    // The Git server goes away: the source says why, the objects stay.
    s._git.stop();
    let sources: Api<GitSource> = Api::namespaced(s.client.clone(), &s.ns);
    eventually("the GitSource to report the Git failure", async || {
        let source = sources.get("repo").await.unwrap();
        source
            .status
            .unwrap_or_default()
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "False" && c.reason == "GitOperationFailed")
    })
    .await;
    assert_eq!(value(&s, "b").await.as_deref(), Some("1"));

    // It comes back with a fixed commit: recovery without anyone touching the cluster.
    s._git.restart().await.unwrap();
    s.repo.remove("deploy/broken.yaml").unwrap();
    let fixed = s.repo.commit("fix").unwrap();
    applied(&s, "safe", &fixed).await;
    assert_eq!(value(&s, "a").await.as_deref(), Some("2"));
    assert_eq!(value(&s, "b").await, None);
}

#[tokio::test]
async fn a_second_replica_waits_for_the_lease() {
    let plane = need!(ControlPlane::shared().await);
    let s = setup(plane, "sync-lease", &[("deploy/a.yaml", cm("a", "1"))]).await;
    let second = Controller::start_syncing(plane, &s.ns, &[]).await;
    let leases: Api<Lease> = Api::namespaced(s.client.clone(), &s.ns);
    let holder = || async {
        leases
            .get_opt("lockstep-controller-leader")
            .await
            .unwrap()
            .and_then(|l| l.spec)
            .and_then(|s| s.holder_identity)
    };
    eventually("a lease holder", async || holder().await.is_some()).await;
    let first_holder = holder().await.unwrap();
    eventually("the second replica to wait", async || {
        second.log().contains("another replica leads")
    })
    .await;

    create_lockstep(&s.client, &s.ns, "Sync", json!({"metadata": {"name": "leased"}, "spec": sync_spec("deploy", json!({"targetNamespace": s.ns}))})).await;
    let head = s.repo.git(&["rev-parse", "HEAD"]).unwrap();
    applied(&s, "leased", head.trim()).await;

    // The leader stops (and gives the lease up); the second takes over and reconciles.
    drop(s.controller);
    eventually("the second replica to take the lease", async || {
        holder().await.is_some_and(|h| h != first_holder)
    })
    .await;
    s.repo.write("deploy/a.yaml", cm("a", "2")).unwrap();
    let next = s.repo.commit("after failover").unwrap();
    let want = format!("main@sha1:{next}");
    eventually("the new leader to apply", async || {
        status(&s.client, &s.ns, "leased")
            .await
            .last_applied_revision
            .as_deref()
            == Some(want.as_str())
    })
    .await;
    assert!(second.log().contains("became leader"));
}

#[tokio::test]
async fn the_install_manifests_are_accepted_by_the_api_server() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("deploy").await.unwrap();
    install_sync_crds(&client).await;
    // Into a namespace of its own (and a binding name of its own), so that the real
    // kube-system of the shared control plane stays as other tests expect it.
    let text = include_str!("../../deploy/controller.yaml")
        .replace("namespace: kube-system", &format!("namespace: {ns}"))
        .replace(
            "name: lockstep-controller\nroleRef",
            &format!("name: {ns}\nroleRef"),
        );
    lockstep_testenv::manifests::apply_yaml(&client, &text)
        .await
        .unwrap();
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &ns);
    let deployment = deployments.get("lockstep-controller").await.unwrap();
    let args = deployment.spec.unwrap().template.spec.unwrap().containers[0]
        .args
        .clone()
        .unwrap();
    assert!(
        args.contains(&"--artifact-dir=/cache/artifacts".to_owned()),
        "{args:?}"
    );
}

#[tokio::test]
async fn health_checks_gate_ready_and_requested_at_reconciles_now() {
    let plane = need!(ControlPlane::shared().await);
    let group = format!("{}.example.com", plane.namespace("hgrp").await.unwrap().1);
    let crd = format!(
        "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nmetadata: {{name: gadgets.{group}}}\nspec:\n  group: {group}\n  scope: Namespaced\n  names: {{plural: gadgets, singular: gadget, kind: Gadget}}\n  versions:\n  - name: v1\n    served: true\n    storage: true\n    schema: {{openAPIV3Schema: {{type: object, x-kubernetes-preserve-unknown-fields: true}}}}\n"
    );
    let gadget = format!(
        "apiVersion: {group}/v1\nkind: Gadget\nmetadata: {{name: g}}\nspec: {{size: 1}}\nstatus: {{conditions: [{{type: Ready, status: \"False\", reason: Starting, message: not yet}}]}}\n"
    );
    let s = setup(
        plane,
        "sync-health",
        &[("crd/crd.yaml", crd), ("app/gadget.yaml", gadget)],
    )
    .await;
    create_lockstep(
        &s.client,
        &s.ns,
        "Sync",
        json!({"metadata": {"name": "crds"}, "spec": sync_spec("crd", json!({}))}),
    )
    .await;
    let head = s.repo.git(&["rev-parse", "HEAD"]).unwrap();
    applied(&s, "crds", head.trim()).await;
    create_lockstep(&s.client, &s.ns, "Sync", json!({"metadata": {"name": "gated"}, "spec": sync_spec("app", json!({
        "targetNamespace": s.ns,
        "healthChecks": [{"apiVersion": format!("{group}/v1"), "kind": "Gadget", "name": "g", "namespace": s.ns}],
        "timeout": "5m",
    }))}))
    .await;

    // The Gadget comes from Git saying Ready=False (no status subresource, so the status is
    // applied with it): the Sync is Progressing, not Ready.
    let resource = ApiResource {
        group: group.clone(),
        version: "v1".into(),
        api_version: format!("{group}/v1"),
        kind: "Gadget".into(),
        plural: "gadgets".into(),
    };
    let gadgets: Api<DynamicObject> = Api::namespaced_with(s.client.clone(), &s.ns, &resource);
    let set_ready = async |ready: &str| {
        let patch = json!({"status": {"conditions": [{"type": "Ready", "status": ready, "reason": "Test", "message": "set by the test"}]}});
        gadgets
            .patch("g", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .unwrap();
    };
    eventually("Progressing while the Gadget is not Ready", async || {
        ready(&status(&s.client, &s.ns, "gated").await) == Some(("False", "Progressing"))
    })
    .await;
    set_ready("True").await;
    let done = applied(&s, "gated", head.trim()).await;
    assert!(
        done.conditions
            .iter()
            .any(|c| c.type_ == "Healthy" && c.status == "True")
    );

    // The controller reports it in its metrics.
    let metrics =
        lockstep_testenv::http::request(s.controller.metrics_port, "GET", "/metrics", &[], "")
            .await
            .unwrap();
    let line = format!(
        "lockstep_ready{{kind=\"Sync\",namespace=\"{}\",name=\"gated\"}} 1",
        s.ns
    );
    assert!(metrics.body.contains(&line), "{}", metrics.body);
    assert!(
        metrics
            .body
            .contains("lockstep_reconcile_duration_seconds_count{kind=\"Sync\"}")
    );

    // With interval 1h nothing would happen for an hour; requestedAt reconciles now and
    // reverts the drift even without selfHeal.
    let api: Api<Sync> = Api::namespaced(s.client.clone(), &s.ns);
    api.patch(
        "gated",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"interval": "1h"}})),
    )
    .await
    .unwrap();
    eventually("the new generation to be observed", async || {
        let sync = api.get("gated").await.unwrap();
        sync.status.unwrap_or_default().observed_generation == sync.metadata.generation
    })
    .await;
    gadgets
        .patch(
            "g",
            &PatchParams::default(),
            &Patch::Merge(&json!({"spec": {"size": 7}})),
        )
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(
        gadgets.get("g").await.unwrap().data["spec"]["size"],
        7,
        "no reconcile before the request"
    );
    let patch =
        json!({"metadata": {"annotations": {"lockstep.dev/requestedAt": "2026-11-22T04:00:00Z"}}});
    api.patch("gated", &PatchParams::default(), &Patch::Merge(&patch))
        .await
        .unwrap();
    eventually("requestedAt to be handled", async || {
        status(&s.client, &s.ns, "gated")
            .await
            .last_handled_requested_at
            .as_deref()
            == Some("2026-11-22T04:00:00Z")
    })
    .await;
    assert_eq!(
        gadgets.get("g").await.unwrap().data["spec"]["size"],
        1,
        "the requested reconcile applied Git"
    );
}

#[tokio::test]
async fn a_kubeconfig_secret_targets_another_cluster_and_suspend_stops_applying() {
    let plane = need!(ControlPlane::shared().await);
    // The "remote" cluster is a second control plane; only its kubeconfig, in a Secret of
    // the Sync's namespace, lets the controller reach it.
    let remote = need!(ControlPlane::start(Default::default()).await);
    let remote_client = remote.client().await.unwrap();
    let s = setup(
        plane,
        "sync-remote",
        &[("deploy/a.yaml", cm("remote-a", "1"))],
    )
    .await;
    let kubeconfig = std::fs::read_to_string(remote.kubeconfig_path()).unwrap();
    let secrets: Api<k8s_openapi::api::core::v1::Secret> = Api::namespaced(s.client.clone(), &s.ns);
    let secret = k8s_openapi::api::core::v1::Secret {
        metadata: kube::api::ObjectMeta {
            name: Some("remote".into()),
            ..Default::default()
        },
        // Flux's second key name, read when `value` is absent.
        string_data: Some([("value.yaml".to_owned(), kubeconfig)].into()),
        ..Default::default()
    };
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    create_lockstep(
        &s.client,
        &s.ns,
        "Sync",
        json!({"metadata": {"name": "far"}, "spec": sync_spec("deploy", json!({
            "targetNamespace": "default",
            "kubeConfig": {"secretRef": {"name": "remote"}},
        }))}),
    )
    .await;
    let head = s.repo.git(&["rev-parse", "HEAD"]).unwrap();
    applied(&s, "far", head.trim()).await;
    let remote_cms: Api<ConfigMap> = Api::namespaced(remote_client.clone(), "default");
    assert!(
        remote_cms.get_opt("remote-a").await.unwrap().is_some(),
        "applied to the remote cluster"
    );
    let local_cms: Api<ConfigMap> = Api::namespaced(s.client.clone(), "default");
    assert!(
        local_cms.get_opt("remote-a").await.unwrap().is_none(),
        "not to the local one"
    );

    // Suspended: a new commit is not applied.
    let api: Api<Sync> = Api::namespaced(s.client.clone(), &s.ns);
    api.patch(
        "far",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"suspend": true}})),
    )
    .await
    .unwrap();
    s.repo.write("deploy/a.yaml", cm("remote-a", "2")).unwrap();
    let next = s.repo.commit("while suspended").unwrap();
    tokio::time::sleep(Duration::from_secs(4)).await;
    let value = |cm: ConfigMap| cm.data.unwrap_or_default().get("value").cloned();
    assert_eq!(
        value(remote_cms.get("remote-a").await.unwrap()).as_deref(),
        Some("1")
    );
    api.patch(
        "far",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"suspend": false}})),
    )
    .await
    .unwrap();
    applied(&s, "far", &next).await;
    assert_eq!(
        value(remote_cms.get("remote-a").await.unwrap()).as_deref(),
        Some("2")
    );

    // With a ServiceAccount, the kubeconfig's identity impersonates it in the remote
    // cluster (as Flux does), where it has no rights: refused, nothing written there.
    s.repo.write("tenant/b.yaml", cm("remote-b", "1")).unwrap();
    s.repo.commit("tenant").unwrap();
    create_lockstep(
        &s.client,
        &s.ns,
        "Sync",
        json!({"metadata": {"name": "tenant"}, "spec": sync_spec("tenant", json!({
            "targetNamespace": "default",
            "serviceAccountName": "deployer",
            "kubeConfig": {"secretRef": {"name": "remote"}},
        }))}),
    )
    .await;
    let user = format!("system:serviceaccount:{}:deployer", s.ns);
    eventually("the impersonated apply to be refused", async || {
        status(&s.client, &s.ns, "tenant")
            .await
            .conditions
            .iter()
            .any(|c| c.type_ == "Ready" && c.status == "False" && c.message.contains(&user))
    })
    .await;
    assert!(remote_cms.get_opt("remote-b").await.unwrap().is_none());
}

#[tokio::test]
async fn a_label_selector_shards_syncs_between_controllers() {
    let plane = need!(ControlPlane::shared().await);
    let shard = json!({"sharding.lockstep.dev/key": "a"});
    let s = setup_with(
        plane,
        "sync-shard",
        &[("deploy/a.yaml", cm("sharded", "1"))],
        &["--watch-label-selector=sharding.lockstep.dev/key=a"],
        shard.clone(),
    )
    .await;
    create_lockstep(&s.client, &s.ns, "Sync", json!({"metadata": {"name": "mine", "labels": shard}, "spec": sync_spec("deploy", json!({"targetNamespace": s.ns}))})).await;
    create_lockstep(&s.client, &s.ns, "Sync", json!({"metadata": {"name": "other", "labels": {"sharding.lockstep.dev/key": "b"}}, "spec": sync_spec("deploy", json!({"targetNamespace": format!("{}-b", s.ns)}))})).await;
    let head = s.repo.git(&["rev-parse", "HEAD"]).unwrap();
    applied(&s, "mine", head.trim()).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        status(&s.client, &s.ns, "other")
            .await
            .conditions
            .is_empty(),
        "a Sync of another shard is not touched"
    );
}

/// The Ready condition's status, reason and message.
async fn ready_message(s: &Setup, name: &str) -> Option<(String, String, String)> {
    status(&s.client, &s.ns, name)
        .await
        .conditions
        .into_iter()
        .find(|c| c.type_ == "Ready")
        .map(|c| (c.status.to_string(), c.reason, c.message))
}

async fn owner_of(s: &Setup, name: &str) -> Option<(String, String, String)> {
    let api: Api<ConfigMap> = Api::namespaced(s.client.clone(), &s.ns);
    let cm = api.get_opt(name).await.unwrap()?;
    Some((
        cm.metadata.labels.unwrap_or_default()["lockstep.dev/name"].clone(),
        cm.data.unwrap_or_default()["value"].clone(),
        cm.metadata.resource_version.unwrap_or_default(),
    ))
}

#[tokio::test]
async fn two_syncs_declaring_one_object_conflict_instead_of_flapping() {
    let plane = need!(ControlPlane::shared().await);
    let s = setup(
        plane,
        "sync-owners",
        &[
            ("first/shared.yaml", cm("shared", "first")),
            ("second/shared.yaml", cm("shared", "second")),
            ("second/own.yaml", cm("second-own", "second")),
        ],
    )
    .await;
    let spec = |path: &str| sync_spec(path, json!({"targetNamespace": s.ns}));
    create_lockstep(
        &s.client,
        &s.ns,
        "Sync",
        json!({"metadata": {"name": "first"}, "spec": spec("first")}),
    )
    .await;
    let head = s.repo.git(&["rev-parse", "HEAD"]).unwrap();
    applied(&s, "first", head.trim()).await;

    create_lockstep(
        &s.client,
        &s.ns,
        "Sync",
        json!({"metadata": {"name": "second"}, "spec": spec("second")}),
    )
    .await;
    let mut refused = None;
    eventually("the second Sync to report the conflict", async || {
        refused = ready_message(&s, "second").await;
        refused
            .as_ref()
            .is_some_and(|(_, reason, _)| reason == "OwnershipConflict")
    })
    .await;
    let (ready, _, message) = refused.unwrap();
    assert_eq!(ready, "False");
    assert!(
        message.contains(&format!("Sync {}/first", s.ns)) && message.contains("shared"),
        "{message}"
    );
    assert!(message.contains("forceOwnership"), "{message}");
    // Nothing of the second Sync's revision was written, and the object does not flap.
    let (owner, held_value, version) = owner_of(&s, "shared").await.unwrap();
    assert_eq!((owner.as_str(), held_value.as_str()), ("first", "first"));
    assert!(owner_of(&s, "second-own").await.is_none());
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(
        owner_of(&s, "shared").await.unwrap().2,
        version,
        "no flapping"
    );
    assert_eq!(
        ready_message(&s, "first").await.unwrap().1,
        "ReconciliationSucceeded"
    );

    // The second drops it: it applies the rest, and nothing of the first's is deleted.
    s.repo.remove("second/shared.yaml").unwrap();
    let dropped = s.repo.commit("second drops shared").unwrap();
    applied(&s, "second", &dropped).await;
    assert!(owner_of(&s, "second-own").await.is_some());
    assert_eq!(owner_of(&s, "shared").await.unwrap().0, "first");

    // An explicit take-over, reported as a Warning event.
    s.repo
        .write("second/shared.yaml", cm("shared", "second"))
        .unwrap();
    let again = s.repo.commit("second declares shared again").unwrap();
    let api: Api<Sync> = Api::namespaced(s.client.clone(), &s.ns);
    api.patch(
        "second",
        &PatchParams::default(),
        &Patch::Merge(&json!({"spec": {"forceOwnership": true}})),
    )
    .await
    .unwrap();
    applied(&s, "second", &again).await;
    let (owner, taken_value, _) = owner_of(&s, "shared").await.unwrap();
    assert_eq!((owner.as_str(), taken_value.as_str()), ("second", "second"));
    let note = wait_for_event(&s.client, &s.ns, "second", "OwnershipTaken").await;
    assert!(note.contains(&format!("Sync {}/first", s.ns)), "{note}");

    // The first dropping it now prunes nothing that is no longer its own.
    s.repo.remove("first/shared.yaml").unwrap();
    s.repo
        .write("first/other.yaml", cm("first-other", "1"))
        .unwrap();
    let moved = s.repo.commit("first drops shared").unwrap();
    applied(&s, "first", &moved).await;
    assert_eq!(owner_of(&s, "shared").await.unwrap().0, "second");
}

#[tokio::test]
async fn a_controller_killed_mid_apply_prunes_what_it_wrote_after_a_revert() {
    use futures::StreamExt as _;
    use kube::runtime::{WatchStreamExt as _, watcher};

    let plane = need!(ControlPlane::shared().await);
    let s = setup(
        plane,
        "sync-killed",
        &[("deploy/base.yaml", cm("base", "1"))],
    )
    .await;
    create_lockstep(&s.client, &s.ns, "Sync", json!({"metadata": {"name": "apps"}, "spec": sync_spec("deploy", json!({"targetNamespace": s.ns}))})).await;
    let head = s.repo.git(&["rev-parse", "HEAD"]).unwrap();
    applied(&s, "apps", head.trim()).await;

    const BULK: usize = 300;
    let bulk: String = (0..BULK)
        .map(|i| format!("---\n{}", cm(&format!("bulk-{i:03}"), &i.to_string())))
        .collect();
    s.repo.write("deploy/bulk.yaml", bulk).unwrap();
    let big = s.repo.commit("300 ConfigMaps").unwrap();

    // Kill the controller once 20 of them are written.
    let configmaps: Api<ConfigMap> = Api::namespaced(s.client.clone(), &s.ns);
    let bulk_left = async || {
        configmaps
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .iter()
            .filter(|c| {
                c.metadata
                    .name
                    .as_deref()
                    .unwrap_or_default()
                    .starts_with("bulk-")
            })
            .count()
    };
    let mut seen = std::collections::HashSet::new();
    let mut events = watcher(configmaps.clone(), watcher::Config::default())
        .applied_objects()
        .boxed();
    while seen.len() < 20 {
        let cm = events.next().await.unwrap().unwrap();
        let name = cm.metadata.name.unwrap_or_default();
        if name.starts_with("bulk-") {
            seen.insert(name);
        }
    }
    s.controller.kill();
    drop(events);
    // While it applied, status said which revision, and the inventory already held it.
    let during = status(&s.client, &s.ns, "apps").await;
    assert_eq!(
        during.last_attempted_revision.as_deref(),
        Some(format!("main@sha1:{big}").as_str())
    );
    let reconciling = during
        .conditions
        .iter()
        .find(|c| c.type_ == "Reconciling")
        .expect("a Reconciling condition during the apply");
    assert_eq!(reconciling.status, "True");
    assert!(
        reconciling.message.contains(&big),
        "{}",
        reconciling.message
    );
    assert_eq!(during.inventory.len(), BULK + 1);
    let written = bulk_left().await;
    assert!(
        written < BULK,
        "the apply finished before the kill ({written} written): nothing was tested"
    );

    // A revert pushed while the controller is down; a new one must prune all of them.
    s.repo.git(&["revert", "--no-edit", "HEAD"]).unwrap();
    let reverted = s.repo.push().unwrap();
    let _restarted = Controller::start_syncing(plane, &s.ns, &["--requeue-dependency=1s"]).await;
    eventually_within(
        "the restarted controller to apply the revert",
        Duration::from_secs(120),
        async || {
            let now = status(&s.client, &s.ns, "apps").await;
            now.last_applied_revision.as_deref() == Some(format!("main@sha1:{reverted}").as_str())
        },
    )
    .await;
    let left = bulk_left().await;
    assert_eq!(
        left, 0,
        "{written} were written before the kill; {left} left"
    );
    assert_eq!(status(&s.client, &s.ns, "apps").await.inventory.len(), 1);
}

/// What a Sync reads to apply four new objects (Flux's benchmark application) and wait for
/// them: the dry-run tells they are new, so none is read before its write; each write's
/// answer is its first health look; the rollout reads again only what was not current
/// yet — the Deployment, until kube-controller-manager observes it; and the namespace, which
/// exists, is not read either. Counted in the API server's audit log. The apply's own look
/// is recorded with the next one: no `Progressing` step when that one finds it current.
#[tokio::test]
async fn a_waited_apply_reads_only_what_is_still_rolling_out() {
    let options = ControlPlaneOptions {
        controller_manager: true,
        audit: true,
        ..ControlPlaneOptions::default()
    };
    let plane = need!(ControlPlane::start(options).await);
    let app = "apiVersion: v1\nkind: ServiceAccount\nmetadata: {name: web}\n---\n\
               apiVersion: v1\nkind: ConfigMap\nmetadata: {name: web}\ndata: {a: \"1\"}\n---\n\
               apiVersion: v1\nkind: Service\nmetadata: {name: web}\n\
               spec: {selector: {app: web}, ports: [{port: 80}]}\n---\n\
               apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  \
               replicas: 0\n  selector: {matchLabels: {app: web}}\n  template:\n    \
               metadata: {labels: {app: web}}\n    spec:\n      \
               containers: [{name: app, image: registry.k8s.io/pause:3.10}]\n";
    let s = setup(&plane, "reads", &[("app/app.yaml", app.to_owned())]).await;
    let extra = json!({"wait": true, "interval": "10m", "targetNamespace": s.ns});
    let spec = sync_spec("app", extra);
    create_lockstep(
        &s.client,
        &s.ns,
        "Sync",
        json!({"metadata": {"name": "web"}, "spec": spec}),
    )
    .await;
    let head = s.repo.git(&["rev-parse", "HEAD"]).unwrap();
    applied(&s, "web", head.trim()).await;

    let log = std::fs::read_to_string(plane.audit_log().unwrap()).unwrap();
    let gets = |resource: &str, namespace: Option<&str>, name: &str| {
        log.lines()
            .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
            .filter(|event| {
                let object = &event["objectRef"];
                event["verb"] == "get"
                    && object["resource"] == resource
                    && namespace.is_none_or(|namespace| object["namespace"] == namespace)
                    && object["name"] == name
            })
            .count()
    };
    let reads = |resource: &str| gets(resource, Some(&s.ns), "web");
    for resource in ["serviceaccounts", "configmaps", "services"] {
        assert_eq!(reads(resource), 0, "{resource} read");
    }
    // The namespace is asked about only when a dry-run finds nothing: here it exists.
    assert_eq!(gets("namespaces", None, &s.ns), 0, "namespace read");
    // Created without a read; once or more in the rollout (kube-controller-manager has
    // not observed it when it is written), each a second apart.
    let deployment = reads("deployments");
    assert!((1..=10).contains(&deployment), "{deployment} reads");

    // The apply's own look is recorded with the next: when that one found the Deployment
    // current (one read), the Sync went from applying to Ready with one event, the change
    // set, and never said Progressing.
    if deployment == 1 {
        let events: Api<k8s_openapi::api::core::v1::Event> =
            Api::namespaced(s.client.clone(), &s.ns);
        let reasons: Vec<(String, String)> = events
            .list(&Default::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| e.involved_object.name.as_deref() == Some("web"))
            .filter(|e| e.involved_object.kind.as_deref() == Some("Sync"))
            .map(|e| (e.reason.unwrap_or_default(), e.message.unwrap_or_default()))
            .collect();
        assert_eq!(reasons.len(), 1, "{reasons:?}");
        let (reason, note) = &reasons[0];
        assert_eq!(reason, "ReconciliationSucceeded", "{reasons:?}");
        assert!(note.starts_with("created 4; revision "), "{note}");
    }
}
