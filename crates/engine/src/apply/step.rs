//! One object's step: read and dry-run to decide, then write (or not).

use std::time::Duration;

use kube::api::{DeleteParams, DynamicObject, Patch, PatchParams, PostParams, PropagationPolicy};
use serde_json::Value;
use tracing::debug;

use lockstep_api::FORCE_ANNOTATION;

use super::drift;
use super::resolve::Target;
use super::{Action, ApplyError, ApplyOptions, api_message};

/// What an apply will do to one object, decided by reads and a dry-run only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Step {
    Create,
    Configure,
    Unchanged,
    Replace,
}

impl Step {
    pub(super) fn action(self) -> Action {
        match self {
            Self::Create => Action::Created,
            Self::Configure => Action::Configured,
            Self::Unchanged => Action::Unchanged,
            Self::Replace => Action::Replaced,
        }
    }
}

/// What the read and the server-side dry-run of one object found.
pub(super) struct Probe {
    /// The live object, if there is one.
    pub(super) live: Option<DynamicObject>,
    /// How the API server answered the dry-run of our apply.
    pub(super) dry_run: DryRun,
    /// The body dry-run instead of the desired one, when respected ignore rules keep
    /// live values ([`super::IgnoreDifferences`]).
    pub(super) respected: Option<Value>,
}

/// The answer to a dry-run apply.
pub(super) enum DryRun {
    /// Accepted: the object as the apply would leave it.
    Merged(Box<DynamicObject>),
    /// `404`: something it needs (its namespace, an object it refers to) is not there yet.
    NotFound(String),
    /// `422` naming fields that cannot change.
    Immutable(String),
    /// Refused for another reason (the message, redacted for Secrets).
    Refused(String),
}

/// Reads the live object and dry-runs the apply (with the live values respected ignore
/// rules keep); writes nothing.
///
/// Without such rules the dry-run comes first and needs no live object, and it tells
/// whether there is one: what it would create comes back without a `resourceVersion`,
/// which only a stored object has. Then nothing is read, so the first apply of a Sync
/// costs one request per object less.
pub(super) async fn probe(
    target: &Target,
    body: &Value,
    options: &ApplyOptions,
) -> Result<Probe, ApplyError> {
    if !options.ignore.keeps_live() {
        let answer = dry_run(target, body, options).await;
        let created = answer.as_ref().is_ok_and(|merged| {
            merged
                .metadata
                .resource_version
                .as_deref()
                .is_none_or(str::is_empty)
        });
        let live = if created { None } else { read(target).await? };
        return Ok(Probe {
            dry_run: classify(target, answer, live.is_some()),
            live,
            respected: None,
        });
    }
    let live = read(target).await?;
    let respected = live.as_ref().and_then(|live| {
        let resource = &target.resource;
        let namespace = &target.namespace;
        options
            .ignore
            .respected(&resource.group, &resource.kind, namespace, body, live)
    });
    let answer = dry_run(target, respected.as_ref().unwrap_or(body), options).await;
    Ok(Probe {
        dry_run: classify(target, answer, live.is_some()),
        live,
        respected,
    })
}

/// The live object, if there is one.
async fn read(target: &Target) -> Result<Option<DynamicObject>, ApplyError> {
    target
        .api
        .get_opt(&target.name)
        .await
        .map_err(|e| ApplyError::Get {
            object: target.id.clone(),
            message: api_message(&e, target.withheld()),
        })
}

/// The server-side dry-run of applying `body`.
async fn dry_run(
    target: &Target,
    body: &Value,
    options: &ApplyOptions,
) -> Result<DynamicObject, kube::Error> {
    let params = PatchParams::apply(options.field_manager).force().dry_run();
    target
        .api
        .patch(&target.name, &params, &Patch::Apply(body))
        .await
}

