//! Who owns an object, and whether an apply may take it.
//!
//! An owner marks what it applied with labels ([`Mark`]): Lockstep's are
//! `lockstep.dev/name` and `lockstep.dev/namespace`, set by render for a `Sync` and for
//! `lockstep apply --name`; Flux's are `kustomize.toolkit.fluxcd.io/name` and
//! `kustomize.toolkit.fluxcd.io/namespace`, set by Flux's kustomize-controller and by
//! Lockstep when it serves a Flux `Kustomization`. A label alone is a *claim*: it outlives the owner (an object
//! orphaned by `prune: false`, a deleted Sync). An object is *held* only while the
//! claimant still lists it in its inventory — the `Sync`'s `status.inventory`, the
//! inventory ConfigMap of `lockstep apply --name`, or the Flux `Kustomization`'s
//! `status.inventory` — so a claim nobody holds any more can be
//! adopted, and a held one is refused unless take-over was asked for ([`crate::apply`]).
//!
//! The lookup of a claimant's inventory is done with the caller's own client, which may
//! differ from the one the apply runs as (a Sync's impersonated ServiceAccount cannot read
//! another namespace's Syncs). A lookup that fails counts as held: we refuse rather than
//! guess.
//!
//! Argo CD's mark is its default tracking label alone, `app.kubernetes.io/instance:
//! <application name>`: it names no namespace, so the claim is held while an Application
//! of that name in any namespace lists the object in its `status.resources`. The label is
//! common outside Argo CD too (Helm sets it to the release name); such a claim is read once
//! per apply and, with no Application of that name listing the object, holds nothing.
//! Argo CD's annotation tracking, `argocd.argoproj.io/tracking-id:
//! <app>:<group>/<kind>:<namespace>/<name>`, is read as the same claim when it names the
//! object it is on (Argo CD ignores a tracking id copied onto another object, and so does
//! this check).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;

use kube::Client;
use kube::api::{Api, ListParams};
use lockstep_api::argocd::{self, Application};
use lockstep_api::flux::{self, HelmRelease, Kustomization};
use lockstep_api::{
    InventoryEntry, OWNER_NAME_LABEL, OWNER_NAMESPACE_LABEL, PRUNE_ANNOTATION, Sync,
};
use serde_json::Value;

use crate::apply::api_code;
use crate::inventory::{self, key};

/// The labels by which one kind of owner marks the objects it applied, and where its
/// inventory is read.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct Mark {
    /// Label holding the owner's name.
    pub name_label: &'static str,
    /// Label holding the owner's namespace, if the mark names it.
    pub namespace_label: Option<&'static str>,
    /// Annotation (or label) that keeps an object from being pruned when one of its
    /// comma-separated values is [`Mark::prune_disabled`].
    pub prune_annotation: &'static str,
    /// The value of [`Mark::prune_annotation`] that keeps an object from being pruned.
    pub prune_disabled: &'static str,
    /// The `key` of a `key=false` value of [`Mark::prune_annotation`] that keeps an object
    /// when its owner is deleted (Argo CD's `Delete=false`); `None` when the owner has none.
    pub delete_option: Option<&'static str>,
    /// Whether CustomResourceDefinitions stay when their owner is deleted (Argo CD never
    /// deletes them with an Application: every custom resource of theirs would go too).
    pub keeps_crds: bool,
    /// The field manager its owners apply as.
    pub field_manager: &'static str,
    /// Which resources' inventories list what this mark's owners hold.
    inventories: Inventories,
}

/// Where the inventories of one mark's owners live.
#[derive(Debug, PartialEq, Eq, Hash)]
enum Inventories {
    /// A `Sync`'s `status.inventory`, or `lockstep apply --name`'s ConfigMap.
    Lockstep,
    /// A Flux `Kustomization`'s `status.inventory`.
    Flux,
    /// A Flux `HelmRelease`'s `status.inventory` (Lockstep's own field there).
    FluxHelm,
    /// An Argo CD `Application`'s `status.resources`.
    ArgoCd,
}

