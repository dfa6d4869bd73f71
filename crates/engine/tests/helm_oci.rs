//! Charts from an OCI registry (`fetch::chart`'s `oci://` path), against the real CNCF
//! `distribution` registry behind htpasswd and charts pushed with the real `helm push`:
//! versions chosen from the tags as Helm chooses them (a `+` pushed as `_`), a manifest
//! digest or a tag pinned, a layer already unpacked not downloaded again, the chart
//! rendered exactly as `helm template oci://…` renders it; a wrong password, a missing
//! chart, a tag and a digest nobody pushed refused by name, the password in no message;
//! and behind a token service, as Docker Hub and ghcr.io are, a token asked for and used.

use std::path::Path;

use lockstep_engine::fetch::{ChartError, ChartRepository, Credentials, Fetcher};
use lockstep_testenv::{HttpAuth, OciRegistry, need, tool};

use crate::helm_repository::{app_chart, assert_renders_as_helm};

const USER: &str = "pusher";
const PASSWORD: &str = "0ci-pa55word";

fn repository(registry: &OciRegistry, password: &str) -> ChartRepository {
    ChartRepository {
        url: registry.url(),
        credentials: Some(Credentials::Basic {
            username: USER.into(),
            password: password.to_owned().into(),
        }),
        insecure: true,
        ..ChartRepository::default()
    }
}

/// Pushes chart `app` at `version` with `color` in a ConfigMap of its own; its manifest
/// digest.
fn push(registry: &OciRegistry, work: &Path, version: &str, color: &str) -> String {
    registry.push(&app_chart(work, version, color)).unwrap()
}

async fn start() -> Option<OciRegistry> {
    Some(need!(
        OciRegistry::start(Some(HttpAuth::Basic {
            username: USER.into(),
            password: PASSWORD.into(),
        }))
        .await
    ))
}

