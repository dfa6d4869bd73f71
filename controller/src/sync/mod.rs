//! The Git sync controllers: [`lockstep_api::GitSource`] (poll a repository, keep the
//! artifact of its newest revision) and [`lockstep_api::Sync`] (apply a path of that
//! artifact, prune, check health, report). Both run only on the replica that holds the
//! leader Lease, so two replicas never reconcile at once.
//!
//! The two share this process, so a GitSource hands its artifact to the Syncs through
//! memory ([`SyncCtx::artifact`]) rather than over HTTP as Flux's controllers do; a new
//! revision wakes every Sync that points at the source, and a changed HelmRepository or
//! OCIRepository every Sync whose chart it holds ([`chart::watch_repositories`]).

pub(crate) mod chart;
mod cluster_secret;
pub(crate) mod conditions;
mod decide;
mod dependencies;
mod drift;
mod finalize;
mod front;
mod health;
mod held;
mod helm_records;
mod hooks;
mod intervals;
mod lease;
pub mod namespace;
mod pin;
pub mod preview;
pub(crate) mod reconcile;
pub(crate) mod record;
mod secrets;
pub(crate) mod source;
pub(crate) mod status;
mod target;
mod values;
mod variables;

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::controller::Config;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, watcher};
use lockstep_api::{GitSource, ObjectKey, Sync};
use lockstep_engine::apply::KindCache;
use lockstep_engine::fetch::{Artifact, Fetcher};
use lockstep_engine::health::Probe;

use crate::context::Ctx;
use crate::context::Namespaced;
use crate::flags::Flags;
pub use front::Front;
use intervals::{FieldError, PerGeneration, SourceIntervals, SyncIntervals};

/// What both sync controllers share: the controller's one [`Ctx`] (client, metrics, own
/// namespace), plus what only the sync side needs. The sync side keeps its own event
/// recorder: its events come from `lockstep-controller`, the SealedSecret controller's
/// from `sealed-secrets`, as upstream's do.
pub struct SyncCtx {
    /// What every part of the controller shares.
    pub shared: Arc<Ctx>,
    /// Which resources this context's controllers serve.
    pub front: Front,
    /// Clients of that cluster impersonating a Sync's ServiceAccount ([`target`]).
    pub identities: target::Identities,
    /// `--default-service-account`: impersonated for Syncs that name no ServiceAccount.
    pub default_service_account: Option<String>,
    /// The Git cache, shared by every GitSource.
    pub fetcher: Fetcher,
    /// Publishes events as `lockstep-controller`.
    pub recorder: Recorder,
    /// How soon a Sync waiting for a dependency or a source looks again.
    pub requeue_dependency: Duration,
    /// Refuse `sourceRef`s and `dependsOn` entries in other namespaces.
    pub no_cross_namespace_refs: bool,
    /// Label selector limiting which GitSources and Syncs this replica handles (sharding).
    pub selector: Option<String>,
    /// Health reads, with each kind's API remembered across reconciles.
    pub probe: Probe,
    /// What each Sync's rollout has seen current, not read again while it goes on.
    pub rollouts: health::Rollouts,
    /// Each Sync's first look after an apply, written at the next look.
    pub held: held::Held,
    /// Kinds resolved by discovery, shared by every apply to the local cluster.
    pub kinds: Arc<KindCache>,
    /// Each Sync's durations, parsed once per generation.
    pub sync_intervals: PerGeneration<Result<SyncIntervals, FieldError>>,
    /// Each GitSource's durations, parsed once per generation.
    pub source_intervals: PerGeneration<Result<SourceIntervals, FieldError>>,
    /// How often an Argo CD Application is fetched and compared (`--argocd-interval`).
    pub argocd_interval: Duration,
    /// The Lockstep status of each Argo CD Application's Sync and GitSource.
    pub memory: crate::argocd::convert::Memory,
    /// Each Flux Kustomization's `status.history`.
    pub histories: crate::flux::history::Histories,
    /// The newest artifact of each GitSource.
    artifacts: Arc<Mutex<HashMap<ObjectKey, Artifact>>>,
    /// What each Sync looked like when last handled, and when it is due again.
    settled: Mutex<HashMap<ObjectKey, (Seen, Instant)>>,
    /// When each Sync with Vault/KMS references must resolve them again.
    refresh: Mutex<HashMap<ObjectKey, Instant>>,
    /// When each repository chart (or HelmRepository index) was last fetched, and for
    /// what request.
    charts: Mutex<HashMap<ObjectKey, (ChartRequest, Instant)>>,
    /// How many times in a row each Sync's apply failed, for its retry backoff.
    failures: Mutex<HashMap<ObjectKey, u32>>,
}

/// What a repository chart was fetched for: the HelmRelease's generation and reconcile
/// request (`flux reconcile`), so either asks for a fetch again at once.
pub type ChartRequest = (Option<i64>, Option<String>);

