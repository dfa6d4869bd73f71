//! A Sync pinned to one revision of its source (`lockstep rollback`, the
//! `lockstep.dev/pinnedRevision` annotation): that commit is fetched with the GitSource's
//! URL, credentials and verification and applied, whatever the source's ref has moved to,
//! and the `Pinned` condition says so until the annotation is removed. Unlike Argo CD's
//! rollback, which automated sync undoes at its next look, a pin holds until it is lifted.
//!
//! Served for Lockstep's own Syncs; Flux's and Argo CD's resources keep their own ways
//! (`flux suspend`, `argocd app rollback`).

use kube::api::Api;
use lockstep_api::{Condition, GitSource, ObjectKey, PINNED_REVISION_ANNOTATION, Sync};
use lockstep_engine::fetch::Artifact;

use super::SyncCtx;
use super::conditions::{self, Reason};
use super::front::Front;
use super::record::Verdict;

/// The condition a pinned Sync carries.
pub const PINNED: &str = "Pinned";

/// The revision `sync` is pinned to, if it is (and the front serves pins).
pub fn pinned(sync: &Sync, front: Front) -> Option<&str> {
    let annotations = sync.metadata.annotations.as_ref()?;
    let revision = annotations.get(PINNED_REVISION_ANNOTATION)?;
    (front == Front::Lockstep && !revision.is_empty()).then_some(revision.as_str())
}

/// The artifact of `revision` (`<ref>@sha1:<hex>`, as the Sync applied it) of GitSource
/// `source`, written with that revision: a pin's, or the revision a replica that is not
/// the leader compares ([`super::preview`]). A commit's files never change, so it is
/// fetched once per revision and kept (while its folder is there), not at every
/// reconcile: a pinned Sync rolling out looks again every second.
pub async fn artifact(
    ctx: &SyncCtx,
    source: &ObjectKey,
    revision: &str,
) -> Result<Artifact, Verdict> {
    let key = ObjectKey::new(&source.namespace, format!("{}@{revision}", source.name));
    if let Some(kept) = ctx.artifact(&key).filter(|a| a.path.is_dir()) {
        return Ok(kept);
    }
    let Some(commit) = revision
        .rsplit_once("sha1:")
        .map(|(_, hex)| hex)
        .filter(|hex| hex.len() == 40 && hex.bytes().all(|b| b.is_ascii_hexdigit()))
    else {
        return Err(Verdict::Stalled(format!(
            "annotation {PINNED_REVISION_ANNOTATION}: {revision:?} is not a revision \
             (<ref>@sha1:<40 hex digits>, as `lockstep history` lists them); remove it or \
             run `lockstep rollback` again"
        )));
    };
    let failed = |message: String| {
        let message = format!("fetching revision {revision}: {message}");
        Verdict::failed(Reason::ArtifactFailed, message, revision)
    };
    let sources: Api<GitSource> = Api::namespaced(ctx.shared.client.clone(), &source.namespace);
    let git_source = match sources.get_opt(&source.name).await {
        Ok(Some(git_source)) => git_source,
        Ok(None) => return Err(failed(format!("GitSource {source} not found"))),
        Err(err) => return Err(failed(format!("reading GitSource {source}: {err}"))),
    };
    let mut artifact = super::source::fetch_commit(ctx, &git_source, commit)
        .await
        .map_err(failed)?;
    artifact.revision = revision.to_owned();
    ctx.set_artifact(key, artifact.clone());
    Ok(artifact)
}

/// Sets `Pinned` when the Sync is pinned to `revision`, removes it otherwise.
pub fn mark(conditions: &mut Vec<Condition>, revision: Option<&str>, generation: Option<i64>) {
    match revision {
        Some(revision) => conditions::set(
            conditions,
            PINNED,
            true,
            Reason::RolledBack,
            format!(
                "pinned to revision {revision} ({PINNED_REVISION_ANNOTATION}); new revisions of \
                 the source are not applied until `lockstep rollback --unpin`"
            ),
            generation,
        ),
        None => conditions::remove(conditions, PINNED),
    }
}
