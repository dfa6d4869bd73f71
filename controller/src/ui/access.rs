//! Which namespaces' Syncs (or other listed kinds) a signed-in user may see in the overview
//! and the live stream. The API server decides, asked with the user's own token (a
//! SelfSubjectAccessReview of `list syncs.lockstep.dev`): first for every namespace at
//! once, else one namespace at a time. The answer is remembered per kind for [`FRESH`], so
//! a page costs no review.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use k8s_openapi::api::authorization::v1::{
    ResourceAttributes, SelfSubjectAccessReview, SelfSubjectAccessReviewSpec,
};
use kube::api::{Api, ApiResource, PostParams};
use kube::runtime::reflector::Store;
use lockstep_api::Sync;

use super::cache::Cache;
use super::session::Session;

/// How long an answer is used before the API server is asked again.
const FRESH: Duration = Duration::from_secs(30);

/// How many reviews run at once when namespaces are asked one by one.
const CONCURRENT: usize = 16;

/// The namespaces whose Syncs a user may list.
#[derive(Debug, Default)]
pub enum Visible {
    /// Every namespace.
    All,
    /// Only these.
    Only(BTreeSet<String>),
    /// None (until asked).
    #[default]
    Nothing,
}

impl Visible {
    /// Whether objects of `namespace` may be shown.
    pub fn contains(&self, namespace: &str) -> bool {
        match self {
            Self::All => true,
            Self::Only(namespaces) => namespaces.contains(namespace),
            Self::Nothing => false,
        }
    }
}

/// The remembered answers of one session, by resource (`syncs`, `sealedsecrets`, …).
#[derive(Default)]
pub struct Remembered(tokio::sync::Mutex<HashMap<String, (Instant, Arc<Visible>)>>);

/// Which Syncs `session` may see, asked again when the remembered answer is older than
/// [`FRESH`]. A review that fails shows nothing rather than everything.
pub async fn visible(session: &Session, cache: &Cache) -> Arc<Visible> {
    let resource = ApiResource::erase::<Sync>(&());
    visible_of(session, &resource, || namespaces(&cache.syncs)).await
}

/// Which objects of `resource` `session` may see, among those in the `namespaces` of the
/// cache — collected only when the API server has to be asked again, not on every page
/// or live event.
pub async fn visible_of(
    session: &Session,
    resource: &ApiResource,
    namespaces: impl FnOnce() -> BTreeSet<String>,
) -> Arc<Visible> {
    let mut remembered = session.visible.0.lock().await;
    if let Some((asked, visible)) = remembered.get(&resource.plural)
        && asked.elapsed() < FRESH
    {
        return visible.clone();
    }
    let visible = Arc::new(ask(&session.client, resource, namespaces()).await);
    remembered.insert(resource.plural.clone(), (Instant::now(), visible.clone()));
    visible
}

/// The namespaces of the objects in `store`.
pub fn namespaces<K>(store: &Store<K>) -> BTreeSet<String>
where
    K: kube::Resource + Clone + 'static,
    K::DynamicType: Eq + std::hash::Hash + Clone,
{
    store
        .state()
        .iter()
        .filter_map(|object| object.meta().namespace.clone())
        .collect()
}

async fn ask(
    client: &kube::Client,
    resource: &ApiResource,
    namespaces: BTreeSet<String>,
) -> Visible {
    match may_list(client, resource, None).await {
        Ok(true) => return Visible::All,
        Ok(false) => {}
        Err(err) => {
            tracing::debug!(error = %err, "cannot review what a UI user may list");
            return Visible::Nothing;
        }
    }
    let allowed = futures::stream::iter(namespaces)
        .map(|namespace| async move {
            let allowed = may_list(client, resource, Some(&namespace))
                .await
                .unwrap_or(false);
            allowed.then_some(namespace)
        })
        .buffer_unordered(CONCURRENT)
        .filter_map(|namespace| async move { namespace })
        .collect()
        .await;
    Visible::Only(allowed)
}

/// Whether the client's user may list `resource` in `namespace` (`None`: in every
/// namespace).
async fn may_list(
    client: &kube::Client,
    resource: &ApiResource,
    namespace: Option<&str>,
) -> Result<bool, kube::Error> {
    let review = SelfSubjectAccessReview {
        spec: SelfSubjectAccessReviewSpec {
            resource_attributes: Some(ResourceAttributes {
                group: Some(resource.group.clone()),
                resource: Some(resource.plural.clone()),
                verb: Some("list".to_owned()),
                namespace: namespace.map(str::to_owned),
                ..ResourceAttributes::default()
            }),
            ..SelfSubjectAccessReviewSpec::default()
        },
        ..SelfSubjectAccessReview::default()
    };
    let answer = Api::<SelfSubjectAccessReview>::all(client.clone())
        .create(&PostParams::default(), &review)
        .await?;
    Ok(answer.status.is_some_and(|status| status.allowed))
}
