//! The inventory: the set of objects an owner applied, recorded in `Sync.status.inventory`
//! (or, for `lockstep apply --name`, in a ConfigMap: [`read_apply`], [`write_apply`]) and
//! compared with the previous one to find what to prune.

use std::collections::HashSet;

use k8s_openapi::api::core::v1::ConfigMap;
use kube::Client;
use kube::api::{Api, Patch, PatchParams};
use lockstep_api::InventoryEntry;

use crate::apply::ChangeSet;

/// How an object is named to a person, as Flux prints it: `Kind/namespace/name`, or
/// `Kind/name` when it is cluster-scoped (`Namespace/ux`, `ConfigMap/ux/settings`).
/// kubectl's `configmap/settings` drops the namespace, which an apply spanning several
/// namespaces needs; the API group is left out as Flux does ([`key`] keeps it, for
/// comparing).
pub fn id(entry: &InventoryEntry) -> String {
    display(&entry.kind, &entry.namespace, &entry.name)
}

/// [`id`] from its parts, for an object not in an inventory entry yet.
pub fn display(kind: &str, namespace: &str, name: &str) -> String {
    if namespace.is_empty() {
        format!("{kind}/{name}")
    } else {
        format!("{kind}/{namespace}/{name}")
    }
}

/// `group/kind/namespace/name`: how entries are compared. The version is left out, so an
/// object moving from `v1beta1` to `v1` is the same object.
pub fn key(entry: &InventoryEntry) -> String {
    format!(
        "{}/{}/{}/{}",
        entry.group, entry.kind, entry.namespace, entry.name
    )
}

/// The inventory of an apply: every object of the change set, in apply order, whatever
/// was done to it (unchanged objects are still ours).
pub fn from_change_set(changes: &ChangeSet) -> Vec<InventoryEntry> {
    changes.changes.iter().map(|c| c.object.clone()).collect()
}

/// Entries of `previous` that are not in `current`, in the order they were applied.
pub fn stale(previous: &[InventoryEntry], current: &[InventoryEntry]) -> Vec<InventoryEntry> {
    let keep: HashSet<String> = current.iter().map(key).collect();
    previous
        .iter()
        .filter(|e| !keep.contains(&key(e)))
        .cloned()
        .collect()
}

/// `first`, then the entries of `second` not already in it.
pub fn union(first: &[InventoryEntry], second: &[InventoryEntry]) -> Vec<InventoryEntry> {
    let mut out = first.to_vec();
    let mut seen: HashSet<String> = first.iter().map(key).collect();
    out.extend(second.iter().filter(|e| seen.insert(key(e))).cloned());
    out
}

/// The ConfigMap holding the inventory of `lockstep apply --name NAME`.
pub fn apply_inventory_name(name: &str) -> String {
    format!("lockstep-inventory-{name}")
}

/// The key of that ConfigMap holding the entries, as JSON.
const APPLY_INVENTORY_KEY: &str = "inventory.json";

/// Why the inventory ConfigMap of `lockstep apply` could not be read or written.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The API request failed.
    #[error("{action} the inventory {namespace}/{name}")]
    Api {
        /// `reading` or `writing`.
        action: &'static str,
        /// Namespace of the ConfigMap.
        namespace: String,
        /// Name of the ConfigMap.
        name: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
    /// The ConfigMap does not hold a list of entries.
    #[error("the inventory {namespace}/{name} does not parse")]
    Parse {
        /// Namespace of the ConfigMap.
        namespace: String,
        /// Name of the ConfigMap.
        name: String,
        /// The parser's error.
        #[source]
        source: serde_json::Error,
    },
}

