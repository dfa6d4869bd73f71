//! Who owns an object, and whether an apply may take it.
//!
//! An owner marks what it applied with labels ([`Mark`]): Lockstep's are
//! `lockstep.dev/name` and `lockstep.dev/namespace`, set by render for a `Sync` and for
//! `lockstep apply --name`. A label alone is a *claim*: it outlives the owner (an object
//! orphaned by `prune: false`, a deleted Sync). An object is *held* only while the
//! claimant still lists it in its inventory — the `Sync`'s `status.inventory`, or the
//! inventory ConfigMap of `lockstep apply --name` — so a claim nobody holds any more can be
//! adopted, and a held one is refused unless take-over was asked for ([`crate::apply`]).
//!
//! The lookup of a claimant's inventory is done with the caller's own client, which may
//! differ from the one the apply runs as (a Sync's impersonated ServiceAccount cannot read
//! another namespace's Syncs). A lookup that fails counts as held: we refuse rather than
//! guess.
//!
//! Other tools' marks (Flux's `kustomize.toolkit.fluxcd.io/*`, Argo CD's tracking label)
//! join [`MARKS`] together with a way to read their inventory when their front-ends are
//! served; until then their objects are not recognised as owned.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use kube::Client;
use kube::api::Api;
use lockstep_api::{InventoryEntry, OWNER_NAME_LABEL, OWNER_NAMESPACE_LABEL, Sync};
use serde_json::Value;

use crate::apply::api_code;
use crate::inventory::{self, key};

/// The labels by which one kind of owner marks the objects it applied.
#[derive(Debug, PartialEq, Eq)]
pub struct Mark {
    /// Label holding the owner's name.
    pub name_label: &'static str,
    /// Label holding the owner's namespace.
    pub namespace_label: &'static str,
}

/// Lockstep's mark: a `Sync`, or `lockstep apply --name`.
pub const LOCKSTEP: Mark = Mark {
    name_label: OWNER_NAME_LABEL,
    namespace_label: OWNER_NAMESPACE_LABEL,
};

/// Every mark the owner check reads.
pub const MARKS: &[&Mark] = &[&LOCKSTEP];

/// An owner named by an object's labels.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Claim {
    /// Namespace of the owner.
    pub namespace: String,
    /// Name of the owner.
    pub name: String,
}

impl Claim {
    /// The claim `labels` make under `mark`, if they carry both labels.
    fn read(mark: &Mark, labels: &BTreeMap<String, String>) -> Option<Self> {
        Some(Self {
            name: labels.get(mark.name_label)?.clone(),
            namespace: labels.get(mark.namespace_label)?.clone(),
        })
    }

    /// The claim of a desired object (its Lockstep labels, as render set them).
    pub fn of_desired(object: &Value) -> Option<Self> {
        let labels = object["metadata"]["labels"].as_object()?;
        let text = |key: &str| labels.get(key)?.as_str().map(str::to_owned);
        Some(Self {
            name: text(LOCKSTEP.name_label)?,
            namespace: text(LOCKSTEP.namespace_label)?,
        })
    }

    /// The claims a live object's labels make, one per mark that is present.
    pub fn of_live(labels: Option<&BTreeMap<String, String>>) -> Vec<Self> {
        let Some(labels) = labels else {
            return Vec::new();
        };
        MARKS
            .iter()
            .filter_map(|mark| Self::read(mark, labels))
            .collect()
    }
}

/// Who holds an object another apply wants.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Holder {
    /// A `Sync` lists it in its inventory.
    Sync {
        /// Namespace of the Sync.
        namespace: String,
        /// Name of the Sync.
        name: String,
    },
    /// `lockstep apply --name` lists it in its inventory ConfigMap.
    Apply {
        /// Namespace of the inventory ConfigMap.
        namespace: String,
        /// The `--name`.
        name: String,
    },
    /// The object's labels name this owner, and its inventory could not be read.
    Unconfirmed {
        /// The claimed owner.
        claim: Claim,
        /// Why the inventory could not be read (an HTTP code and reason).
        reason: String,
    },
}

