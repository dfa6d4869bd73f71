//! What the HelmRepository and OCIRepository status controllers share: their loop, the
//! artifact they report, its status write and the retry of a failed one.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use jiff::Timestamp;
use kube::Resource;
use kube::api::Api;
use kube::runtime::Controller;
use kube::runtime::controller::Action;
use lockstep_api::ObjectKey;
use lockstep_api::flux::Artifact;
use serde::Serialize;

use crate::context::{Namespaced, Watched};
use crate::sync::{SyncCtx, source, status};

/// Runs the status controller of repository kind `K` on `ctx` until SIGTERM or Ctrl-C.
pub async fn run<K, F>(ctx: Arc<SyncCtx>, reconcile: fn(Arc<K>, Arc<SyncCtx>) -> F)
where
    K: Watched,
    F: std::future::Future<Output = Result<Action, source::Error>> + Send + 'static,
{
    let api: Api<K> = ctx.api();
    Controller::new(api, ctx.watcher_config())
        .shutdown_on_signal()
        .run(reconcile, retry, ctx)
        .for_each(crate::watch::log)
        .await;
}

/// The artifact of `revision`: `previous` when it is that revision already (so its time
/// does not move), else a new one of now. Lockstep serves no artifact tarball: `url` and
/// `path` are empty.
pub fn artifact(previous: Option<&Artifact>, revision: String, digest: Option<String>) -> Artifact {
    let kept = previous.filter(|a| a.revision == revision).cloned();
    kept.unwrap_or_else(|| Artifact {
        path: String::new(),
        url: String::new(),
        digest,
        revision,
        last_update_time: Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
    })
}

/// Writes `repo`'s status `next` when it differs from `previous`.
pub async fn write<K, S>(
    ctx: &SyncCtx,
    repo: &K,
    previous: &S,
    next: &S,
) -> Result<(), source::Error>
where
    K: Namespaced,
    S: Serialize + PartialEq,
{
    status::write(ctx, repo, previous, next)
        .await
        .map_err(|source| source::Error::WriteStatus {
            name: ObjectKey::of(repo),
            source,
        })
}

/// Retries a failed status write after 5 seconds.
fn retry<K: Resource<DynamicType = ()>>(
    _repo: Arc<K>,
    error: &source::Error,
    _ctx: Arc<SyncCtx>,
) -> Action {
    let kind = K::kind(&());
    tracing::warn!(%error, %kind, "repository status reconcile failed; retrying in 5s");
    Action::requeue(Duration::from_secs(5))
}
