//! The live stream (`/live`, Server-Sent Events): each time a Sync the user may see
//! changes, the fragment that shows it — its overview row, or with `?sync=NS/NAME` the
//! status block of its page — as `{"id": element id, "html": fragment}`; an empty
//! fragment when it was deleted. `assets/ui.js` swaps the element. The stream ends when
//! the session does, with a `signed-out` event.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Query, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use kube::runtime::reflector::ObjectRef;
use lockstep_api::Sync;
use serde::Deserialize;
use serde_json::json;
use tokio::sync::broadcast::{self, error::RecvError};

use super::Ui;
use super::access;
use super::html;
use super::overview;
use super::session::{Session, User};

/// How long one connection of the UI may stay open: a stream is closed then, and the
/// browser's `EventSource` opens a new one (the page's status is sent again at once).
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// Which fragments a stream sends.
#[derive(Debug, Deserialize)]
pub struct Watching {
    /// `NAMESPACE/NAME`: the status block of that Sync's page; else overview rows.
    sync: Option<String>,
}

/// Opens a live stream.
pub async fn stream(
    State(ui): State<Arc<Ui>>,
    User(session): User,
    Query(watching): Query<Watching>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let page = watching
        .sync
        .as_deref()
        .and_then(|s| s.split_once('/'))
        .map(|(namespace, name)| ObjectRef::<Sync>::new(name).within(namespace));
    let live = Live {
        changes: ui.cache.subscribe(),
        // A page's status is sent at once: it may have changed before the stream opened.
        first: page.clone(),
        page,
        ui,
        session,
    };
    let events = futures::stream::unfold(Some(live), |live| async move {
        let mut live = live?;
        loop {
            if !live.ui.sessions.holds(&live.session) {
                // The last event: the unfold ends on `None`.
                return Some((Ok(Event::default().event("signed-out").data("")), None));
            }
            let changed = match live.first.take() {
                Some(page) => page,
                None => match live.changes.recv().await {
                    Ok(changed) => changed,
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return None,
                },
            };
            if let Some(event) = live.fragment(&changed).await {
                return Some((Ok(event), Some(live)));
            }
        }
    });
    Sse::new(events).keep_alive(KeepAlive::default())
}

/// One open stream.
struct Live {
    ui: Arc<Ui>,
    session: Arc<Session>,
    changes: broadcast::Receiver<ObjectRef<Sync>>,
    /// The Sync whose page this stream serves; `None` for the overview.
    page: Option<ObjectRef<Sync>>,
    /// Sent before any change.
    first: Option<ObjectRef<Sync>>,
}

impl Live {
    /// The event for `changed`, if this stream shows it and the user may see it.
    async fn fragment(&self, changed: &ObjectRef<Sync>) -> Option<Event> {
        let Self {
            ui, session, page, ..
        } = self;
        if page.as_ref().is_some_and(|page| page != changed) {
            return None;
        }
        let namespace = changed.namespace.clone().unwrap_or_default();
        if !access::visible(session, &ui.cache)
            .await
            .contains(&namespace)
        {
            return None;
        }
        let sync = ui.cache.syncs.get(changed);
        let sources = &ui.cache.sources;
        let (id, html) = match page {
            Some(_) => (
                html::element_id("status", &namespace, &changed.name),
                sync.map(|s| html::status_block(&s, sources)),
            ),
            None => (
                html::element_id("row", &namespace, &changed.name),
                sync.map(|s| overview::row(&s, sources)),
            ),
        };
        let data = json!({"id": id, "html": html.unwrap_or_default()});
        Some(Event::default().event("replace").data(data.to_string()))
    }
}
