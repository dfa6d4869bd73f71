//! The GitSource reconciler: resolve the ref (ls-remote), fetch only a new revision, keep
//! its artifact for the Syncs, report `Ready` and the revision. When the repository is
//! unreachable, refuses the credentials or a signature does not verify, the last artifact
//! stays in use and the status says why.
//!
//! Credentials (`secretRef`) and trusted keys (`verify.secretRef`) are read from Secrets in
//! the GitSource's own namespace on every reconcile, so a rotated Secret takes effect at
//! the next interval. Their values go to the engine in memory and are scrubbed from every
//! message written to status or events.

use std::sync::Arc;
use std::time::Duration;

use k8s_openapi::api::core::v1::Secret;
use kube::ResourceExt;
use kube::api::Api;
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use lockstep_api::{GitRef, GitSource, GitSourceStatus, ObjectKey, REQUESTED_AT_ANNOTATION};
use lockstep_engine::fetch::{
    Artifact, Credentials, FetchError, FetchOptions, Fetched, Fetcher, GitObject, GitReference,
    TrustedKeys, VerifyError, redact_url, url_secrets,
};
use lockstep_engine::redact::{self, Redactor};

use super::SyncCtx;
use super::conditions::{self, READY, STALLED, SourceReason, WireReason as _};
use super::intervals::SourceIntervals;
use super::status::{self, EventAction};

/// Set while `verify` is on: whether the last revision's signatures verified (as Flux).
pub const SOURCE_VERIFIED: &str = "SourceVerified";

/// Why a GitSource reconcile could not finish (only API failures; Git failures are
/// reported in status and retried at the interval).
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Writing the status failed.
    #[error("writing the status of GitSource {name}: {source}")]
    WriteStatus {
        /// The GitSource.
        name: ObjectKey,
        /// The API error.
        source: kube::Error,
    },
}

/// Reconciles one GitSource.
///
/// # Errors
/// [`Error`] when the status cannot be written; retried by [`error_policy`].
pub async fn reconcile(source: Arc<GitSource>, ctx: Arc<SyncCtx>) -> Result<Action, Error> {
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
    let key = ObjectKey::of(&*source);
    let parsed = ctx
        .source_intervals
        .get(&key, generation, || SourceIntervals::parse(&source.spec));
    let reference = reference(source.spec.git_ref.as_ref());
    let (SourceIntervals { interval, timeout }, reference) = match (parsed, reference) {
        (Ok(parsed), Ok(reference)) => (parsed, reference),
        (Err(err), _) => return stalled(&ctx, &source, status, err.to_string()).await,
        (_, Err(message)) => return stalled(&ctx, &source, status, message).await,
    };
    conditions::remove(&mut status.conditions, STALLED);
    if source.spec.verify.is_none() {
        conditions::remove(&mut status.conditions, SOURCE_VERIFIED);
    }

    let fetcher = match timeout {
        Some(timeout) => ctx.fetcher.clone().with_timeout(timeout),
        None => ctx.fetcher.clone(),
    };
    let started = std::time::Instant::now();
    match fetch(&ctx, &source, &fetcher, &reference).await {
        Ok(fetched) => {
            let revision = fetched.artifact.revision.clone();
            let new = previous.last_attempted_revision.as_deref() != Some(revision.as_str());
            let took = started.elapsed();
            tracing::info!(source = %key, %revision, new, ?took, "fetched");
            ctx.set_artifact(key, fetched.artifact);
            let message = format!("stored artifact for revision '{revision}'");
            conditions::set(
                &mut status.conditions,
                READY,
                true,
                SourceReason::Succeeded,
                message.clone(),
                generation,
            );
            if let Some(verified) = fetched.verified {
                let verified = format!("verified signature of {verified}");
                conditions::set(
                    &mut status.conditions,
                    SOURCE_VERIFIED,
                    true,
                    SourceReason::Succeeded,
                    verified,
                    generation,
                );
            }
            if new {
                publish(
                    &ctx,
                    &source,
                    EventType::Normal,
                    SourceReason::NewArtifact,
                    &message,
                    Some(&revision),
                )
                .await;
            }
            status.last_attempted_revision = Some(revision);
        }
        Err(failure) => {
            let message = failure.message;
            let (reason, took) = (failure.reason.as_str(), started.elapsed());
            tracing::warn!(source = %key, reason, ?took, "fetch failed: {message}");
            let was_ready = conditions::is_true(&previous.conditions, READY);
            conditions::set(
                &mut status.conditions,
                READY,
                false,
                failure.reason,
                message.clone(),
                generation,
            );
            if failure.verification {
                conditions::set(
                    &mut status.conditions,
                    SOURCE_VERIFIED,
                    false,
                    failure.reason,
                    message.clone(),
                    generation,
                );
            }
            if was_ready || previous.conditions.is_empty() {
                let revision = previous.last_attempted_revision.as_deref();
                let (warning, reason) = (EventType::Warning, failure.reason);
                publish(&ctx, &source, warning, reason, &message, revision).await;
            }
        }
    }
    status.observed_generation = generation;
    write_status(&ctx, &source, &previous, status).await?;
    Ok(Action::requeue(interval))
}

