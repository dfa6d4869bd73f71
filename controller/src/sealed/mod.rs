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
use kube::runtime::{Controller, controller, watcher};
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

/// Runs the controller until SIGTERM or Ctrl-C: one watch over every namespace, or, with
/// `--all-namespaces=false`, one per namespace (the controller's own and
/// `--additional-namespaces`), as upstream runs one informer per namespace.
pub async fn run(ctx: Arc<Ctx>) {
    let Some(namespaces) = ctx.watched_namespaces() else {
        let resource = api_resource();
        let sealed = Api::all_with(ctx.client.clone(), &resource);
        let secrets = Api::all(ctx.client.clone());
        return run_for(sealed, secrets, ctx).await;
    };
    let controllers = namespaces.iter().map(|namespace| {
        let sealed = Api::namespaced_with(ctx.client.clone(), namespace, &api_resource());
        let secrets = Api::namespaced(ctx.client.clone(), namespace);
        run_for(sealed, secrets, ctx.clone())
    });
    futures::future::join_all(controllers).await;
}

async fn run_for(sealed: Api<SealedSecretObject>, secrets: Api<Secret>, ctx: Arc<Ctx>) {
    let config = controller::Config::default().concurrency(ctx.concurrent);
    Controller::new_with(sealed, watcher::Config::default(), api_resource())
        .with_config(config)
        .owns(secrets, watcher::Config::default())
        .shutdown_on_signal()
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(crate::watch::log)
        .await;
}
