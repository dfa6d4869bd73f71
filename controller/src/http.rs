//! The HTTP endpoints, with the Bitnami controller's paths, methods and status codes so
//! that an unmodified `kubeseal` works against this controller:
//!
//! | path | answer |
//! |---|---|
//! | `/healthz` | 200 `ok` |
//! | `/v1/cert.pem` | the newest sealing certificate (PEM); 500 without keys |
//! | `/v1/verify` | body: one SealedSecret (JSON or YAML); 200 if every item opens, 409 if not; 429 over the rate limit ([`ratelimit`]) |
//! | `/v1/rotate` | body: one SealedSecret; 200 with its items re-sealed to the newest key (JSON); 500 on any failure |
//! | `/metrics` (own listener) | Prometheus text |
//!
//! Like upstream, handlers accept any method. Unlike upstream, a connection is closed
//! [`deadline::LIFETIME`] after it opened. Plaintext exists only inside the blocking
//! task that unseals and re-seals; responses and logs carry names, never values.

mod deadline;
mod ratelimit;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get};
use lockstep_sealed::{SealedSecret, manifest, reseal};

use crate::context::Ctx;
use deadline::{DeadlineListener, Peer};
pub use ratelimit::{RateLimitFlags, RateLimiter};

/// What the API handlers share: the controller's context and the rate limiters.
struct ApiState {
    ctx: Arc<Ctx>,
    verify_limit: RateLimiter,
    rotate_limit: RateLimiter,
}

impl ApiState {
    /// Charges `cost` to the request's client, or answers 429 with `Retry-After`.
    fn charge(
        &self,
        limiter: &RateLimiter,
        peer: SocketAddr,
        headers: &HeaderMap,
        cost: u32,
    ) -> Result<(), Box<Response>> {
        let trusted = &self.ctx.verify_rate_limit.trusted_proxies;
        let client = ratelimit::client(peer.ip(), headers, trusted);
        limiter
            .check(&client, Instant::now(), cost)
            .map_err(|wait| {
                let retry_after = wait.as_secs_f64().ceil().to_string();
                Box::new(
                    (
                        StatusCode::TOO_MANY_REQUESTS,
                        [(header::RETRY_AFTER, retry_after)],
                        "limit exceeded\n",
                    )
                        .into_response(),
                )
            })
    }
}

/// Serves the certificate / verify / re-encrypt API and `/healthz` until the task ends.
pub async fn serve_api(ctx: Arc<Ctx>, addr: SocketAddr) {
    let flags = &ctx.verify_rate_limit;
    let verify_limit = RateLimiter::new(flags.per_second, flags.burst);
    let rotate_limit = RateLimiter::new(
        ratelimit::ROTATE_ITEMS_PER_SECOND,
        ratelimit::ROTATE_ITEMS_BURST,
    );
    let app = Router::new()
        .route("/healthz", any(|| async { "ok\n" }))
        .route("/v1/cert.pem", any(cert))
        .route("/v1/verify", any(verify))
        .route("/v1/rotate", any(rotate))
        .with_state(Arc::new(ApiState {
            ctx,
            verify_limit,
            rotate_limit,
        }));
    serve(addr, app, "API", deadline::LIFETIME).await;
}

/// Serves the Receivers' webhooks ([`crate::receiver`]) until the task ends.
pub async fn serve_hooks(app: Router, addr: SocketAddr) {
    serve(addr, app, "webhook receiver", deadline::LIFETIME).await;
}

/// Serves `/metrics` until the task ends.
pub async fn serve_metrics(ctx: Arc<Ctx>, addr: SocketAddr) {
    let app = Router::new()
        .route("/metrics", get(metrics))
        .with_state(ctx);
    serve(addr, app, "metrics", deadline::LIFETIME).await;
}

