//! The SealedSecret controller: watches `bitnami.com/v1alpha1` SealedSecrets in every
//! namespace and the Secrets they own, and keeps each Secret equal to its unsealed
//! SealedSecret. Deleting an owned Secret brings it back; deleting the SealedSecret lets
//! Kubernetes' garbage collector remove the Secret through its owner reference.

mod error;
mod reconcile;
mod secret;
mod status;

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, ApiResource};
use kube::runtime::{Controller, watcher};
use lockstep_sealed::{SealedSecretSpec, SealedSecretStatus};

use crate::context::Ctx;

/// A SealedSecret as the API serves it. The serde types come from `lockstep-sealed`; the
/// group, version and kind from [`api_resource`].
pub type SealedSecretObject = kube::core::Object<SealedSecretSpec, SealedSecretStatus>;

/// `sealedsecrets.bitnami.com/v1alpha1`, the Bitnami CRD this controller serves.
pub fn api_resource() -> ApiResource {
    ApiResource {
        group: "bitnami.com".into(),
        version: "v1alpha1".into(),
        api_version: lockstep_sealed::API_VERSION.into(),
        kind: lockstep_sealed::KIND.into(),
        plural: "sealedsecrets".into(),
    }
}

/// Runs the controller until SIGTERM or Ctrl-C.
pub async fn run(ctx: Arc<Ctx>) {
    let resource = api_resource();
    let client = ctx.client.clone();
    let (sealed, secrets): (Api<SealedSecretObject>, Api<Secret>) = if ctx.all_namespaces {
        (Api::all_with(client.clone(), &resource), Api::all(client))
    } else {
        (
            Api::namespaced_with(client.clone(), &ctx.namespace, &resource),
            Api::namespaced(client, &ctx.namespace),
        )
    };
    Controller::new_with(sealed, watcher::Config::default(), resource)
        .owns(secrets, watcher::Config::default())
        .shutdown_on_signal()
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(|result| async move {
            if let Err(err) = result {
                tracing::debug!(error = %err, "reconcile did not complete");
            }
        })
        .await;
}
