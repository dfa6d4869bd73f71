//! Credentials against the real `git http-backend` behind basic and bearer authentication.

use std::error::Error as _;

use lockstep_engine::fetch::{
    Credentials, CredentialsError, FetchError, FetchOptions, Fetcher, GitReference,
};
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
    Credentials::from_entries(entries).unwrap().unwrap()
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
async fn basic_auth_over_https_with_the_sources_ca() {
    let server = need!(
        GitHttpServer::start_tls(HttpAuth::Basic {
            username: "git".into(),
            password: PASSWORD.into(),
        })
        .await
    );
    let repo = server.create_repo("tls", None).unwrap();
    repo.write("app.yaml", "kind: ConfigMap\n").unwrap();
    let head = repo.commit("app").unwrap();
    let url = server.url("tls");
    assert!(url.starts_with("https://"));
    let ca = server.ca_pem().unwrap().as_bytes().to_vec();
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path(), 2);
    let options = |password: &str, ca: Option<Vec<u8>>| FetchOptions {
        credentials: Some(basic(password)),
        ca_certificate: ca,
        ..FetchOptions::default()
    };

    // Without the CA the server's certificate is not trusted.
    let err = fetcher
        .fetch_with(&url, &main_branch(), &options(PASSWORD, None))
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::ListRefs { .. }), "{err:?}");
    assert!(!chain(&err).contains(PASSWORD));

    let fetched = fetcher
        .fetch_with(&url, &main_branch(), &options(PASSWORD, Some(ca.clone())))
        .await
        .unwrap();
    assert_eq!(fetched.artifact.revision, format!("main@sha1:{head}"));
    assert!(fetched.artifact.path.join("app.yaml").is_file());

    let err = fetcher
        .fetch_with(&url, &main_branch(), &options("wrong-password", Some(ca)))
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Authentication { .. }), "{err:?}");
    let text = chain(&err);
    assert!(text.contains(&url), "{text}");
    assert!(
        !text.contains(PASSWORD) && !text.contains("wrong-password"),
        "{text}"
    );
}

#[tokio::test]
async fn bearer_token_is_sent_as_a_header() {
    let server = need!(GitHttpServer::start(HttpAuth::Bearer(TOKEN.into())).await);
    let repo = server.create_repo("bearer", None).unwrap();
    let head = repo.commit("empty").unwrap();
    let url = server.url("bearer");
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path(), 2);

    let token = Credentials::from_entries([("bearerToken", TOKEN.as_bytes())])
        .unwrap()
        .unwrap();
    let fetched = fetcher
        .fetch_with(&url, &main_branch(), &with(token))
        .await
        .unwrap();
    assert_eq!(fetched.artifact.commit, head);
    assert!(fetched.shallow, "protocol v2 over HTTP honours the depth");

    let wrong = Credentials::from_entries([("bearerToken", &b"nope"[..])])
        .unwrap()
        .unwrap();
    let err = fetcher
        .fetch_with(&url, &main_branch(), &with(wrong))
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Authentication { .. }), "{err:?}");
    assert!(!chain(&err).contains(TOKEN));
    assert_eq!(fetcher.transfers(), 1);
}

#[test]
fn incomplete_secrets_are_refused_plainly() {
    let err =
        Credentials::from_entries([("identity", &b"-----BEGIN OPENSSH PRIVATE KEY-----"[..])])
            .unwrap_err();
    assert!(
        matches!(err, CredentialsError::KnownHostsMissing),
        "{err:?}"
    );
    assert!(err.to_string().contains("known_hosts"), "{err}");
    let only_ca = Credentials::from_entries([("ca.crt", &b"pem"[..])]).unwrap();
    assert!(only_ca.is_none());
    let half = Credentials::from_entries([("username", &b"git"[..])]).unwrap_err();
    assert!(matches!(half, CredentialsError::Incomplete), "{half:?}");
}
