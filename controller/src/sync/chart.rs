//! A chart of a Helm repository fetched into an in-memory artifact, for the front-ends
//! whose resources name one (a Flux HelmRelease's HelmRepository, an Argo CD Application's
//! `source.chart`): the engine fetches it ([`lockstep_engine::fetch::Fetcher::fetch_chart`]),
//! the artifact is kept under the key the front's Sync reads, and the fetch is noted so
//! that a wake-up within the interval does not read the index again
//! ([`SyncCtx::chart_fresh`]).

use lockstep_api::ObjectKey;
use lockstep_engine::fetch::ChartRepository;
use lockstep_engine::redact::Redactor;

use super::{ChartRequest, SyncCtx};

/// Fetches `chart` at `version` from `repository` as the artifact of `key`, for
/// `request`.
///
/// # Errors
/// What failed, naming the repository URL without credentials; every value `redactor`
/// knows is scrubbed from it.
pub async fn fetch_into(
    ctx: &SyncCtx,
    key: ObjectKey,
    request: ChartRequest,
    repository: &ChartRepository,
    chart: &str,
    version: &str,
    redactor: &Redactor,
) -> Result<(), String> {
    let fetched = ctx
        .fetcher
        .fetch_chart(repository, chart, version)
        .await
        .map_err(|err| redactor.scrub(&err.to_string()))?;
    ctx.set_artifact(key.clone(), fetched.artifact);
    ctx.chart_fetched(key, request);
    Ok(())
}
