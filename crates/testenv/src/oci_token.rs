//! A registry token service, as Docker Hub, ghcr.io and Harbor run one: the registry
//! answers `401` with `WWW-Authenticate: Bearer realm=…,service=…,scope=…`, the client
//! asks the realm for a token with its credentials, and the registry accepts the JSON Web
//! Token the realm signed. The `distribution` registry trusts the key by its id from a JWKS
//! file ([`TokenService::jwks`]); tokens are signed with Ed25519 (`EdDSA`, one of the
//! registry's default algorithms) and grant what each `scope` asks, to the one user.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{Ed25519KeyPair, KeyPair};
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::json;

use crate::{Error, Result, free_port};

/// The key id the registry's JWKS names and every token's header carries.
const KEY_ID: &str = "lockstep-testenv";
/// The issuer and audience the registry is configured to accept.
pub(crate) const ISSUER: &str = "lockstep-testenv-tokens";
pub(crate) const SERVICE: &str = "lockstep-testenv-registry";

/// A token service on a free loopback port; stopped when dropped.
#[derive(Debug)]
pub(crate) struct TokenService {
    port: u16,
    jwks: String,
    issued: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

struct Issuer {
    key: Ed25519KeyPair,
    /// `Basic <base64 user:password>`, the only credentials it grants tokens to.
    expected: String,
    username: String,
    issued: Arc<AtomicUsize>,
}

impl TokenService {
    /// Starts a service granting tokens to `username` with `password` only.
    pub(crate) async fn start(username: &str, password: &str) -> Result<Self> {
        let setup = |detail: String| Error::Setup {
            step: "the registry token service's key".into(),
            detail,
        };
        let pkcs8 = Ed25519KeyPair::generate_pkcs8(&SystemRandom::new())
            .map_err(|err| setup(err.to_string()))?;
        let key =
            Ed25519KeyPair::from_pkcs8(pkcs8.as_ref()).map_err(|err| setup(err.to_string()))?;
        let jwks = json!({"keys": [{
            "kty": "OKP", "crv": "Ed25519", "use": "sig", "alg": "EdDSA", "kid": KEY_ID,
            "x": URL_SAFE_NO_PAD.encode(key.public_key().as_ref()),
        }]})
        .to_string();
        let issued = Arc::new(AtomicUsize::new(0));
        let issuer = Arc::new(Issuer {
            key,
            expected: format!(
                "Basic {}",
                STANDARD.encode(format!("{username}:{password}"))
            ),
            username: username.to_owned(),
            issued: issued.clone(),
        });
        let port = free_port()?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(Error::io("binding the registry token service's port"))?;
        let app = axum::Router::new()
            .route("/token", axum::routing::get(token))
            .with_state(issuer);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Ok(Self {
            port,
            jwks,
            issued,
            task,
        })
    }

    /// `http://127.0.0.1:<port>/token`, the realm the registry names.
    pub(crate) fn realm(&self) -> String {
        format!("http://127.0.0.1:{}/token", self.port)
    }

    /// The JWKS file's content: the public key, by its id.
    pub(crate) fn jwks(&self) -> &str {
        &self.jwks
    }

    /// How many tokens it has granted.
    pub(crate) fn issued(&self) -> usize {
        self.issued.load(Ordering::SeqCst)
    }
}

impl Drop for TokenService {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// `GET /token?service=…&scope=repository:<name>:<actions>`: a token for the scopes asked,
/// to the right credentials only.
async fn token(
    State(issuer): State<Arc<Issuer>>,
    Query(query): Query<Vec<(String, String)>>,
    headers: HeaderMap,
) -> Response {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if authorization != Some(issuer.expected.as_str()) {
        let body =
            json!({"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]});
        return (StatusCode::UNAUTHORIZED, axum::Json(body)).into_response();
    }
    let access: Vec<_> = query
        .iter()
        .filter(|(key, _)| key == "scope")
        .filter_map(|(_, scope)| {
            let mut parts = scope.splitn(3, ':');
            let (kind, name, actions) = (parts.next()?, parts.next()?, parts.next()?);
            let actions: Vec<&str> = actions.split(',').collect();
            Some(json!({"type": kind, "name": name, "actions": actions}))
        })
        .collect();
    let now = jiff::Timestamp::now().as_second();
    let claims = json!({
        "iss": ISSUER, "sub": issuer.username, "aud": SERVICE, "iat": now, "nbf": now - 10,
        "exp": now + 300, "jti": format!("{now}-{}", issuer.issued.load(Ordering::SeqCst)),
        "access": access,
    });
    let header = json!({"alg": "EdDSA", "typ": "JWT", "kid": KEY_ID});
    let signed = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(header.to_string()),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    );
    let signature = issuer.key.sign(signed.as_bytes());
    let token = format!("{signed}.{}", URL_SAFE_NO_PAD.encode(signature.as_ref()));
    issuer.issued.fetch_add(1, Ordering::SeqCst);
    axum::Json(json!({"token": token, "access_token": token, "expires_in": 300})).into_response()
}
