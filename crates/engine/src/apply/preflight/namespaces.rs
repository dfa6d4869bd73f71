//! [`NamespaceCheck`]: whether the namespaces of an apply exist, asked once each.

use std::collections::HashMap;

use k8s_openapi::api::core::v1::Namespace;
use kube::Client;
use kube::api::Api;

/// Whether namespaces exist, asked once each. A namespace that cannot be read (the
/// apply's identity may not `get` Namespaces) counts as existing: the dry-run decides.
pub(super) struct NamespaceCheck {
    api: Api<Namespace>,
    known: HashMap<String, bool>,
}

impl NamespaceCheck {
    pub fn new(client: Client) -> Self {
        Self {
            api: Api::all(client),
            known: HashMap::new(),
        }
    }

    pub async fn exists(&mut self, namespace: &str) -> bool {
        if let Some(known) = self.known.get(namespace) {
            return *known;
        }
        let exists = !matches!(self.api.get_opt(namespace).await, Ok(None));
        self.known.insert(namespace.to_owned(), exists);
        exists
    }
}
