//! What a controller loop yields, logged in one place. A watch that fails — an object that
//! does not deserialize, a list the controller may not make — used to be dropped by every
//! loop, so a broken watch went unseen; it is now a warning. A reconcile that did not
//! complete reports through its object's status, so it stays at debug.
//!
//! A deserialization error can quote the value it choked on, which may be data from the
//! object, so only its position is logged.

use kube::runtime::controller;
use kube::runtime::watcher;

/// Logs the outcome of one reconcile of a controller loop.
pub async fn log<T, R>(result: Result<T, controller::Error<R, watcher::Error>>)
where
    R: std::error::Error + 'static,
{
    match result {
        Ok(_) => {}
        Err(controller::Error::QueueError(err)) => failed(&err),
        Err(err) => tracing::debug!(error = %err, "reconcile did not complete"),
    }
}

/// Logs one failure of a watch (retried with backoff by the watcher).
pub fn failed(err: &watcher::Error) {
    let (during, source) = match err {
        watcher::Error::InitialListFailed(source) => ("listing", source),
        watcher::Error::WatchStartFailed(source) => ("starting the watch", source),
        watcher::Error::WatchFailed(source) => ("watching", source),
        other => {
            tracing::warn!(error = %other, "watch failed; retrying");
            return;
        }
    };
    match source {
        kube::Error::SerdeError(serde) => tracing::warn!(
            line = serde.line(),
            column = serde.column(),
            "watch failed while {during}: an object does not deserialize; retrying"
        ),
        other => tracing::warn!(error = %other, "watch failed while {during}; retrying"),
    }
}
