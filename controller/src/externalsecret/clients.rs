//! One logged-in provider per store, shared by every ExternalSecret that reads through it:
//! a Vault login (AppRole, Kubernetes, JWT, userpass — and the ServiceAccount token it
//! asks the API server for) or an AWS client (and its STS role) is made once per store and
//! namespace, not once per ExternalSecret and refresh. A thousand ExternalSecrets of one
//! AppRole store make one login, not a thousand each interval.
//!
//! ExternalSecrets of one store reconciled at once wait for the one login rather than each
//! making its own. A provider is kept for [`FRESH`], then made again, so credentials
//! rotated in the auth Secret are read within that. A store whose spec changed is a new entry at once. When a
//! read is refused for its credentials (a Vault token that expired or was revoked), the
//! provider is dropped and the read tried once more with a new login.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use lockstep_api::ExternalSecret;
use lockstep_api::external_secrets::SecretStoreProvider;
use lockstep_eso::fetch::{self, Fetched, KnownStores, Provider};
use lockstep_eso::{Error, Store};

/// How long a logged-in provider is reused.
const FRESH: Duration = Duration::from_secs(300);

/// Which logged-in provider a read may reuse: the store, the namespace its credentials
/// are read in (a ClusterSecretStore's differ by ExternalSecret namespace), and the
/// store's provider spec as it is now.
#[derive(Clone, Debug, Hash, PartialEq, Eq)]
struct Key {
    store: String,
    namespace: String,
    spec: String,
}

/// The providers logged in lately, and a lock per store that one login at a time holds.
#[derive(Default)]
pub struct Clients {
    opened: Mutex<HashMap<Key, (Instant, Arc<Provider>)>>,
    opening: Mutex<HashMap<Key, Arc<tokio::sync::Mutex<()>>>>,
}

impl Clients {
    /// Reads every value of `es` (in `namespace`) through its store's provider, logged in
    /// now or reused.
    ///
    /// # Errors
    /// As [`fetch::store_of`], [`fetch::open`] and [`fetch::fetch`].
    pub async fn fetch(
        &self,
        client: &kube::Client,
        stores: &dyn KnownStores,
        es: &ExternalSecret,
        namespace: &str,
    ) -> Result<Fetched, Error> {
        let (store, provider) = fetch::store_of(client, stores, es).await?;
        let key = Key {
            store: store.to_string(),
            namespace: namespace.to_owned(),
            spec: serde_json::to_string(&provider).unwrap_or_default(),
        };
        if let Some(reused) = self.get(&key) {
            match fetch::fetch(es, &reused).await {
                Err(err) if err.is_denied() => self.forget(&key),
                done => return done,
            }
        }
        let lock = self.lock(&key);
        let opened = {
            let _one_login = lock.lock().await;
            // Another reconcile may have logged in while this one waited.
            match self.get(&key) {
                Some(opened) => opened,
                None => self.open(client, store, &provider, namespace, key).await?,
            }
        };
        fetch::fetch(es, &opened).await
    }

    fn get(&self, key: &Key) -> Option<Arc<Provider>> {
        let opened = self.opened.lock().unwrap_or_else(|e| e.into_inner());
        let (at, provider) = opened.get(key)?;
        (at.elapsed() < FRESH).then(|| Arc::clone(provider))
    }

    fn forget(&self, key: &Key) {
        let mut opened = self.opened.lock().unwrap_or_else(|e| e.into_inner());
        opened.remove(key);
    }

    /// The lock of `key`'s logins; those no one holds or waits for are dropped.
    fn lock(&self, key: &Key) -> Arc<tokio::sync::Mutex<()>> {
        let mut opening = self.opening.lock().unwrap_or_else(|e| e.into_inner());
        opening.retain(|_, lock| Arc::strong_count(lock) > 1);
        Arc::clone(opening.entry(key.clone()).or_default())
    }

    async fn open(
        &self,
        client: &kube::Client,
        store: Store,
        provider: &SecretStoreProvider,
        namespace: &str,
        key: Key,
    ) -> Result<Arc<Provider>, Error> {
        let opened = Arc::new(fetch::open(client, store, provider, namespace).await?);
        let mut clients = self.opened.lock().unwrap_or_else(|e| e.into_inner());
        clients.retain(|_, (at, _)| at.elapsed() < FRESH);
        clients.insert(key, (Instant::now(), Arc::clone(&opened)));
        Ok(opened)
    }
}