/// What a dry-run's answer means; an immutable field only counts on an object that
/// `exists`.
fn classify(target: &Target, answer: Result<DynamicObject, kube::Error>, exists: bool) -> DryRun {
    let withheld = target.withheld();
    match answer {
        Ok(merged) => DryRun::Merged(Box::new(merged)),
        Err(kube::Error::Api(status)) if status.code == 404 => {
            DryRun::NotFound(api_message(&kube::Error::Api(status), withheld))
        }
        Err(err) if exists && is_immutable(&err) => DryRun::Immutable(immutable_fields(&err)),
        Err(err) => DryRun::Refused(api_message(&err, withheld)),
    }
}

/// The step a probe calls for: the dry-run result compared with the live object, and
/// an immutable-field change recreated only under `force`.
pub(super) fn decide(
    target: &Target,
    body: &Value,
    probe: &Probe,
    options: &ApplyOptions,
) -> Result<Step, ApplyError> {
    match (&probe.dry_run, &probe.live) {
        (DryRun::Merged(_), None) => Ok(Step::Create),
        (DryRun::Merged(merged), Some(live))
            if !drift::differing(target, live, merged, &options.ignore).is_empty() =>
        {
            Ok(Step::Configure)
        }
        (DryRun::Merged(_), Some(_)) => Ok(Step::Unchanged),
        (DryRun::Immutable(fields), live) => {
            let annotated =
                annotated_force(body) || live.as_ref().is_some_and(annotated_force_live);
            if options.force || annotated || options.sync_options.forces(body) {
                Ok(Step::Replace)
            } else {
                Err(ApplyError::ImmutableField {
                    object: target.id.clone(),
                    fields: fields.clone(),
                })
            }
        }
        (DryRun::NotFound(message) | DryRun::Refused(message), _) => Err(ApplyError::DryRun {
            object: target.id.clone(),
            message: message.clone(),
        }),
    }
}

/// Carries out a planned step on the object `live` is (when it exists); returns what
/// was done and the object as the write left it (nothing when nothing was written).
pub(super) async fn execute(
    target: &Target,
    body: &Value,
    live: Option<&DynamicObject>,
    step: Step,
    options: &ApplyOptions,
) -> Result<(Action, Option<DynamicObject>), ApplyError> {
    let params = PatchParams::apply(options.field_manager).force();
    let (action, written) = match step {
        Step::Unchanged => return Ok((Action::Unchanged, None)),
        Step::Create => (Action::Created, patch(target, &params, body).await?),
        Step::Configure if options.sync_options.replaces(body) => {
            if options.sync_options.forces(body) {
                let written = recreate(target, &params, body, options.wait_timeout).await?;
                (Action::Replaced, written)
            } else {
                let written = replace(target, body, live, options.field_manager).await?;
                (Action::Configured, written)
            }
        }
        Step::Configure => (Action::Configured, patch(target, &params, body).await?),
        Step::Replace => {
            let written = recreate(target, &params, body, options.wait_timeout).await?;
            (Action::Replaced, written)
        }
    };
    debug!(object = %target.id, %action, "applied");
    Ok((action, Some(written)))
}

async fn patch(
    target: &Target,
    params: &PatchParams,
    body: &Value,
) -> Result<DynamicObject, ApplyError> {
    target
        .api
        .patch(&target.name, params, &Patch::Apply(body))
        .await
        .map_err(|e| ApplyError::Apply {
            object: target.id.clone(),
            message: api_message(&e, target.withheld()),
        })
}

/// Replaces the object whole with `body`, at the `resourceVersion` of `live` (as `kubectl
/// replace` does: a custom resource cannot be updated without one), so a change made
/// since the dry-run is a conflict the next reconcile retries, never overwritten unseen.
async fn replace(
    target: &Target,
    body: &Value,
    live: Option<&DynamicObject>,
    field_manager: &str,
) -> Result<DynamicObject, ApplyError> {
    let failed = |message: String| ApplyError::Apply {
        object: target.id.clone(),
        message,
    };
    let mut object: DynamicObject = serde_json::from_value(body.clone())
        .map_err(|e| failed(format!("not an object to replace: {e}")))?;
    object.metadata.resource_version = live.and_then(|l| l.metadata.resource_version.clone());
    let params = PostParams {
        dry_run: false,
        field_manager: Some(field_manager.to_owned()),
    };
    target
        .api
        .replace(&target.name, &params, &object)
        .await
        .map_err(|e| failed(api_message(&e, target.withheld())))
}

