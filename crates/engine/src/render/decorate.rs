//! What render adds to every object: the ownership labels of its `Sync`, and the target
//! namespace where the kind is namespaced, judged without the cluster (the built-in
//! cluster-scoped kinds, and the kinds of CRDs in the same render that say
//! `scope: Cluster`).

use std::collections::HashSet;

use serde_json::Value;

use super::{Manifest, RenderOptions};

/// Built-in kinds that are cluster-scoped (Kubernetes 1.34).
const CLUSTER_SCOPED: &[&str] = &[
    "APIService",
    "CertificateSigningRequest",
    "ClusterRole",
    "ClusterRoleBinding",
    "ClusterTrustBundle",
    "ComponentStatus",
    "CSIDriver",
    "CSINode",
    "CustomResourceDefinition",
    "DeviceClass",
    "FlowSchema",
    "IngressClass",
    "MutatingAdmissionPolicy",
    "MutatingAdmissionPolicyBinding",
    "MutatingWebhookConfiguration",
    "Namespace",
    "Node",
    "PersistentVolume",
    "PriorityClass",
    "PriorityLevelConfiguration",
    "RuntimeClass",
    "StorageClass",
    "StorageVersionMigration",
    "ValidatingAdmissionPolicy",
    "ValidatingAdmissionPolicyBinding",
    "ValidatingWebhookConfiguration",
    "VolumeAttachment",
    "VolumeAttributesClass",
];

/// Whether `kind` (of the given group) is cluster-scoped, judged without the cluster.
pub fn is_cluster_scoped_builtin(kind: &str) -> bool {
    CLUSTER_SCOPED.contains(&kind)
}

pub(super) fn cluster_scoped_kinds(manifests: &[Manifest]) -> HashSet<(String, String)> {
    let mut kinds = HashSet::new();
    for m in manifests {
        if m.kind() == "CustomResourceDefinition" && m.object["spec"]["scope"] == "Cluster" {
            let group = m.object["spec"]["group"].as_str().unwrap_or_default();
            let kind = m.object["spec"]["names"]["kind"]
                .as_str()
                .unwrap_or_default();
            kinds.insert((group.to_owned(), kind.to_owned()));
        }
    }
    kinds
}

/// Whether `manifest` is cluster-scoped: a built-in cluster-scoped kind, or one of the
/// `cluster` kinds of the render's CRDs.
pub(super) fn is_cluster_scoped(manifest: &Manifest, cluster: &HashSet<(String, String)>) -> bool {
    let group = manifest.group();
    let builtin_group = !group.contains('.') || group.ends_with(".k8s.io");
    (builtin_group && is_cluster_scoped_builtin(manifest.kind()))
        || cluster.contains(&(group.to_owned(), manifest.kind().to_owned()))
}

pub(super) fn decorate(
    manifest: &mut Manifest,
    options: &RenderOptions,
    cluster: &HashSet<(String, String)>,
) {
    let cluster_scoped = is_cluster_scoped(manifest, cluster);
    let metadata = manifest
        .object
        .as_object_mut()
        .and_then(|o| o.get_mut("metadata"))
        .and_then(Value::as_object_mut);
    let Some(metadata) = metadata else {
        return;
    };
    if let Some(ns) = &options.target_namespace
        && !cluster_scoped
    {
        metadata.insert("namespace".into(), Value::String(ns.clone()));
    }
    if let Some(owner) = &options.owner {
        let labels = metadata
            .entry("labels")
            .or_insert_with(|| Value::Object(Default::default()));
        if !labels.is_object() {
            *labels = Value::Object(Default::default());
        }
        if let Some(labels) = labels.as_object_mut() {
            let mark = owner.mark;
            labels.insert(mark.name_label.into(), Value::String(owner.name.clone()));
            if let Some(key) = mark.namespace_label {
                labels.insert(key.into(), Value::String(owner.namespace.clone()));
            }
        }
    }
}
