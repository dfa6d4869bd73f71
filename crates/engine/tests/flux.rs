//! Objects a Flux `Kustomization` applied, against the real kube-apiserver: Lockstep serving
//! that Kustomization adopts them in place (same uid, labels kept, nothing recreated) and
//! prunes them by Flux's labels; any other owner is refused them while the Kustomization's
//! `status.inventory` lists them.

use std::path::Path;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use lockstep_api::InventoryEntry;
use lockstep_api::flux::{InventoryRef, Kustomization, NAME_LABEL, NAMESPACE_LABEL};
use lockstep_engine::apply::{ApplyError, ApplyOptions, Protect, apply};
use lockstep_engine::ownership::Holder;
use lockstep_engine::prune::{SkipReason, prune};
use lockstep_engine::render::{Manifest, Owner, RenderOptions, render};
use lockstep_testenv::{ControlPlane, manifests, need};
use serde_json::json;

/// Lockstep's own subset of Flux's Kustomization CRD.
const KUSTOMIZATION_CRD: &str =
    include_str!("../../../deploy/crds/kustomize.toolkit.fluxcd.io_kustomizations.yaml");

fn rendered(root: &Path, owner: &Owner, ns: &str) -> Vec<Manifest> {
    let options = RenderOptions {
        owner: Some(owner.clone()),
        target_namespace: Some(ns.into()),
        overlay: None,
        directory: None,
    };
    render(root, "", &options).unwrap().manifests
}

fn write_cm(root: &Path, name: &str, value: &str) {
    let text = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\ndata: {{v: \"{value}\"}}\n"
    );
    std::fs::write(root.join(format!("{name}.yaml")), text).unwrap();
}

fn entry(ns: &str, name: &str) -> InventoryEntry {
    InventoryEntry {
        group: String::new(),
        version: "v1".into(),
        kind: "ConfigMap".into(),
        namespace: ns.into(),
        name: name.into(),
    }
}

/// What Flux's kustomize-controller leaves behind: ConfigMaps applied with its field manager
/// and labels, and a Kustomization whose `status.inventory` lists them. Returns each uid.
async fn applied_by_flux(client: &Client, ns: &str, names: &[(&str, Option<&str>)]) -> Vec<String> {
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), ns);
    let mut uids = Vec::new();
    for (name, prune) in names {
        let mut annotations = serde_json::Map::new();
        if let Some(prune) = prune {
            annotations.insert("kustomize.toolkit.fluxcd.io/prune".into(), json!(prune));
        }
        let cm = json!({
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": {"name": name, "annotations": annotations,
                         "labels": {NAME_LABEL: "apps", NAMESPACE_LABEL: ns}},
            "data": {"v": "flux"},
        });
        let params = PatchParams::apply("kustomize-controller").force();
        let live = configmaps
            .patch(name, &params, &Patch::Apply(&cm))
            .await
            .unwrap();
        uids.push(live.metadata.uid.unwrap());
    }
    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), ns);
    let ks = json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "metadata": {"name": "apps"},
        "spec": {"sourceRef": {"kind": "GitRepository", "name": "repo"},
                 "interval": "10m", "prune": true},
    });
    let params = PatchParams::apply("kustomize-controller").force();
    kustomizations
        .patch("apps", &params, &Patch::Apply(&ks))
        .await
        .unwrap();
    let entries: Vec<InventoryRef> = names
        .iter()
        .map(|(name, _)| InventoryRef::from(&entry(ns, name)))
        .collect();
    let status = json!({
        "apiVersion": "kustomize.toolkit.fluxcd.io/v1", "kind": "Kustomization",
        "status": {"inventory": {"entries": entries}},
    });
    let params = PatchParams::apply("gotk-kustomize-controller").force();
    kustomizations
        .patch_status("apps", &params, &Patch::Apply(&status))
        .await
        .unwrap();
    uids
}

#[tokio::test]
async fn a_kustomizations_objects_are_adopted_in_place_and_pruned_by_flux_labels() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("flux-takeover").await.unwrap();
    manifests::apply_yaml(&client, KUSTOMIZATION_CRD)
        .await
        .unwrap();
    let flux = [("web", None), ("old", None), ("kept", Some("disabled"))];
    let uids = applied_by_flux(&client, &ns, &flux).await;

    // A Sync wanting one of them is refused, naming the Kustomization that holds it.
    let dir = tempfile::tempdir().unwrap();
    write_cm(dir.path(), "web", "lockstep");
    let sync = Owner::lockstep("other", &ns);
    let err = apply(
        &client,
        &rendered(dir.path(), &sync, &ns),
        &ApplyOptions::default(),
    )
    .await
    .unwrap_err();
    let ApplyError::Owned { conflicts } = &err else {
        panic!("{err:?}");
    };
    assert_eq!(
        conflicts[0].holder,
        Holder::Kustomization {
            namespace: ns.clone(),
            name: "apps".into()
        }
    );
    assert!(err.to_string().contains("Flux Kustomization"), "{err}");

    // The Kustomization itself, served by Lockstep, updates it in place.
    let kustomization = Owner::flux("apps", &ns);
    let as_flux = ApplyOptions {
        field_manager: kustomization.mark.field_manager,
        ..ApplyOptions::default()
    };
    let current = apply(
        &client,
        &rendered(dir.path(), &kustomization, &ns),
        &as_flux,
    )
    .await
    .unwrap();
    assert!(current.taken.is_empty(), "{current:?}");
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let web = configmaps.get("web").await.unwrap();
    assert_eq!(
        web.metadata.uid.as_ref(),
        Some(&uids[0]),
        "web was recreated"
    );
    assert_eq!(web.data.unwrap()["v"], "lockstep");
    let labels = web.metadata.labels.unwrap();
    assert_eq!(labels[NAME_LABEL], "apps");
    assert_eq!(labels[NAMESPACE_LABEL], ns);
    assert!(!labels.contains_key("lockstep.dev/name"), "{labels:?}");
    // Applied as Flux applies, so nothing is left to hand back on a switch to Flux.
    let managers: Vec<_> = web
        .metadata
        .managed_fields
        .unwrap()
        .into_iter()
        .filter_map(|m| m.manager)
        .collect();
    assert_eq!(managers, ["kustomize-controller"]);

    // What left the source is pruned from Flux's inventory, except what Flux's own
    // annotation keeps.
    let kustomizations: Api<Kustomization> = Api::namespaced(client.clone(), &ns);
    let previous: Vec<InventoryEntry> = kustomizations
        .get("apps")
        .await
        .unwrap()
        .status
        .unwrap()
        .inventory
        .unwrap()
        .entries
        .iter()
        .map(|e| e.entry().unwrap())
        .collect();
    let pruned = prune(
        &client,
        &previous,
        &current,
        &kustomization,
        &Protect::default(),
        false,
    )
    .await
    .unwrap();
    assert_eq!(pruned.deleted, [entry(&ns, "old")], "{pruned:?}");
    assert_eq!(pruned.skipped.len(), 1, "{pruned:?}");
    assert_eq!(pruned.skipped[0].1, SkipReason::Disabled);
    assert!(configmaps.get_opt("old").await.unwrap().is_none());
    assert!(configmaps.get_opt("kept").await.unwrap().is_some());
}
