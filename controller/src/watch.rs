//! What a controller loop yields, logged in one place. A watch that fails — an object that
//! does not deserialize, a list the controller may not make — used to be dropped by every
//! loop, so a broken watch went unseen; it is now a warning. A reconcile that did not
//! complete reports through its object's status, so it stays at debug.
//!
//! A deserialization error can quote the value it choked on, which may be data from the
//! object, so only its position is logged.

use futures::StreamExt;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, controller, watcher};

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

/// A store of `api`'s objects, kept up to date in the background; a failing watch is
/// logged ([`failed`]) and retried with backoff.
pub fn reflected<K>(api: kube::Api<K>) -> Store<K>
where
    K: kube::Resource<DynamicType = ()>
        + Clone
        + serde::de::DeserializeOwned
        + std::fmt::Debug
        + Send
        + Sync
        + 'static,
{
    let (store, writer) = reflector::store();
    let stream = watcher(api, watcher::Config::default())
        .default_backoff()
        .reflect(writer)
        .for_each(|event| async move {
            if let Err(err) = event {
                failed(&err);
            }
        });
    tokio::spawn(stream);
    store
}
