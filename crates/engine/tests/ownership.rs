//! Objects that are not ours, against the real kube-apiserver: an object another owner
//! holds is refused (and nothing of the revision written) unless take-over is asked for;
//! a claim nobody holds any more is adopted; protected namespaces and labels are never
//! written nor pruned; and a revision with one object the API server rejects writes
//! nothing.

use std::path::Path;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::Client;
use kube::api::{Api, PostParams};
use lockstep_api::argocd;
use lockstep_engine::apply::{ApplyError, ApplyOptions, Protect, apply};
use lockstep_engine::inventory::{self, write_apply};
use lockstep_engine::ownership::Holder;
use lockstep_engine::prune::{SkipReason, prune};
use lockstep_engine::render::{Manifest, Owner, RenderOptions, render};
use lockstep_testenv::{ControlPlane, need};

fn write(root: &Path, path: &str, text: &str) {
    let file = root.join(path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, text).unwrap();
}

fn owner(name: &str, ns: &str) -> Owner {
    Owner::lockstep(name, ns)
}

fn rendered(root: &Path, owner: &Owner, ns: &str) -> Vec<Manifest> {
    render(
        root,
        "",
        &RenderOptions {
            owner: Some(owner.clone()),
            target_namespace: Some(ns.into()),
            overlay: None,
            directory: None,
        },
    )
    .unwrap()
    .manifests
}

fn cm(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{v: \"{value}\"}}\n"
    )
}

async fn labels_and_value(client: &Client, ns: &str, name: &str) -> (String, String) {
    let cm = Api::<ConfigMap>::namespaced(client.clone(), ns)
        .get(name)
        .await
        .unwrap();
    (
        cm.metadata.labels.unwrap()["lockstep.dev/name"].clone(),
        cm.data.unwrap()["v"].clone(),
    )
}

/// Applies `dir` as `owner` and records its inventory as `lockstep apply --name` does.
async fn apply_as(client: &Client, dir: &Path, owner: &Owner, ns: &str) {
    let changes = apply(client, &rendered(dir, owner, ns), &ApplyOptions::default())
        .await
        .unwrap();
    write_apply(
        client,
        ns,
        &owner.name,
        &inventory::from_change_set(&changes),
    )
    .await
    .unwrap();
}

#[tokio::test]
async fn an_object_another_owner_holds_is_refused_unless_taken_over() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("own-conflict").await.unwrap();
    let first = tempfile::tempdir().unwrap();
    write(first.path(), "shared.yaml", &cm("shared", "first"));
    apply_as(&client, first.path(), &owner("first", &ns), &ns).await;

    // The second owner declares the same ConfigMap and one of its own.
    let second = tempfile::tempdir().unwrap();
    write(second.path(), "shared.yaml", &cm("shared", "second"));
    write(second.path(), "own.yaml", &cm("own", "second"));
    let manifests = rendered(second.path(), &owner("second", &ns), &ns);
    let err = apply(&client, &manifests, &ApplyOptions::default())
        .await
        .unwrap_err();
    let ApplyError::Owned { conflicts } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].object, format!("ConfigMap/{ns}/shared"));
    assert_eq!(
        conflicts[0].holder,
        Holder::Apply {
            namespace: ns.clone(),
            name: "first".into()
        }
    );
    assert!(err.to_string().contains("--name first"), "{err}");
    // Nothing of the second owner's revision was written.
    assert_eq!(
        labels_and_value(&client, &ns, "shared").await,
        ("first".into(), "first".into())
    );
    let configmaps = Api::<ConfigMap>::namespaced(client.clone(), &ns);
    assert!(configmaps.get_opt("own").await.unwrap().is_none());

    // Take-over, when asked for, is reported with the owner it was taken from.
    let take = ApplyOptions {
        force_ownership: true,
        ..ApplyOptions::default()
    };
    let changes = apply(&client, &manifests, &take).await.unwrap();
    assert_eq!(changes.taken.len(), 1, "{changes:?}");
    assert_eq!(changes.taken[0].0.name, "shared");
    assert_eq!(
        labels_and_value(&client, &ns, "shared").await,
        ("second".into(), "second".into())
    );

    // The first owner dropping it does not delete what is no longer its own.
    let first_owner = owner("first", &ns);
    let previous = inventory::read_apply(&client, &ns, "first").await.unwrap();
    write(first.path(), "shared.yaml", &cm("other", "first"));
    let current = apply(
        &client,
        &rendered(first.path(), &first_owner, &ns),
        &ApplyOptions::default(),
    )
    .await
    .unwrap();
    let pruned = prune(
        &client,
        &previous,
        &current,
        &first_owner,
        &Protect::default(),
        false,
    )
    .await
    .unwrap();
    assert!(pruned.deleted.is_empty(), "{pruned:?}");
    assert_eq!(pruned.skipped.len(), 1);
    assert_eq!(pruned.skipped[0].1, SkipReason::NotOwned);
    assert!(configmaps.get_opt("shared").await.unwrap().is_some());
}

