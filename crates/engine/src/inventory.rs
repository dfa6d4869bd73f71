//! The inventory: the set of objects a successful apply left in the cluster, recorded in
//! `Sync.status.inventory` and compared with the previous one to find what to prune.

use std::collections::HashSet;

use lockstep_api::InventoryEntry;

use crate::apply::ChangeSet;

/// `group/kind/namespace/name`: how an entry is compared and shown. The version is left
/// out, so an object moving from `v1beta1` to `v1` is the same object.
pub fn id(entry: &InventoryEntry) -> String {
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
    let keep: HashSet<String> = current.iter().map(id).collect();
    previous
        .iter()
        .filter(|e| !keep.contains(&id(e)))
        .cloned()
        .collect()
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
        assert_eq!(id(&previous[0]), "/ConfigMap/a/one");
    }
}