/// The artifact of commit `commit` of `source`, fetched with its URL, credentials and
/// signature verification (for a Sync pinned to a revision, [`super::pin`]); the failure's
/// message, scrubbed of every credential.
pub(crate) async fn fetch_commit(
    ctx: &SyncCtx,
    source: &GitSource,
    commit: &str,
) -> Result<Artifact, String> {
    let reference = GitReference::Commit(commit.to_owned());
    let fetched = fetch(ctx, source, &ctx.fetcher, &reference).await;
    fetched.map(|f| f.artifact).map_err(|f| f.message)
}

/// `reference` of `source` fetched with its credentials and verification; a failure's
/// message names the (redacted) URL and is scrubbed of every credential read for it.
async fn fetch(
    ctx: &SyncCtx,
    source: &GitSource,
    fetcher: &Fetcher,
    reference: &GitReference,
) -> Result<Fetched, Failure> {
    let url = &source.spec.url;
    let mut redactor = Redactor::new();
    for secret in url_secrets(url) {
        redactor.add(secret.as_bytes());
    }
    let readable = ctx.front.readable_entries();
    let fetched = match options(&ctx.shared.client, source, readable, &mut redactor).await {
        Ok(options) => {
            let _held = redact::hold(&redactor);
            let fetched = fetcher.fetch_with(url, reference, &options).await;
            fetched.map_err(|err| Failure::from_fetch(&err))
        }
        Err(failure) => Err(failure),
    };
    fetched.map_err(|failure| Failure {
        message: redactor.scrub(&format!("{}: {}", redact_url(url), failure.message)),
        ..failure
    })
}

/// Retries a failed status write after 5 seconds.
pub fn error_policy(_source: Arc<GitSource>, error: &Error, _ctx: Arc<SyncCtx>) -> Action {
    tracing::warn!(%error, "GitSource reconcile failed; retrying in 5s");
    Action::requeue(Duration::from_secs(5))
}

/// Why no artifact: a condition reason (Flux's) and a message naming the step, the
/// commit or key, never a credential. `verification` failures also set `SourceVerified`.
struct Failure {
    reason: SourceReason,
    message: String,
    verification: bool,
}

impl Failure {
    fn from_fetch(err: &FetchError) -> Self {
        let reason = match err {
            // A Secret's `identity` that ssh-agent refuses is a credentials problem too.
            FetchError::Authentication { .. } | FetchError::SshAgent { .. } => {
                SourceReason::AuthenticationFailed
            }
            FetchError::Verification { source, .. } => verification_reason(source),
            _ => SourceReason::GitOperationFailed,
        };
        Self {
            reason,
            message: chain(err),
            verification: matches!(err, FetchError::Verification { .. }),
        }
    }

    /// The trusted keys could not be read (Secret missing, an entry not a key).
    fn keys(message: String) -> Self {
        Self {
            reason: SourceReason::VerificationError,
            message,
            verification: true,
        }
    }
}

/// Flux's reasons for a signature that did not verify (source-controller's
/// `verifySignature`).
fn verification_reason(err: &VerifyError) -> SourceReason {
    match (err, err.object()) {
        (VerifyError::NotATagRef { .. }, _) => SourceReason::InvalidVerificationMode,
        // No tag object, or one without a signature: nothing to verify.
        (VerifyError::Lightweight { .. }, _)
        | (VerifyError::Unsigned { .. }, Some(GitObject::Tag(_))) => SourceReason::InvalidGitObject,
        (_, Some(GitObject::Tag(_))) => SourceReason::InvalidTagSignature,
        _ => SourceReason::InvalidCommitSignature,
    }
}

/// An error and its causes, `: `-separated.
fn chain(err: &dyn std::error::Error) -> String {
    let mut message = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        message.push_str(": ");
        message.push_str(&c.to_string());
        cause = c.source();
    }
    message
}