#[tokio::test]
async fn a_claim_its_owner_no_longer_holds_is_adopted() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("own-stale").await.unwrap();
    let first = tempfile::tempdir().unwrap();
    write(first.path(), "orphan.yaml", &cm("orphan", "first"));
    apply_as(&client, first.path(), &owner("first", &ns), &ns).await;
    // Dropped from the first owner's inventory with prune off: still labelled, not held.
    write_apply(&client, &ns, "first", &[]).await.unwrap();

    let second = tempfile::tempdir().unwrap();
    write(second.path(), "orphan.yaml", &cm("orphan", "second"));
    let changes = apply(
        &client,
        &rendered(second.path(), &owner("second", &ns), &ns),
        &ApplyOptions::default(),
    )
    .await
    .unwrap();
    assert!(changes.taken.is_empty());
    assert_eq!(
        labels_and_value(&client, &ns, "orphan").await,
        ("second".into(), "second".into())
    );
}

#[tokio::test]
async fn a_revision_with_one_rejected_object_writes_nothing() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("own-atomic").await.unwrap();
    let role = format!("{ns}-marker");
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.yaml", &cm("a-marker", "1"));
    write(
        dir.path(),
        "role.yaml",
        &format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {{name: {role}}}\nrules: []\n"
        ),
    );
    // Applied last (Service after ConfigMap), refused by validation.
    write(
        dir.path(),
        "z.yaml",
        "apiVersion: v1\nkind: Service\nmetadata: {name: broken}\nspec:\n  ports: [{port: 99999}]\n",
    );
    let err = apply(
        &client,
        &rendered(dir.path(), &owner("apps", &ns), &ns),
        &ApplyOptions::default(),
    )
    .await
    .unwrap_err();
    assert!(matches!(err, ApplyError::DryRun { .. }), "{err:?}");
    assert!(err.to_string().contains("Service"), "{err}");
    let configmaps = Api::<ConfigMap>::namespaced(client.clone(), &ns);
    assert!(configmaps.get_opt("a-marker").await.unwrap().is_none());
    let roles = Api::<ClusterRole>::all(client.clone());
    assert!(roles.get_opt(&role).await.unwrap().is_none());
}

