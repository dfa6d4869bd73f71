//! A ClusterSecretStore's `spec.conditions`: which namespaces' ExternalSecrets may use it,
//! as ESO v0.16.2's client manager decides. No condition allows every namespace; else a
//! namespace is allowed when any condition matches it by label selector, by name, or by a
//! regular expression found anywhere in its name.

use k8s_openapi::api::core::v1::Namespace;
use kube::Api;
use kube::api::ListParams;
use lockstep_api::external_secrets::ClusterSecretStoreCondition;
use regex::Regex;

use crate::error::{Error, Store};

/// Whether `conditions` let ExternalSecrets of `namespace` use `store`. A label selector
/// is evaluated by the API server (a list of Namespaces with it and the namespace's name),
/// so its rules are Kubernetes' own.
///
/// # Errors
/// [`Error::StoreConditions`] for an operator or regular expression that cannot be
/// evaluated; [`Error::StoreRead`] when Namespaces cannot be listed.
pub(crate) async fn allow(
    client: &kube::Client,
    store: &Store,
    conditions: &[ClusterSecretStoreCondition],
    namespace: &str,
) -> Result<bool, Error> {
    if conditions.is_empty() {
        return Ok(true);
    }
    let invalid = |reason: String| Error::StoreConditions {
        store: store.clone(),
        reason,
    };
    // ESO's order within a condition: the selector (refused first if it is invalid), the
    // names, then the regular expressions (one that does not compile is refused only when
    // nothing before it matched).
    for condition in conditions {
        let query =
            match &condition.namespace_selector {
                Some(selector) => Some(selector.to_query().map_err(|op| {
                    invalid(format!("namespaceSelector: unknown operator {op:?}"))
                })?),
                None => None,
            };
        if condition.namespaces.iter().any(|n| n == namespace) {
            return Ok(true);
        }
        if let Some(query) = query {
            let params = ListParams::default()
                .labels(&query)
                .fields(&format!("metadata.name={namespace}"));
            let matched = Api::<Namespace>::all(client.clone())
                .list_metadata(&params)
                .await
                .map_err(|source| Error::StoreRead {
                    store: store.clone(),
                    source,
                })?;
            if !matched.items.is_empty() {
                return Ok(true);
            }
        }
        for pattern in &condition.namespace_regexes {
            let re = Regex::new(pattern)
                .map_err(|err| invalid(format!("namespaceRegexes {pattern:?}: {err}")))?;
            if re.is_match(namespace) {
                return Ok(true);
            }
        }
    }
    Ok(false)
}
