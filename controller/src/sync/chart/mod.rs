//! A Sync whose source is a chart of a Helm repository: `sourceRef` names a Flux
//! `HelmRepository` (`source.toolkit.fluxcd.io/v1`, the kind Lockstep's own Syncs and
//! Flux's HelmReleases both read) and `helm.chart`/`helm.version` the chart. Before each
//! reconcile that is due, the repository is read, its credentials (`secretRef`:
//! `username`/`password`) and CA (`certSecretRef`: `ca.crt`) from Secrets of its namespace,
//! and the engine fetches the chart version ([`Fetcher::fetch_chart`]) into an in-memory
//! artifact of the Sync's own ([`source_key`]); the render reads it like any other. Only the
//! index is read again once a version is unpacked, and a wake-up within the interval (the
//! Sync's own status write) does not read even that.
//!
//! `sourceRef` may instead name a Flux `OCIRepository` (what a HelmRelease's `chartRef`
//! names): its `url` is the chart's registry repository and its `ref` the tag, semver
//! range or digest; the artifact is then the chart's folder itself. Without a `helm` block
//! (a Flux Kustomization's `sourceRef`), the OCIRepository's artifact is files (`flux push
//! artifact`): its layer (`layerSelector.mediaType`, else the first) unpacked, and the
//! Sync's `path` read inside it like a GitSource's.
//!
//! An Argo CD Application's `source.chart` is fetched by [`fetch_into`] too, with its
//! repository Secret's credentials.
//!
//! What cannot be fetched leaves the last artifact and what is applied in place: the Sync
//! is `Ready=False ArtifactFailed` naming the repository (URL without credentials, every
//! Secret value scrubbed) and the step.
//!
//! The repositories themselves are read by [`repository`].
//!
//! [`Fetcher::fetch_chart`]: lockstep_engine::fetch::Fetcher::fetch_chart

mod repository;

use std::borrow::Cow;
use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::Controller;
use kube::runtime::reflector::ObjectRef;
use lockstep_api::flux::{HelmRepository, OCIRepository};
use lockstep_api::{ObjectKey, REQUESTED_AT_ANNOTATION, Sync};
use lockstep_engine::fetch::{Artifact, ChartError, ChartRepository, FetchedChart, OciContent};
use lockstep_engine::redact::Redactor;

pub(crate) use repository::{
    Found, Refusal, dependency_repositories, missing, oci_target, read_repository,
};
use repository::{read_helm_repository, read_oci_repository};

use super::conditions::Reason;
use super::record::Verdict;
use super::{ChartRequest, SyncCtx};
use crate::context::{Namespaced, Watched};

/// The `sourceRef.kind` of a chart of a Helm repository.
pub const HELM_REPOSITORY: &str = "HelmRepository";

/// The `sourceRef.kind` of the chart an OCIRepository names.
pub const OCI_REPOSITORY: &str = "OCIRepository";

/// Whether `sync` takes a chart of a Helm repository or an OCIRepository.
pub fn from_repository(sync: &Sync) -> bool {
    matches!(
        sync.spec.source_ref.kind.as_str(),
        HELM_REPOSITORY | OCI_REPOSITORY
    )
}

/// The in-memory source a repository chart's artifact is kept under: named after the
/// Sync with a `/`, which no object name has, so it never meets a GitSource's.
pub fn source_key(sync: &Sync) -> ObjectKey {
    ObjectKey::new(
        sync.namespace().unwrap_or_default(),
        format!("{}/chart", sync.name_any()),
    )
}

/// The HelmRepository or OCIRepository `sync` names (in its own namespace unless
/// `sourceRef` names one).
pub fn repository_key(sync: &Sync) -> ObjectKey {
    let reference = &sync.spec.source_ref;
    let namespace = reference.namespace.clone();
    ObjectKey::new(
        namespace.unwrap_or_else(|| sync.namespace().unwrap_or_default()),
        &reference.name,
    )
}