#[tokio::test]
async fn protected_namespaces_and_labels_are_never_written_nor_pruned() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("own-protect").await.unwrap();
    let (_, guarded) = plane.namespace("own-guarded").await.unwrap();
    let key_label = "sealedsecrets.bitnami.com/sealed-secrets-key";
    let protect = Protect::default()
        .namespace(&guarded, "the controller's own")
        .label(key_label, "sealing keys come from the controller");
    let options = ApplyOptions {
        protect: protect.clone(),
        ..ApplyOptions::default()
    };
    let apps = owner("apps", &ns);

    // Into the protected namespace: refused, and the ConfigMap beside it not written.
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "mine.yaml", &cm("mine", "1"));
    write(
        dir.path(),
        "planted.yaml",
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: planted, namespace: {guarded}}}\n"
        ),
    );
    let manifests = render(
        dir.path(),
        "",
        &RenderOptions {
            owner: Some(apps.clone()),
            target_namespace: None,
            overlay: None,
            directory: None,
        },
    )
    .unwrap()
    .manifests;
    let mut manifests = manifests;
    for m in &mut manifests {
        if m.namespace().is_none() {
            m.object["metadata"]["namespace"] = ns.clone().into();
        }
    }
    let err = apply(&client, &manifests, &options).await.unwrap_err();
    assert!(matches!(err, ApplyError::Protected { .. }), "{err:?}");
    assert!(err.to_string().contains(&guarded), "{err}");
    let configmaps = Api::<ConfigMap>::namespaced(client.clone(), &ns);
    assert!(configmaps.get_opt("mine").await.unwrap().is_none());

    // A Secret labelled as a sealing key, anywhere: refused.
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "key.yaml",
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: key\n  labels: {{{key_label}: active}}\ntype: Opaque\n"
        ),
    );
    let err = apply(&client, &rendered(dir.path(), &apps, &ns), &options)
        .await
        .unwrap_err();
    assert!(err.to_string().contains(key_label), "{err}");
    let secrets = Api::<Secret>::namespaced(client.clone(), &ns);
    assert!(secrets.get_opt("key").await.unwrap().is_none());

    // One that was ours before it was protected (labelled since): never pruned.
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "key.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: key}\ntype: Opaque\n",
    );
    write(dir.path(), "keep.yaml", &cm("keep", "1"));
    let first = apply(
        &client,
        &rendered(dir.path(), &apps, &ns),
        &ApplyOptions::default(),
    )
    .await
    .unwrap();
    let label = serde_json::json!({"metadata": {"labels": {key_label: "active"}}});
    secrets
        .patch(
            "key",
            &kube::api::PatchParams::default(),
            &kube::api::Patch::Merge(&label),
        )
        .await
        .unwrap();
    std::fs::remove_file(dir.path().join("key.yaml")).unwrap();
    let second = apply(&client, &rendered(dir.path(), &apps, &ns), &options)
        .await
        .unwrap();
    let pruned = prune(
        &client,
        &inventory::from_change_set(&first),
        &second,
        &apps,
        &protect,
        false,
    )
    .await
    .unwrap();
    assert_eq!(pruned.skipped.len(), 1, "{pruned:?}");
    assert_eq!(pruned.skipped[0].1, SkipReason::Protected);
    assert!(secrets.get_opt("key").await.unwrap().is_some());
}

/// Argo CD's annotation tracking (`argocd.argoproj.io/tracking-id`, no label) is read as a
/// claim: an object an Application lists under it is refused to another owner, and
/// reported as that Application's; the same annotation copied onto another object claims
/// nothing.
#[tokio::test]
async fn argo_cd_tracking_id_is_a_claim() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("own-tracking").await.unwrap();
    lockstep_testenv::manifests::apply_yaml(
        &client,
        include_str!("../../../deploy/crds/argoproj.io_applications.yaml"),
    )
    .await
    .unwrap();
    // Argo CD's Application CRD has no status subresource: status goes with the object.
    let application = serde_json::json!({
        "apiVersion": "argoproj.io/v1alpha1", "kind": "Application",
        "metadata": {"name": "legacy", "namespace": ns},
        "spec": {"project": "default", "destination": {"namespace": ns}},
        "status": {"resources": [{"version": "v1", "kind": "ConfigMap",
                                  "namespace": ns, "name": "tracked"}]},
    });
    lockstep_testenv::manifests::apply_yaml(&client, &application.to_string())
        .await
        .unwrap();
    let tracking = format!("legacy:/ConfigMap:{ns}/tracked");
    let configmaps = Api::<ConfigMap>::namespaced(client.clone(), &ns);
    for name in ["tracked", "copied"] {
        let object: ConfigMap = serde_json::from_value(serde_json::json!({
            "metadata": {"name": name,
                         "annotations": {argocd::TRACKING_ID_ANNOTATION: tracking}},
            "data": {"v": "argocd"},
        }))
        .unwrap();
        configmaps
            .create(&PostParams::default(), &object)
            .await
            .unwrap();
    }

    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "tracked.yaml", &cm("tracked", "lockstep"));
    let manifests = rendered(dir.path(), &owner("mine", &ns), &ns);
    let err = apply(&client, &manifests, &ApplyOptions::default())
        .await
        .unwrap_err();
    let ApplyError::Owned { conflicts } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(
        conflicts[0].holder,
        Holder::Application {
            namespace: ns.clone(),
            name: "legacy".into()
        }
    );
    let tracked = configmaps.get("tracked").await.unwrap();
    assert_eq!(tracked.data.unwrap()["v"], "argocd");

    // The annotation on an object it does not name is no claim: adopted.
    let other = tempfile::tempdir().unwrap();
    write(other.path(), "copied.yaml", &cm("copied", "lockstep"));
    let manifests = rendered(other.path(), &owner("mine", &ns), &ns);
    apply(&client, &manifests, &ApplyOptions::default())
        .await
        .unwrap();
    assert_eq!(
        labels_and_value(&client, &ns, "copied").await,
        ("mine".into(), "lockstep".into())
    );
}
