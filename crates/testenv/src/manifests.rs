//! Applying YAML manifests (CRDs, fixtures) to a control plane, as `kubectl apply
//! --server-side` would: one document at a time, kind resolved by discovery.

use kube::api::{Api, DynamicObject, Patch, PatchParams};
use kube::discovery::{Scope, pinned_kind};

use crate::{Error, Result};

/// Server-side applies every document of the YAML stream `text` as field manager
/// `lockstep-testenv`, and waits until each CustomResourceDefinition among them is served.
///
/// # Errors
/// [`Error::Setup`] for a document that does not parse or a kind the server does not
/// serve; [`Error::Kube`] when an apply is refused.
pub async fn apply_yaml(client: &kube::Client, text: &str) -> Result<()> {
    let documents: Vec<serde_json::Value> =
        serde_saphyr::from_multiple(text).map_err(|e| Error::Setup {
            step: "parsing manifests".into(),
            detail: e.to_string(),
        })?;
    for document in documents.into_iter().filter(|d| !d.is_null()) {
        let object: DynamicObject = serde_json::from_value(document).map_err(|e| Error::Setup {
            step: "reading a manifest".into(),
            detail: format!("not a Kubernetes object: {e}"),
        })?;
        let types = object.types.clone().ok_or_else(|| Error::Setup {
            step: "reading a manifest".into(),
            detail: "no apiVersion/kind".into(),
        })?;
        let gvk = kube::core::GroupVersionKind::try_from(&types).map_err(|e| Error::Setup {
            step: "reading a manifest".into(),
            detail: format!("bad apiVersion/kind: {e}"),
        })?;
        let (resource, caps) = pinned_kind(client, &gvk).await?;
        let name = object.metadata.name.clone().unwrap_or_default();
        let api: Api<DynamicObject> = match (&caps.scope, &object.metadata.namespace) {
            (Scope::Namespaced, Some(ns)) => Api::namespaced_with(client.clone(), ns, &resource),
            (Scope::Namespaced, None) => Api::default_namespaced_with(client.clone(), &resource),
            (Scope::Cluster, _) => Api::all_with(client.clone(), &resource),
        };
        let params = PatchParams::apply("lockstep-testenv").force();
        api.patch(&name, &params, &Patch::Apply(&object)).await?;
        if gvk.kind == "CustomResourceDefinition" {
            wait_served(client, &object).await?;
        }
    }
    Ok(())
}

/// Waits up to 30 s until the CRD's kind answers discovery.
async fn wait_served(client: &kube::Client, crd: &DynamicObject) -> Result<()> {
    let spec = &crd.data["spec"];
    let group = spec["group"].as_str().unwrap_or_default();
    let kind = spec["names"]["kind"].as_str().unwrap_or_default();
    let version = spec["versions"][0]["name"].as_str().unwrap_or_default();
    let gvk = kube::core::GroupVersionKind::gvk(group, version, kind);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while pinned_kind(client, &gvk).await.is_err() {
        if tokio::time::Instant::now() >= deadline {
            return Err(Error::Setup {
                step: format!("waiting for {kind}.{group}"),
                detail: "not served after 30 s".into(),
            });
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    Ok(())
}
