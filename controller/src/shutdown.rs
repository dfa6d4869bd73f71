//! Stopping: the signal every controller stops on, and a bound on how long stopping may
//! take.
//!
//! kube-runtime's graceful shutdown waits for every reconcile in flight. Most of ours give
//! up their work when the signal arrives, but a reconcile stuck in a call with a long
//! timeout (a Git fetch from a server that accepts and never answers, with a GitSource
//! `timeout` of an hour) would hold the process: Kubernetes kills it after its grace
//! period anyway, while anywhere else it would hang. So after `--shutdown-grace` the
//! process exits whatever is still running; nothing is lost by it, since every apply
//! records its inventory before its first write and the next start finishes it.

use std::time::Duration;

/// Resolves on SIGTERM or Ctrl-C, the signals `shutdown_on_signal` stops the controllers
/// on.
pub async fn requested() {
    use tokio::signal::unix::{SignalKind, signal};
    let terminate = async {
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                term.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        () = terminate => {}
    }
}

/// Once stopping is asked for, waits `grace` and then ends the process, naming what it
/// gave up on.
pub async fn bound(grace: Duration) {
    requested().await;
    tokio::time::sleep(grace).await;
    tracing::error!(
        "still stopping {grace:?} after the signal: exiting without the reconciles in flight \
         (--shutdown-grace)"
    );
    std::process::exit(1);
}
