//! One reconcile of one ExternalSecret, in ESO v0.16.2's order: skip when nothing is due,
//! read every value (with the target Secret and the Secrets it created under other names,
//! at once), apply the deletion and creation policies, write the Secret under ESO's field
//! manager, then the status. A failure to read or write leaves the Secret as it
//! was and becomes `Ready=False` (`SecretSyncedError`) naming the field at fault.

use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, DeleteParams, ListParams, PostParams};
use kube::runtime::controller::Action;
use kube::runtime::events::EventType;
use lockstep_api::ExternalSecret;
use lockstep_api::external_secrets::{CreationPolicy, DeletionPolicy, ESO_CREATED_BY_LABEL};
use lockstep_eso::fetch::{Fetched, target_name};
use lockstep_eso::status::{Outcome, Reason, message, next, requeue_after, should_refresh};
use lockstep_eso::template::{self, Sources};
use lockstep_eso::{go, target};

use super::Ctx;
use super::status::{EventReason, publish, write_status};

/// How soon a failed ExternalSecret is tried again (Vault back, a Secret created).
const RETRY: Duration = Duration::from_secs(30);

/// A Kubernetes call failed; the reconcile is retried.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A read or write of the API server failed.
    #[error("ExternalSecret {name}: {step}")]
    Kube {
        /// `namespace/name` of the ExternalSecret.
        name: String,
        /// What was being done.
        step: String,
        /// The API error.
        #[source]
        source: kube::Error,
    },
}

/// Reconciles one ExternalSecret.
///
/// # Errors
/// [`Error`] when the API server fails; what the user must fix ends in `Ok` with
/// `Ready=False`.
pub async fn reconcile(es: Arc<ExternalSecret>, ctx: Arc<Ctx>) -> Result<Action, Error> {
    let start = Timestamp::now();
    let es = ctx.freshest(es);
    if es.metadata.deletion_timestamp.is_some() {
        return Ok(Action::await_change());
    }
    let namespace = es.metadata.namespace.clone().unwrap_or_default();
    let es_name = es.metadata.name.clone().unwrap_or_default();
    let full_name = format!("{namespace}/{es_name}");
    let kube_error = |step: String| api_error(&full_name, step);
    let secrets: Api<Secret> = Api::namespaced(ctx.shared.client.clone(), &namespace);
    let name = target_name(&es);
    let get_target = async || {
        secrets
            .get_opt(&name)
            .await
            .map_err(kube_error(format!("reading Secret {namespace}/{name}")))
    };
    let unwritten = ctx.refreshes.of(&es);
    // Nothing due: the target is looked at only to restore it if it is no longer valid.
    let looked = if should_refresh(&es, unwritten, start) {
        None
    } else {
        if ctx.echoes.unchanged(&namespace, &name) {
            return Ok(requeue(&es, requeue_after(&es, unwritten, start)));
        }
        let existing = get_target().await?;
        if target::is_valid(existing.as_ref()) {
            return Ok(requeue(&es, requeue_after(&es, unwritten, start)));
        }
        Some(existing)
    };
    // What the write needs, read at once: the target, the values, the Secrets an `Owner`
    // ExternalSecret created under other names. One after the other, they were most of a
    // reconcile's time.
    let (existing, read, orphans) = tokio::join!(
        async {
            match looked {
                Some(existing) => Ok(existing),
                None => get_target().await,
            }
        },
        read(&ctx, &es, &namespace),
        orphans(&es, &secrets, &name),
    );
    let existing = existing?;

    let outcome = match read {
        Err(err) => {
            publish(
                &ctx,
                &es,
                EventType::Warning,
                EventReason::UpdateFailed,
                &err,
            )
            .await;
            Outcome::failed(format!("{}: {err}", message::GET_DATA_FAILED))
        }
        Ok((fetched, sources)) => {
            for field in &fetched.missing {
                let note = format!("secret does not exist at provider using {field}");
                let reason = EventReason::MissingProviderSecret;
                publish(&ctx, &es, EventType::Normal, reason, &note).await;
            }
            write(&ctx, &es, &secrets, existing, fetched, sources, orphans).await?
        }
    };

    let status = next(&es, &outcome, start);
    if es.status.as_ref() != Some(&status) {
        write_status(&ctx, &es, &status)
            .await
            .map_err(kube_error("writing the status".into()))?;
        ctx.wrote(&es, &status);
        ctx.refreshes.forget(&es);
    } else if outcome.ready {
        // Nothing changed, nothing written: the refresh is remembered instead.
        ctx.refreshes.remember(&es, start);
        return Ok(requeue(&es, requeue_after(&es, Some(start), start)));
    }
    if !outcome.ready {
        tracing::warn!(external_secret = %full_name, reason = outcome.reason.as_str(), "ExternalSecret not synced");
        return Ok(Action::requeue(RETRY));
    }
    let mut written = (*es).clone();
    written.status = Some(status);
    Ok(requeue(&es, requeue_after(&written, None, start)))
}

