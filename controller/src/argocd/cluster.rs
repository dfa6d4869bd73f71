//! An Application's destination cluster: the local one (`server:
//! https://kubernetes.default.svc` or `name: in-cluster`), or the one of the Argo CD
//! cluster Secret — labelled `argocd.argoproj.io/secret-type: cluster`, in the
//! Application's namespace — whose `server` (or `name`) the destination names, as Argo CD
//! finds it. The Secret's address and credentials are read when the Sync's client is
//! made ([`crate::sync`]'s target), never kept in memory beside it.

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::{Api, ListParams};
use lockstep_api::argocd::{Application, IN_CLUSTER_NAME, IN_CLUSTER_SERVER};

use crate::sync::SyncCtx;

/// The label Argo CD selects its cluster Secrets by, and the value.
const SECRET_TYPE: &str = "argocd.argoproj.io/secret-type=cluster";

/// Why an Application's destination cluster cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// The cluster Secrets could not be listed.
    #[error(
        "listing the cluster Secrets (argocd.argoproj.io/secret-type: cluster) of namespace \
         {namespace}: {source}"
    )]
    List {
        /// Where they were listed.
        namespace: String,
        /// The API error.
        source: kube::Error,
    },
    /// No cluster Secret names the destination.
    #[error(
        "spec.destination.{key} {wanted:?}: no cluster Secret (argocd.argoproj.io/secret-type: \
         cluster) in namespace {namespace} has that {key}; add one, as `argocd cluster add` does"
    )]
    Missing {
        /// `server` or `name`.
        key: &'static str,
        /// The destination's value for it.
        wanted: String,
        /// Where the Secrets were looked for.
        namespace: String,
    },
}

/// Whether `app`'s destination is a cluster other than the local one.
pub fn is_remote(app: &Application) -> bool {
    let destination = &app.spec.destination;
    match (&destination.server, &destination.name) {
        (Some(server), _) => server.trim_end_matches('/') != IN_CLUSTER_SERVER,
        (None, Some(name)) => name != IN_CLUSTER_NAME,
        (None, None) => false,
    }
}

/// The name of the cluster Secret of `app`'s destination; `None` for the local cluster.
///
/// # Errors
/// [`ClusterError`]: listing failed, or no Secret names the destination.
pub async fn secret_for(ctx: &SyncCtx, app: &Application) -> Result<Option<String>, ClusterError> {
    if !is_remote(app) {
        return Ok(None);
    }
    let namespace = app.namespace().unwrap_or_default();
    let secrets: Api<Secret> = Api::namespaced(ctx.shared.client.clone(), &namespace);
    let listed = secrets
        .list(&ListParams::default().labels(SECRET_TYPE))
        .await
        .map_err(|source| ClusterError::List {
            namespace: namespace.clone(),
            source,
        })?;
    let destination = &app.spec.destination;
    let (key, wanted) = match (&destination.server, &destination.name) {
        (Some(server), _) => ("server", server.trim_end_matches('/')),
        (None, Some(name)) => ("name", name.as_str()),
        (None, None) => return Ok(None),
    };
    let found = listed.items.into_iter().find(|secret| {
        let entry = secret.data.as_ref().and_then(|d| d.get(key));
        let entry = entry.and_then(|v| std::str::from_utf8(&v.0).ok());
        entry.is_some_and(|v| v.trim_end_matches('/') == wanted)
    });
    match found {
        Some(secret) => Ok(Some(secret.name_any())),
        None => Err(ClusterError::Missing {
            key,
            wanted: wanted.to_owned(),
            namespace,
        }),
    }
}
