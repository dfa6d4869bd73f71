//! The Secret keys a store's auth names (Vault tokens and AppRole ids, AWS access keys),
//! read with ESO's namespace rules.

use k8s_openapi::api::core::v1::Secret;
use kube::Api;
use lockstep_api::external_secrets::{SecretKeySelector, StoreKind};
use secrecy::SecretString;

use crate::error::Store;

/// The namespace of an object a store's auth names: the one the reference `named`, for a
/// ClusterSecretStore only; else `namespace`, the ExternalSecret's (ESO's rule).
pub(crate) fn ref_namespace<'a>(
    store: &Store,
    named: Option<&'a str>,
    namespace: &'a str,
) -> &'a str {
    match (store.kind, named) {
        (StoreKind::ClusterSecretStore, Some(named)) => named,
        _ => namespace,
    }
}

/// One key of a Secret, as ESO's `resolvers.SecretKeyRef` finds it. The error says what
/// is missing, never what is there.
pub(crate) async fn read_key(
    client: &kube::Client,
    store: &Store,
    namespace: &str,
    selector: &SecretKeySelector,
) -> Result<SecretString, String> {
    let namespace = ref_namespace(store, selector.namespace.as_deref(), namespace);
    let secrets: Api<Secret> = Api::namespaced(client.clone(), namespace);
    let secret = secrets
        .get_opt(&selector.name)
        .await
        .map_err(|e| format!("cannot read Secret {namespace}/{}: {e}", selector.name))?
        .ok_or_else(|| format!("Secret {namespace}/{} does not exist", selector.name))?;
    let value = secret
        .data
        .and_then(|mut data| data.remove(&selector.key))
        .ok_or_else(|| {
            format!(
                "Secret {namespace}/{} has no key {:?}",
                selector.name, selector.key
            )
        })?;
    let text = String::from_utf8(value.0).map_err(|_| {
        format!(
            "Secret {namespace}/{} key {:?} is not UTF-8",
            selector.name, selector.key
        )
    })?;
    Ok(SecretString::from(text))
}
