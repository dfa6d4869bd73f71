//! Flux's `GitRepository` and `Kustomization`, served unchanged (`--flux`): each is read
//! as the `GitSource` or `Sync` that does what it asks ([`convert`]) and handed to the same
//! reconcilers, with a [`SyncCtx`] whose front is [`Front::Flux`]: objects are labelled
//! `kustomize.toolkit.fluxcd.io/{name,namespace}`, status is written to the Flux resource in
//! Flux's format (`status.inventory` ids, `artifact.revision`), events name it, and its
//! finalizer is Flux's. One engine, one inventory: the Kustomization's own.
//!
//! A `HelmRelease` of a chart in a GitRepository is the `helm` Sync of that chart folder
//! ([`convert::helm_sync`]), reconciled with its own context (front [`Front::FluxHelm`]:
//! objects labelled `helm.toolkit.fluxcd.io/{name,namespace}`, status to the HelmRelease)
//! that reads the artifacts the GitRepository controller fetches. A chart of a
//! `HelmRepository` (or an `OCIRepository` its `chartRef` names) is the Sync of that chart,
//! fetched by the Sync path ([`crate::sync::chart`]) and rendered the same way; a change to
//! the repository wakes the HelmReleases that name it, their chart due again at once. Its `valuesFrom` (ConfigMaps and
//! Secrets) is read by the Sync path at each render and merged under its `values`; values
//! from Secrets reach the render only in memory and are learnt by its redactor.
//!
//! A Kustomization may read an `OCIRepository` too (`flux push artifact`): the Sync path
//! fetches its files ([`crate::sync::chart`]), and a change to it wakes the Kustomization.
//!
//! A Kustomization Lockstep cannot serve as written (another source kind, spec fields not
//! implemented yet) is `Stalled` naming them; so is a GitRepository `ref.name` other than
//! a branch or tag.

pub mod convert;
mod helm_repository;
pub mod history;
mod oci_repository;
mod repository_status;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::Controller;
use kube::runtime::controller::{Action, Config};
use kube::runtime::reflector::ObjectRef;
use lockstep_api::ObjectKey;
use lockstep_api::flux::{GitRepository, HelmRelease, Kustomization};

use crate::context::Watched;
use crate::sync::record::{self, Verdict};
use crate::sync::{Front, SyncCtx, chart, reconcile, source, status};

/// Runs the GitRepository, HelmRepository, OCIRepository and Kustomization controllers on
/// `ctx` (whose front is Flux's) and the HelmRelease controller on `helm` (which reads
/// `ctx`'s artifacts) until SIGTERM or Ctrl-C.
pub async fn run(ctx: Arc<SyncCtx>, helm: Arc<SyncCtx>) {
    debug_assert_eq!((ctx.front, helm.front), (Front::Flux, Front::FluxHelm));
    futures::future::join5(
        run_repositories(ctx.clone()),
        helm_repository::run(ctx.clone()),
        oci_repository::run(ctx.clone()),
        run_syncs(
            ctx,
            source_of,
            Some(watch_kustomization_repositories),
            reconcile_kustomization,
        ),
        run_syncs(
            helm,
            chart_source_of,
            Some(watch_chart_repositories),
            reconcile_helm_release,
        ),
    )
    .await;
}

async fn run_repositories(ctx: Arc<SyncCtx>) {
    let api: Api<GitRepository> = ctx.api();
    Controller::new(api, ctx.watcher_config())
        .shutdown_on_signal()
        .run(reconcile_repository, retry, ctx)
        .for_each(crate::watch::log)
        .await;
}

/// Adds the watches of the chart repositories a resource `K` names.
type ChartWatch<K> = fn(Controller<K>, &Arc<SyncCtx>, chart::RepositoryKinds) -> Controller<K>;

/// Runs the controller of the sync resource `K` (Kustomization or HelmRelease), waking
/// each when the GitRepository `source_of` it names changes; `watch` adds what else wakes
/// it.
async fn run_syncs<K, F>(
    ctx: Arc<SyncCtx>,
    source_of: fn(&K) -> ObjectKey,
    watch: Option<ChartWatch<K>>,
    reconcile: impl FnMut(Arc<K>, Arc<SyncCtx>) -> F,
) where
    K: Watched,
    F: std::future::Future<Output = Result<Action, record::Error>> + Send + 'static,
{
    let resources: Api<K> = ctx.api();
    let repositories: Api<GitRepository> = ctx.api();
    let controller = Controller::new(resources, ctx.watcher_config())
        .with_config(Config::default().concurrency(ctx.shared.concurrent));
    let store = controller.store();
    let controller = controller.watches(
        repositories,
        ctx.watcher_config(),
        move |repo: GitRepository| {
            let repo = ObjectKey::of(&repo);
            store
                .state()
                .into_iter()
                .filter(|resource| source_of(resource) == repo)
                .map(|resource| ObjectRef::from_obj(&*resource))
                .collect::<Vec<_>>()
        },
    );
    let controller = match watch {
        Some(watch) => watch(controller, &ctx, chart::RepositoryKinds::served(&ctx).await),
        None => controller,
    };
    controller
        .shutdown_on_signal()
        .run(reconcile, retry, ctx)
        .for_each(crate::watch::log)
        .await;
}

