//! Resolving a manifest's kind to an API through discovery, cached across applies.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kube::Client;
use kube::api::{Api, DynamicObject};
use kube::core::{ApiResource, GroupVersionKind};
use kube::discovery::{ApiCapabilities, Scope};
use serde_json::Value;
use tracing::debug;

use lockstep_api::InventoryEntry;

use super::{ApplyError, Withheld};
use crate::render::Manifest;

/// An object resolved against discovery: its API and identity.
pub(super) struct Target {
    pub(super) api: Api<DynamicObject>,
    pub(super) resource: ApiResource,
    pub(super) namespaced: bool,
    pub(super) namespace: String,
    pub(super) name: String,
    pub(super) id: String,
    /// The manifest's [`Manifest::holds_secrets`].
    pub(super) holds_secrets: bool,
}

impl Target {
    pub(super) fn entry(&self) -> InventoryEntry {
        InventoryEntry {
            group: self.resource.group.clone(),
            version: self.resource.version.clone(),
            kind: self.resource.kind.clone(),
            namespace: self.namespace.clone(),
            name: self.name.clone(),
        }
    }

    /// Whether the API server's messages about this object must not be shown: it is a
    /// Secret, or it carries values the secrets stage put in.
    pub(super) fn withheld(&self) -> Option<Withheld> {
        if self.resource.group.is_empty() && self.resource.kind == "Secret" {
            Some(Withheld::Secret)
        } else if self.holds_secrets {
            Some(Withheld::SecretValues)
        } else {
            None
        }
    }
}

/// Kinds resolved through discovery, shared between applies.
#[derive(Debug, Default)]
pub struct KindCache {
    kinds: std::sync::Mutex<HashMap<GroupVersionKind, (ApiResource, ApiCapabilities, Instant)>>,
}

/// How long a discovered kind is trusted.
const KIND_TTL: Duration = Duration::from_secs(300);

impl KindCache {
    fn get(&self, gvk: &GroupVersionKind) -> Option<(ApiResource, ApiCapabilities)> {
        let kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        kinds
            .get(gvk)
            .filter(|(_, _, at)| at.elapsed() < KIND_TTL)
            .map(|(resource, caps, _)| (resource.clone(), caps.clone()))
    }

    fn insert(&self, gvk: GroupVersionKind, (resource, caps): (ApiResource, ApiCapabilities)) {
        self.kinds
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(gvk, (resource, caps, Instant::now()));
    }
}

/// Resolves the kinds of one apply.
pub(super) struct Resolver {
    client: Client,
    cache: Arc<KindCache>,
    /// Group/kind pairs defined by CRDs in this apply: worth waiting for.
    defined: Vec<(String, String)>,
}

impl Resolver {
    pub(super) fn new(client: Client, manifests: &[Manifest], cache: Arc<KindCache>) -> Self {
        let defined = manifests
            .iter()
            .filter(|m| m.kind() == "CustomResourceDefinition")
            .map(|m| {
                let spec = &m.object["spec"];
                (
                    spec["group"].as_str().unwrap_or_default().to_owned(),
                    spec["names"]["kind"]
                        .as_str()
                        .unwrap_or_default()
                        .to_owned(),
                )
            })
            .collect();
        Self {
            client,
            cache,
            defined,
        }
    }

    /// Whether `m`'s kind is defined by a CRD of this apply: its schema may be new, so
    /// its dry-run is final only once that CRD is applied.
    pub(super) fn defined_here(&self, m: &Manifest) -> bool {
        self.defined
            .iter()
            .any(|(group, kind)| group == m.group() && kind == m.kind())
    }

    /// Looks `gvk` up through discovery; with `wait`, keeps trying that long for a kind a
    /// CRD of this apply defines (it becomes served a moment after the CRD is established).
    async fn discover(
        &self,
        gvk: &GroupVersionKind,
        m: &Manifest,
        id_guess: &str,
        wait: Option<Duration>,
    ) -> Result<(ApiResource, ApiCapabilities), ApplyError> {
        let wait = wait.filter(|_| self.defined_here(m));
        let deadline = tokio::time::Instant::now() + wait.unwrap_or_default();
        loop {
            match kube::discovery::pinned_kind(&self.client, gvk).await {
                Ok(found) => {
                    self.cache.insert(gvk.clone(), found.clone());
                    return Ok(found);
                }
                Err(err) => {
                    debug!(error = %err, "kind not served (yet)");
                    if wait.is_none() || tokio::time::Instant::now() >= deadline {
                        return Err(ApplyError::UnknownKind {
                            object: id_guess.to_owned(),
                            file: m.file.clone(),
                            api_version: m.api_version().to_owned(),
                            kind: m.kind().to_owned(),
                        });
                    }
                    tokio::time::sleep(Duration::from_millis(250)).await;
                }
            }
        }
    }

    /// The API and identity of `m`. A kind that is not served is
    /// [`ApplyError::UnknownKind`], after waiting up to `wait` if a CRD of this apply
    /// defines it.
    pub(super) async fn resolve(
        &self,
        m: &Manifest,
        wait: Option<Duration>,
    ) -> Result<Target, ApplyError> {
        let (group, version) = match m.api_version().rsplit_once('/') {
            Some((g, v)) => (g.to_owned(), v.to_owned()),
            None => (String::new(), m.api_version().to_owned()),
        };
        let gvk = GroupVersionKind::gvk(&group, &version, m.kind());
        let id_guess = guess_id(m);
        let found = match self.cache.get(&gvk) {
            Some(found) => found,
            None => self.discover(&gvk, m, &id_guess, wait).await?,
        };
        let (resource, caps) = found;
        let namespaced = caps.scope == Scope::Namespaced;
        let name = m.name().to_owned();
        let (api, namespace) = if namespaced {
            let Some(ns) = m.namespace() else {
                return Err(ApplyError::MissingNamespace { object: id_guess });
            };
            (
                Api::namespaced_with(self.client.clone(), ns, &resource),
                ns.to_owned(),
            )
        } else {
            (Api::all_with(self.client.clone(), &resource), String::new())
        };
        // As people read objects (`Job/ns/name`); `inventory::key` compares them.
        let id = crate::inventory::display(&resource.kind, &namespace, &name);
        Ok(Target {
            api,
            resource,
            namespaced,
            namespace,
            name,
            id,
            holds_secrets: m.holds_secrets,
        })
    }
}

/// [`crate::inventory::id`] of a manifest not resolved yet.
pub(super) fn guess_id(m: &Manifest) -> String {
    crate::inventory::display(m.kind(), m.namespace().unwrap_or_default(), m.name())
}

/// The inventory entry of a manifest not resolved yet, as its own fields say.
pub(crate) fn guess_entry(m: &Manifest) -> InventoryEntry {
    InventoryEntry {
        group: m.group().to_owned(),
        version: m
            .api_version()
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned(),
        kind: m.kind().to_owned(),
        namespace: m.namespace().unwrap_or_default().to_owned(),
        name: m.name().to_owned(),
    }
}

pub(super) fn desired_body(target: &Target, m: &Manifest) -> Value {
    let mut body = m.object.clone();
    if !target.namespaced
        && let Some(meta) = body.get_mut("metadata").and_then(Value::as_object_mut)
    {
        meta.remove("namespace");
    }
    body
}