/// The inventory `lockstep apply --name NAME` recorded last in `namespace`, empty if none.
///
/// # Errors
/// [`StoreError`] when the ConfigMap cannot be read or does not parse.
pub async fn read_apply(
    client: &Client,
    namespace: &str,
    name: &str,
) -> Result<Vec<InventoryEntry>, StoreError> {
    let config_map = apply_inventory_name(name);
    let found = Api::<ConfigMap>::namespaced(client.clone(), namespace)
        .get_opt(&config_map)
        .await
        .map_err(|source| StoreError::Api {
            action: "reading",
            namespace: namespace.to_owned(),
            name: config_map.clone(),
            source,
        })?;
    let Some(text) = found
        .and_then(|c| c.data)
        .and_then(|mut d| d.remove(APPLY_INVENTORY_KEY))
    else {
        return Ok(Vec::new());
    };
    serde_json::from_str(&text).map_err(|source| StoreError::Parse {
        namespace: namespace.to_owned(),
        name: config_map,
        source,
    })
}

/// Records `entries` as the inventory of `lockstep apply --name NAME` in `namespace`.
///
/// # Errors
/// [`StoreError::Api`] when the ConfigMap cannot be written.
pub async fn write_apply(
    client: &Client,
    namespace: &str,
    name: &str,
    entries: &[InventoryEntry],
) -> Result<(), StoreError> {
    let config_map = apply_inventory_name(name);
    let body = serde_json::json!({
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": config_map,
            "labels": {"app.kubernetes.io/managed-by": "lockstep"},
        },
        "data": {APPLY_INVENTORY_KEY: serde_json::to_string(entries)
            .expect("inventory entries serialize")},
    });
    Api::<ConfigMap>::namespaced(client.clone(), namespace)
        .patch(
            &config_map,
            &PatchParams::apply("lockstep-cli").force(),
            &Patch::Apply(&body),
        )
        .await
        .map(drop)
        .map_err(|source| StoreError::Api {
            action: "writing",
            namespace: namespace.to_owned(),
            name: config_map,
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(group: &str, kind: &str, ns: &str, name: &str, version: &str) -> InventoryEntry {
        InventoryEntry {
            group: group.into(),
            version: version.into(),
            kind: kind.into(),
            namespace: ns.into(),
            name: name.into(),
        }
    }

    /// What people read: `Kind/namespace/name`, `Kind/name` when cluster-scoped, never the
    /// `/Namespace//ux` the comparison key would give (UX review D24).
    #[test]
    fn objects_are_named_as_flux_names_them() {
        assert_eq!(id(&entry("", "Namespace", "", "ux", "v1")), "Namespace/ux");
        assert_eq!(
            id(&entry("", "ConfigMap", "ux", "settings", "v1")),
            "ConfigMap/ux/settings"
        );
        assert_eq!(
            id(&entry("apps", "Deployment", "ux", "web", "v1")),
            "Deployment/ux/web"
        );
        assert_eq!(
            key(&entry("", "Namespace", "", "ux", "v1")),
            "/Namespace//ux"
        );
    }

    #[test]
    fn union_keeps_order_and_drops_duplicates() {
        let a = entry("", "ConfigMap", "ns", "a", "v1");
        let b = entry("", "ConfigMap", "ns", "b", "v1");
        let c = entry("", "ConfigMap", "ns", "c", "v1");
        let merged = union(&[a.clone(), b.clone()], &[b.clone(), c.clone()]);
        assert_eq!(merged, [a, b, c]);
    }

    #[test]
    fn stale_is_previous_minus_current_ignoring_version() {
        let previous = vec![
            entry("", "ConfigMap", "a", "one", "v1"),
            entry("apps", "Deployment", "a", "web", "v1"),
            entry("example.com", "Widget", "", "w", "v1beta1"),
        ];
        let current = vec![
            entry("example.com", "Widget", "", "w", "v1"),
            entry("", "ConfigMap", "a", "one", "v1"),
        ];
        assert_eq!(stale(&previous, &current), vec![previous[1].clone()]);
        assert_eq!(key(&previous[0]), "/ConfigMap/a/one");
    }
}
