//! The SecretStores and ClusterSecretStores as a watch sees them, so a refresh finds its
//! store without asking the API server: a thousand ExternalSecrets of one store were a
//! thousand `GET`s of it, where ESO reads it from its cache. A store not in the watch yet
//! (created with its ExternalSecrets a moment ago) or gone is still read
//! ([`lockstep_eso::fetch::store_of`]).

use std::sync::Arc;

use kube::Api;
use kube::runtime::reflector::{ObjectRef, Store};
use lockstep_api::external_secrets::{ClusterSecretStore, SecretStore};
use lockstep_eso::fetch::KnownStores;

use crate::watch::reflected;

/// The watched stores: SecretStores where ExternalSecrets are watched, ClusterSecretStores
/// everywhere.
pub struct Stores {
    /// One per watched namespace, or one for every namespace.
    namespaced: Vec<Store<SecretStore>>,
    cluster: Store<ClusterSecretStore>,
}

impl Stores {
    /// Starts the watches: of `namespaces` (`None` for every one) and the cluster's.
    pub fn watch(client: &kube::Client, namespaces: Option<&[String]>) -> Self {
        let namespaced = match namespaces {
            None => vec![reflected(Api::all(client.clone()))],
            Some(namespaces) => namespaces
                .iter()
                .map(|namespace| reflected(Api::namespaced(client.clone(), namespace)))
                .collect(),
        };
        Self {
            namespaced,
            cluster: reflected(Api::all(client.clone())),
        }
    }
}

impl KnownStores for Stores {
    fn secret_store(&self, namespace: &str, name: &str) -> Option<Arc<SecretStore>> {
        let key = ObjectRef::new(name).within(namespace);
        self.namespaced.iter().find_map(|store| store.get(&key))
    }

    fn cluster_secret_store(&self, name: &str) -> Option<Arc<ClusterSecretStore>> {
        self.cluster.get(&ObjectRef::new(name))
    }
}