// helm talks to the registry while this test waits on it: both are processes, but the
// fetcher's blocking work needs a thread besides the test's.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_registry_chart_is_chosen_pinned_fetched_once_and_rendered_as_helm_renders_it() {
    need!(tool("helm"));
    let Some(registry) = start().await else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    let first = push(&registry, work.path(), "0.1.0", "blue");
    push(&registry, work.path(), "0.1.4", "green");
    push(&registry, work.path(), "0.2.0", "red");
    push(&registry, work.path(), "0.3.0+build.7", "gray");
    push(&registry, work.path(), "1.0.0-rc.1", "white");
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path(), 8);
    let repo = repository(&registry, PASSWORD);

    let fetched = fetcher.fetch_chart(&repo, "app", "0.1").await.unwrap();
    assert_eq!(fetched.version, "0.1.4");
    assert!(fetched.transferred);
    let latest = fetcher.fetch_chart(&repo, "app", "").await.unwrap();
    assert_eq!(
        latest.version, "0.3.0+build.7",
        "the tag 0.3.0_build.7 read as helm reads it"
    );
    let exact = fetcher.fetch_chart(&repo, "app", "0.2.0").await.unwrap();
    assert_eq!(exact.version, "0.2.0");

    // A manifest digest pins the chart, whatever the version says; the revision names it.
    let pinned = fetcher
        .fetch_chart(&repo, &format!("app@{first}"), "")
        .await
        .unwrap();
    assert_eq!(pinned.version, "0.1.0");
    assert_eq!(pinned.artifact.revision, format!("0.1.0@{first}"));

    // A tag is taken as written (Flux's OCIRepository `ref.tag`), not as a constraint.
    let tagged = fetcher
        .fetch_chart(&repo, "app:0.3.0_build.7", "")
        .await
        .unwrap();
    assert_eq!(tagged.version, "0.3.0+build.7");
    assert_eq!(tagged.artifact, latest.artifact);

    // Fetched again: the same unpacked folder, nothing downloaded.
    let again = fetcher.fetch_chart(&repo, "app", "~0.2").await.unwrap();
    assert!(!again.transferred);
    assert_eq!(again.artifact, exact.artifact);

    // Rendered from the artifact exactly as `helm template oci://…` renders it.
    let reference = format!("{}/app", registry.url());
    let ours = assert_renders_as_helm(
        &exact.artifact.path,
        &[
            &reference,
            "--plain-http",
            "--username",
            USER,
            "--password",
            PASSWORD,
            "--version",
            "0.2.0",
        ],
    );
    let color = ours
        .iter()
        .find(|o| o["metadata"]["name"] == "web-color")
        .unwrap();
    assert_eq!(color["data"]["color"], "red");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_a_missing_chart_and_an_unknown_digest_are_refused_by_name() {
    need!(tool("helm"));
    let Some(registry) = start().await else {
        return;
    };
    let work = tempfile::tempdir().unwrap();
    push(&registry, work.path(), "1.0.0", "blue");
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path(), 8);

    let wrong = "not-".to_owned() + PASSWORD;
    let err = fetcher
        .fetch_chart(&repository(&registry, &wrong), "app", "1.0.0")
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, ChartError::Http { .. }), "{err:?}");
    assert!(
        message.contains("401") && message.contains(&registry.host()),
        "{message}"
    );
    assert!(!message.contains(PASSWORD), "{message}");

    // Without credentials the registry's Basic challenge goes unanswered.
    let anonymous = ChartRepository {
        credentials: None,
        ..repository(&registry, PASSWORD)
    };
    let err = fetcher
        .fetch_chart(&anonymous, "app", "")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");

    let repo = repository(&registry, PASSWORD);
    let missing = fetcher.fetch_chart(&repo, "nope", "").await.unwrap_err();
    assert!(matches!(missing, ChartError::NoChart { .. }), "{missing}");
    assert!(missing.to_string().contains("charts/nope"), "{missing}");
    let none = fetcher.fetch_chart(&repo, "app", "^2").await.unwrap_err();
    assert!(matches!(none, ChartError::NoVersion { .. }), "{none}");
    // A tag nobody pushed is missing, not read as the range `0.1` would be; a tag that
    // is no tag never reaches a URL.
    let untagged = fetcher.fetch_chart(&repo, "app:1.0", "").await.unwrap_err();
    assert!(
        matches!(untagged, ChartError::NoVersion { .. }),
        "{untagged}"
    );
    let crooked = fetcher
        .fetch_chart(&repo, "app:../../v2/_catalog", "")
        .await
        .unwrap_err();
    assert!(matches!(crooked, ChartError::NotAChart { .. }), "{crooked}");
    assert!(crooked.to_string().contains("a tag is"), "{crooked}");
    let unknown = format!("app@sha256:{}", "0".repeat(64));
    let err = fetcher.fetch_chart(&repo, &unknown, "").await.unwrap_err();
    assert!(matches!(err, ChartError::NoVersion { .. }), "{err:?}");
    assert!(err.to_string().contains(&"0".repeat(64)), "{err}");

    // Over HTTPS, which the registry does not speak here: a transport error naming it.
    let tls = ChartRepository {
        insecure: false,
        ..repository(&registry, PASSWORD)
    };
    let err = fetcher.fetch_chart(&tls, "app", "").await.unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("https://{}", registry.host())),
        "{err}"
    );
    assert_eq!(
        std::fs::read_dir(cache.path().join("charts"))
            .map(|d| d.count())
            .unwrap_or(0),
        0,
        "nothing unpacked"
    );
}

/// Behind a token service, as Docker Hub and ghcr.io are: the registry's Bearer challenge
/// is answered with a token the realm grants to the credentials (the real `helm push` went
/// the same way), the chart fetched with it; a wrong password is refused by the realm,
/// named, the password in no message, and anonymous gets no token at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_registry_is_read_with_a_token_its_realm_grants() {
    need!(tool("helm"));
    let registry = need!(OciRegistry::start_token(USER, PASSWORD).await);
    let work = tempfile::tempdir().unwrap();
    let digest = push(&registry, work.path(), "1.2.0", "teal");
    let pushed = registry.tokens_issued();
    assert!(pushed > 0, "helm push asked the realm for a token");
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path(), 8);

    let fetched = fetcher
        .fetch_chart(&repository(&registry, PASSWORD), "app", "1.x")
        .await
        .unwrap();
    assert_eq!(fetched.artifact.revision, format!("1.2.0@{digest}"));
    assert!(
        registry.tokens_issued() > pushed,
        "the fetcher asked the realm for a token"
    );

    let wrong = "not-".to_owned() + PASSWORD;
    let err = fetcher
        .fetch_chart(&repository(&registry, &wrong), "app", "1.x")
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(
        message.contains("401") && message.contains("/token"),
        "the realm's refusal, named: {message}"
    );
    assert!(!message.contains(PASSWORD), "{message}");
    let anonymous = ChartRepository {
        credentials: None,
        ..repository(&registry, PASSWORD)
    };
    let err = fetcher
        .fetch_chart(&anonymous, "app", "1.x")
        .await
        .unwrap_err();
    assert!(err.to_string().contains("401"), "{err}");
}