/// The fetch options of `source`: its ignore rules, and the credentials and trusted keys
/// from Secrets in its namespace. Every value read is added to `redactor`, but those of the
/// credentials Secret's `readable` entries.
async fn options(
    client: &kube::Client,
    source: &GitSource,
    readable: &[&str],
    redactor: &mut Redactor,
) -> Result<FetchOptions, Failure> {
    let secrets: Api<Secret> =
        Api::namespaced(client.clone(), &source.namespace().unwrap_or_default());
    let mut options = FetchOptions {
        ignore: source.spec.ignore.clone(),
        ..FetchOptions::default()
    };
    if let Some(secret_ref) = &source.spec.secret_ref {
        let data = secret_data(&secrets, &secret_ref.name, readable, redactor)
            .await
            .map_err(|message| Failure {
                reason: SourceReason::AuthenticationFailed,
                message,
                verification: false,
            })?;
        let entries = data.iter().map(|(k, v)| (k.as_str(), v.0.as_slice()));
        options.credentials = Credentials::from_entries(entries).map_err(|err| Failure {
            reason: SourceReason::AuthenticationFailed,
            message: format!("Secret {}: {}", secret_ref.name, chain(&err)),
            verification: false,
        })?;
        options.ca_certificate = data.get("ca.crt").map(|v| v.0.clone());
    }
    if let Some(verify) = &source.spec.verify {
        let name = &verify.secret_ref.name;
        let data = secret_data(&secrets, name, &[], redactor)
            .await
            .map_err(Failure::keys)?;
        let entries = data.iter().map(|(k, v)| (k.as_str(), v.0.as_slice()));
        let keys = TrustedKeys::from_entries(entries)
            .map_err(|err| Failure::keys(format!("Secret {name}: {}", chain(&err))))?;
        options.verify = Some((verify.mode, keys));
    }
    Ok(options)
}

/// The data of Secret `name` (of the source's namespace); its values, but those of the
/// `readable` entries, are added to `redactor`.
pub(crate) async fn secret_data(
    secrets: &Api<Secret>,
    name: &str,
    readable: &[&str],
    redactor: &mut Redactor,
) -> Result<std::collections::BTreeMap<String, k8s_openapi::ByteString>, String> {
    let secret = secrets
        .get_opt(name)
        .await
        .map_err(|err| format!("reading Secret {name}: {err}"))?
        .ok_or_else(|| format!("Secret {name} not found in the source's namespace"))?;
    let data = secret.data.unwrap_or_default();
    for (key, value) in &data {
        if !readable.contains(&key.as_str()) {
            redactor.add(&value.0);
        }
    }
    Ok(data)
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
    if let Some(range) = &git_ref.semver {
        return Ok(GitReference::Semver(range.clone()));
    }
    if let Some(tag) = &git_ref.tag {
        return Ok(GitReference::Tag(tag.clone()));
    }
    Ok(GitReference::Branch(
        git_ref.branch.clone().unwrap_or_else(|| "main".into()),
    ))
}

pub(crate) async fn stalled(
    ctx: &SyncCtx,
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
        SourceReason::InvalidSpec,
        message.clone(),
        generation,
    );
    conditions::set(
        &mut status.conditions,
        READY,
        false,
        SourceReason::InvalidSpec,
        message.clone(),
        generation,
    );
    status.observed_generation = generation;
    if !conditions::is_true(&previous.conditions, STALLED) {
        publish(
            ctx,
            source,
            EventType::Warning,
            SourceReason::InvalidSpec,
            &message,
            None,
        )
        .await;
    }
    write_status(ctx, source, &previous, status).await?;
    Ok(Action::await_change())
}

async fn write_status(
    ctx: &SyncCtx,
    source: &GitSource,
    previous: &GitSourceStatus,
    status: GitSourceStatus,
) -> Result<(), Error> {
    status::write_source(ctx, source, previous, &status)
        .await
        .map_err(|err| Error::WriteStatus {
            name: ObjectKey::of(source),
            source: err,
        })
}

/// Publishes an event of `source`; `revision` (the one fetched, or for a failure the last
/// one) goes into alerts' metadata, as source-controller's events carry it.
async fn publish(
    ctx: &SyncCtx,
    source: &GitSource,
    type_: EventType,
    reason: SourceReason,
    note: &str,
    revision: Option<&str>,
) {
    status::publish(
        ctx,
        source,
        type_,
        reason,
        EventAction::Fetch,
        note,
        revision,
    )
    .await;
}