/// What decides whether a Sync needs work: its spec generation, its annotations
/// (`requestedAt`, `approvedRevision`) and its source's revision. The watch wakes a Sync
/// for its own status writes too; those change none of these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Seen {
    generation: Option<i64>,
    annotations: BTreeMap<String, String>,
    revision: String,
}

impl Seen {
    /// What `sync` looks like now, with its source at `revision`.
    pub fn new(sync: &Sync, revision: String) -> Self {
        Self {
            generation: sync.metadata.generation,
            annotations: sync.metadata.annotations.clone().unwrap_or_default(),
            revision,
        }
    }
}

impl SyncCtx {
    /// Builds the sync side's context for `front` onto the shared one, from the flags.
    /// Each front keeps its own artifacts and schedule (a `GitSource` and a `GitRepository`
    /// may share a name) in a Git cache of its own.
    pub fn new(shared: Arc<Ctx>, config: kube::Config, flags: &Flags, front: Front) -> Self {
        let artifact_dir = match front {
            Front::Lockstep => flags.artifact_dir.clone(),
            Front::Flux | Front::FluxHelm => flags.artifact_dir.join("flux"),
            Front::ArgoCd => flags.artifact_dir.join("argocd"),
        };
        let reporter = Reporter {
            controller: "lockstep-controller".into(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(shared.client.clone(), reporter),
            shared,
            front,
            identities: target::Identities::new(config),
            default_service_account: flags.default_service_account.clone(),
            fetcher: Fetcher::new(&artifact_dir, flags.artifact_keep),
            requeue_dependency: flags.requeue_dependency,
            no_cross_namespace_refs: flags.no_cross_namespace_refs,
            selector: flags.watch_label_selector.clone(),
            probe: Probe::default(),
            rollouts: health::Rollouts::default(),
            held: held::Held::default(),
            kinds: Arc::default(),
            sync_intervals: PerGeneration::default(),
            source_intervals: PerGeneration::default(),
            argocd_interval: flags.argocd_interval,
            memory: crate::argocd::convert::Memory::default(),
            histories: crate::flux::history::Histories::default(),
            artifacts: Arc::default(),
            settled: Mutex::new(HashMap::new()),
            refresh: Mutex::new(HashMap::new()),
            charts: Mutex::new(HashMap::new()),
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// This context reading the artifacts `sources` fetches (Flux's HelmReleases read the
    /// GitRepositories Flux's front fetches), from the same Git cache.
    pub fn reading_sources_of(self, sources: &SyncCtx) -> Self {
        Self {
            fetcher: sources.fetcher.clone(),
            artifacts: sources.artifacts.clone(),
            ..self
        }
    }

    /// How long until Sync `key` is due, if it was handled looking as it does now and is
    /// not due yet: then a wake-up (its own status write) has nothing to do.
    pub fn not_due(&self, key: &ObjectKey, seen: &Seen) -> Option<Duration> {
        let settled = self.settled.lock().unwrap_or_else(|e| e.into_inner());
        let (then, due) = settled.get(key)?;
        (then == seen)
            .then(|| due.checked_duration_since(Instant::now()))
            .flatten()
    }

    /// Notes that Sync `key`, looking like `seen`, is next due after `wait`.
    pub fn due_in(&self, key: ObjectKey, seen: Seen, wait: Duration) {
        self.settled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(key, (seen, Instant::now() + wait));
    }

    /// How long until Sync `key` must resolve its references again (zero: now), if it
    /// has any.
    pub fn refresh_in(&self, key: &ObjectKey) -> Option<Duration> {
        let refresh = self.refresh.lock().unwrap_or_else(|e| e.into_inner());
        refresh
            .get(key)
            .map(|at| at.saturating_duration_since(Instant::now()))
    }

    /// Sets (or with `None` clears) when Sync `key` must resolve its references again.
    pub fn refresh_after(&self, key: &ObjectKey, after: Option<Duration>) {
        let mut refresh = self.refresh.lock().unwrap_or_else(|e| e.into_inner());
        match after {
            Some(after) => refresh.insert(key.clone(), Instant::now() + after),
            None => refresh.remove(key),
        };
    }

    /// Counts a failed apply of Sync `key`; how many failed in a row before this one.
    pub fn failed_again(&self, key: &ObjectKey) -> u32 {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        let count = failures.entry(key.clone()).or_insert(0);
        *count += 1;
        *count - 1
    }

    /// Forgets the failed applies of Sync `key`: it applied, or is gone.
    pub fn forget_failures(&self, key: &ObjectKey) {
        let mut failures = self.failures.lock().unwrap_or_else(|e| e.into_inner());
        failures.remove(key);
    }

    /// Forgets when Sync `key` is due: its next wake-up does the work.
    pub fn forget_due(&self, key: &ObjectKey) {
        self.settled
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(key);
    }

    /// Whether the chart of `key` was fetched for `request` less than `interval` ago.
    pub fn chart_fresh(&self, key: &ObjectKey, request: &ChartRequest, interval: Duration) -> bool {
        let charts = self.charts.lock().unwrap_or_else(|e| e.into_inner());
        charts
            .get(key)
            .is_some_and(|(then, at)| then == request && at.elapsed() < interval)
    }

    /// Makes the chart of `key` due at its next reconcile (its source changed).
    pub fn chart_due(&self, key: &ObjectKey) {
        let mut charts = self.charts.lock().unwrap_or_else(|e| e.into_inner());
        charts.remove(key);
    }

    /// Notes that the chart of `key` was fetched now, for `request`.
    pub fn chart_fetched(&self, key: ObjectKey, request: ChartRequest) {
        let mut charts = self.charts.lock().unwrap_or_else(|e| e.into_inner());
        charts.insert(key, (request, Instant::now()));
    }

    /// The newest artifact of GitSource `source`, if it has one.
    pub fn artifact(&self, source: &ObjectKey) -> Option<Artifact> {
        self.artifacts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(source)
            .cloned()
    }

    pub(crate) fn set_artifact(&self, source: ObjectKey, artifact: Artifact) {
        self.artifacts
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(source, artifact);
    }

    pub(crate) fn api<K>(&self) -> Api<K>
    where
        K: Namespaced,
    {
        self.shared.watched_api()
    }

    pub(crate) fn watcher_config(&self) -> watcher::Config {
        match &self.selector {
            Some(selector) => watcher::Config::default().labels(selector),
            None => watcher::Config::default(),
        }
    }
}

/// The contexts of the peer front-ends served beside Lockstep's own.
pub struct Peers {
    /// Flux's (`--flux`): its GitRepositories and Kustomizations, and its HelmReleases.
    pub flux: Option<(Arc<SyncCtx>, Arc<SyncCtx>)>,
    /// Argo CD's (`--argocd`).
    pub argocd: Option<Arc<SyncCtx>>,
}

/// Waits for leadership, then runs both controllers (and the peers' given) until SIGTERM
/// or Ctrl-C, then gives the Lease up. Exits the process if leadership is lost.
pub async fn run(ctx: Arc<SyncCtx>, peers: Peers, lease_namespace: &str, leader_elect: bool) {
    let elector = leader_elect.then(|| {
        let identity = std::env::var("POD_NAME").unwrap_or_else(|_| {
            format!(
                "{}-{}",
                std::env::var("HOSTNAME").unwrap_or_else(|_| "lockstep".into()),
                std::process::id()
            )
        });
        lease::Elector::new(
            ctx.shared.client.clone(),
            lease_namespace,
            "lockstep-controller-leader",
            identity,
        )
    });
    if let Some(elector) = &elector {
        // A replica still waiting for the Lease when it is told to stop must stop, not take
        // the Lease over while its Pod terminates (and hold the process up until SIGKILL).
        tokio::select! {
            () = elector.acquire() => {}
            () = crate::shutdown::requested() => return,
        }
    }
    let peers = async {
        let flux = async {
            if let Some((flux, helm)) = peers.flux {
                crate::flux::run(flux, helm).await;
            }
        };
        let argocd = async {
            if let Some(argocd) = peers.argocd {
                crate::argocd::run(argocd).await;
            }
        };
        futures::future::join(flux, argocd).await;
    };
    let controllers = futures::future::join3(run_sources(ctx.clone()), run_syncs(ctx), peers);
    match &elector {
        Some(elector) => {
            tokio::select! {
                _ = controllers => elector.release().await,
                () = elector.hold() => {
                    tracing::error!("lost leadership; exiting so a new leader takes over");
                    std::process::exit(1);
                }
            }
        }
        None => {
            controllers.await;
        }
    }
}

async fn run_sources(ctx: Arc<SyncCtx>) {
    let api: Api<GitSource> = ctx.api();
    Controller::new(api, ctx.watcher_config())
        .shutdown_on_signal()
        .run(source::reconcile, source::error_policy, ctx)
        .for_each(crate::watch::log)
        .await;
}

async fn run_syncs(ctx: Arc<SyncCtx>) {
    let syncs: Api<Sync> = ctx.api();
    let sources: Api<GitSource> = ctx.api();
    let controller = Controller::new(syncs, ctx.watcher_config())
        .with_config(Config::default().concurrency(ctx.shared.concurrent));
    let store = controller.store();
    let kinds = chart::RepositoryKinds::served(&ctx).await;
    let controller = chart::watch_repositories(controller, &ctx, kinds, |sync| Cow::Borrowed(sync));
    controller
        .watches(sources, ctx.watcher_config(), move |source: GitSource| {
            let source = ObjectKey::of(&source);
            store
                .state()
                .into_iter()
                .filter(|sync| reconcile::source_of(sync) == source)
                .map(|sync| ObjectRef::from_obj(&*sync))
                .collect::<Vec<_>>()
        })
        .shutdown_on_signal()
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(crate::watch::log)
        .await;
}
