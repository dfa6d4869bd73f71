//! The ExternalSecret controller: serves the External Secrets Operator's
//! `external-secrets.io/v1` ExternalSecrets unchanged, against ESO's own CRDs or
//! Lockstep's. It watches ExternalSecrets in every namespace (with `--all-namespaces=false`
//! its own and `--additional-namespaces`, as ESO's `--namespace`) and the Secrets ESO's `managed` label
//! marks, and keeps each target Secret equal to what ESO v0.16.2 would write (the
//! semantics live in `lockstep-eso`; this module does the Kubernetes I/O).

mod clients;
mod reconcile;
mod refreshes;
mod status;
mod stores;

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
/// ExternalSecret side's own event queue and the statuses it wrote.
pub struct Ctx {
    /// What every part of the controller shares (the client).
    shared: Arc<crate::context::Ctx>,
    /// Publishes events as `external-secrets`, the component name ESO uses, in the
    /// background.
    events: crate::event::Queue,
    /// The status last written to each ExternalSecret (by uid), and when, kept for
    /// [`WRITTEN_FOR`]: the target Secret's own event wakes an ExternalSecret before its new
    /// status is in the cache, and without this it would read its provider again.
    written: Mutex<HashMap<ObjectKey, (String, ExternalSecretStatus, Instant)>>,
    /// The providers logged in lately, one per store ([`clients`]).
    clients: clients::Clients,
    /// The target Secrets as this controller last wrote them ([`Echoes`]).
    echoes: Echoes,
    /// The stores, as a watch sees them.
    stores: stores::Stores,
    /// The refreshes that changed nothing, so wrote nothing ([`refreshes`]).
    refreshes: refreshes::Refreshes,
}

/// Each target Secret as this controller last wrote it, kept for [`WRITTEN_FOR`] or until
/// anyone else changes it.
///
/// The watch event of that very write wakes nobody, as its ExternalSecret would only read
/// the Secret to find it as written. A change by anyone else, a deletion included, comes
/// with another `resourceVersion`: it wakes the ExternalSecret and forgets the write. Until
/// then a reconcile with nothing to refresh (the one its own status write wakes) knows the
/// Secret without reading it, as ESO knows it from its cache ([`Echoes::unchanged`]).
#[derive(Default)]
struct Echoes(Mutex<HashMap<ObjectKey, Echo>>);

/// One target Secret as last written.
struct Echo {
    /// The `resourceVersion` the write returned.
    version: String,
    /// When it was written.
    when: Instant,
    /// Whether the watch has delivered the write (it is quiet once).
    seen: bool,
    /// Whether the Secret as written is one the watch sees (ESO's `managed` label) and
    /// valid (its `data-hash`): only then can a change to it not go unnoticed.
    valid: bool,
}

impl Echoes {
    /// Notes the target Secret just written, as the API server answered the write.
    fn wrote(&self, secret: &Secret) {
        let Some(version) = secret.metadata.resource_version.clone() else {
            return;
        };
        let echo = Echo {
            version,
            when: Instant::now(),
            seen: false,
            valid: lockstep_eso::target::is_valid(Some(secret)),
        };
        let mut echoes = self.0.lock().unwrap_or_else(|e| e.into_inner());
        echoes.retain(|_, echo| echo.when.elapsed() <= WRITTEN_FOR);
        echoes.insert(ObjectKey::of(secret), echo);
    }

    /// Whether the watch's `secret` is this controller's own last write of it, seen for the
    /// first time. Any other event forgets the write.
    fn echo(&self, secret: &Secret) -> bool {
        let mut echoes = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let key = ObjectKey::of(secret);
        let version = secret.metadata.resource_version.as_ref();
        match echoes.get_mut(&key) {
            Some(echo) if !echo.seen && version == Some(&echo.version) => {
                echo.seen = true;
                true
            }
            Some(_) => {
                echoes.remove(&key);
                false
            }
            None => false,
        }
    }