/// Which chart repository kinds the cluster serves (their CRDs installed and readable),
/// asked once at start: a watch of a kind it does not serve would fail at every retry, and
/// a controller's failing trigger backs off all its triggers, its own objects' too.
#[derive(Clone, Copy, Debug, Default)]
pub struct RepositoryKinds {
    helm: bool,
    oci: bool,
}

impl RepositoryKinds {
    /// Asks the API server.
    pub async fn served(ctx: &SyncCtx) -> Self {
        async fn served<R>(ctx: &SyncCtx) -> bool
        where
            R: Namespaced,
        {
            let api: Api<R> = ctx.api();
            let one = kube::api::ListParams::default().limit(1);
            let served = api.list_metadata(&one).await.is_ok();
            if !served {
                let kind = R::kind(&());
                tracing::info!(%kind, "not served here: its changes wake nothing until a restart");
            }
            served
        }
        Self {
            helm: served::<HelmRepository>(ctx).await,
            oci: served::<OCIRepository>(ctx).await,
        }
    }
}

/// Adds to `controller` (of Syncs, or of a front's resources, each read as the Sync
/// `sync_of` gives) watches of the HelmRepositories and OCIRepositories they name, of the
/// kinds the cluster serves.
pub fn watch_repositories<K>(
    controller: Controller<K>,
    ctx: &Arc<SyncCtx>,
    kinds: RepositoryKinds,
    sync_of: fn(&K) -> Cow<'_, Sync>,
) -> Controller<K>
where
    K: Watched,
{
    let mut controller = controller;
    if kinds.helm {
        controller = watch_repository::<K, HelmRepository>(controller, ctx, sync_of);
    }
    if kinds.oci {
        controller = watch_repository::<K, OCIRepository>(controller, ctx, sync_of);
    }
    controller
}

/// Wakes the resources whose chart comes from a changed repository of kind `R` (its spec,
/// or the revision its status reports), their chart due again at once rather than at their
/// interval, as Flux's helm-controller follows its chart source.
fn watch_repository<K, R>(
    controller: Controller<K>,
    ctx: &Arc<SyncCtx>,
    sync_of: fn(&K) -> Cow<'_, Sync>,
) -> Controller<K>
where
    K: Watched,
    R: Watched,
{
    let (store, due) = (controller.store(), ctx.clone());
    let repositories: Api<R> = ctx.api();
    controller.watches(repositories, ctx.watcher_config(), move |repo: R| {
        let (kind, repo) = (R::kind(&()), ObjectKey::of(&repo));
        let mut woken = Vec::new();
        for resource in store.state() {
            let sync = sync_of(&resource);
            if sync.spec.source_ref.kind == kind && repository_key(&sync) == repo {
                due.chart_due(&source_key(&sync));
                woken.push(ObjectRef::from_obj(&*resource));
            }
        }
        woken
    })
}

