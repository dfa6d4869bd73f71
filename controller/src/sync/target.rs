//! The cluster a Sync applies to and the identity it applies as: the controller's own
//! cluster, as the Sync's ServiceAccount (`spec.serviceAccountName`, else
//! `--default-service-account`) or, when it names none, as the controller; or the cluster
//! of a kubeconfig kept in a Secret of the Sync's namespace (`spec.kubeConfig.secretRef`,
//! or an Argo CD cluster Secret, [`super::cluster_secret`]), with that kubeconfig's
//! identity impersonating the same ServiceAccount (of the Sync's namespace, in the remote
//! cluster) when there is one, as Flux does: a tenant's kubeconfig does not lift the
//! lockdown.
//!
//! Impersonation is the API server's own: the controller sends `Impersonate-User:
//! system:serviceaccount:<namespace>:<name>` and the server authorizes every request as
//! that account (with its groups `system:serviceaccounts`, `system:serviceaccounts:<ns>`
//! and `system:authenticated`). The controller needs the `impersonate` verb on
//! `serviceaccounts` for that; a tenant gets exactly the rights its account's bindings
//! give, and a denial comes back as the API server's `403` naming the object.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;
use kube::config::{KubeConfigOptions, Kubeconfig};
use lockstep_api::{KubeConfigRef, Sync};
use lockstep_engine::apply::Protect;
use lockstep_sealed::{SEALING_KEY_LABEL, SEALING_KEYS_NOT_FROM_GIT};

use super::SyncCtx;

/// Why the target cluster's client could not be built. Never carries kubeconfig text.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    /// The Secret could not be read.
    #[error("{what} Secret {name}: {source}")]
    Read {
        /// `kubeConfig` or `Argo CD cluster`.
        what: &'static str,
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
    /// `serviceAccountName` is not a ServiceAccount name.
    #[error(
        "serviceAccountName {0:?} is not a valid ServiceAccount name (lowercase letters, digits, '-' and '.')"
    )]
    ServiceAccountName(String),
    /// No client could be made for the ServiceAccount.
    #[error("impersonating ServiceAccount {user}: {reason}")]
    Impersonate {
        /// The impersonated user name.
        user: String,
        /// Why the client could not be made.
        reason: String,
    },
    /// The Argo CD cluster Secret cannot be read as a cluster's address and credentials.
    #[error("Argo CD cluster Secret {name}: {reason}")]
    Cluster {
        /// The Secret's name.
        name: String,
        /// What is missing or not served (never a value).
        reason: String,
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

/// Clients of the controller's cluster, one per impersonated ServiceAccount, made once
/// (each has its own connection pool) from the controller's config.
pub struct Identities {
    config: kube::Config,
    clients: Mutex<HashMap<String, kube::Client>>,
}

impl Identities {
    /// Makes clients from `config`, the controller's own.
    pub fn new(config: kube::Config) -> Self {
        Self {
            config,
            clients: Mutex::new(HashMap::new()),
        }
    }

    /// A client acting as user `user`.
    fn client(&self, user: &str) -> Result<kube::Client, TargetError> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(client) = clients.get(user) {
            return Ok(client.clone());
        }
        let mut config = self.config.clone();
        config.auth_info.impersonate = Some(user.to_owned());
        let client = kube::Client::try_from(config).map_err(|e| TargetError::Impersonate {
            user: user.to_owned(),
            reason: e.to_string(),
        })?;
        clients.insert(user.to_owned(), client.clone());
        Ok(client)
    }
}

/// The user a Sync in `namespace` applies as on the local cluster: its ServiceAccount,
/// else the default one, else none (the controller's own identity).
///
/// # Errors
/// [`TargetError::ServiceAccountName`] for a name no ServiceAccount can have.
pub fn service_account(
    sync: &Sync,
    namespace: &str,
    default: Option<&str>,
) -> Result<Option<String>, TargetError> {
    let Some(name) = sync.spec.service_account_name.as_deref().or(default) else {
        return Ok(None);
    };
    // A DNS-1123 subdomain: no `:` can make it name another user.
    let valid = !name.is_empty()
        && name.len() <= 253
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.')
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !valid {
        return Err(TargetError::ServiceAccountName(name.to_owned()));
    }
    Ok(Some(format!("system:serviceaccount:{namespace}:{name}")))
}

