//! Creating a release's namespace when it is missing: Argo CD's `CreateNamespace=true` and
//! a Flux HelmRelease's `install.createNamespace`. The namespace is not labelled as the
//! owner's, so pruning never deletes it, as with Argo CD and Helm.

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ObjectMeta, PostParams};

/// Creates `namespace` with `client` unless it exists.
///
/// # Errors
/// The API server's refusal (a namespace created meanwhile is not one).
pub async fn create(client: &kube::Client, namespace: &str) -> Result<(), kube::Error> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    if namespaces.get_opt(namespace).await?.is_some() {
        return Ok(());
    }
    let object = Namespace {
        metadata: ObjectMeta {
            name: Some(namespace.to_owned()),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    match namespaces.create(&PostParams::default(), &object).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(err) => Err(err),
    }
}
