//! Inventory and prune against the real kube-apiserver: previous − current, reverse apply
//! order, ownership labels, `lockstep.dev/prune: disabled`, and no prune from an empty
//! source.

use std::path::Path;

use k8s_openapi::api::core::v1::ConfigMap;
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::{Api, Patch, PatchParams};
use lockstep_engine::apply::{ApplyOptions, ChangeSet, Protect, apply};
use lockstep_engine::inventory;
use lockstep_engine::prune::{PruneError, SkipReason, prune};
use lockstep_engine::render::{Owner, RenderOptions, render};
use lockstep_testenv::{ControlPlane, need};

fn write(root: &Path, path: &str, text: &str) {
    let file = root.join(path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, text).unwrap();
}

fn owner(ns: &str) -> Owner {
    Owner::lockstep("apps", ns)
}

async fn apply_dir(client: &kube::Client, dir: &Path, ns: &str) -> ChangeSet {
    let manifests = render(
        dir,
        "",
        &RenderOptions {
            owner: Some(owner(ns)),
            target_namespace: Some(ns.into()),
            overlay: None,
            directory: None,
        },
    )
    .unwrap()
    .manifests;
    apply(client, &manifests, &ApplyOptions::default())
        .await
        .unwrap()
}

fn cm(name: &str) -> String {
    format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{k: v}}\n")
}

#[tokio::test]
async fn removed_objects_are_pruned_in_reverse_order_unless_kept_or_not_ours() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("prune").await.unwrap();
    let role = format!("{ns}-reader");
    let dir = tempfile::tempdir().unwrap();
    for name in ["keep", "gone", "pinned", "adopted"] {
        write(dir.path(), &format!("{name}.yaml"), &cm(name));
    }
    write(
        dir.path(),
        "role.yaml",
        &format!(
            "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata: {{name: {role}}}\nrules: []\n"
        ),
    );
    let first = apply_dir(&client, dir.path(), &ns).await;
    let previous = inventory::from_change_set(&first);
    assert_eq!(previous.len(), 5);

    // In the cluster: one object is marked "do not prune", another taken by someone else.
    let configmaps = Api::<ConfigMap>::namespaced(client.clone(), &ns);
    let keep = serde_json::json!({"metadata": {"annotations": {"lockstep.dev/prune": "disabled"}}});
    configmaps
        .patch("pinned", &PatchParams::default(), &Patch::Merge(&keep))
        .await
        .unwrap();
    let taken = serde_json::json!({"metadata": {"labels": {"lockstep.dev/name": "other"}}});
    configmaps
        .patch("adopted", &PatchParams::default(), &Patch::Merge(&taken))
        .await
        .unwrap();

    // The source loses everything but "keep".
    for name in ["gone", "pinned", "adopted", "role"] {
        std::fs::remove_file(dir.path().join(format!("{name}.yaml"))).unwrap();
    }
    let second = apply_dir(&client, dir.path(), &ns).await;
    let outcome = prune(
        &client,
        &previous,
        &second,
        &owner(&ns),
        &Protect::default(),
        false,
    )
    .await
    .unwrap();

    // Namespaced objects first, the cluster-scoped role last (reverse of apply order).
    let deleted: Vec<_> = outcome.deleted.iter().map(inventory::id).collect();
    assert_eq!(
        deleted,
        [
            format!("ConfigMap/{ns}/gone"),
            format!("ClusterRole/{role}"),
        ]
    );
    let skipped: Vec<_> = outcome
        .skipped
        .iter()
        .map(|(e, why)| (e.name.as_str(), *why))
        .collect();
    assert_eq!(
        skipped,
        [
            ("pinned", SkipReason::Disabled),
            ("adopted", SkipReason::NotOwned)
        ]
    );
    assert!(outcome.survivors.is_empty());
    assert!(configmaps.get_opt("gone").await.unwrap().is_none());
    for name in ["keep", "pinned", "adopted"] {
        assert!(configmaps.get_opt(name).await.unwrap().is_some(), "{name}");
    }
    let roles = Api::<ClusterRole>::all(client.clone());
    // Deletion is in the background; a ClusterRole has no finalizers, so it is gone or
    // being deleted.
    if let Some(live) = roles.get_opt(&role).await.unwrap() {
        assert!(live.metadata.deletion_timestamp.is_some());
    }

    // Pruning again finds nothing new to delete ("gone" is absent, counted as deleted).
    let third = apply_dir(&client, dir.path(), &ns).await;
    let again = prune(
        &client,
        &inventory::from_change_set(&second),
        &third,
        &owner(&ns),
        &Protect::default(),
        false,
    )
    .await
    .unwrap();
    assert!(again.deleted.is_empty() && again.skipped.is_empty());
}

#[tokio::test]
async fn an_empty_source_never_prunes_unless_allowed() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("prune-empty").await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "a.yaml", &cm("a"));
    let first = apply_dir(&client, dir.path(), &ns).await;
    let previous = inventory::from_change_set(&first);

    let err = prune(
        &client,
        &previous,
        &ChangeSet::default(),
        &owner(&ns),
        &Protect::default(),
        false,
    )
    .await
    .unwrap_err();
    assert!(matches!(err, PruneError::EmptySource { stale: 1 }), "{err}");
    let configmaps = Api::<ConfigMap>::namespaced(client.clone(), &ns);
    assert!(configmaps.get_opt("a").await.unwrap().is_some());

    // Unless asked (Argo CD's allowEmpty): then the empty source prunes everything.
    let empty = ChangeSet::default();
    let pruned = prune(
        &client,
        &previous,
        &empty,
        &owner(&ns),
        &Protect::default(),
        true,
    )
    .await
    .unwrap();
    assert_eq!(pruned.deleted.len(), 1);
    assert!(configmaps.get_opt("a").await.unwrap().is_none());

    // A render that fails yields no change set at all, so there is nothing to prune with.
    write(dir.path(), "b.yaml", "apiVersion: v1\nkind: [broken\n");
    assert!(render(dir.path(), "", &RenderOptions::default()).is_err());
}