/// Transient failures retry after a short pause.
pub fn error_policy(_es: Arc<ExternalSecret>, error: &Error, _ctx: Arc<Ctx>) -> Action {
    tracing::warn!(error = %format!("{error:#}"), "ExternalSecret reconcile failed; retrying in 15s");
    Action::requeue(Duration::from_secs(15))
}

/// An API failure of the ExternalSecret `name` while doing `step`.
fn api_error(name: &str, step: String) -> impl FnOnce(kube::Error) -> Error + use<> {
    let name = name.to_owned();
    move |source| Error::Kube { name, step, source }
}

/// Looks at `es` again `after` (never for `None`), later by its jitter ([`jittered`]).
fn requeue(es: &ExternalSecret, after: Option<Duration>) -> Action {
    after.map_or_else(Action::await_change, |after| {
        Action::requeue(jittered(es, after))
    })
}

/// How much later than the wait an ExternalSecret is looked at again, at most, as a share
/// of the wait.
const JITTER: f64 = 0.1;

/// `after`, lengthened by up to [`JITTER`] of it: by a share fixed for each object (from
/// its uid), so a set created or refreshed in one burst drifts apart over the next
/// intervals instead of reading its provider in one burst every time, and a restart does
/// not gather it again.
fn jittered(es: &ExternalSecret, after: Duration) -> Duration {
    let uid = es.metadata.uid.as_deref().unwrap_or_default();
    let sum = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, uid.as_bytes());
    let bytes = sum.as_ref();
    let share = f64::from(u16::from_be_bytes([bytes[0], bytes[1]])) / f64::from(u16::MAX);
    after + after.mul_f64(JITTER * share)
}

/// What the template's `templateFrom` names, or why it could not be read: a failure
/// counts only where ESO applies the template (a Secret to write), as ESO reads them there.
type TemplateSources = Result<Sources, lockstep_eso::Error>;

/// Finds the store, logs in (or reuses its login, [`super::clients`]) and reads every
/// value, and what the template's `templateFrom` names.
async fn read(
    ctx: &Ctx,
    es: &ExternalSecret,
    namespace: &str,
) -> Result<(Fetched, TemplateSources), lockstep_eso::Error> {
    let fetched = ctx
        .clients
        .fetch(&ctx.shared.client, &ctx.stores, es, namespace)
        .await?;
    let sources = match es.spec.target.as_ref().and_then(|t| t.template.as_ref()) {
        Some(spec) => template::sources(&ctx.shared.client, namespace, spec).await,
        None => Ok(Sources::default()),
    };
    Ok((fetched, sources))
}

