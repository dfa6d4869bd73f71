//! The ExternalSecret controller: serves the External Secrets Operator's
//! `external-secrets.io/v1` ExternalSecrets unchanged, against ESO's own CRDs or
//! Lockstep's. It watches ExternalSecrets in every namespace (with `--all-namespaces=false`
//! its own and `--additional-namespaces`, as ESO's `--namespace`) and the Secrets ESO's `managed` label
//! marks, and keeps each target Secret equal to what ESO v0.16.2 would write (the
//! semantics live in `lockstep-eso`; this module does the Kubernetes I/O).

mod clients;
mod reconcile;
mod status;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::Api;
use kube::runtime::events::{Recorder, Reporter};
use kube::runtime::reflector::ObjectRef;
use kube::runtime::{Controller, controller, watcher};
use lockstep_api::external_secrets::{ESO_MANAGED_LABEL, ExternalSecretStatus};
use lockstep_api::{ExternalSecret, ObjectKey};
use lockstep_eso::fetch::targets;

/// What every reconcile shares: the controller's one [`crate::context::Ctx`], plus the
/// ExternalSecret side's own event recorder and the statuses it wrote.
pub struct Ctx {
    /// What every part of the controller shares (the client).
    shared: Arc<crate::context::Ctx>,
    /// Publishes events as `external-secrets`, the component name ESO uses.
    recorder: Recorder,
    /// The status last written to each ExternalSecret (by uid), and when, kept for
    /// [`WRITTEN_FOR`]: the target Secret's own event wakes an ExternalSecret before its new
    /// status is in the cache, and without this it would read its provider again.
    written: Mutex<HashMap<ObjectKey, (String, ExternalSecretStatus, Instant)>>,
    /// The providers logged in lately, one per store ([`clients`]).
    clients: clients::Clients,
    /// The target Secrets as this controller last wrote them ([`Echoes`]).
    echoes: Echoes,
}

/// The `resourceVersion` of each target Secret as this controller last wrote it, and when,
/// kept for [`WRITTEN_FOR`]: the watch event of that very write wakes nobody, as its
/// ExternalSecret would only read the Secret to find it as written. A change by anyone
/// else, a deletion included, comes with another `resourceVersion` and wakes it.
#[derive(Default)]
struct Echoes(Mutex<HashMap<ObjectKey, (String, Instant)>>);

impl Echoes {
    /// Notes the target Secret just written, as the API server answered the write.
    fn wrote(&self, secret: &Secret) {
        let Some(version) = secret.metadata.resource_version.clone() else {
            return;
        };
        let mut echoes = self.0.lock().unwrap_or_else(|e| e.into_inner());
        echoes.retain(|_, (_, at)| at.elapsed() <= WRITTEN_FOR);
        echoes.insert(ObjectKey::of(secret), (version, Instant::now()));
    }

    /// Whether the watch's `secret` is this controller's own last write of it (then
    /// forgotten: it is seen once).
    fn echo(&self, secret: &Secret) -> bool {
        let mut echoes = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let key = ObjectKey::of(secret);
        let version = secret.metadata.resource_version.as_ref();
        let own = echoes
            .get(&key)
            .is_some_and(|(wrote, _)| version == Some(wrote));
        if own {
            echoes.remove(&key);
        }
        own
    }
}

/// How long a written status stands in for the cache's: far longer than the watch takes
/// to deliver it, short enough that deleted ExternalSecrets leave nothing behind for long.
const WRITTEN_FOR: Duration = Duration::from_secs(60);

impl Ctx {
    /// `es` with the status this controller last wrote to it, when the cached object is
    /// older (same uid, an older or no `refreshTime`).
    fn freshest(&self, es: Arc<ExternalSecret>) -> Arc<ExternalSecret> {
        let written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        let Some((uid, status, at)) = written.get(&ObjectKey::of(&*es)) else {
            return es;
        };
        if at.elapsed() > WRITTEN_FOR {
            return es;
        }
        let refreshed = |s: Option<&ExternalSecretStatus>| {
            s.and_then(|s| s.refresh_time.as_deref()?.parse::<jiff::Timestamp>().ok())
        };
        let lagging = es.metadata.uid.as_ref() == Some(uid)
            && refreshed(es.status.as_ref()) < refreshed(Some(status));
        if !lagging {
            return es;
        }
        let mut newer = (*es).clone();
        newer.status = Some(status.clone());
        Arc::new(newer)
    }

