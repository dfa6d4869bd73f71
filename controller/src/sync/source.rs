//! The GitSource reconciler: resolve the ref (ls-remote), fetch only a new revision, keep
//! its artifact for the Syncs, report `Ready` and the revision. When the repository is
//! unreachable the last artifact stays in use and the status says why.

use std::sync::Arc;
use std::time::Duration;

use kube::ResourceExt;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use lockstep_api::{GitRef, GitSource, GitSourceStatus, REQUESTED_AT_ANNOTATION, parse_duration};
use lockstep_engine::fetch::{GitReference, redact_url};

use super::Ctx;
use super::conditions::{self, READY, STALLED};
use super::status;

/// Why a GitSource reconcile could not finish (only API failures; Git failures are
/// reported in status and retried at the interval).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing the status failed.
    #[error("writing the status of GitSource {name}: {source}")]
    WriteStatus {
        /// `namespace/name`.
        name: String,
        /// The API error.
        source: kube::Error,
    },
}

/// Reconciles one GitSource.
///
/// # Errors
/// [`Error`] when the status cannot be written; retried by [`error_policy`].
pub async fn reconcile(source: Arc<GitSource>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let namespace = source.namespace().unwrap_or_default();
    let name = source.name_any();
    let generation = source.metadata.generation;
    let previous = source.status.clone().unwrap_or_default();
    let mut status = previous.clone();
    status.last_handled_requested_at = source
        .annotations()
        .get(REQUESTED_AT_ANNOTATION)
        .cloned()
        .or(previous.last_handled_requested_at.clone());

    if source.spec.suspend {
        return Ok(Action::await_change());
    }
    let plan = parse_duration(&source.spec.interval).and_then(|interval| {
        let timeout = source
            .spec
            .timeout
            .as_deref()
            .map(parse_duration)
            .transpose()?;
        Ok((interval, timeout))
    });
    let reference = reference(source.spec.git_ref.as_ref());
    let (interval, timeout, reference) = match (plan, reference) {
        (Ok((interval, timeout)), Ok(reference)) => (interval, timeout, reference),
        (Err(err), _) => return stalled(&ctx, &source, status, err.to_string()).await,
        (_, Err(message)) => return stalled(&ctx, &source, status, message).await,
    };
    if source.spec.secret_ref.is_some() || source.spec.verify.is_some() {
        let message = "secretRef and verify are not supported yet: only public repositories \
                       without signature verification can be used"
            .to_owned();
        return stalled(&ctx, &source, status, message).await;
    }
    conditions::remove(&mut status.conditions, STALLED);

    let fetcher = match timeout {
        Some(timeout) => ctx.fetcher.clone().with_timeout(timeout),
        None => ctx.fetcher.clone(),
    };
    let url = redact_url(&source.spec.url);
    match fetcher.fetch(&source.spec.url, &reference).await {
        Ok(fetched) => {
            let revision = fetched.artifact.revision.clone();
            let new = previous.last_attempted_revision.as_deref() != Some(revision.as_str());
            ctx.set_artifact(&namespace, &name, fetched.artifact);
            let message = format!("stored artifact for revision '{revision}'");
            conditions::set(
                &mut status.conditions,
                READY,
                true,
                "Succeeded",
                message.clone(),
                generation,
            );
            status.last_attempted_revision = Some(revision);
            if new {
                publish(&ctx, &source, EventType::Normal, "NewArtifact", &message).await;
            }
        }
        Err(err) => {
            let message = format!("{url}: {err}");
            let was_ready = conditions::is_true(&previous.conditions, READY);
            conditions::set(
                &mut status.conditions,
                READY,
                false,
                "GitOperationFailed",
                message.clone(),
                generation,
            );
            if was_ready || previous.conditions.is_empty() {
                publish(
                    &ctx,
                    &source,
                    EventType::Warning,
                    "GitOperationFailed",
                    &message,
                )
                .await;
            }
        }
    }
    status.observed_generation = generation;
    write_status(&ctx, &source, &previous, status).await?;
    Ok(Action::requeue(interval))
}

/// Retries a failed status write after 5 seconds.
pub fn error_policy(_source: Arc<GitSource>, error: &Error, _ctx: Arc<Ctx>) -> Action {
    tracing::warn!(%error, "GitSource reconcile failed; retrying in 5s");
    Action::requeue(Duration::from_secs(5))
}

/// The engine's reference for a spec `ref`: commit over semver over tag over branch, as
/// Flux ranks them; default branch `main`.
fn reference(git_ref: Option<&GitRef>) -> Result<GitReference, String> {
    let Some(git_ref) = git_ref else {
        return Ok(GitReference::Branch("main".into()));
    };
    if let Some(commit) = &git_ref.commit {
        return Ok(GitReference::Commit(commit.clone()));
    }
    if git_ref.semver.is_some() {
        return Err("ref.semver is not supported yet: use a branch, tag or commit".into());
    }
    if let Some(tag) = &git_ref.tag {
        return Ok(GitReference::Tag(tag.clone()));
    }
    Ok(GitReference::Branch(
        git_ref.branch.clone().unwrap_or_else(|| "main".into()),
    ))
}

async fn stalled(
    ctx: &Ctx,
    source: &GitSource,
    mut status: GitSourceStatus,
    message: String,
) -> Result<Action, Error> {
    let previous = source.status.clone().unwrap_or_default();
    let generation = source.metadata.generation;
    conditions::set(
        &mut status.conditions,
        STALLED,
        true,
        "InvalidSpec",
        message.clone(),
        generation,
    );
    conditions::set(
        &mut status.conditions,
        READY,
        false,
        "InvalidSpec",
        message.clone(),
        generation,
    );
    status.observed_generation = generation;
    if !conditions::is_true(&previous.conditions, STALLED) {
        publish(ctx, source, EventType::Warning, "InvalidSpec", &message).await;
    }
    write_status(ctx, source, &previous, status).await?;
    Ok(Action::await_change())
}

async fn write_status(
    ctx: &Ctx,
    source: &GitSource,
    previous: &GitSourceStatus,
    status: GitSourceStatus,
) -> Result<(), Error> {
    status::write(ctx, source, previous, &status)
        .await
        .map_err(|err| Error::WriteStatus {
            name: format!(
                "{}/{}",
                source.namespace().unwrap_or_default(),
                source.name_any()
            ),
            source: err,
        })
}

async fn publish(ctx: &Ctx, source: &GitSource, type_: EventType, reason: &str, note: &str) {
    status::publish(ctx, source, type_, reason, "Fetch", note).await;
}
