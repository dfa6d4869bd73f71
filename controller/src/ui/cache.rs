//! The UI's watch cache: every Sync and GitSource the controller serves and the objects
//! of the other kinds listed, kept by reflectors of the UI's own, and a broadcast of which
//! Sync or listed object changed, for [`super::live`].
//! Managed fields are dropped on the way in: they are most of an object's size and the UI
//! never shows them.

use futures::StreamExt;
use kube::ResourceExt;
use kube::api::DynamicObject;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use lockstep_api::{GitSource, Sync};
use tokio::sync::broadcast;

use super::kinds::Kind;
use crate::context::{Ctx, Watched};

/// How many changes a slow live stream may fall behind before it skips some.
const BACKLOG: usize = 4096;

/// A Sync, or an object of another listed kind, that was created, changed or deleted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Changed {
    /// Its kind; `None` for a Sync.
    pub kind: Option<Kind>,
    /// Its namespace.
    pub namespace: String,
    /// Its name.
    pub name: String,
}

impl Changed {
    fn of<K: ResourceExt>(kind: Option<Kind>, object: &K) -> Self {
        Self {
            kind,
            namespace: object.namespace().unwrap_or_default(),
            name: object.name_any(),
        }
    }
}

/// The Syncs and GitSources, the other kinds listed, and their changes.
pub struct Cache {
    /// Every Sync.
    pub syncs: Store<Sync>,
    /// Every GitSource (for the URL a Sync applies from).
    pub sources: Store<GitSource>,
    /// The other kinds the controller serves ([`Kind`]), each with its objects.
    pub others: Vec<(Kind, Store<DynamicObject>)>,
    changes: broadcast::Sender<Changed>,
}

impl Cache {
    /// Starts the watches of the Syncs, the GitSources and `kinds`; the stores fill as
    /// they list.
    pub fn start(ctx: &Ctx, kinds: &[Kind]) -> Self {
        let (changes, _) = broadcast::channel(BACKLOG);
        let sender = changes.clone();
        let syncs = reflect(ctx, move |sync: &Sync| {
            // Nobody listening is not an error.
            let _ = sender.send(Changed::of(None, sync));
        });
        let sources = reflect(ctx, |_: &GitSource| {});
        let others = kinds
            .iter()
            .map(|&kind| {
                let sender = changes.clone();
                let store = kind.watch(ctx, move |object| {
                    let _ = sender.send(Changed::of(Some(kind), object));
                });
                (kind, store)
            })
            .collect();
        Self {
            syncs,
            sources,
            others,
            changes,
        }
    }

    /// Changes from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Changed> {
        self.changes.subscribe()
    }

    /// The listed kind whose plural is `plural`, and its store.
    pub fn listed(&self, plural: &str) -> Option<(Kind, &Store<DynamicObject>)> {
        let kind = Kind::from_plural(plural)?;
        Some((kind, self.of(kind)?))
    }

    /// The store of the other kind `kind`, if it is listed.
    pub fn of(&self, kind: Kind) -> Option<&Store<DynamicObject>> {
        self.others
            .iter()
            .find(|(listed, _)| *listed == kind)
            .map(|(_, store)| store)
    }
}

/// A store of every `K` the controller watches, calling `changed` for each object that
/// was created, changed or deleted.
fn reflect<K>(ctx: &Ctx, mut changed: impl FnMut(&K) + Send + 'static) -> Store<K>
where
    K: Watched + kube::Resource<DynamicType = ()>,
{
    let (store, writer) = reflector::store();
    let stream = watcher(
        ctx.watched_api::<K>(),
        watcher::Config::default().any_semantic(),
    )
    .default_backoff()
    .modify(|object| object.managed_fields_mut().clear())
    .reflect(writer)
    .touched_objects();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            match event {
                Ok(object) => changed(&object),
                Err(err) => crate::watch::failed(&err),
            }
        }
    });
    store
}