/// The GitRepository a HelmRelease's chart is in.
fn chart_source_of(hr: &HelmRelease) -> ObjectKey {
    reconcile::source_of(&convert::helm_sync(hr))
}

/// HelmReleases are also woken by the chart repositories they name.
fn watch_chart_repositories(
    controller: Controller<HelmRelease>,
    ctx: &Arc<SyncCtx>,
    kinds: chart::RepositoryKinds,
) -> Controller<HelmRelease> {
    let sync_of = |hr: &HelmRelease| Cow::Owned(convert::helm_sync(hr));
    chart::watch_repositories(controller, ctx, kinds, sync_of)
}

/// Kustomizations of an OCIRepository are also woken by it.
fn watch_kustomization_repositories(
    controller: Controller<Kustomization>,
    ctx: &Arc<SyncCtx>,
    kinds: chart::RepositoryKinds,
) -> Controller<Kustomization> {
    let sync_of = |ks: &Kustomization| Cow::Owned(convert::sync(ks));
    chart::watch_repositories(controller, ctx, kinds, sync_of)
}

/// The GitRepository a Kustomization reads (in its own namespace unless `sourceRef` names
/// one).
fn source_of(ks: &Kustomization) -> ObjectKey {
    let reference = &ks.spec.source_ref;
    let namespace = reference.namespace.as_deref();
    let namespace = namespace
        .or(ks.metadata.namespace.as_deref())
        .unwrap_or_default();
    ObjectKey::new(namespace, &reference.name)
}

/// Fetches what a GitRepository asks, as a GitSource, after removing what Flux's
/// source-controller left in its status and Lockstep would leave stale.
async fn reconcile_repository(
    repo: Arc<GitRepository>,
    ctx: Arc<SyncCtx>,
) -> Result<Action, source::Error> {
    if let Some(patch) = convert::flux_leftovers(&repo) {
        status::patch_flux_repository(&ctx, &repo, &patch)
            .await
            .map_err(|source| source::Error::WriteStatus {
                name: ObjectKey::of(&*repo),
                source,
            })?;
    }
    match convert::git_source(&repo) {
        (source, None) => source::reconcile(Arc::new(source), ctx).await,
        (source, Some(refusal)) => {
            let status = source.status.clone().unwrap_or_default();
            source::stalled(&ctx, &source, status, refusal).await
        }
    }
}

/// Applies what a Kustomization asks, as a Sync.
async fn reconcile_kustomization(
    ks: Arc<Kustomization>,
    ctx: Arc<SyncCtx>,
) -> Result<Action, record::Error> {
    ctx.histories.see(&ks);
    let mut sync = convert::sync(&ks);
    if ks.metadata.deletion_timestamp.is_none()
        && let Some(refusal) = convert::refusal(&ks)
    {
        record::record(&mut sync, &ctx, Verdict::Stalled(refusal)).await?;
        return Ok(Action::await_change());
    }
    reconcile::reconcile(Arc::new(sync), ctx).await
}

/// Applies what a HelmRelease asks, as a helm Sync (whose `valuesFrom` the Sync path reads).
async fn reconcile_helm_release(
    hr: Arc<HelmRelease>,
    ctx: Arc<SyncCtx>,
) -> Result<Action, record::Error> {
    let mut sync = convert::helm_sync(&hr);
    if hr.metadata.deletion_timestamp.is_none()
        && let Some(refusal) = convert::helm_refusal(&hr)
    {
        record::record(&mut sync, &ctx, Verdict::Stalled(refusal)).await?;
        return Ok(Action::await_change());
    }
    reconcile::reconcile(Arc::new(sync), ctx).await
}

/// Retries a reconcile that could not write to its resource after 5 seconds.
fn retry<K>(_object: Arc<K>, error: &impl std::fmt::Display, _ctx: Arc<SyncCtx>) -> Action {
    tracing::warn!(%error, "Flux resource reconcile failed; retrying in 5s");
    Action::requeue(Duration::from_secs(5))
}
