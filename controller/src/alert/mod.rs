//! Flux's `notification.toolkit.fluxcd.io/v1beta3` Alerts and Providers (`--alerts`): the
//! events this controller publishes also go to the providers whose Alerts listen to the
//! object, as Flux's notification-controller sends them.
//!
//! Every event passes through [`notify`] (called by [`crate::event::publish`], after the
//! note was redacted and cut as for the event itself), which only queues it: a provider
//! that is slow or down never holds a reconcile. The dispatcher matches each event against
//! the Alerts it watches (source kind, name or `*`, namespace, labels, severity, inclusion
//! and exclusion lists), sends it at most once per [`REPEAT_AFTER`] per provider (Flux's
//! rate limit), and retries a failed post with backoff ([`send`]). A full queue drops the
//! newest event and logs it.

mod commit_status;
mod matching;
mod send;

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ObjectReference;
use kube::ResourceExt;
use kube::runtime::events::EventType;
use kube::runtime::reflector::Store;
use lockstep_api::flux::{Alert, Provider};
use tokio::sync::{Semaphore, mpsc};

use crate::context::Ctx;

/// How many events wait for the dispatcher before new ones are dropped.
const QUEUE: usize = 1024;
/// How long the same event (object, reason, message) is not sent again to a provider.
const REPEAT_AFTER: Duration = Duration::from_secs(300);
/// Posts in flight at once.
const CONCURRENT_POSTS: usize = 8;

/// One published event, as an alert carries it.
#[derive(Clone, Debug)]
pub struct Notice {
    /// The object the event is about.
    pub object: ObjectReference,
    /// Normal (`info`) or Warning (`error`).
    pub error: bool,
    /// The event's reason.
    pub reason: String,
    /// The event's note, redacted as the event's.
    pub message: String,
    /// When it was published.
    pub timestamp: jiff::Timestamp,
    /// The Git revision it is about (`main@sha1:…`), if any.
    pub revision: Option<String>,
}

static SINK: OnceLock<mpsc::Sender<Notice>> = OnceLock::new();

/// Queues an event for the Alerts that listen to its object; nothing when `--alerts` is
/// off. Never waits.
pub fn notify(
    object: &ObjectReference,
    type_: EventType,
    reason: &str,
    message: &str,
    revision: Option<&str>,
) {
    let Some(sink) = SINK.get() else {
        return;
    };
    let notice = Notice {
        object: object.clone(),
        error: type_ == EventType::Warning,
        reason: reason.to_owned(),
        message: message.to_owned(),
        timestamp: jiff::Timestamp::now(),
        revision: revision.map(str::to_owned),
    };
    if sink.try_send(notice).is_err() {
        tracing::warn!(
            reason,
            "alert queue full or closed; event not sent to providers"
        );
    }
}

/// Watches Alerts and Providers and sends every queued event to the providers whose
/// Alerts match it, until the process stops.
pub async fn run(ctx: Arc<Ctx>) {
    let (sink, mut queue) = mpsc::channel(QUEUE);
    if SINK.set(sink).is_err() {
        return;
    }
    let alerts = watched::<Alert>(&ctx);
    let providers = watched::<Provider>(&ctx);
    let posts = Arc::new(Semaphore::new(CONCURRENT_POSTS));
    let http = send::client();
    let mut sent: HashMap<String, Instant> = HashMap::new();
    while let Some(notice) = queue.recv().await {
        sent.retain(|_, at| at.elapsed() < REPEAT_AFTER);
        for alert in alerts.state() {
            if !matching::matches(&ctx.client, &alert, &notice).await {
                continue;
            }
            let namespace = alert.namespace().unwrap_or_default();
            let provider_name = &alert.spec.provider_ref.name;
            let Some(provider) = providers.state().into_iter().find(|p| {
                p.name_any() == *provider_name && p.namespace().as_deref() == Some(&namespace)
            }) else {
                tracing::warn!(alert = %alert.name_any(), %namespace, provider = %provider_name, "alert names a provider that does not exist");
                continue;
            };
            if provider.spec.suspend {
                continue;
            }
            let key = format!(
                "{namespace}/{provider_name}\n{}/{}/{}\n{}\n{}",
                notice.object.kind.as_deref().unwrap_or_default(),
                notice.object.namespace.as_deref().unwrap_or_default(),
                notice.object.name.as_deref().unwrap_or_default(),
                notice.reason,
                notice.message
            );
            if sent.contains_key(&key) {
                continue;
            }
            sent.insert(key, Instant::now());
            let post = send::Post::new(&alert, &notice);
            let (client, http, permit) = (ctx.client.clone(), http.clone(), posts.clone());
            tokio::spawn(async move {
                let Ok(_permit) = permit.acquire_owned().await else {
                    return;
                };
                send::send(&client, &http, &provider, post).await;
            });
        }
    }
}

/// A store of `K` in the watched namespaces, kept up to date in the background.
fn watched<K>(ctx: &Ctx) -> Store<K>
where
    K: crate::context::Watched,
{
    crate::watch::reflected(ctx.watched_api())
}
