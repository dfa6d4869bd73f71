//! Argo CD's `Application`, served unchanged (`--argocd`): each is read as the `GitSource`
//! and `Sync` that do what it asks ([`convert`]) and handed to the same reconcilers, with a
//! [`SyncCtx`] whose front is [`Front::ArgoCd`]: objects are labelled
//! `app.kubernetes.io/instance: <name>` (Argo CD's default tracking), status is written to
//! the Application in Argo CD's format (`sync`, `health`, `resources`, `operationState`,
//! `conditions`, `history`), events name it, and its `resources-finalizer.argocd.argoproj.io`
//! makes a delete cascade. One engine, one inventory: the Application's `status.resources`.
//!
//! An Application whose source is a `chart` of an HTTP(S) Helm repository has the chart
//! fetched ([`crate::sync::chart::fetch_into`]) instead of a Git revision, under the same key, and is
//! rendered by the same helm path.
//!
//! An Application whose destination is another cluster is applied there with the
//! credentials of Argo CD's cluster Secret for it ([`cluster`]).
//!
//! An Application Lockstep cannot serve as written (several sources, a cluster no Secret
//! names, unserved fields or sync options) is refused with an `InvalidSpecError`
//! condition naming them; so is one its `AppProject` does not allow (`default` too, once an
//! AppProject of that name exists). Nothing of it is applied.
//!
//! A requested sync (`operation`, [`operation`]) runs once and is removed; failed, it is
//! kept and run again after its `operation.retry` backoff ([`retry`]) while retries remain.

mod cluster;
pub mod convert;
mod env;
mod helm;
mod kustomize;
mod operation;
pub(crate) mod project;
mod repository;
mod retry;

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, Patch, PatchParams};
use kube::runtime::Controller;
use kube::runtime::controller::{Action, Config};
use lockstep_api::argocd::{Application, FIELD_MANAGER, ManagedNamespaceMetadata};
use lockstep_api::{DeletionPolicy, LocalObjectReference, ObjectKey, SyncMode};
use lockstep_engine::redact::Redactor;
use serde_json::json;

use crate::sync::conditions::Reason;
use crate::sync::record::{self, Verdict};
use crate::sync::{Front, SyncCtx, reconcile, source};