/// Where the address and credentials of a remote cluster are kept.
#[derive(Clone, Copy, Debug)]
pub enum Remote<'a> {
    /// A kubeconfig in a Secret (a Flux Kustomization's `kubeConfig`).
    KubeConfig(&'a KubeConfigRef),
    /// An Argo CD cluster Secret, by name (an Application's remote destination).
    ArgoCluster(&'a str),
}

impl<'a> Remote<'a> {
    /// The remote cluster `sync` applies to, if not the local one.
    pub fn of(sync: &'a Sync) -> Option<Self> {
        let argocd = sync.spec.cluster_secret.as_deref().map(Self::ArgoCluster);
        sync.spec
            .kube_config
            .as_ref()
            .map(Self::KubeConfig)
            .or(argocd)
    }
}

/// The client to apply with: `user`'s on the local cluster, the controller's own when
/// `user` is `None`, or the `remote` cluster's (impersonating `user` there).
///
/// # Errors
/// [`TargetError`] naming the Secret and key, or the ServiceAccount.
pub async fn client(
    local: &kube::Client,
    identities: &Identities,
    namespace: &str,
    remote: Option<Remote<'_>>,
    user: Option<&str>,
) -> Result<kube::Client, TargetError> {
    let reference = match remote {
        None => {
            return match user {
                Some(user) => identities.client(user),
                None => Ok(local.clone()),
            };
        }
        Some(Remote::KubeConfig(reference)) => reference,
        Some(Remote::ArgoCluster(name)) => {
            let data = read(local, namespace, "Argo CD cluster", name).await?;
            let cluster = |reason| TargetError::Cluster {
                name: name.to_owned(),
                reason,
            };
            let kubeconfig = super::cluster_secret::kubeconfig(&data).map_err(cluster)?;
            return connect(kubeconfig, user).await.map_err(cluster);
        }
    };
    let name = reference.secret_ref.name.clone();
    let data = read(local, namespace, "kubeConfig", &name).await?;
    // Without a key: `value`, else `value.yaml` (Flux's two names).
    let key = match &reference.secret_ref.key {
        Some(key) => key.clone(),
        None if !data.contains_key("value") && data.contains_key("value.yaml") => {
            "value.yaml".into()
        }
        None => "value".into(),
    };
    let bytes = data.get(&key).ok_or_else(|| TargetError::MissingKey {
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
    connect(kubeconfig, user).await.map_err(invalid)
}

/// The entries of Secret `name` in `namespace`, `what` it is for the error.
async fn read(
    local: &kube::Client,
    namespace: &str,
    what: &'static str,
    name: &str,
) -> Result<BTreeMap<String, ByteString>, TargetError> {
    let secret = Api::<Secret>::namespaced(local.clone(), namespace)
        .get(name)
        .await
        .map_err(|source| TargetError::Read {
            what,
            name: name.to_owned(),
            source,
        })?;
    Ok(secret.data.unwrap_or_default())
}

/// A client of `kubeconfig`'s current context, impersonating `user` when there is one.
async fn connect(kubeconfig: Kubeconfig, user: Option<&str>) -> Result<kube::Client, String> {
    let mut config =
        kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
            .await
            .map_err(|e| e.to_string())?;
    if let Some(user) = user {
        config.auth_info.impersonate = Some(user.to_owned());
    }
    kube::Client::try_from(config).map_err(|e| e.to_string())
}

/// The client a Sync applies, prunes and reads health with: see this module.
pub(super) async fn sync_client(
    sync: &Sync,
    ctx: &SyncCtx,
    namespace: &str,
) -> Result<kube::Client, TargetError> {
    let user = service_account(sync, namespace, ctx.default_service_account.as_deref())?;
    client(
        &ctx.shared.client,
        &ctx.identities,
        namespace,
        Remote::of(sync),
        user.as_deref(),
    )
    .await
}

/// What a Sync may not write: sealing key Secrets anywhere and, for a Sync outside the
/// controller's own namespace that applies to the local cluster, that namespace (its
/// keys, its Deployment).
pub(super) fn protect(sync: &Sync, ctx: &SyncCtx) -> Protect {
    let protect = Protect::default().label(SEALING_KEY_LABEL, SEALING_KEYS_NOT_FROM_GIT);
    let outside = sync.namespace().as_deref() != Some(ctx.shared.namespace.as_str());
    if outside && Remote::of(sync).is_none() {
        protect.namespace(
            &ctx.shared.namespace,
            "it is the controller's own; only Syncs in it may write there",
        )
    } else {
        protect
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sync(account: Option<&str>) -> Sync {
        let mut sync = Sync::new("s", lockstep_api::SyncSpec::default());
        sync.spec.service_account_name = account.map(str::to_owned);
        sync
    }

    #[test]
    fn the_service_account_is_the_syncs_else_the_default() {
        let user = |account, default| service_account(&sync(account), "team-a", default);
        assert_eq!(user(None, None).unwrap(), None);
        assert_eq!(
            user(Some("deployer"), Some("other")).unwrap().as_deref(),
            Some("system:serviceaccount:team-a:deployer")
        );
        assert_eq!(
            user(None, Some("default")).unwrap().as_deref(),
            Some("system:serviceaccount:team-a:default")
        );
        for bad in ["x:kube-system:admin", "Admin", "", "-a", "a\nb"] {
            assert!(user(Some(bad), None).is_err(), "{bad:?}");
        }
    }
}
