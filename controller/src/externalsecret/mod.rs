//! The ExternalSecret controller: serves the External Secrets Operator's
//! `external-secrets.io/v1` ExternalSecrets unchanged, against ESO's own CRDs or
//! Lockstep's. It watches ExternalSecrets in every namespace (with `--all-namespaces=false`
//! its own and `--additional-namespaces`, as ESO's `--namespace`) and the Secrets ESO's `managed` label
//! marks, and keeps each target Secret equal to what ESO v0.16.2 would write (the
//! semantics live in `lockstep-eso`; this module does the Kubernetes I/O).

mod reconcile;
mod status;

use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use lockstep_api::ExternalSecret;
use lockstep_api::external_secrets::ESO_MANAGED_LABEL;
use lockstep_eso::fetch::targets;

/// What every reconcile shares: the controller's one [`crate::context::Ctx`], plus the
/// ExternalSecret side's own event recorder.
pub struct Ctx {
    /// What every part of the controller shares (the client).
    shared: Arc<crate::context::Ctx>,
    /// Publishes events as `external-secrets`, the component name ESO uses.
    recorder: Recorder,
}

/// Runs the controller until SIGTERM or Ctrl-C: one watch over every namespace, or, with
/// `--all-namespaces=false`, one per watched namespace (the controller's own and
/// `--additional-namespaces`), as ESO's `--namespace` scopes it.
pub async fn run(shared: Arc<crate::context::Ctx>) {
    let reporter = Reporter {
        controller: "external-secrets".into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let client = shared.client.clone();
    let ctx = Arc::new(Ctx {
        recorder: Recorder::new(client.clone(), reporter),
        shared,
    });
    let Some(namespaces) = ctx.shared.watched_namespaces() else {
        return run_for(Api::all(client.clone()), Api::all(client), ctx).await;
    };
    let controllers = namespaces.iter().map(|namespace| {
        run_for(
            Api::namespaced(client.clone(), namespace),
            Api::namespaced(client.clone(), namespace),
            ctx.clone(),
        )
    });
    futures::future::join_all(controllers).await;
}

async fn run_for(externalsecrets: Api<ExternalSecret>, secrets: Api<Secret>, ctx: Arc<Ctx>) {
    let managed = watcher::Config::default().labels(&format!("{ESO_MANAGED_LABEL}=true"));
    let controller = Controller::new(externalsecrets, watcher::Config::default());
    let store = controller.store();
    controller
        .watches(secrets, managed, move |secret: Secret| {
            store
                .state()
                .into_iter()
                .filter(|es| targets(es, &secret))
                .map(|es| ObjectRef::from_obj(&*es))
                .collect::<Vec<_>>()
        })
        .shutdown_on_signal()
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(crate::watch::log)
        .await;
}