    /// Notes the status just written to `es`.
    fn wrote(&self, es: &ExternalSecret, status: &ExternalSecretStatus) {
        let Some(uid) = es.metadata.uid.clone() else {
            return;
        };
        let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
        written.retain(|_, (_, _, at)| at.elapsed() <= WRITTEN_FOR);
        written.insert(ObjectKey::of(es), (uid, status.clone(), Instant::now()));
    }
}

/// Runs the controller until SIGTERM or Ctrl-C: one watch over every namespace, or, with
/// `--all-namespaces=false`, one per watched namespace (the controller's own and
/// `--additional-namespaces`), as ESO's `--namespace` scopes it. Each reconciles at most
/// `--concurrent` ExternalSecrets at once (ESO's flag): unbounded, a backlog of 1,000
/// opened a connection to the API server and to the provider for each.
pub async fn run(shared: Arc<crate::context::Ctx>) {
    let reporter = Reporter {
        controller: "external-secrets".into(),
        instance: std::env::var("POD_NAME").ok(),
    };
    let client = shared.client.clone();
    let ctx = Arc::new(Ctx {
        recorder: Recorder::new(client.clone(), reporter),
        shared,
        written: Mutex::default(),
        clients: clients::Clients::default(),
        echoes: Echoes::default(),
    });
    let Some(namespaces) = ctx.shared.watched_namespaces() else {
        return run_for(Api::all(client.clone()), Api::all(client), ctx).await;
    };
    let controllers = namespaces.iter().map(|namespace| {
        run_for(
            Api::namespaced(client.clone(), namespace),
            Api::namespaced(client.clone(), namespace),
            ctx.clone(),
        )
    });
    futures::future::join_all(controllers).await;
}

async fn run_for(externalsecrets: Api<ExternalSecret>, secrets: Api<Secret>, ctx: Arc<Ctx>) {
    let managed = watcher::Config::default().labels(&format!("{ESO_MANAGED_LABEL}=true"));
    let config = controller::Config::default().concurrency(ctx.shared.concurrent);
    let controller =
        Controller::new(externalsecrets, watcher::Config::default()).with_config(config);
    let store = controller.store();
    let watching = Arc::clone(&ctx);
    controller
        .watches(secrets, managed, move |secret: Secret| {
            if watching.echoes.echo(&secret) {
                return Vec::new();
            }
            store
                .state()
                .into_iter()
                .filter(|es| targets(es, &secret))
                .map(|es| ObjectRef::from_obj(&*es))
                .collect::<Vec<_>>()
        })
        .shutdown_on_signal()
        .run(reconcile::reconcile, reconcile::error_policy, ctx)
        .for_each(crate::watch::log)
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(version: &str) -> Secret {
        let mut secret = Secret::default();
        secret.metadata.namespace = Some("team".into());
        secret.metadata.name = Some("db".into());
        secret.metadata.resource_version = Some(version.into());
        secret
    }

    /// The watch event of our own write is seen once; anything after it (someone's edit, a
    /// deletion: a new `resourceVersion`) wakes the ExternalSecret.
    #[test]
    fn only_the_echo_of_our_own_write_is_quiet() {
        let echoes = Echoes::default();
        assert!(!echoes.echo(&secret("1")), "nothing written yet");
        echoes.wrote(&secret("5"));
        assert!(!echoes.echo(&secret("4")), "an older version");
        assert!(echoes.echo(&secret("5")));
        assert!(!echoes.echo(&secret("5")), "seen once");
        echoes.wrote(&secret("6"));
        assert!(!echoes.echo(&secret("7")), "changed since");
        let mut other = secret("6");
        other.metadata.name = Some("other".into());
        assert!(!echoes.echo(&other), "another Secret");
    }
}
