//! The inventory of a Sync as a tree: each object it applied, with its health, and under
//! it what its controllers made from it, found by owner references — a Deployment's
//! ReplicaSets and their Pods, a CronJob's Jobs and theirs. Read with the user's client;
//! a kind the user may not list is said so, not hidden. Only names and health are shown.

use std::collections::BTreeSet;
use std::fmt::Write as _;

use k8s_openapi::api::apps::v1::ReplicaSet;
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};
use kube::core::NamespaceResourceScope;
use lockstep_api::InventoryEntry;
use lockstep_engine::health::{self, Health, Probe, Rules, Status};
use lockstep_engine::inventory::id;
use serde::de::DeserializeOwned;

use super::html::{Esc, badge};

/// The kinds whose objects own the children shown.
const OWNERS: [&str; 6] = [
    "Deployment",
    "ReplicaSet",
    "StatefulSet",
    "DaemonSet",
    "CronJob",
    "Job",
];

/// An object made by a controller: its kind, name, owner and health.
struct Child {
    kind: &'static str,
    name: String,
    owner: (String, String),
    namespace: String,
    health: Health,
}

/// The tree of `inventory`, as HTML, each object's health told by `rules` (the Sync's);
/// `probe` keeps what discovery said of each kind between pages.
pub async fn render(
    probe: &Probe,
    client: &kube::Client,
    inventory: &[InventoryEntry],
    rules: &Rules,
) -> String {
    let healths = probe.healths(client, inventory, rules).await;
    let namespaces: BTreeSet<&str> = inventory
        .iter()
        .filter(|entry| OWNERS.contains(&entry.kind.as_str()))
        .map(|entry| entry.namespace.as_str())
        .collect();
    let mut children = Vec::new();
    let mut unreadable = Vec::new();
    for namespace in namespaces {
        collect::<ReplicaSet>(
            client,
            namespace,
            "ReplicaSet",
            &mut children,
            &mut unreadable,
        )
        .await;
        collect::<Job>(client, namespace, "Job", &mut children, &mut unreadable).await;
        collect::<Pod>(client, namespace, "Pod", &mut children, &mut unreadable).await;
    }
    let mut out = String::from(r#"<ul class="tree" id="tree">"#);
    for (entry, health) in inventory.iter().zip(healths) {
        let _ = write!(
            out,
            r#"<li><span class="object">{}</span> {}"#,
            Esc(&id(entry)),
            health_badge(&health)
        );
        branch(
            &mut out,
            &children,
            &entry.namespace,
            (&entry.kind, &entry.name),
        );
        out.push_str("</li>");
    }
    out.push_str("</ul>");
    for problem in unreadable {
        let _ = write!(out, r#"<p class="note">{}</p>"#, Esc(&problem));
    }
    out
}

/// The children of `owner`, and theirs, as a nested list.
fn branch(out: &mut String, children: &[Child], namespace: &str, owner: (&str, &str)) {
    let mine: Vec<&Child> = children
        .iter()
        .filter(|c| c.namespace == namespace && (c.owner.0.as_str(), c.owner.1.as_str()) == owner)
        .collect();
    if mine.is_empty() {
        return;
    }
    out.push_str("<ul>");
    for child in mine {
        let _ = write!(
            out,
            r#"<li><span class="object">{}/{}</span> {}"#,
            child.kind,
            Esc(&child.name),
            health_badge(&child.health)
        );
        branch(out, children, namespace, (child.kind, &child.name));
        out.push_str("</li>");
    }
    out.push_str("</ul>");
}

fn health_badge(health: &Health) -> String {
    let class = match health.status {
        Status::Current => "good",
        Status::InProgress | Status::Terminating => "busy",
        Status::Failed | Status::NotFound => "bad",
    };
    format!(
        "{} <span class=\"why\">{}</span>",
        badge(&health.status.to_string(), class),
        Esc(&health.message)
    )
}

/// Adds the objects of kind `K` in `namespace` that have a controller owner to `children`;
/// a list that is refused goes to `unreadable` (its code and reason only).
async fn collect<K>(
    client: &kube::Client,
    namespace: &str,
    kind: &'static str,
    children: &mut Vec<Child>,
    unreadable: &mut Vec<String>,
) where
    K: kube::Resource<DynamicType = (), Scope = NamespaceResourceScope>
        + Clone
        + DeserializeOwned
        + serde::Serialize
        + std::fmt::Debug,
{
    let list = match Api::<K>::namespaced(client.clone(), namespace)
        .list(&ListParams::default())
        .await
    {
        Ok(list) => list,
        Err(kube::Error::Api(status)) => {
            unreadable.push(format!(
                "{kind}s of {namespace} are not shown: {} {}",
                status.code, status.reason
            ));
            return;
        }
        Err(_) => {
            unreadable.push(format!(
                "{kind}s of {namespace} are not shown: cannot list them"
            ));
            return;
        }
    };
    for object in list.items {
        let meta = object.meta();
        let Some(owner) = meta
            .owner_references
            .iter()
            .flatten()
            .find(|o| o.controller == Some(true))
        else {
            continue;
        };
        let health = serde_json::to_value(&object)
            .map(|value| health::compute(&value))
            .unwrap_or_else(|_| Health {
                status: Status::InProgress,
                message: "cannot decode".to_owned(),
            });
        children.push(Child {
            kind,
            name: meta.name.clone().unwrap_or_default(),
            owner: (owner.kind.clone(), owner.name.clone()),
            namespace: namespace.to_owned(),
            health,
        });
    }
}
