//! Credentials against the real `git http-backend` behind basic and bearer authentication.

use std::error::Error as _;

use lockstep_engine::fetch::{Credentials, FetchError, FetchOptions, Fetcher, GitReference};
use lockstep_testenv::{GitHttpServer, HttpAuth, need};

const PASSWORD: &str = "pa55-w0rd-never-shown";
const TOKEN: &str = "t0ken-never-shown";

fn main_branch() -> GitReference {
    GitReference::Branch("main".into())
}

fn with(credentials: Credentials) -> FetchOptions {
    FetchOptions {
        credentials: Some(credentials),
        ..FetchOptions::default()
    }
}

fn basic(password: &str) -> Credentials {
    let entries = [("username", &b"git"[..]), ("password", password.as_bytes())];
    Credentials::from_entries(entries).unwrap()
}

/// The error and every cause, as one string.
fn chain(err: &FetchError) -> String {
    let mut text = err.to_string();
    let mut cause = err.source();
    while let Some(c) = cause {
        text.push_str(&format!(": {c}"));
        cause = c.source();
    }
    text.push_str(&format!(" {err:?}"));
    text
}

/// gix refuses to send a password over plain `http://` (it would travel in clear text);
/// the refusal is an authentication error that shows neither the password nor the user.
/// The success path of basic auth needs HTTPS with a CA gix's reqwest backend trusts,
/// which this test server does not offer.
#[tokio::test]
async fn basic_auth_is_refused_over_plain_http_and_no_credentials_is_an_auth_error() {
    let server = need!(
        GitHttpServer::start(HttpAuth::Basic {
            username: "git".into(),
            password: PASSWORD.into(),
        })
        .await
    );
    let repo = server.create_repo("private", None).unwrap();
    repo.commit("empty").unwrap();
    let url = server.url("private");
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path(), 2);

    for (options, expected) in [
        (with(basic(PASSWORD)), "clear text"),
        (FetchOptions::default(), "No credentials"),
    ] {
        let err = fetcher
            .fetch_with(&url, &main_branch(), &options)
            .await
            .unwrap_err();
        assert!(matches!(err, FetchError::Authentication { .. }), "{err:?}");
        let text = chain(&err);
        assert!(text.contains(&url), "{text}");
        assert!(text.contains(expected), "{text} should say {expected}");
        assert!(!text.contains(PASSWORD), "{text}");
    }
    assert_eq!(fetcher.transfers(), 0);
    assert!(!format!("{:?}", basic(PASSWORD)).contains(PASSWORD));
}

#[tokio::test]
async fn bearer_token_is_sent_as_a_header() {
    let server = need!(GitHttpServer::start(HttpAuth::Bearer(TOKEN.into())).await);
    let repo = server.create_repo("bearer", None).unwrap();
    let head = repo.commit("empty").unwrap();
    let url = server.url("bearer");
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path(), 2);

    let token = Credentials::from_entries([("bearerToken", TOKEN.as_bytes())]).unwrap();
    let fetched = fetcher
        .fetch_with(&url, &main_branch(), &with(token))
        .await
        .unwrap();
    assert_eq!(fetched.artifact.commit, head);
    assert!(fetched.shallow, "protocol v2 over HTTP honours the depth");

    let wrong = Credentials::from_entries([("bearerToken", &b"nope"[..])]).unwrap();
    let err = fetcher
        .fetch_with(&url, &main_branch(), &with(wrong))
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Authentication { .. }), "{err:?}");
    assert!(!chain(&err).contains(TOKEN));
    assert_eq!(fetcher.transfers(), 1);
}

#[test]
fn ssh_identities_are_refused_plainly() {
    let err =
        Credentials::from_entries([("identity", &b"-----BEGIN OPENSSH PRIVATE KEY-----"[..])])
            .unwrap_err();
    assert!(err.to_string().contains("SSH"), "{err}");
}
