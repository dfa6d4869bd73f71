//! Signing in and out. A user signs in with a Kubernetes bearer token, as with the
//! Kubernetes dashboard: the API server, asked with that token (a SelfSubjectReview), says
//! who it belongs to or refuses it. The token is then kept only inside a client made for
//! that user, in memory, behind a random session id in a cookie that scripts cannot read
//! (`HttpOnly`), that is sent only over HTTPS or to localhost (`Secure`) and never with a
//! request another site starts (`SameSite=Strict`). Every form that changes something
//! also carries the session's CSRF token, and a request whose `Origin` is another site is
//! refused. Sessions end after [`LIFETIME`], on sign-out, or when the controller restarts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::extract::{Form, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use k8s_openapi::api::authentication::v1::SelfSubjectReview;
use kube::api::{Api, PostParams};
use serde::Deserialize;

use super::Ui;
use super::access::Remembered;
use super::html::{self, Esc};

/// The session cookie.
const COOKIE: &str = "lockstep-session";

/// How long a session lasts.
const LIFETIME: Duration = Duration::from_secs(8 * 60 * 60);

/// One signed-in user.
pub struct Session {
    /// The user's name, as the API server gave it.
    pub user: String,
    /// A client that authenticates as the user (their token, not the controller's).
    pub client: kube::Client,
    /// The token every form that changes something carries.
    pub csrf: String,
    /// What the user may see in the overview ([`super::access`]).
    pub visible: Remembered,
    ends: Instant,
}

/// The signed-in users, by session id.
#[derive(Default)]
pub struct Sessions(Mutex<HashMap<String, Arc<Session>>>);

impl Sessions {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<Session>>> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The session of a request's cookie, if it has not ended.
    fn of(&self, headers: &HeaderMap) -> Option<Arc<Session>> {
        let id = cookie(headers)?;
        let mut map = self.map();
        let now = Instant::now();
        map.retain(|_, session| session.ends > now);
        map.get(id).cloned()
    }

    /// Whether `session` is still signed in.
    pub fn holds(&self, session: &Arc<Session>) -> bool {
        let now = Instant::now();
        session.ends > now && self.map().values().any(|s| Arc::ptr_eq(s, session))
    }
}

/// The session id in a request's `Cookie` header.
fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .find_map(|pair| pair.trim().strip_prefix(COOKIE)?.strip_prefix('='))
}

/// A random token, hex.
fn random() -> String {
    let mut bytes = [0u8; 32];
    aws_lc_rs::rand::fill(&mut bytes).expect("the system random generator works");
    hex::encode(bytes)
}

/// The signed-in user of a request; a request without one is sent to the sign-in page.
pub struct User(pub Arc<Session>);

impl FromRequestParts<Arc<Ui>> for User {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, ui: &Arc<Ui>) -> Result<Self, Response> {
        ui.sessions
            .of(&parts.headers)
            .map(User)
            .ok_or_else(|| Redirect::to("/sign-in").into_response())
    }
}

impl Session {
    /// Refuses a write whose CSRF token is not this session's, or which another site's
    /// page sent (`Origin` not this host).
    pub fn check(&self, headers: &HeaderMap, csrf: &str) -> Result<(), Forged> {
        let token = aws_lc_rs::constant_time::verify_slices_are_equal(
            csrf.as_bytes(),
            self.csrf.as_bytes(),
        );
        if same_origin(headers) && token.is_ok() {
            Ok(())
        } else {
            Err(Forged)
        }
    }
}

/// A write refused because it did not come from one of this session's pages.
pub struct Forged;

impl IntoResponse for Forged {
    fn into_response(self) -> Response {
        (
            StatusCode::FORBIDDEN,
            "refused: the form did not come from this page; reload it and try again\n",
        )
            .into_response()
    }
}

/// Whether a request came from a page of this host: no `Origin` (a browser sends one
/// with every POST; a script or `curl` need not), or one naming the `Host` asked.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|h| h.to_str().ok());
    let origin = origin.to_str().ok().and_then(|o| o.split_once("://"));
    matches!((origin, host), (Some((_, origin)), Some(host)) if origin == host)
}

/// The sign-in page.
pub async fn form() -> Response {
    sign_in_page(StatusCode::OK, None)
}

