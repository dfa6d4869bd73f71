//! The cluster a Sync applies to: the controller's own, or the one of a kubeconfig kept
//! in a Secret of the Sync's namespace (`spec.kubeConfig.secretRef`), as Flux does for
//! remote clusters.

use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};
use lockstep_api::KubeConfigRef;

/// Why the target cluster's client could not be built. Never carries kubeconfig text.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The Secret could not be read.
    #[error("kubeConfig Secret {name}: {source}")]
    Read {
        /// The Secret's name.
        name: String,
        /// The API error.
        source: kube::Error,
    },
    /// The Secret lacks the key.
    #[error("kubeConfig Secret {name} has no key {key:?}")]
    MissingKey {
        /// The Secret's name.
        name: String,
        /// The key looked for.
        key: String,
    },
    /// The kubeconfig does not parse or names no usable cluster.
    #[error("kubeConfig Secret {name} key {key:?} is not a usable kubeconfig: {reason}")]
    Invalid {
        /// The Secret's name.
        name: String,
        /// The key.
        key: String,
        /// The parser's complaint.
        reason: String,
    },
}

/// The client to apply with.
///
/// # Errors
/// [`TargetError`] naming the Secret and key.
pub async fn client(
    local: &kube::Client,
    namespace: &str,
    kube_config: Option<&KubeConfigRef>,
) -> Result<kube::Client, TargetError> {
    let Some(reference) = kube_config else {
        return Ok(local.clone());
    };
    let name = reference.secret_ref.name.clone();
    let key = reference
        .secret_ref
        .key
        .clone()
        .unwrap_or_else(|| "value".into());
    let secret = Api::<Secret>::namespaced(local.clone(), namespace)
        .get(&name)
        .await
        .map_err(|source| TargetError::Read {
            name: name.clone(),
            source,
        })?;
    let bytes = secret
        .data
        .as_ref()
        .and_then(|d| d.get(&key))
        .ok_or_else(|| TargetError::MissingKey {
            name: name.clone(),
            key: key.clone(),
        })?;
    let invalid = |reason: String| TargetError::Invalid {
        name: name.clone(),
        key: key.clone(),
        reason,
    };
    let text = std::str::from_utf8(&bytes.0).map_err(|_| invalid("not UTF-8".into()))?;
    let kubeconfig = Kubeconfig::from_yaml(text).map_err(|e| invalid(e.to_string()))?;
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .map_err(|e| invalid(e.to_string()))?;
    kube::Client::try_from(config).map_err(|e| invalid(e.to_string()))
}
