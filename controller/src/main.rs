//! `lockstep-controller`: runs in the cluster. It keeps the cluster in step with Git
//! (`GitSource` and `Sync`, see [`sync`]) and is a drop-in for the Bitnami sealed-secrets
//! controller: it owns the sealing keys, unseals `bitnami.com/v1alpha1` SealedSecrets into
//! Secrets and serves the certificate and re-encryption API that `kubeseal` and
//! `lockstep seal` talk to. With `--external-secrets` it also serves the External Secrets
//! Operator's ExternalSecrets ([`externalsecret`]); with `--receivers`, Flux's webhook
//! Receivers ([`receiver`]); with `--alerts`, Flux's Alerts and Providers ([`alert`]).
//!
//! This file only reads flags, builds the shared [`context::Ctx`] and starts the parts.

mod alert;
mod argocd;
mod context;
mod event;
mod externalsecret;
mod flags;
mod flux;
mod http;
mod keyring;
mod metrics;
mod receiver;
mod sealed;
mod shutdown;
mod sync;
mod ui;
mod watch;

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use clap::Parser;

/// How long the runtime waits, once the controllers have stopped, for blocking work still
/// running (a decrypt or a re-seal whose reconcile or request was given up). Such work
/// holds no state worth finishing: the process exits without it.
const BLOCKING_GRACE: Duration = Duration::from_millis(500);

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let result = runtime.block_on(run());
    // Dropping the runtime would wait for every `spawn_blocking` task to finish.
    runtime.shutdown_timeout(BLOCKING_GRACE);
    result
}

async fn run() -> anyhow::Result<()> {
    let flags = flags::Flags::parse();
    flags::init_logging(flags.log_format, flags.log_level);

    // The config is kept: a Sync's client impersonating its ServiceAccount is made from it.
    let config = kube::Config::infer()
        .await
        .context("reading the Kubernetes config (in-cluster config or KUBECONFIG)")?;
    let client = kube::Client::try_from(config.clone())
        .context("connecting to the Kubernetes API (in-cluster config or KUBECONFIG)")?;
    let ctx = Arc::new(context::Ctx::new(client, &flags));

    keyring::init(&ctx)
        .await
        .context("loading or creating the sealing keys")?;

    tokio::spawn(shutdown::bound(flags.shutdown_grace));
    let renewal = tokio::spawn(keyring::renew_forever(ctx.clone()));
    let api = tokio::spawn(http::serve_api(ctx.clone(), flags.listen_addr));
    let metrics = tokio::spawn(http::serve_metrics(ctx.clone(), flags.listen_metrics_addr));
    let front = |front| sync::SyncCtx::new(ctx.clone(), config.clone(), &flags, front);
    let sync_ctx = flags.sync.then(|| Arc::new(front(sync::Front::Lockstep)));
    let ui = flags.listen_ui_addr.map(|addr| {
        let kinds = ui::Kind::served(flags.external_secrets, flags.flux, flags.argocd);
        let serve = ui::serve(ctx.clone(), sync_ctx.clone(), config.clone(), addr, kinds);
        tokio::spawn(serve)
    });

    let syncs = sync_ctx.map(|sync_ctx| {
        let peers = sync::Peers {
            flux: flags.flux.then(|| {
                let flux = front(sync::Front::Flux);
                let helm = front(sync::Front::FluxHelm).reading_sources_of(&flux);
                (Arc::new(flux), Arc::new(helm))
            }),
            argocd: flags.argocd.then(|| Arc::new(front(sync::Front::ArgoCd))),
        };
        let namespace = flags.namespace.clone();
        let leader_elect = flags.leader_elect;
        tokio::spawn(async move { sync::run(sync_ctx, peers, &namespace, leader_elect).await })
    });

    let externalsecrets = flags
        .external_secrets
        .then(|| tokio::spawn(externalsecret::run(ctx.clone())));

    if flags.alerts {
        tokio::spawn(alert::run(ctx.clone()));
    }
    let receivers = flags
        .receivers
        .then(|| tokio::spawn(receiver::run(ctx.clone(), flags.flux, flags.receiver_addr)));

    sealed::run(ctx).await;
    if let Some(receivers) = receivers {
        let _ = receivers.await;
    }
    if let Some(externalsecrets) = externalsecrets {
        let _ = externalsecrets.await;
    }
    if let Some(syncs) = syncs {
        // Both controllers stop on the same signal; let the sync side give its lease up.
        let _ = syncs.await;
    }

    renewal.abort();
    api.abort();
    metrics.abort();
    if let Some(ui) = ui {
        ui.abort();
    }
    Ok(())
}