/// Fetches `sync`'s repository chart into its artifact, unless it takes none or it was
/// fetched for this generation and reconcile request within `interval`.
///
/// # Errors
/// The [`Verdict`] to record instead of applying: `Stalled` for what only an edit fixes
/// (an unserved field, a refused cross-namespace reference, no chart named), `Waiting` for
/// the rest.
pub async fn fetch(sync: &Sync, ctx: &SyncCtx, interval: Duration) -> Result<(), Verdict> {
    if !from_repository(sync) {
        return Ok(());
    }
    let key = source_key(sync);
    let requested = sync.annotations().get(REQUESTED_AT_ANNOTATION).cloned();
    let request = (sync.metadata.generation, requested);
    if ctx.artifact(&key).is_some() && ctx.chart_fresh(&key, &request, interval) {
        return Ok(());
    }
    let kind = sync.spec.source_ref.kind.as_str();
    let repo_key = repository_key(sync);
    if ctx.no_cross_namespace_refs && Some(&repo_key.namespace) != sync.namespace().as_ref() {
        return Err(Verdict::Stalled(format!(
            "sourceRef {kind} {repo_key} is in another namespace, which this controller \
             refuses"
        )));
    }
    let helm = sync.spec.helm.as_ref();
    let named = helm
        .and_then(|h| h.chart.as_deref())
        .filter(|c| !c.is_empty());
    let wanted = if kind == OCI_REPOSITORY {
        let version = helm.and_then(|h| h.version.as_deref());
        if named.is_some() || version.is_some() {
            return Err(Verdict::Stalled(
                "sourceRef is an OCIRepository: set spec.helm without chart and version (the \
                 OCIRepository's url and ref name them), or no spec.helm for its files"
                    .into(),
            ));
        }
        None
    } else {
        let Some(chart) = named else {
            return Err(Verdict::Stalled(
                "sourceRef is a HelmRepository: spec.helm.chart must name the chart".into(),
            ));
        };
        let version = helm.and_then(|h| h.version.as_deref()).unwrap_or("*");
        Some((chart, version))
    };
    let waiting = |message: String| Verdict::Waiting {
        reason: Reason::ArtifactFailed,
        message: format!("{kind} {repo_key}: {message}"),
    };
    let mut redactor = Redactor::new();
    let found = match wanted {
        Some((chart, version)) => {
            read_helm_repository(ctx, &repo_key, chart, version, &mut redactor).await
        }
        None => read_oci_repository(ctx, &repo_key, &mut redactor).await,
    };
    let Found {
        target,
        chart,
        version,
        folder,
        layer_media_type,
        suspended,
    } = match found {
        Err(Refusal::Stalled(message)) => {
            return Err(Verdict::Stalled(format!("{kind} {repo_key}: {message}")));
        }
        Err(Refusal::Waiting(message)) => return Err(waiting(message)),
        Ok(found) => found,
    };
    if suspended {
        return match ctx.artifact(&key) {
            Some(_) => Ok(()),
            None => Err(waiting("suspended".into())),
        };
    }
    // The engine's chart fetch reads HTTP repositories and OCI registries alike; only an
    // OCIRepository's files need the OCI fetch itself.
    let files = kind == OCI_REPOSITORY && helm.is_none();
    let mut artifact = if files {
        let content = OciContent::Files(layer_media_type);
        fetch_oci(ctx, &target, &chart, &version, content, &redactor).await
    } else {
        fetch_chart(ctx, &target, &chart, &version, &redactor).await
    }
    .map_err(waiting)?;
    if let Some(folder) = folder.filter(|_| !files) {
        artifact.path.push(folder);
    }
    ctx.set_artifact(key.clone(), artifact);
    ctx.chart_fetched(key, request);
    Ok(())
}

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
    let artifact = fetch_chart(ctx, repository, chart, version, redactor).await?;
    ctx.set_artifact(key.clone(), artifact);
    ctx.chart_fetched(key, request);
    Ok(())
}

/// What `content` asks of the OCI artifact `reference` at `version` from `repository`.
///
/// # Errors
/// What failed, scrubbed by `redactor`.
pub(crate) async fn fetch_oci(
    ctx: &SyncCtx,
    repository: &ChartRepository,
    reference: &str,
    version: &str,
    content: OciContent,
    redactor: &Redactor,
) -> Result<Artifact, String> {
    let fetched = ctx
        .fetcher
        .fetch_oci(repository, reference, version, content);
    scrubbed(fetched.await, redactor)
}

/// The artifact of `chart` at `version` from `repository`: the folder holding the chart's
/// folder.
///
/// # Errors
/// What failed, scrubbed by `redactor`.
pub(crate) async fn fetch_chart(
    ctx: &SyncCtx,
    repository: &ChartRepository,
    chart: &str,
    version: &str,
    redactor: &Redactor,
) -> Result<Artifact, String> {
    scrubbed(
        ctx.fetcher.fetch_chart(repository, chart, version).await,
        redactor,
    )
}

/// The artifact fetched, or why not, every value `redactor` knows scrubbed from it.
fn scrubbed(
    fetched: Result<FetchedChart, ChartError>,
    redactor: &Redactor,
) -> Result<Artifact, String> {
    fetched
        .map(|fetched| fetched.artifact)
        .map_err(|err| redactor.scrub(&err.to_string()))
}