/// Lockstep's mark: a `Sync`, or `lockstep apply --name`.
pub const LOCKSTEP: Mark = Mark {
    name_label: OWNER_NAME_LABEL,
    namespace_label: Some(OWNER_NAMESPACE_LABEL),
    prune_annotation: PRUNE_ANNOTATION,
    prune_disabled: "disabled",
    delete_option: None,
    keeps_crds: false,
    field_manager: crate::apply::FIELD_MANAGER,
    inventories: Inventories::Lockstep,
};

/// Flux's mark: a `Kustomization`, applied by Flux or by Lockstep serving it.
pub const FLUX: Mark = Mark {
    name_label: flux::NAME_LABEL,
    namespace_label: Some(flux::NAMESPACE_LABEL),
    prune_annotation: flux::PRUNE_ANNOTATION,
    prune_disabled: "disabled",
    delete_option: None,
    keeps_crds: false,
    field_manager: flux::FIELD_MANAGER,
    inventories: Inventories::Flux,
};

/// Flux helm-controller's mark: a `HelmRelease` served by Lockstep. Helm's own
/// `helm.sh/resource-policy: keep` keeps an object from being pruned, as it keeps one
/// through `helm uninstall`.
pub const FLUX_HELM: Mark = Mark {
    name_label: flux::HELM_NAME_LABEL,
    namespace_label: Some(flux::HELM_NAMESPACE_LABEL),
    prune_annotation: "helm.sh/resource-policy",
    prune_disabled: "keep",
    delete_option: None,
    keeps_crds: false,
    field_manager: flux::HELM_FIELD_MANAGER,
    inventories: Inventories::FluxHelm,
};

/// Argo CD's mark: an `Application`, applied by Argo CD or by Lockstep serving it.
pub const ARGOCD: Mark = Mark {
    name_label: argocd::INSTANCE_LABEL,
    namespace_label: None,
    prune_annotation: argocd::SYNC_OPTIONS_ANNOTATION,
    prune_disabled: argocd::PRUNE_DISABLED,
    delete_option: Some(argocd::DELETE_OPTION),
    keeps_crds: true,
    field_manager: argocd::FIELD_MANAGER,
    inventories: Inventories::ArgoCd,
};

/// Every mark the owner check reads, Lockstep's first: a desired object carrying several
/// is claimed by the first.
pub const MARKS: &[&Mark] = &[&LOCKSTEP, &FLUX, &FLUX_HELM, &ARGOCD];

/// An owner named by an object's labels.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Claim {
    /// The labels that name it.
    pub mark: &'static Mark,
    /// Namespace of the owner; empty when the mark names none (Argo CD's).
    pub namespace: String,
    /// Name of the owner.
    pub name: String,
}

impl Claim {
    /// The claim `labels` make under `mark`, if they carry its labels.
    fn read(mark: &'static Mark, labels: &BTreeMap<String, String>) -> Option<Self> {
        Self::of(mark, |key| labels.get(key).cloned())
    }

    /// The claim under `mark` when `label` finds the mark's labels.
    fn of(mark: &'static Mark, label: impl Fn(&str) -> Option<String>) -> Option<Self> {
        let namespace = match mark.namespace_label {
            Some(key) => label(key)?,
            None => String::new(),
        };
        Some(Self {
            mark,
            name: label(mark.name_label)?,
            namespace,
        })
    }

    /// The claim of a desired object (the labels render set for its owner).
    pub fn of_desired(object: &Value) -> Option<Self> {
        let labels = object["metadata"]["labels"].as_object()?;
        let text = |key: &str| labels.get(key)?.as_str().map(str::to_owned);
        MARKS.iter().find_map(|&mark| Self::of(mark, text))
    }