/// Serves `app` on `addr`, each connection closed `lifetime` after it was accepted.
pub(crate) async fn serve(addr: SocketAddr, app: Router, what: &str, lifetime: Duration) {
    let listener = match tokio::net::TcpListener::bind(addr).await {
        Ok(listener) => listener,
        Err(err) => {
            tracing::error!(%addr, error = %err, "cannot listen for the {what} endpoint");
            return;
        }
    };
    tracing::info!(addr = %listener.local_addr().unwrap_or(addr), "serving the {what} endpoint");
    let listener = DeadlineListener::new(listener, lifetime);
    let app = app.into_make_service_with_connect_info::<Peer>();
    if let Err(err) = axum::serve(listener, app).await {
        tracing::error!(error = %err, "the {what} endpoint stopped");
    }
}

async fn cert(State(api): State<Arc<ApiState>>) -> Response {
    match api.ctx.keys().latest() {
        Some(latest) => (
            [(header::CONTENT_TYPE, "application/x-pem-file")],
            latest.certificate.to_pem(),
        )
            .into_response(),
        None => (
            StatusCode::INTERNAL_SERVER_ERROR,
            "cannot get certificate\n",
        )
            .into_response(),
    }
}

async fn verify(
    State(api): State<Arc<ApiState>>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(response) = api.charge(&api.verify_limit, peer, &headers, 1) {
        return *response;
    }
    let sealed = match parse(&body) {
        Ok(sealed) => sealed,
        Err(response) => return *response,
    };
    let keys = api.ctx.keys();
    let result = tokio::task::spawn_blocking(move || reseal_items(&sealed, &keys).map(drop)).await;
    match result {
        Ok(Ok(())) => StatusCode::OK.into_response(),
        Ok(Err(message)) => (StatusCode::CONFLICT, message).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

async fn rotate(
    State(api): State<Arc<ApiState>>,
    ConnectInfo(Peer(peer)): ConnectInfo<Peer>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let sealed = match parse(&body) {
        Ok(sealed) => sealed,
        Err(response) => return *response,
    };
    let items = u32::try_from(sealed.spec.encrypted_data.len()).unwrap_or(u32::MAX);
    if let Err(response) = api.charge(&api.rotate_limit, peer, &headers, items) {
        return *response;
    }
    let keys = api.ctx.keys();
    let result = tokio::task::spawn_blocking(move || {
        reseal_items(&sealed, &keys)
            .and_then(|resealed| serde_json::to_string(&resealed).map_err(|e| e.to_string()))
    })
    .await;
    match result {
        Ok(Ok(json)) => ([(header::CONTENT_TYPE, "application/json")], json).into_response(),
        Ok(Err(message)) => (StatusCode::INTERNAL_SERVER_ERROR, message).into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

/// Opens every item with the controller's keys and seals it again to the newest key under
/// the same label, as upstream's `UnsealWithoutTemplate`: the SealedSecret comes back with
/// its metadata, scope, item names and template unchanged, and `template.data` is never
/// rendered. The AEAD label covers the items, not the template, so an answer that depended
/// on rendering one would let a caller wrap a crafted template around someone else's
/// ciphertext and learn about its plaintext (sealed-secrets PRs #2019, #2049); and the scope
/// comes from the object's own annotations, never the template's (CVE-2026-22728).
/// `/v1/verify` is this with the result dropped: "would every item open".
fn reseal_items(
    sealed: &SealedSecret,
    keys: &crate::keyring::KeyRing,
) -> Result<SealedSecret, String> {
    let latest = keys.latest().ok_or("cannot get certificate")?;
    reseal(sealed, keys.private_keys(), latest.certificate.public_key()).map_err(|e| e.to_string())
}

/// Reads one SealedSecret (JSON or YAML) from a request body; 500 otherwise, as upstream.
fn parse(body: &[u8]) -> Result<SealedSecret, Box<Response>> {
    manifest::parse_sealed_secret(body).map_err(|err| {
        Box::new((StatusCode::INTERNAL_SERVER_ERROR, format!("{err}\n")).into_response())
    })
}

async fn metrics(State(ctx): State<Arc<Ctx>>) -> Response {
    (
        [(
            header::CONTENT_TYPE,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
        )],
        ctx.metrics.encode(),
    )
        .into_response()
}