/// Why an Application reconcile could not finish (only writes to the Application, its
/// status or its finalizer; everything else is reported in status).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing the source's state failed.
    #[error(transparent)]
    Source(#[from] source::Error),
    /// Writing the status or finalizers failed.
    #[error(transparent)]
    Sync(#[from] record::Error),
    /// Removing the operation that ran, or creating the destination namespace, failed.
    #[error("{what} of Application {name}: {source}")]
    Write {
        /// What was written.
        what: &'static str,
        /// The Application.
        name: ObjectKey,
        /// The API error.
        source: kube::Error,
    },
}

/// Runs the Application controller on `ctx` (whose front is Argo CD's) until SIGTERM or
/// Ctrl-C.
pub async fn run(ctx: Arc<SyncCtx>) {
    debug_assert_eq!(ctx.front, Front::ArgoCd);
    let applications: Api<Application> = ctx.api();
    Controller::new(applications, ctx.watcher_config())
        .with_config(Config::default().concurrency(ctx.shared.concurrent))
        .shutdown_on_signal()
        .run(reconcile_application, retry, ctx)
        .for_each(crate::watch::log)
        .await;
}

/// Fetches and applies what an Application asks, as a GitSource and a Sync.
async fn reconcile_application(app: Arc<Application>, ctx: Arc<SyncCtx>) -> Result<Action, Error> {
    let key = ObjectKey::of(&*app);
    let interval = ctx.argocd_interval;
    ctx.memory.see_history(&app);
    let built_for = ctx.artifact(&key).map(|artifact| artifact.revision);
    let mut sync = convert::sync(&app, interval, &ctx.memory, built_for.as_deref());
    if app.metadata.deletion_timestamp.is_some() {
        // What it applied is deleted in the cluster it applied to; with that cluster's
        // Secret gone, nothing can be, and the objects are orphaned, as Argo CD does.
        match cluster::secret_for(&ctx, &app).await {
            Ok(secret) => sync.spec.cluster_secret = secret,
            Err(cluster::ClusterError::Missing { .. }) => {
                sync.spec.deletion_policy = Some(DeletionPolicy::Orphan);
            }
            Err(err) => {
                tracing::warn!(application = %key, "{err}; deletion retried");
                return Ok(Action::requeue(interval));
            }
        }
        let action = reconcile::reconcile(Arc::new(sync), ctx.clone()).await?;
        ctx.memory.forget(&key);
        return Ok(action);
    }
    let requested = app.operation.as_ref().filter(|o| o.sync.is_some());
    let refusal = match convert::refusal(&app) {
        Some(refusal) => Some(refusal),
        None => match project::project(&app, &ctx).await {
            Ok(project) => {
                sync.spec.project = project.map(Arc::new);
                None
            }
            // Looked at again at the interval: the project may be created or relaxed.
            Err(refusal) => {
                record::record(&mut sync, &ctx, Verdict::Stalled(refusal)).await?;
                if let Some(operation) = requested {
                    operation::remove(&ctx, key, operation).await?;
                }
                return Ok(Action::requeue(interval));
            }
        },
    };
    let refusal = match refusal {
        Some(refusal) => Some(refusal),
        None => match cluster::secret_for(&ctx, &app).await {
            Ok(secret) => {
                sync.spec.cluster_secret = secret;
                None
            }
            // Argo CD's InvalidSpecError, looked at again at the interval: the cluster
            // Secret may be added later.
            Err(refusal) => {
                let refusal = refusal.to_string();
                record::record(&mut sync, &ctx, Verdict::Stalled(refusal)).await?;
                return Ok(Action::requeue(interval));
            }
        },
    };
    if let Some(refusal) = refusal {
        record::record(&mut sync, &ctx, Verdict::Stalled(refusal)).await?;
        if let Some(operation) = requested {
            // Refused as Argo CD fails it: the request does not wait to run once the spec
            // is fixed.
            operation::remove(&ctx, key, operation).await?;
        }
        return Ok(Action::await_change());
    }
    if let Some(operation) = requested
        && let Some(wait) = ctx.memory.retries.wait(&key, operation)
    {
        // A requested sync that failed waits out its retry's backoff.
        return Ok(Action::requeue(wait.min(interval)));
    }
    let fetched = match convert::repository_chart(&app) {
        Some((chart, version)) => {
            fetch_chart(
                &ctx,
                &app,
                &sync,
                requested.is_some(),
                chart,
                version,
                interval,
            )
            .await
        }
        None => fetch_git(&ctx, &app, interval).await?,
    };
    if let Err(message) = fetched {
        // Argo CD's ComparisonError: nothing to compare with, nothing applied.
        let reason = Reason::ArtifactFailed;
        record::record(&mut sync, &ctx, Verdict::Waiting { reason, message }).await?;
        return Ok(Action::requeue(interval));
    }
    let artifact = ctx.artifact(&key);
    if let Some(artifact) = &artifact
        && built_for.as_ref() != Some(&artifact.revision)
    {
        // Built again for the revision just fetched, which Argo CD's build variables name.
        let (project, cluster) = (sync.spec.project.take(), sync.spec.cluster_secret.take());
        sync = convert::sync(&app, interval, &ctx.memory, Some(&artifact.revision));
        (sync.spec.project, sync.spec.cluster_secret) = (project, cluster);
    }
    if requested.is_some()
        && let Some(artifact) = artifact
    {
        convert::approve(&mut sync, &artifact.revision);
    }
    if (requested.is_some() || sync.spec.mode == SyncMode::Auto)
        && let Some(namespace) = convert::creates_namespace(&app)
    {
        let managed = app.spec.sync_policy.as_ref();
        let managed = managed.and_then(|p| p.managed_namespace_metadata.as_ref());
        create_namespace(&ctx, namespace, managed)
            .await
            .map_err(|source| Error::Write {
                what: "creating the destination namespace",
                name: key.clone(),
                source,
            })?;
    }
    let action = reconcile::reconcile(Arc::new(sync), ctx.clone()).await?;
    if let Some(operation) = requested {
        // Failed, it runs again after its retry's backoff while retries remain (kept, as
        // Argo CD keeps a retried operation); else it ran: Argo CD removes it, and its
        // outcome is in operationState.
        let backoff = operation::backoff(&app).and_then(Result::ok);
        let again = ctx
            .memory
            .failed(&key)
            .then(|| ctx.memory.retries.failed(&key, operation, backoff.as_ref()));
        if let Some(wait) = again.flatten() {
            return Ok(Action::requeue(wait));
        }
        operation::remove(&ctx, key, operation).await?;
    }
    Ok(action)
}

/// Fetches the Git revision `app` follows, as a GitSource of the repository Secret's
/// credentials; `Err` with why it could not be fetched.
async fn fetch_git(
    ctx: &Arc<SyncCtx>,
    app: &Application,
    interval: Duration,
) -> Result<Result<(), String>, Error> {
    let key = ObjectKey::of(app);
    let mut source = convert::git_source(app, interval, &ctx.memory);
    Ok(
        match repository::secret_for(ctx, &key.namespace, &source.spec.url).await {
            Ok(secret) => {
                source.spec.secret_ref = secret.map(|name| LocalObjectReference { name });
                source::reconcile(Arc::new(source), ctx.clone()).await?;
                ctx.memory.fetch_failure(&key).map_or(Ok(()), Err)
            }
            Err(err) => Err(format!(
                "listing the repository Secrets (argocd.argoproj.io/secret-type: repository) \
                 of namespace {}: {err}",
                key.namespace
            )),
        },
    )
}

/// Fetches the `chart` version `app` asks for from its Helm repository, as the
/// Application's artifact, unless fetched for this spec within `interval` and no sync is
/// requested; `Err` with why it could not be fetched.
async fn fetch_chart(
    ctx: &SyncCtx,
    app: &Application,
    sync: &lockstep_api::Sync,
    requested: bool,
    chart: &str,
    version: &str,
    interval: Duration,
) -> Result<(), String> {
    let key = ObjectKey::of(app);
    let request = (sync.metadata.generation, None);
    if !requested && ctx.artifact(&key).is_some() && ctx.chart_fresh(&key, &request, interval) {
        return Ok(());
    }
    let url = app.spec.source.as_ref().map(|s| s.repo_url.as_str());
    let url = url.unwrap_or_default();
    let mut redactor = Redactor::new();
    let repository = repository::helm_repository(ctx, &key.namespace, url, &mut redactor).await?;
    crate::sync::chart::fetch_into(ctx, key, request, &repository, chart, version, &redactor).await
}

/// Creates `namespace` unless it exists (`CreateNamespace=true`). Like Argo CD, it is not
/// labelled as the Application's: pruning never deletes it. With `managed` metadata, its
/// labels and annotations are applied server-side as Argo CD's controller applies them,
/// whether the namespace is new or not, leaving the namespace's others alone.
async fn create_namespace(
    ctx: &SyncCtx,
    namespace: &str,
    managed: Option<&ManagedNamespaceMetadata>,
) -> Result<(), kube::Error> {
    let namespaces: Api<Namespace> = Api::all(ctx.shared.client.clone());
    if let Some(managed) = managed {
        let object = json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": namespace, "labels": managed.labels,
                         "annotations": managed.annotations},
        });
        let params = PatchParams::apply(FIELD_MANAGER).force();
        return namespaces
            .patch(namespace, &params, &Patch::Apply(&object))
            .await
            .map(drop);
    }
    crate::sync::namespace::create(&ctx.shared.client, namespace).await
}

/// Retries a reconcile that could not write to its Application after 5 seconds.
fn retry(_app: Arc<Application>, error: &Error, _ctx: Arc<SyncCtx>) -> Action {
    tracing::warn!(%error, "Application reconcile failed; retrying in 5s");
    Action::requeue(Duration::from_secs(5))
}
