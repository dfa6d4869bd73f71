//! What every part of the controller shares: the client, its own namespace, the sealing
//! keys, the SealedSecret event recorder and the metrics. The sync controllers hang
//! their own part off it ([`crate::sync::SyncCtx`]).

use std::sync::{Arc, RwLock};
use std::time::Duration;

use kube::runtime::events::{Recorder, Reporter};

use crate::flags::Flags;
use crate::keyring::KeyRing;
use crate::metrics::Metrics;

/// A namespaced kind the controller reads and writes through a typed `Api`.
pub trait Namespaced:
    kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + serde::de::DeserializeOwned
    + std::fmt::Debug
{
}

impl<K> Namespaced for K where
    K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
{
}

/// A namespaced kind a controller loop watches (its own kind, or a trigger's).
pub trait Watched: Namespaced + Send + Sync + 'static {}

impl<K> Watched for K where K: Namespaced + Send + Sync + 'static {}

/// Shared state, built once in `main` and handed to every task as `Arc<Ctx>`.
pub struct Ctx {
    /// The Kubernetes client.
    pub client: kube::Client,
    /// The controller's own namespace: its key Secrets, its Lease; Syncs elsewhere may not
    /// write into it.
    pub namespace: String,
    /// Watch every namespace (else only [`Ctx::namespace`] and the additional ones).
    pub all_namespaces: bool,
    /// `--additional-namespaces`: watched besides [`Ctx::namespace`] when not all are.
    pub additional_namespaces: Vec<String>,
    /// `--concurrent`: how many objects of one watch are reconciled at once. Unbounded, a
    /// backlog (a restore, a new replica) starts every reconcile at once, each with its
    /// own connection and, for SealedSecrets, its own blocking thread.
    pub concurrent: u16,
    /// `generateName` prefix of the key Secrets.
    pub key_prefix: String,
    /// Renewal period; zero disables renewal.
    pub key_renew_period: Duration,
    /// Size of new keys in bits.
    pub key_size: usize,
    /// Publishes Kubernetes events as `sealed-secrets`, the component name upstream uses.
    pub recorder: Recorder,
    /// `--rate-limit`/`--rate-limit-burst` of `/v1/verify`, `--trusted-proxy`.
    pub verify_rate_limit: crate::http::RateLimitFlags,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// The loaded keys. Readers clone the `Arc` and release the lock at once; a renewal
    /// swaps in a freshly loaded ring.
    keys: RwLock<Arc<KeyRing>>,
    /// Wakes the renewal task for an on-demand renewal (SIGUSR1).
    pub renew_now: tokio::sync::Notify,
}

impl Ctx {
    /// Builds the context from the flags.
    pub fn new(client: kube::Client, flags: &Flags) -> Self {
        let reporter = Reporter {
            controller: "sealed-secrets".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            namespace: flags.namespace.clone(),
            all_namespaces: flags.all_namespaces,
            additional_namespaces: flags.additional_namespaces.clone(),
            concurrent: flags.concurrent,
            key_prefix: flags.key_prefix.clone(),
            key_renew_period: flags.key_renew_period,
            key_size: flags.key_size,
            verify_rate_limit: flags.verify_rate_limit.clone(),
            metrics: Arc::new(Metrics::default()),
            keys: RwLock::new(Arc::new(KeyRing::default())),
            renew_now: tokio::sync::Notify::new(),
        }
    }

    /// An API of the namespaced kind `K` over the namespaces this controller watches: every
    /// namespace, or with `--all-namespaces=false` only its own (as the Flux, Argo CD and
    /// ESO flags that scope a controller to one namespace).
    pub fn watched_api<K>(&self) -> kube::Api<K>
    where
        K: kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>,
    {
        if self.all_namespaces {
            kube::Api::all(self.client.clone())
        } else {
            kube::Api::namespaced(self.client.clone(), &self.namespace)
        }
    }

    /// The namespaces watched for the kinds that also follow `--additional-namespaces`
    /// (SealedSecrets, ExternalSecrets): `None` for every namespace, else the controller's
    /// own and the additional ones, each once.
    pub fn watched_namespaces(&self) -> Option<Vec<String>> {
        if self.all_namespaces {
            return None;
        }
        let mut namespaces = vec![self.namespace.clone()];
        for namespace in &self.additional_namespaces {
            if !namespace.is_empty() && !namespaces.contains(namespace) {
                namespaces.push(namespace.clone());
            }
        }
        Some(namespaces)
    }

    /// The current keys.
    pub fn keys(&self) -> Arc<KeyRing> {
        self.keys.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Replaces the keys with a newly loaded ring.
    pub fn set_keys(&self, ring: KeyRing) {
        *self.keys.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(ring);
    }
}