/// Applies the deletion and creation policies to the values read and writes the Secret;
/// `orphans` as [`orphans`] listed them.
async fn write(
    ctx: &Ctx,
    es: &ExternalSecret,
    secrets: &Api<Secret>,
    existing: Option<Secret>,
    fetched: Fetched,
    sources: TemplateSources,
    orphans: Result<Vec<String>, Error>,
) -> Result<Outcome, Error> {
    let target = es.spec.target.clone().unwrap_or_default();
    let creation = target.creation_policy.unwrap_or_default();
    let name = target_name(es);
    let es_name = es.metadata.name.clone().unwrap_or_default();
    let namespace = es.metadata.namespace.clone().unwrap_or_default();
    let full_name = format!("{namespace}/{es_name}");
    let kube_error = |step: String| api_error(&full_name, step);

    if fetched.data.is_empty() {
        match target.deletion_policy.unwrap_or_default() {
            DeletionPolicy::Delete if creation != CreationPolicy::Owner => {
                return Ok(Outcome::failed(format!(
                    "{}: spec.target.deletionPolicy Delete needs creationPolicy Owner, not {creation:?}",
                    message::DELETE_FAILED
                )));
            }
            DeletionPolicy::Delete => {
                if existing.is_some() {
                    match secrets.delete(&name, &DeleteParams::default()).await {
                        Ok(_) => {}
                        Err(kube::Error::Api(status)) if status.code == 404 => {}
                        Err(e) => {
                            return Err(kube_error(format!("deleting Secret {namespace}/{name}"))(
                                e,
                            ));
                        }
                    }
                    publish(
                        ctx,
                        es,
                        EventType::Normal,
                        EventReason::Deleted,
                        message::DELETED,
                    )
                    .await;
                    return Ok(Outcome::done(Reason::SecretDeleted, message::DELETED, None).wrote());
                }
                return Ok(Outcome::done(Reason::SecretDeleted, message::DELETED, None));
            }
            DeletionPolicy::Retain => {
                return Ok(Outcome::done(
                    Reason::SecretSynced,
                    message::SYNCED_RETAIN,
                    None,
                ));
            }
            DeletionPolicy::Merge => {}
        }
    }

    match creation {
        CreationPolicy::None => {
            return Ok(Outcome::done(Reason::SecretSynced, message::SYNCED, None));
        }
        CreationPolicy::Merge if existing.is_none() => {
            return Ok(Outcome::done(Reason::SecretMissing, message::MISSING, None));
        }
        CreationPolicy::Owner => delete_orphans(ctx, es, secrets, orphans?).await?,
        CreationPolicy::Merge | CreationPolicy::Orphan => {}
    }

    // As ESO's `markAsFailed`: a Warning event with what failed, the class in the status.
    let failed = async |class: &str, err: String| {
        publish(ctx, es, EventType::Warning, EventReason::UpdateFailed, &err).await;
        Outcome::failed(format!("{class}: {err}"))
    };
    let sources = match sources {
        Ok(sources) => sources,
        Err(err) => return Ok(failed(message::UPDATE_FAILED, err.to_string()).await),
    };
    let mut desired = match target::desired(existing.as_ref(), es, fetched.data, &sources) {
        Ok(desired) => desired,
        Err(err) => return Ok(failed(err.class(), err.to_string()).await),
    };
    let manager = target::field_manager(&es_name);
    let params = PostParams {
        field_manager: Some(manager),
        ..PostParams::default()
    };
    let wrote = match existing {
        None => {
            let step = format!("creating Secret {namespace}/{name}");
            match secrets.create(&params, &desired).await {
                Ok(created) => ctx.echoes.wrote(&created),
                Err(err) => return refused(err, &step).map_err(kube_error(step)),
            }
            publish(
                ctx,
                es,
                EventType::Normal,
                EventReason::Created,
                "secret created",
            )
            .await;
            true
        }
        Some(existing) if existing == desired => false,
        Some(existing) => {
            if existing.immutable == Some(true)
                && (existing.data != desired.data || existing.type_ != desired.type_)
            {
                return Ok(Outcome::failed(format!(
                    "{}: Secret {namespace}/{name}",
                    message::UPDATE_IMMUTABLE
                )));
            }
            // The server keeps managedFields when the request leaves them out.
            desired.metadata.managed_fields = None;
            let step = format!("updating Secret {namespace}/{name}");
            match secrets.replace(&name, &params, &desired).await {
                Ok(replaced) => ctx.echoes.wrote(&replaced),
                Err(err) => return refused(err, &step).map_err(kube_error(step)),
            }
            publish(
                ctx,
                es,
                EventType::Normal,
                EventReason::Updated,
                "secret updated",
            )
            .await;
            true
        }
    };
    Ok(Outcome {
        wrote,
        ..Outcome::done(Reason::SecretSynced, message::SYNCED, Some(name))
    })
}

