//! The web UI (`--listen-ui-addr`, off unless set): server-rendered HTML that works
//! without JavaScript, kept live over Server-Sent Events ([`live`]) by a few lines of
//! script (`assets/ui.js`) where the browser runs it.
//!
//! It is served by the controller, not by a `lockstep ui` process, because the overview
//! must stay fast at 10,000 Syncs: the UI answers it from a watch cache of its own
//! ([`Cache`]), which a separate process would have to build again from a second watch of
//! everything. The cache is the UI's, not the sync controller's, so a replica that is not
//! the leader serves the same pages.
//!
//! Who sees and does what: a user signs in with a Kubernetes bearer token ([`session`]) —
//! there is no anonymous access. A Sync's page, its events and its objects are read with
//! that token, and every action is written with it, so Kubernetes RBAC decides and the
//! audit log names the user. The overview and the live stream come from the cache,
//! filtered to the namespaces where the API server, asked with the user's token, says the
//! user may list Syncs ([`access`]).
//!
//! No page shows a secret value: the UI renders names, conditions, revisions and field
//! paths, never an object's data — a Secret's, or any object's
//! `last-applied-configuration`, which is where Argo CD's UI leaked them.

mod access;
mod actions;
mod cache;
mod detail;
mod diff;
mod html;
mod kinds;
mod live;
mod object;
mod overview;
mod session;
mod tree;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};

use lockstep_engine::health::Probe;

use crate::context::Ctx;
use crate::sync::SyncCtx;
pub use cache::Cache;
pub use kinds::Kind;
use session::Sessions;

/// What every handler shares.
pub struct Ui {
    /// The controller's connection settings; a signed-in user's client is made from them
    /// with the user's token in place of the controller's credentials.
    config: kube::Config,
    /// The watch cache of Syncs and GitSources.
    cache: Cache,
    /// Signed-in users.
    sessions: Sessions,
    /// Reads the health of a Sync's objects, remembering each kind's API from discovery.
    probe: Probe,
    /// The sync controller's context, to compare a Sync's source with the cluster; none
    /// when this controller does not reconcile Syncs.
    syncs: Option<Arc<SyncCtx>>,
}

/// The policy of every page: scripts, styles and connections only from this origin, no
/// inline script or style, no framing, forms posted only here.
const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; style-src 'self'; \
     img-src 'self'; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; \
     base-uri 'none'";

/// Serves the UI on `addr` until the task ends, listing `kinds` beside the Syncs.
pub async fn serve(
    ctx: Arc<Ctx>,
    syncs: Option<Arc<SyncCtx>>,
    config: kube::Config,
    addr: SocketAddr,
    kinds: Vec<Kind>,
) {
    let ui = Arc::new(Ui {
        config,
        cache: Cache::start(&ctx, &kinds),
        sessions: Sessions::default(),
        probe: Probe::default(),
        syncs,
    });
    let app = Router::new()
        .route("/", get(overview::page))
        .route("/sign-in", get(session::form).post(session::sign_in))
        .route("/sign-out", post(session::sign_out))
        .route("/syncs/{namespace}/{name}", get(detail::page))
        .route("/syncs/{namespace}/{name}/diff", get(diff::page))
        .route("/syncs/{namespace}/{name}/{action}", post(actions::act))
        .route("/objects/{plural}/{namespace}/{name}", get(object::page))
        .route("/live", get(live::stream))
        .route("/static/ui.js", get(script))
        .route("/static/ui.css", get(style))
        .with_state(ui)
        .layer(axum::middleware::map_response(secure_headers));
    crate::http::serve(addr, app, "web UI", live::CONNECTION_LIFETIME).await;
}

/// The headers every answer carries.
async fn secure_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "same-origin"),
        (header::CACHE_CONTROL, "no-store"),
    ];
    for (name, value) in set {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

async fn script() -> Response {
    (
        [(header::CONTENT_TYPE, "text/javascript; charset=utf-8")],
        include_str!("assets/ui.js"),
    )
        .into_response()
}

async fn style() -> Response {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8")],
        include_str!("assets/ui.css"),
    )
        .into_response()
}