    /// Whether the Secret `namespace/name` is valid as this controller last wrote it, with
    /// no change by anyone since (within [`WRITTEN_FOR`]).
    fn unchanged(&self, namespace: &str, name: &str) -> bool {
        let echoes = self.0.lock().unwrap_or_else(|e| e.into_inner());
        echoes
            .get(&ObjectKey::new(namespace, name))
            .is_some_and(|echo| echo.valid && echo.when.elapsed() <= WRITTEN_FOR)
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
    let watched = shared.watched_namespaces();
    let ctx = Arc::new(Ctx {
        events: crate::event::Queue::start(Recorder::new(client.clone(), reporter)),
        stores: stores::Stores::watch(&client, watched.as_deref()),
        shared,
        written: Mutex::default(),
        clients: clients::Clients::default(),
        echoes: Echoes::default(),
        refreshes: refreshes::Refreshes::default(),
    });
    let Some(namespaces) = watched else {
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
    use lockstep_api::external_secrets::ESO_DATA_HASH_ANNOTATION;

    /// The target Secret `team/db` at `version`, as ESO or Lockstep writes it: managed,
    /// with the hash of its (empty) data.
    fn secret(version: &str) -> Secret {
        let mut secret = Secret::default();
        secret.metadata.namespace = Some("team".into());
        secret.metadata.name = Some("db".into());
        secret.metadata.resource_version = Some(version.into());
        let label = (ESO_MANAGED_LABEL.to_owned(), "true".to_owned());
        secret.metadata.labels = Some([label].into());
        let hash = lockstep_eso::target::data_hash(&Default::default());
        let annotation = (ESO_DATA_HASH_ANNOTATION.to_owned(), hash);
        secret.metadata.annotations = Some([annotation].into());
        secret
    }

    /// The watch event of our own write is seen once; anything else (someone's edit, a
    /// deletion: another `resourceVersion`) wakes the ExternalSecret and forgets the write.
    #[test]
    fn only_the_echo_of_our_own_write_is_quiet() {
        let echoes = Echoes::default();
        assert!(!echoes.echo(&secret("1")), "nothing written yet");
        echoes.wrote(&secret("5"));
        assert!(echoes.echo(&secret("5")));
        assert!(!echoes.echo(&secret("5")), "seen once");
        echoes.wrote(&secret("6"));
        assert!(!echoes.echo(&secret("7")), "changed since");
        assert!(!echoes.echo(&secret("6")), "forgotten by the change");
        echoes.wrote(&secret("8"));
        let mut other = secret("8");
        other.metadata.name = Some("other".into());
        assert!(!echoes.echo(&other), "another Secret");
        assert!(echoes.echo(&secret("8")));
    }

    /// A Secret is known without a read only from our own valid write until any other
    /// watch event for it.
    #[test]
    fn a_secret_is_unchanged_from_our_write_until_anyone_elses_event() {
        let echoes = Echoes::default();
        assert!(!echoes.unchanged("team", "db"), "nothing written yet");
        echoes.wrote(&secret("5"));
        assert!(echoes.unchanged("team", "db"), "before its echo");
        assert!(echoes.echo(&secret("5")));
        assert!(echoes.unchanged("team", "db"), "after its echo");
        assert!(!echoes.unchanged("team", "other"));
        assert!(!echoes.echo(&secret("9")), "someone's edit or a deletion");
        assert!(!echoes.unchanged("team", "db"));

        let mut unwatched = secret("10");
        unwatched.metadata.labels = None;
        echoes.wrote(&unwatched);
        assert!(
            !echoes.unchanged("team", "db"),
            "no managed label: not watched"
        );
        let mut edited = secret("11");
        edited.data = Some([("k".to_owned(), k8s_openapi::ByteString(b"v".to_vec()))].into());
        echoes.wrote(&edited);
        assert!(
            !echoes.unchanged("team", "db"),
            "its data-hash does not match"
        );
    }
}
