//! What applying a Sync's source now would change, object by object, for a person to read
//! (the web UI's diff): Git against the live objects, through the API server's dry-run of
//! the apply, so a defaulted field is not a change. Rendered, decrypted and checked as
//! its reconcile would be, as its ServiceAccount, on whichever replica is asked: the
//! commit is fetched here when this replica does not hold it. Nothing is written.
//!
//! Every diff comes out of [`unified_diff`]: Secret values and decrypted plaintext are
//! hidden on both sides.

use kube::ResourceExt;
use kube::api::Api;
use lockstep_api::{GitSource, InventoryEntry, ObjectKey, PlanAction, Sync};
use lockstep_engine::apply::{Action, unified_diff};
use lockstep_engine::inventory::id;

use super::intervals::SyncIntervals;
use super::reconcile::source_of;
use super::record::Verdict;
use super::target::sync_client;
use super::{SyncCtx, chart, decide, pin, values};

/// What an apply of `revision` would change.
#[derive(Debug)]
pub struct Preview {
    /// The revision compared: the pinned one, or the source's newest.
    pub revision: String,
    /// Each object the apply would create, change or replace, in apply order.
    pub objects: Vec<Change>,
    /// The objects that left the source and would be pruned.
    pub pruned: Vec<String>,
}

/// One object's change.
#[derive(Debug)]
pub struct Change {
    /// The object.
    pub object: InventoryEntry,
    /// What the diff cannot say by itself (a replace, a dry-run left for later).
    pub note: Option<&'static str>,
    /// The unified diff, values hidden.
    pub diff: String,
}

/// Dry-runs the apply of `sync`'s source.
///
/// # Errors
/// Why it cannot be compared (no revision yet, a render or decryption failure, a refused
/// object), as its status would say it.
pub async fn preview(ctx: &SyncCtx, sync: &Sync) -> Result<Preview, String> {
    let mut sync = sync.clone();
    let SyncIntervals {
        interval, timeout, ..
    } = SyncIntervals::parse(&sync.spec).map_err(|err| err.to_string())?;
    // A chart from a Helm or OCI repository: the version its constraint picks now,
    // fetched here unless this replica holds it fresh.
    let from_repository = chart::from_repository(&sync);
    if from_repository {
        chart::fetch(&sync, ctx, interval).await.map_err(why)?;
    }
    values::read(&mut sync, ctx).await?;
    // The source's newest: the artifact this replica holds, else its status' revision,
    // fetched here.
    let source = source_of(&sync);
    let held = ctx.artifact(&source);
    let revision = match (pin::pinned(&sync, ctx.front), &held) {
        (Some(pinned), _) => pinned.to_owned(),
        (None, Some(held)) => held.revision.clone(),
        (None, None) => last_revision(ctx, &source).await?,
    };
    let artifact = match held.filter(|held| held.revision == revision) {
        Some(held) => held,
        None if from_repository => {
            return Err(format!(
                "pinned to {revision}: a chart from a repository is compared only at the \
                 version its constraint picks now"
            ));
        }
        None => pin::artifact(ctx, &source, &revision).await.map_err(why)?,
    };
    let namespace = sync.namespace().unwrap_or_default();
    let client = sync_client(&sync, ctx, &namespace)
        .await
        .map_err(|err| err.to_string())?;
    let (previews, plan, redactor) = decide::dry_run(&sync, ctx, &artifact, &client, timeout)
        .await
        .map_err(why)?;
    let objects = previews
        .into_iter()
        .filter_map(|preview| {
            let note = match (preview.action, preview.checked) {
                (Action::Replaced, _) => Some("replaced: an immutable field changes"),
                (_, false) => Some("shown as written: dry-run once the objects it needs exist"),
                _ => None,
            };
            let diff = unified_diff(
                &id(&preview.object),
                preview.live,
                preview.merged,
                &redactor,
            )?;
            Some(Change {
                object: preview.object,
                note,
                diff,
            })
        })
        .collect();
    let pruned = plan
        .changes
        .into_iter()
        .filter(|change| change.action == PlanAction::Pruned)
        .map(|change| change.object)
        .collect();
    Ok(Preview {
        revision,
        objects,
        pruned,
    })
}

/// The revision GitSource `source` last resolved, as its status names it.
async fn last_revision(ctx: &SyncCtx, source: &ObjectKey) -> Result<String, String> {
    let sources: Api<GitSource> = Api::namespaced(ctx.shared.client.clone(), &source.namespace);
    let found = sources
        .get_opt(&source.name)
        .await
        .map_err(|err| format!("reading GitSource {source}: {err}"))?
        .ok_or_else(|| format!("GitSource {source} not found"))?;
    found
        .status
        .and_then(|status| status.last_attempted_revision)
        .ok_or_else(|| format!("GitSource {source} has no revision yet"))
}

/// The message of a verdict that stopped the comparison.
fn why(verdict: Verdict) -> String {
    match verdict {
        Verdict::Waiting { message, .. }
        | Verdict::Failed { message, .. }
        | Verdict::Stalled(message) => message,
        Verdict::Applied { summary, .. } => summary,
        Verdict::Planned(_) | Verdict::Applying { .. } => "not compared".to_owned(),
    }
}
