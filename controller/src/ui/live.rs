//! The live stream (`/live`, Server-Sent Events): each time a Sync or a listed object the
//! user may see changes, the fragment that shows it — its overview row (with the
//! overview's filters in the query: `?kind=…&q=…`), or with `?sync=NS/NAME` or
//! `?object=PLURAL/NS/NAME` the status block of its page — as `{"id": element id, "html":
//! fragment}`; an empty fragment when it was deleted or no longer passes the filters.
//! `assets/ui.js` swaps the element, or places a new row where it sorts. The stream ends
//! when the session does, with a `signed-out` event.

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
use super::cache::Changed;
use super::html;
use super::kinds::Kind;
use super::object;
use super::overview::{self, Filters};
use super::session::{Session, User};

/// How long one connection of the UI may stay open: a stream is closed then, and the
/// browser's `EventSource` opens a new one (the page's status is sent again at once).
pub const CONNECTION_LIFETIME: Duration = Duration::from_secs(10 * 60);

/// Which page the stream serves, besides the overview's filters.
#[derive(Debug, Deserialize)]
pub struct Watching {
    /// `NAMESPACE/NAME`: the status block of that Sync's page.
    sync: Option<String>,
    /// `PLURAL/NAMESPACE/NAME`: the status block of that object's page.
    object: Option<String>,
}

/// What one stream shows.
enum Shown {
    /// The overview's rows of the Syncs (`kind: None`) or of another kind, filtered.
    Rows {
        kind: Option<Kind>,
        filters: Filters,
    },
    /// The status block of one page.
    Page(Changed),
}

/// Opens a live stream.
pub async fn stream(
    State(ui): State<Arc<Ui>>,
    User(session): User,
    Query(watching): Query<Watching>,
    Query(filters): Query<Filters>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let page = match (&watching.sync, &watching.object) {
        (Some(sync), _) => sync.split_once('/').map(|(namespace, name)| Changed {
            kind: None,
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }),
        (None, Some(object)) => {
            let mut parts = object.splitn(3, '/');
            match (
                parts.next().and_then(Kind::from_plural),
                parts.next(),
                parts.next(),
            ) {
                (Some(kind), Some(namespace), Some(name)) => Some(Changed {
                    kind: Some(kind),
                    namespace: namespace.to_owned(),
                    name: name.to_owned(),
                }),
                _ => None,
            }
        }
        (None, None) => None,
    };
    let live = Live {
        changes: ui.cache.subscribe(),
        // A page's status is sent at once: it may have changed before the stream opened.
        first: page.clone(),
        shown: match page {
            Some(page) => Shown::Page(page),
            None => Shown::Rows {
                kind: filters.listed(&ui.cache).map(|(kind, _)| kind),
                filters,
            },
        },
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
    changes: broadcast::Receiver<Changed>,
    shown: Shown,
    /// Sent before any change.
    first: Option<Changed>,
}

impl Live {
    /// The event for `changed`, if this stream shows it and the user may see it.
    async fn fragment(&self, changed: &Changed) -> Option<Event> {
        let Self { ui, shown, .. } = self;
        let shows = match shown {
            Shown::Rows { kind, .. } => *kind == changed.kind,
            Shown::Page(page) => page == changed,
        };
        if !shows || !self.may_see(changed).await {
            return None;
        }
        let Changed {
            kind,
            namespace,
            name,
        } = changed;
        let (id, html) = match kind {
            None => {
                let key = ObjectRef::<Sync>::new(name).within(namespace);
                let sync = ui.cache.syncs.get(&key);
                let sources = &ui.cache.sources;
                match shown {
                    Shown::Rows { filters, .. } => (
                        html::element_id("row", namespace, name),
                        sync.filter(|s| filters.admits(s, sources))
                            .map(|s| overview::row(&s, sources)),
                    ),
                    Shown::Page(_) => (
                        html::element_id("status", namespace, name),
                        sync.map(|s| html::status_block(&s, sources)),
                    ),
                }
            }
            Some(kind) => {
                let resource = kind.resource();
                let key = ObjectRef::new_with(name, resource).within(namespace);
                let object = ui.cache.of(*kind).and_then(|store| store.get(&key));
                match shown {
                    Shown::Rows { filters, .. } => (
                        html::element_id(&kind.plural(), namespace, name),
                        object
                            .filter(|o| filters.admits_other(*kind, o))
                            .map(|o| overview::other_row(*kind, &o)),
                    ),
                    Shown::Page(_) => (
                        object::status_id(*kind, namespace, name),
                        object.map(|o| object::status_block(*kind, &o)),
                    ),
                }
            }
        };
        let data = json!({"id": id, "html": html.unwrap_or_default()});
        Some(Event::default().event("replace").data(data.to_string()))
    }

    /// Whether the user may list `changed`'s kind in its namespace.
    async fn may_see(&self, changed: &Changed) -> bool {
        let Self { ui, session, .. } = self;
        let visible = match changed.kind {
            None => access::visible(session, &ui.cache).await,
            Some(kind) => {
                let resource = kind.resource();
                let Some(store) = ui.cache.of(kind) else {
                    return false;
                };
                access::visible_of(session, &resource, || access::namespaces(store)).await
            }
        };
        visible.contains(&changed.namespace)
    }
}