/// A write of the Secret the API server refused as invalid (a template's `type` whose
/// required keys are missing, a key it rejects) fails the ExternalSecret, as ESO's does
/// (`could not update secret`); other errors are retried. The server's message names the
/// field and redacts Secret data.
fn refused(err: kube::Error, step: &str) -> Result<Outcome, kube::Error> {
    match err {
        kube::Error::Api(status) if matches!(status.code, 400 | 422) => {
            Ok(Outcome::failed(format!(
                "{}: {step}: the API server refused it: {}",
                message::UPDATE_FAILED,
                status.message
            )))
        }
        err => Err(err),
    }
}

/// The Secrets an `Owner` ExternalSecret created under another name than `name` (its
/// target was renamed), found by ESO's `created-by` label; none for other policies.
async fn orphans(
    es: &ExternalSecret,
    secrets: &Api<Secret>,
    name: &str,
) -> Result<Vec<String>, Error> {
    let creation = es.spec.target.as_ref().and_then(|t| t.creation_policy);
    if creation.unwrap_or_default() != CreationPolicy::Owner {
        return Ok(Vec::new());
    }
    let namespace = es.metadata.namespace.clone().unwrap_or_default();
    let es_name = es.metadata.name.clone().unwrap_or_default();
    let owner = go::hash_str(&format!("{namespace}/{es_name}"));
    let selector = format!("{ESO_CREATED_BY_LABEL}={owner}");
    let list = secrets
        .list_metadata(&ListParams::default().labels(&selector))
        .await
        .map_err(api_error(
            &format!("{namespace}/{es_name}"),
            "listing the Secrets it created".into(),
        ))?;
    Ok(list
        .items
        .into_iter()
        .filter_map(|orphan| orphan.metadata.name)
        .filter(|orphan| orphan != name)
        .collect())
}

/// Deletes the `orphans` this ExternalSecret created under other names.
async fn delete_orphans(
    ctx: &Ctx,
    es: &ExternalSecret,
    secrets: &Api<Secret>,
    orphans: Vec<String>,
) -> Result<(), Error> {
    let namespace = es.metadata.namespace.clone().unwrap_or_default();
    let es_name = es.metadata.name.clone().unwrap_or_default();
    let full_name = format!("{namespace}/{es_name}");
    let kube_error = |step: String| api_error(&full_name, step);
    for orphan_name in orphans {
        match secrets.delete(&orphan_name, &DeleteParams::default()).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => {
                return Err(kube_error(format!(
                    "deleting orphaned Secret {namespace}/{orphan_name}"
                ))(e));
            }
        }
        publish(
            ctx,
            es,
            EventType::Normal,
            EventReason::Deleted,
            "secret deleted because it was orphaned",
        )
        .await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Each object waits a little longer than its interval, by at most a tenth, and not
    /// all by the same.
    #[test]
    fn refreshes_are_spread_by_a_share_fixed_per_object() {
        let hour = Duration::from_secs(3600);
        let waits: Vec<Duration> = (0..50)
            .map(|i| {
                let mut es = ExternalSecret::new("es", Default::default());
                es.metadata.uid = Some(format!("5f0c2a9e-0000-4000-8000-{i:012}"));
                assert_eq!(jittered(&es, hour), jittered(&es, hour), "fixed per object");
                jittered(&es, hour)
            })
            .collect();
        assert!(waits.iter().all(|w| *w >= hour && *w <= hour.mul_f64(1.1)));
        let spread = waits
            .iter()
            .max()
            .unwrap()
            .saturating_sub(*waits.iter().min().unwrap());
        assert!(
            spread > Duration::from_secs(180),
            "spread over {spread:?} only"
        );
    }
}
