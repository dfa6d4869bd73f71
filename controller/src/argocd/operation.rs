//! A requested operation (`operation.sync`) as Argo CD's API server writes it for `argocd
//! app sync` and `argocd app rollback`, and as a hand-written patch does: what it changes
//! in the sync it asks for (the revision, the strategy and its `force`, the sync options,
//! the retries), what of it Lockstep does not serve, and its removal once it ran.

use kube::api::{Api, Patch, PatchParams};
use lockstep_api::argocd::{Application, ApplicationSource, Operation, SyncOperation};
use lockstep_api::{Backoff, ObjectKey};
use serde_json::json;

use super::{Error, retry};
use crate::sync::SyncCtx;

/// The sync `app` asks for, if it asks for one.
pub fn requested(app: &Application) -> Option<&SyncOperation> {
    app.operation.as_ref()?.sync.as_ref()
}

/// The fields of `app`'s operation Lockstep does not serve, by path, and a source other
/// than `spec.source`'s repository, path and chart.
pub fn unserved(app: &Application) -> Vec<String> {
    let Some(operation) = &app.operation else {
        return Vec::new();
    };
    let mut fields = operation.unserved();
    let same = |a: &ApplicationSource, b: &ApplicationSource| {
        (&a.repo_url, &a.path, &a.chart) == (&b.repo_url, &b.path, &b.chart)
    };
    let asked = operation.sync.as_ref().and_then(|s| s.source.as_ref());
    if let (Some(asked), Some(own)) = (asked, &app.spec.source)
        && !same(asked, own)
    {
        fields.push("operation.sync.source (another repository, path or chart)".into());
    }
    fields
}

/// The sync options in force: a requested sync's own when it names any (Argo CD's
/// controller syncs with the operation's, which its API server copies from the spec),
/// else `syncPolicy.syncOptions`.
pub fn sync_options(app: &Application) -> &[String] {
    match requested(app) {
        Some(sync) if !sync.sync_options.is_empty() => &sync.sync_options,
        _ => app
            .spec
            .sync_policy
            .as_ref()
            .map_or(&[], |p| &p.sync_options),
    }
}

/// Whether a requested sync asks for `force` (`argocd app sync --force`).
pub fn forces(app: &Application) -> bool {
    let strategy = requested(app).and_then(|s| s.sync_strategy.as_ref());
    strategy.and_then(|s| s.options()).is_some_and(|o| o.force)
}

/// Whether a requested sync leaves the hooks out (the `apply` strategy, what `argocd app
/// rollback` writes).
pub fn skips_hooks(app: &Application) -> bool {
    let strategy = requested(app).and_then(|s| s.sync_strategy.as_ref());
    strategy.is_some_and(|s| !s.runs_hooks())
}

/// The retries of a requested sync (`operation.retry`); `None` without one, the refusal
/// naming a field that does not read.
pub fn backoff(app: &Application) -> Option<Result<Backoff, String>> {
    let retry = app.operation.as_ref()?.retry.as_ref()?;
    Some(retry::backoff(retry, "operation.retry"))
}

/// Removes the requested operation of Application `key` once it was handled, if it is
/// still the one that ran (`ran`): a reconcile can run on an object read before the last
/// removal, and must not take away an operation written since (a rollback right after a
/// sync). The removal is conditioned on the resource version it was checked at.
///
/// # Errors
/// [`Error::Write`] when the Application cannot be read or patched.
pub async fn remove(ctx: &SyncCtx, key: ObjectKey, ran: &Operation) -> Result<(), Error> {
    ctx.memory.retries.forget(&key);
    let applications: Api<Application> = Api::namespaced(ctx.shared.client.clone(), &key.namespace);
    let failed = |source| Error::Write {
        what: "removing the operation",
        name: key.clone(),
        source,
    };
    for _ in 0..3 {
        let Some(live) = applications.get_opt(&key.name).await.map_err(failed)? else {
            return Ok(());
        };
        if live.operation.as_ref() != Some(ran) {
            return Ok(());
        }
        let patch = Patch::Merge(json!({
            "metadata": {"resourceVersion": live.metadata.resource_version},
            "operation": null,
        }));
        match applications
            .patch(&key.name, &PatchParams::default(), &patch)
            .await
        {
            Err(kube::Error::Api(status)) if status.code == 409 => continue,
            done => return done.map(drop).map_err(failed),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn app(operation: serde_json::Value) -> Application {
        serde_json::from_value(json!({
            "metadata": {"name": "web", "namespace": "argocd"},
            "spec": {"project": "default",
                     "source": {"repoURL": "https://example.invalid/a.git", "path": "web"},
                     "destination": {"server": "https://kubernetes.default.svc"},
                     "syncPolicy": {"syncOptions": ["CreateNamespace=true"]}},
            "operation": operation,
        }))
        .unwrap()
    }

    /// `argocd app sync` runs hooks with the spec's options, `argocd app rollback` leaves
    /// them out, `--force` forces, and options named by the operation replace the spec's.
    #[test]
    fn strategies_and_options() {
        let sync = app(json!({"sync": {"syncStrategy": {"hook": {}}}}));
        assert!(!skips_hooks(&sync) && !forces(&sync));
        assert_eq!(sync_options(&sync), ["CreateNamespace=true"]);
        let rollback = app(json!({"sync": {"syncStrategy": {"apply": {}}}}));
        assert!(skips_hooks(&rollback));
        let forced = app(json!({"sync": {"syncStrategy": {"hook": {"force": true}}}}));
        assert!(forces(&forced) && !skips_hooks(&forced));
        let both = app(json!({"sync": {"syncStrategy": {"apply": {}, "hook": {"force": true}}}}));
        assert!(
            skips_hooks(&both) && !forces(&both),
            "apply wins, as in Argo CD"
        );
        let own = app(json!({"sync": {"syncOptions": ["Replace=true"]}}));
        assert_eq!(sync_options(&own), ["Replace=true"]);
        let none = app(json!({"sync": {}}));
        assert!(!skips_hooks(&none) && !forces(&none) && backoff(&none).is_none());
        let mut elsewhere =
            app(json!({"sync": {"source": {"repoURL": "https://x.invalid/b.git"}}}));
        assert_eq!(
            unserved(&elsewhere),
            ["operation.sync.source (another repository, path or chart)"]
        );
        elsewhere.operation = None;
        assert!(unserved(&elsewhere).is_empty() && requested(&elsewhere).is_none());
    }
}