async fn recreate(
    target: &Target,
    params: &PatchParams,
    body: &Value,
    timeout: Duration,
) -> Result<DynamicObject, ApplyError> {
    let delete = DeleteParams {
        propagation_policy: Some(PropagationPolicy::Background),
        ..DeleteParams::default()
    };
    match target.api.delete(&target.name, &delete).await {
        Ok(_) => {}
        Err(kube::Error::Api(status)) if status.code == 404 => {}
        Err(e) => {
            return Err(ApplyError::Delete {
                object: target.id.clone(),
                message: api_message(&e, target.withheld()),
            });
        }
    }
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        match target.api.get_opt(&target.name).await {
            Ok(None) => break,
            Ok(Some(_)) | Err(_) if tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            _ => {
                return Err(ApplyError::Wait {
                    object: target.id.clone(),
                    condition: "deleted",
                    after: timeout,
                });
            }
        }
    }
    patch(target, params, body).await
}

fn annotated_force(body: &Value) -> bool {
    let meta = &body["metadata"];
    [
        &meta["annotations"][FORCE_ANNOTATION],
        &meta["labels"][FORCE_ANNOTATION],
    ]
    .iter()
    .any(|v| {
        v.as_str()
            .is_some_and(|s| s.eq_ignore_ascii_case("enabled"))
    })
}

fn annotated_force_live(live: &DynamicObject) -> bool {
    let m = &live.metadata;
    [m.annotations.as_ref(), m.labels.as_ref()]
        .into_iter()
        .flatten()
        .filter_map(|map| map.get(FORCE_ANNOTATION))
        .any(|v| v.eq_ignore_ascii_case("enabled"))
}

/// An `Invalid` (422) answer that says a field cannot change.
fn is_immutable(err: &kube::Error) -> bool {
    let kube::Error::Api(status) = err else {
        return false;
    };
    if status.code != 422 {
        return false;
    }
    let says = |text: &str| {
        let text = text.to_ascii_lowercase();
        text.contains("immutable") || text.contains("may not change once set")
    };
    says(&status.message)
        || status
            .details
            .iter()
            .flat_map(|d| d.causes.iter())
            .any(|c| says(&c.message))
}

fn immutable_fields(err: &kube::Error) -> String {
    let kube::Error::Api(status) = err else {
        return String::new();
    };
    let fields: Vec<&str> = status
        .details
        .iter()
        .flat_map(|d| d.causes.iter())
        .map(|c| c.field.as_str())
        .filter(|f| !f.is_empty())
        .collect();
    if fields.is_empty() {
        "(unnamed)".to_owned()
    } else {
        fields.join(", ")
    }
}

pub(super) async fn wait_ready(target: &Target, timeout: Duration) -> Result<(), ApplyError> {
    let (condition, check): (&'static str, fn(&DynamicObject) -> bool) =
        match target.resource.kind.as_str() {
            "CustomResourceDefinition" => ("established", crd_established),
            "Namespace" => ("active", namespace_active),
            _ => return Ok(()),
        };
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Ok(live) = target.api.get(&target.name).await
            && check(&live)
        {
            return Ok(());
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(ApplyError::Wait {
                object: target.id.clone(),
                condition,
                after: timeout,
            });
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn crd_established(live: &DynamicObject) -> bool {
    live.data["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Established" && c["status"] == "True")
}

fn namespace_active(live: &DynamicObject) -> bool {
    live.data["status"]["phase"] == "Active"
}