impl fmt::Display for Holder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Sync { namespace, name } => write!(f, "Sync {namespace}/{name}"),
            Self::Apply { namespace, name } => {
                write!(
                    f,
                    "`lockstep apply --name {name}` (inventory in namespace {namespace})"
                )
            }
            Self::Unconfirmed { claim, reason } => write!(
                f,
                "{}/{} (by its labels; its inventory could not be read: {reason})",
                claim.namespace, claim.name
            ),
        }
    }
}

/// Finds who holds objects, reading each claimant's inventory once.
pub struct Holders {
    client: Client,
    /// Object ids each claimant's inventories list, or why they could not be read.
    read: HashMap<Claim, Result<Listed, String>>,
}

/// The ids an owner's two possible inventories list.
struct Listed {
    sync: HashSet<String>,
    apply: HashSet<String>,
}

impl Holders {
    /// Reads inventories with `client`.
    pub fn new(client: Client) -> Self {
        Self {
            client,
            read: HashMap::new(),
        }
    }

    /// Who of `claims` (other than `ours`) holds `entry`, if anyone does.
    pub async fn holder(
        &mut self,
        entry: &InventoryEntry,
        claims: &[Claim],
        ours: Option<&Claim>,
    ) -> Option<Holder> {
        let key = key(entry);
        for claim in claims.iter().filter(|c| Some(*c) != ours) {
            if !self.read.contains_key(claim) {
                let listed = read_listed(&self.client, claim).await;
                self.read.insert(claim.clone(), listed);
            }
            match &self.read[claim] {
                Err(reason) => {
                    return Some(Holder::Unconfirmed {
                        claim: claim.clone(),
                        reason: reason.clone(),
                    });
                }
                Ok(listed) if listed.sync.contains(&key) => {
                    return Some(Holder::Sync {
                        namespace: claim.namespace.clone(),
                        name: claim.name.clone(),
                    });
                }
                Ok(listed) if listed.apply.contains(&key) => {
                    return Some(Holder::Apply {
                        namespace: claim.namespace.clone(),
                        name: claim.name.clone(),
                    });
                }
                Ok(_) => {}
            }
        }
        None
    }
}

async fn read_listed(client: &Client, claim: &Claim) -> Result<Listed, String> {
    let syncs: Api<Sync> = Api::namespaced(client.clone(), &claim.namespace);
    // Any 404: no such Sync, or no Sync CRD in this cluster at all.
    let sync = match syncs.get(&claim.name).await {
        Ok(sync) => Some(sync),
        Err(kube::Error::Api(status)) if status.code == 404 => None,
        Err(err) => return Err(api_code(&err)),
    };
    let ids = |entries: &[InventoryEntry]| entries.iter().map(key).collect::<HashSet<_>>();
    let sync = sync
        .and_then(|s| s.status)
        .map(|s| ids(&s.inventory))
        .unwrap_or_default();
    let apply = inventory::read_apply(client, &claim.namespace, &claim.name)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Listed {
        sync,
        apply: ids(&apply),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn claims_need_both_labels() {
        let labels = BTreeMap::from([
            (OWNER_NAME_LABEL.to_owned(), "shop".to_owned()),
            (OWNER_NAMESPACE_LABEL.to_owned(), "gitops".to_owned()),
        ]);
        assert_eq!(
            Claim::of_live(Some(&labels)),
            [Claim {
                namespace: "gitops".into(),
                name: "shop".into()
            }]
        );
        let half = BTreeMap::from([(OWNER_NAME_LABEL.to_owned(), "shop".to_owned())]);
        assert!(Claim::of_live(Some(&half)).is_empty());
        assert!(Claim::of_live(None).is_empty());
        let desired = serde_json::json!({"metadata": {"labels": {
            OWNER_NAME_LABEL: "shop", OWNER_NAMESPACE_LABEL: "gitops"}}});
        assert_eq!(
            Claim::of_desired(&desired),
            Some(Claim {
                namespace: "gitops".into(),
                name: "shop".into()
            })
        );
    }
}
