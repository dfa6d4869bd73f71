//! A helm Sync's `valuesFrom`: the ConfigMap and Secret keys it names, read at each
//! reconcile that renders and merged in order, as Flux merges a HelmRelease's. When a
//! Secret gave values, everything `valuesFrom` gave goes to the helm block's
//! `secret_values` (handed to helm in memory, every value learnt by the render's
//! redactor, never serialized); otherwise it is merged under the Sync's own `values`.

use std::sync::Arc;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::ResourceExt;
use kube::api::Api;
use lockstep_api::{SecretValues, Sync, ValuesFromKind};
use lockstep_engine::render::helm::{merge, set_path};
use serde_json::{Map, Value};
use zeroize::Zeroizing;

use super::SyncCtx;

/// Reads and merges `sync`'s `helm.valuesFrom` into its helm block.
///
/// # Errors
/// What is missing or unreadable, naming the object and key (never a value).
pub async fn read(sync: &mut Sync, ctx: &SyncCtx) -> Result<(), String> {
    let namespace = sync.namespace().unwrap_or_default();
    let Some(helm) = sync.spec.helm.as_mut() else {
        return Ok(());
    };
    if helm.values_from.is_empty() {
        return Ok(());
    }
    let client = &ctx.shared.client;
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &namespace);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), &namespace);
    let mut values = Map::new();
    let mut from_secret = false;
    for from in &helm.values_from {
        let key = from.values_key.as_deref().unwrap_or("values.yaml");
        let place = format!("{:?} {namespace}/{} key {key}", from.kind, from.name);
        let read = |e: kube::Error| format!("reading valuesFrom {place}: {e}");
        let text: Option<Zeroizing<String>> = match from.kind {
            ValuesFromKind::Secret => {
                from_secret = true;
                let secret = secrets.get_opt(&from.name).await.map_err(read)?;
                match secret.as_ref().and_then(|s| s.data.as_ref()?.get(key)) {
                    Some(bytes) => Some(Zeroizing::new(
                        String::from_utf8(bytes.0.clone())
                            .map_err(|_| format!("valuesFrom {place} is not UTF-8 text"))?,
                    )),
                    None => None,
                }
            }
            ValuesFromKind::ConfigMap => {
                let map = configmaps.get_opt(&from.name).await.map_err(read)?;
                let text = map.as_ref().and_then(|m| m.data.as_ref()?.get(key));
                text.map(|t| Zeroizing::new(t.clone()))
            }
        };
        let Some(text) = text else {
            if from.optional {
                continue;
            }
            return Err(format!(
                "valuesFrom {place} not found; create it or set optional: true"
            ));
        };
        if let Some(path) = &from.target_path {
            // One value at a path, as Flux places it (`helm --set`); the text may end in
            // the newline a file-made Secret carries, which Flux keeps: so is it here.
            set_path(&mut values, path, &text)
                .map_err(|why| format!("valuesFrom {place}: {why}"))?;
            continue;
        }
        match serde_saphyr::from_str::<Option<Value>>(&text) {
            Ok(Some(Value::Object(over))) => merge(&mut values, over),
            Ok(None) => {}
            Ok(Some(_)) | Err(_) => {
                return Err(format!("valuesFrom {place} is not a YAML map of values"));
            }
        }
    }
    if from_secret {
        let json = serde_json::to_vec(&Value::Object(values))
            .map_err(|_| "the values of valuesFrom do not serialize".to_owned())?;
        helm.secret_values = SecretValues(Some(Arc::new(Zeroizing::new(json))));
        return Ok(());
    }
    if let Some(own) = helm.values.take() {
        merge(&mut values, own);
    }
    helm.values = Some(values);
    Ok(())
}
