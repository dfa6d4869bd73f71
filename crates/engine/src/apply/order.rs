//! The order objects are applied in, and pruned in reverse.

/// The order objects are applied in: stage, kind table, namespace, name. Prune deletes in
/// the reverse of this order.
pub fn apply_order(group: &str, kind: &str, namespace: &str, name: &str) -> impl Ord + use<> {
    (
        stage(group, kind, namespace),
        kind_rank(kind),
        namespace.to_owned(),
        kind.to_owned(),
        name.to_owned(),
    )
}

/// Argo CD's sync-wave annotation, read when [`super::ApplyOptions::waves`] is on (and for
/// an Application's hooks).
pub const SYNC_WAVE: &str = "argocd.argoproj.io/sync-wave";

/// The sync wave `object` names: an integer, 0 when absent or not a number, as Argo CD.
pub(crate) fn wave(object: &serde_json::Value) -> i32 {
    object["metadata"]["annotations"][SYNC_WAVE]
        .as_str()
        .and_then(|w| w.trim().parse().ok())
        .unwrap_or(0)
}

/// The stage an object is applied in: 0 for CRDs and Namespaces (then awaited), 1 for
/// other cluster-scoped objects, 2 for namespaced ones.
pub(super) fn stage(group: &str, kind: &str, namespace: &str) -> usize {
    match (group, kind) {
        ("apiextensions.k8s.io", "CustomResourceDefinition") | ("", "Namespace") => 0,
        _ if namespace.is_empty() => 1,
        _ => 2,
    }
}

/// Flux's kind table (PKG:ssa/sort.go), unknown kinds after the known ones and webhook
/// configurations last.
fn kind_rank(kind: &str) -> usize {
    const ORDER: &[&str] = &[
        "CustomResourceDefinition",
        "Namespace",
        "ClusterRole",
        "ResourceQuota",
        "StorageClass",
        "ServiceAccount",
        "PodSecurityPolicy",
        "Role",
        "ClusterRoleBinding",
        "RoleBinding",
        "ConfigMap",
        "Secret",
        "Service",
        "LimitRange",
        "PriorityClass",
        "PersistentVolume",
        "PersistentVolumeClaim",
        "Deployment",
        "StatefulSet",
        "CronJob",
        "PodDisruptionBudget",
        "DaemonSet",
        "ReplicaSet",
        "Job",
        "Pod",
        "ReplicationController",
        "HorizontalPodAutoscaler",
        "Ingress",
        "APIService",
    ];
    match kind {
        "MutatingWebhookConfiguration" => ORDER.len() + 2,
        "ValidatingWebhookConfiguration" => ORDER.len() + 3,
        _ => ORDER
            .iter()
            .position(|k| *k == kind)
            .unwrap_or(ORDER.len() + 1),
    }
}