    /// The claim Argo CD's tracking-id annotation makes on the live object `entry`, if it
    /// is there and names that object.
    pub fn of_tracking_id(
        annotations: Option<&BTreeMap<String, String>>,
        entry: &InventoryEntry,
    ) -> Option<Self> {
        let value = annotations?.get(argocd::TRACKING_ID_ANNOTATION)?;
        let (app, object) = value.split_once(':')?;
        let (group_kind, namespace_name) = object.split_once(':')?;
        let (group, kind) = group_kind.split_once('/')?;
        let (namespace, name) = namespace_name.split_once('/')?;
        let same = group == entry.group
            && kind == entry.kind
            && namespace == entry.namespace
            && name == entry.name;
        // `<namespace>_<app>` outside Argo CD's namespace; names cannot hold `_`.
        let app = app.rsplit_once('_').map_or(app, |(_, app)| app);
        (same && !app.is_empty()).then(|| Self {
            mark: &ARGOCD,
            namespace: String::new(),
            name: app.to_owned(),
        })
    }

    /// The claims a live object's labels make, one per mark that is present.
    pub fn of_live(labels: Option<&BTreeMap<String, String>>) -> Vec<Self> {
        let Some(labels) = labels else {
            return Vec::new();
        };
        MARKS
            .iter()
            .filter_map(|&mark| Self::read(mark, labels))
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
    /// A Flux `Kustomization` lists it in its `status.inventory`.
    Kustomization {
        /// Namespace of the Kustomization.
        namespace: String,
        /// Name of the Kustomization.
        name: String,
    },
    /// A Flux `HelmRelease` served by Lockstep lists it in its `status.inventory`.
    HelmRelease {
        /// Namespace of the HelmRelease.
        namespace: String,
        /// Name of the HelmRelease.
        name: String,
    },
    /// An Argo CD `Application` lists it in its `status.resources`.
    Application {
        /// Namespace of the Application.
        namespace: String,
        /// Name of the Application.
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
            Self::Kustomization { namespace, name } => {
                write!(f, "Flux Kustomization {namespace}/{name}")
            }
            Self::HelmRelease { namespace, name } => {
                write!(f, "Flux HelmRelease {namespace}/{name}")
            }
            Self::Application { namespace, name } => {
                write!(f, "Argo CD Application {namespace}/{name}")
            }
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

/// The ids an owner's possible inventories list: its resource's (a `Sync`, a
/// `Kustomization` or `Application`s, by its mark) and `lockstep apply --name`'s.
struct Listed {
    resource: HashSet<String>,
    apply: HashSet<String>,
    /// The namespace of the Application listing each id (Argo CD's mark names none).
    namespaces: HashMap<String, String>,
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
                Ok(listed) if listed.resource.contains(&key) => {
                    let (namespace, name) = (claim.namespace.clone(), claim.name.clone());
                    return Some(match claim.mark.inventories {
                        Inventories::Lockstep => Holder::Sync { namespace, name },
                        Inventories::Flux => Holder::Kustomization { namespace, name },
                        Inventories::FluxHelm => Holder::HelmRelease { namespace, name },
                        Inventories::ArgoCd => Holder::Application {
                            namespace: listed.namespaces.get(&key).cloned().unwrap_or_default(),
                            name,
                        },
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
    let ids = |entries: &[InventoryEntry]| entries.iter().map(key).collect::<HashSet<_>>();
    let flux = match claim.mark.inventories {
        Inventories::Flux => {
            let kustomizations: Api<Kustomization> =
                Api::namespaced(client.clone(), &claim.namespace);
            Some(
                get_opt(&kustomizations, &claim.name)
                    .await?
                    .and_then(|k| k.status?.inventory),
            )
        }
        Inventories::FluxHelm => {
            let releases: Api<HelmRelease> = Api::namespaced(client.clone(), &claim.namespace);
            Some(
                get_opt(&releases, &claim.name)
                    .await?
                    .and_then(|r| r.status?.inventory),
            )
        }
        Inventories::Lockstep | Inventories::ArgoCd => None,
    };
    if let Some(inventory) = flux {
        let entries: Vec<InventoryEntry> = inventory
            .map(|inventory| inventory.entries.iter().filter_map(|e| e.entry()).collect())
            .unwrap_or_default();
        return Ok(Listed {
            resource: ids(&entries),
            apply: HashSet::new(),
            namespaces: HashMap::new(),
        });
    }
    if claim.mark.inventories == Inventories::ArgoCd {
        return read_applications(client, &claim.name).await;
    }
    let syncs: Api<Sync> = Api::namespaced(client.clone(), &claim.namespace);
    let sync = get_opt(&syncs, &claim.name)
        .await?
        .and_then(|s| s.status)
        .map(|s| ids(&s.inventory))
        .unwrap_or_default();
    let apply = inventory::read_apply(client, &claim.namespace, &claim.name)
        .await
        .map_err(|e| e.to_string())?;
    Ok(Listed {
        resource: sync,
        apply: ids(&apply),
        namespaces: HashMap::new(),
    })
}

/// What the Applications named `name`, in every namespace, list in `status.resources`.
async fn read_applications(client: &Client, name: &str) -> Result<Listed, String> {
    let applications: Api<Application> = Api::all(client.clone());
    let params = ListParams::default().fields(&format!("metadata.name={name}"));
    let listed = match applications.list(&params).await {
        Ok(list) => list.items,
        Err(kube::Error::Api(status)) if status.code == 404 => Vec::new(),
        Err(err) => return Err(api_code(&err)),
    };
    let mut namespaces = HashMap::new();
    for application in listed {
        let namespace = application.metadata.namespace.unwrap_or_default();
        for resource in application.status.into_iter().flat_map(|s| s.resources) {
            let entry = InventoryEntry {
                group: resource.group,
                version: resource.version,
                kind: resource.kind,
                namespace: resource.namespace,
                name: resource.name,
            };
            namespaces.insert(key(&entry), namespace.clone());
        }
    }
    Ok(Listed {
        resource: namespaces.keys().cloned().collect(),
        apply: HashSet::new(),
        namespaces,
    })
}

/// The named object, `None` on any 404: no such object, or no such CRD in this cluster.
async fn get_opt<K>(api: &Api<K>, name: &str) -> Result<Option<K>, String>
where
    K: Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    match api.get(name).await {
        Ok(object) => Ok(Some(object)),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(None),
        Err(err) => Err(api_code(&err)),
    }
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
                mark: &LOCKSTEP,
                namespace: "gitops".into(),
                name: "shop".into()
            }]
        );
        let half = BTreeMap::from([(OWNER_NAME_LABEL.to_owned(), "shop".to_owned())]);
        assert!(Claim::of_live(Some(&half)).is_empty());
        assert!(Claim::of_live(None).is_empty());
        let entry = InventoryEntry {
            group: String::new(),
            version: "v1".into(),
            kind: "ConfigMap".into(),
            namespace: "web".into(),
            name: "settings".into(),
        };
        let tracked = |value: &str| {
            let annotations =
                BTreeMap::from([(argocd::TRACKING_ID_ANNOTATION.to_owned(), value.to_owned())]);
            Claim::of_tracking_id(Some(&annotations), &entry)
        };
        let guestbook = Claim {
            mark: &ARGOCD,
            namespace: String::new(),
            name: "guestbook".into(),
        };
        assert_eq!(
            tracked("guestbook:/ConfigMap:web/settings"),
            Some(guestbook.clone())
        );
        assert_eq!(
            tracked("apps_guestbook:/ConfigMap:web/settings"),
            Some(guestbook)
        );
        assert_eq!(tracked("guestbook:/ConfigMap:web/other"), None, "copied");
        assert_eq!(tracked("guestbook:apps/ConfigMap:web/settings"), None);
        assert_eq!(tracked("guestbook"), None);
        assert_eq!(tracked(":/ConfigMap:web/settings"), None);
        assert_eq!(Claim::of_tracking_id(None, &entry), None);
        let desired = serde_json::json!({"metadata": {"labels": {
            OWNER_NAME_LABEL: "shop", OWNER_NAMESPACE_LABEL: "gitops"}}});
        assert_eq!(
            Claim::of_desired(&desired),
            Some(Claim {
                mark: &LOCKSTEP,
                namespace: "gitops".into(),
                name: "shop".into()
            })
        );
    }
}
