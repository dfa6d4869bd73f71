//! `dependsOn`: a Sync (Kustomization, HelmRelease) applies only once each resource it
//! names is ready. Ready is Flux's built-in rule — `Ready=True` at the current generation,
//! and, for a Kustomization of the same source, applied at the revision about to be applied
//! (so a new commit reaches the dependency first) — or, when the entry has a `readyExpr`,
//! that CEL expression alone (Flux's default, without its `AdditiveCELDependencyCheck`
//! gate): `self` is this resource and `dep` the dependency, both as the API server returns
//! them.

use kube::api::{Api, DynamicObject};
use kube::core::Resource;
use lockstep_api::{Condition, DependsOn, Sync};
use lockstep_engine::cel::Expression;
use serde_json::Value;

use super::SyncCtx;
use super::conditions::{self, READY, Reason};
use super::front::Front;
use super::record::Verdict;

/// The first dependency that is not ready for `revision` (`None`: any revision, for a
/// Sync pinned by a rollback), as a wait; a stall when a `readyExpr` does not parse or a
/// dependency is out of reach.
pub(super) async fn dependencies(
    sync: &Sync,
    ctx: &SyncCtx,
    namespace: &str,
    revision: Option<&str>,
) -> Option<Verdict> {
    // An Application has no dependsOn; its Sync never names a dependency.
    if ctx.front == Front::ArgoCd {
        return None;
    }
    let resource = ctx.front.sync_resource();
    let api = |namespace: &str| {
        Api::<DynamicObject>::namespaced_with(ctx.shared.client.clone(), namespace, &resource)
    };
    // This resource as `self` for `readyExpr`s: read at the first one, once.
    let mut this: Option<Value> = None;
    for (i, dependency) in sync.spec.depends_on.iter().enumerate() {
        let dep_namespace = dependency.namespace.as_deref().unwrap_or(namespace);
        let name = format!("{dep_namespace}/{}", dependency.name);
        if ctx.no_cross_namespace_refs && dep_namespace != namespace {
            return Some(Verdict::Stalled(format!(
                "dependency {name} is in another namespace, which this controller refuses"
            )));
        }
        let expression = match ready_expr(i, dependency) {
            Ok(expression) => expression,
            Err(refusal) => return Some(Verdict::Stalled(refusal)),
        };
        let dep = api(dep_namespace)
            .get_opt(&dependency.name)
            .await
            .ok()
            .flatten();
        let ready = match (dep, expression) {
            (None, _) => Err(format!("dependency '{name}' is not ready")),
            (Some(dep), None) if !built_in(&dep) => {
                Err(format!("dependency '{name}' is not ready"))
            }
            (Some(dep), None)
                if ctx.front == Front::Flux
                    && revision.is_some_and(|revision| behind(sync, &dep, revision)) =>
            {
                Err(format!("dependency '{name}' revision is not up to date"))
            }
            (Some(_), None) => Ok(()),
            (Some(dep), Some(expression)) => {
                if this.is_none() {
                    let read = api(namespace).get_opt(&sync_name(sync)).await;
                    this = Some(read.ok().flatten().map(json).unwrap_or(Value::Null));
                }
                let this = this.as_ref().unwrap_or(&Value::Null);
                match expression.evaluate([("self", this), ("dep", &json(dep))]) {
                    Ok(true) => Ok(()),
                    Ok(false) => Err(format!(
                        "dependency '{name}' is not ready according to readyExpr eval"
                    )),
                    Err(err) => Err(format!("dependency '{name}': readyExpr: {err}")),
                }
            }
        };
        if let Err(message) = ready {
            return Some(Verdict::Waiting {
                reason: Reason::DependencyNotReady,
                message,
            });
        }
    }
    None
}

/// The entry's `readyExpr`, compiled; `None` when it has none.
fn ready_expr(index: usize, dependency: &DependsOn) -> Result<Option<Expression>, String> {
    let Some(source) = dependency.ready_expr.as_deref() else {
        return Ok(None);
    };
    Expression::compile(source)
        .map(Some)
        .map_err(|reason| format!("spec.dependsOn[{index}].readyExpr: {reason}"))
}

/// Flux's rule: `Ready=True`, observed at the current generation.
fn built_in(dep: &DynamicObject) -> bool {
    let generation = dep.meta().generation;
    let status = &dep.data["status"];
    let conditions: Vec<Condition> =
        serde_json::from_value(status["conditions"].clone()).unwrap_or_default();
    conditions::is_true(&conditions, READY) && status["observedGeneration"].as_i64() == generation
}

/// Whether Kustomization `dep` reads the source `sync` reads and has not applied
/// `revision` of it yet (Flux's check, for Kustomizations only).
fn behind(sync: &Sync, dep: &DynamicObject, revision: &str) -> bool {
    let reference = &dep.data["spec"]["sourceRef"];
    let text = |field: &str| reference[field].as_str().unwrap_or_default();
    let dep_namespace = dep.metadata.namespace.as_deref().unwrap_or_default();
    let ours = &sync.spec.source_ref;
    let our_namespace = sync.metadata.namespace.as_deref().unwrap_or_default();
    // The Sync a Kustomization is read into names a GitRepository `GitSource`.
    let kind = |kind| match kind {
        "GitRepository" => "GitSource",
        other => other,
    };
    let same_source = text("name") == ours.name
        && Some(text("namespace"))
            .filter(|n| !n.is_empty())
            .unwrap_or(dep_namespace)
            == ours.namespace.as_deref().unwrap_or(our_namespace)
        && kind(text("kind")) == kind(&ours.kind);
    same_source && dep.data["status"]["lastAppliedRevision"].as_str() != Some(revision)
}

fn sync_name(sync: &Sync) -> String {
    sync.metadata.name.clone().unwrap_or_default()
}

fn json(object: DynamicObject) -> Value {
    serde_json::to_value(object).unwrap_or(Value::Null)
}