fn sign_in_page(status: StatusCode, problem: Option<&str>) -> Response {
    let problem = problem
        .map(|p| format!(r#"<p class="error" role="alert">{}</p>"#, Esc(p)))
        .unwrap_or_default();
    let body = format!(
        r#"<h1>Sign in</h1>
{problem}<form method="post" action="/sign-in" class="sign-in">
<label for="token">Kubernetes bearer token</label>
<textarea id="token" name="token" rows="4" autocomplete="off" spellcheck="false" required></textarea>
<p class="hint">A ServiceAccount's (<code>kubectl create token NAME</code>) or your own. What you see and may do here is what its RBAC allows.</p>
<button type="submit">Sign in</button>
</form>"#
    );
    (status, html::page("Sign in", None, &body)).into_response()
}

/// The sign-in form.
#[derive(Deserialize)]
pub struct SignIn {
    token: String,
}

/// Checks the token with the API server and starts a session.
pub async fn sign_in(
    State(ui): State<Arc<Ui>>,
    headers: HeaderMap,
    Form(SignIn { token }): Form<SignIn>,
) -> Response {
    if !same_origin(&headers) {
        return sign_in_page(StatusCode::FORBIDDEN, Some("Sign in from this page."));
    }
    let token = token.trim().to_owned();
    let client = match user_client(&ui.config, token) {
        Ok(client) => client,
        Err(_) => {
            return sign_in_page(
                StatusCode::INTERNAL_SERVER_ERROR,
                Some("Cannot make a client of the API server."),
            );
        }
    };
    let review = Api::<SelfSubjectReview>::all(client.clone())
        .create(&PostParams::default(), &SelfSubjectReview::default())
        .await;
    let user = match review {
        Ok(review) => review
            .status
            .and_then(|s| s.user_info)
            .and_then(|u| u.username)
            .unwrap_or_default(),
        Err(kube::Error::Api(status)) if status.code == 401 => {
            return sign_in_page(
                StatusCode::UNAUTHORIZED,
                Some(
                    "The API server did not accept this token (401 Unauthorized). Make a new one and try again.",
                ),
            );
        }
        Err(kube::Error::Api(status)) => {
            return sign_in_page(
                StatusCode::BAD_GATEWAY,
                Some(&format!(
                    "The API server refused to say whose token this is ({} {}).",
                    status.code, status.reason
                )),
            );
        }
        Err(_) => {
            return sign_in_page(
                StatusCode::BAD_GATEWAY,
                Some("Cannot reach the API server; try again."),
            );
        }
    };
    let id = random();
    let session = Arc::new(Session {
        user,
        client,
        csrf: random(),
        visible: Remembered::default(),
        ends: Instant::now() + LIFETIME,
    });
    tracing::info!(user = %session.user, "signed in to the web UI");
    ui.sessions.map().insert(id.clone(), session);
    let cookie = format!(
        "{COOKIE}={id}; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age={}",
        LIFETIME.as_secs()
    );
    ([(header::SET_COOKIE, cookie)], Redirect::to("/")).into_response()
}

/// The sign-out form.
#[derive(Deserialize)]
pub struct SignOut {
    csrf: String,
}

/// Ends the session.
pub async fn sign_out(
    State(ui): State<Arc<Ui>>,
    User(session): User,
    headers: HeaderMap,
    Form(SignOut { csrf }): Form<SignOut>,
) -> Response {
    if let Err(refused) = session.check(&headers, &csrf) {
        return refused.into_response();
    }
    ui.sessions.map().retain(|_, s| !Arc::ptr_eq(s, &session));
    let cookie = format!("{COOKIE}=; Path=/; HttpOnly; Secure; SameSite=Strict; Max-Age=0");
    ([(header::SET_COOKIE, cookie)], Redirect::to("/sign-in")).into_response()
}

/// A client of the controller's API server that authenticates with `token` alone.
fn user_client(base: &kube::Config, token: String) -> Result<kube::Client, kube::Error> {
    let mut config = base.clone();
    config.auth_info = kube::config::AuthInfo {
        token: Some(token.into()),
        ..kube::config::AuthInfo::default()
    };
    kube::Client::try_from(config)
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    /// The session id is read from among other cookies; a cookie whose name only starts
    /// like ours is not it.
    #[test]
    fn the_session_cookie_is_found_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; lockstep-session-old=x; lockstep-session=abc; b=2"),
        );
        assert_eq!(cookie(&headers), Some("abc"));
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("lockstep-sessionx=1"),
        );
        assert_eq!(cookie(&headers), None);
    }
}
