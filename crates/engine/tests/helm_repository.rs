//! Charts from a Helm HTTP repository (`fetch::chart`), against the real helm: a
//! repository written by `helm package` + `helm repo index` behind basic auth; versions
//! chosen as Helm chooses them; a version already fetched not downloaded again; the chart
//! rendered exactly as `helm template --repo` renders it; a wrong password and an archive
//! that does not match the index's digest refused, naming the URL and never the password.

use std::path::{Path, PathBuf};
use std::process::Command;

use lockstep_engine::fetch::{ChartError, ChartRepository, Credentials, Fetcher};
use lockstep_engine::keys::{Ambient, Keys};
use lockstep_engine::render::RenderOptions;
use lockstep_engine::render::helm::{Chart, render_chart};
use lockstep_testenv::{HelmRepoServer, HttpAuth, need, tool};
use serde_json::Value;

const USER: &str = "charts";
const PASSWORD: &str = "rep0-pa55word";

fn repository(server: &HelmRepoServer, password: &str) -> ChartRepository {
    ChartRepository {
        url: server.url(),
        credentials: Some(Credentials::Basic {
            username: USER.into(),
            password: password.to_owned().into(),
        }),
        ..ChartRepository::default()
    }
}

/// Runs the real helm with a private home in `dir`; its stdout.
pub(crate) fn helm(dir: &Path, args: &[&str]) -> String {
    let out = Command::new(tool("helm").unwrap())
        .current_dir(dir)
        .env_clear()
        .env("HOME", dir)
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "helm {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Publishes chart `app` at `version` with `color` in a ConfigMap of its own.
fn publish(server: &HelmRepoServer, work: &Path, version: &str, color: &str) {
    server.publish(&app_chart(work, version, color)).unwrap();
}

/// Writes chart `app` (`helm create`'s) at `version` with `color` in a ConfigMap of its
/// own, under `work`; its folder.
pub(crate) fn app_chart(work: &Path, version: &str, color: &str) -> PathBuf {
    let chart = work.join(format!("src-{version}/app"));
    if !chart.exists() {
        std::fs::create_dir_all(chart.parent().unwrap()).unwrap();
        helm(chart.parent().unwrap(), &["create", "app"]);
    }
    let meta = std::fs::read_to_string(chart.join("Chart.yaml")).unwrap();
    let meta = meta.replace("version: 0.1.0", &format!("version: {version}"));
    std::fs::write(chart.join("Chart.yaml"), meta).unwrap();
    std::fs::write(
        chart.join("templates/color.yaml"),
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{{{ .Release.Name }}}}-color\n\
             data:\n  color: {color}\n  version: {{{{ .Chart.Version | quote }}}}\n"
        ),
    )
    .unwrap();
    chart
}

/// Renders the chart `app` unpacked under `artifact` as release `web` in `shop`, asserts
/// that it is what `helm template web <chart_args>` writes (as `helm install` would
/// apply it), and returns it.
pub(crate) fn assert_renders_as_helm(artifact: &Path, chart_args: &[&str]) -> Vec<Value> {
    let chart = Chart {
        path: "app".into(),
        release_name: "web".into(),
        namespace: "shop".into(),
        include_crds: true,
        skip_tests: true,
        ..Chart::default()
    };
    let keys = Keys::ambient(Ambient::none());
    let ours = render_chart(artifact, &chart, &keys, &RenderOptions::default())
        .unwrap()
        .manifests
        .into_iter()
        .map(|m| m.object)
        .collect::<Vec<_>>();
    let home = tempfile::tempdir().unwrap();
    let mut args = vec!["template", "web"];
    args.extend(chart_args);
    args.extend(["--namespace", "shop", "--skip-tests", "--include-crds"]);
    let output = helm(home.path(), &args);
    let mut theirs: Vec<Value> =
        serde_saphyr::from_multiple_with_options(&output, lockstep_limits::yaml_options()).unwrap();
    theirs.retain(|o| !o.is_null());
    crate::helm::as_helm_installs(&mut theirs, "web", "shop");
    assert_eq!(sorted(ours.clone()), sorted(theirs));
    ours
}

fn sorted(mut objects: Vec<Value>) -> Vec<Value> {
    objects.sort_by_key(|o| (o["kind"].to_string(), o["metadata"]["name"].to_string()));
    objects
}

// helm talks to the server while this test waits on it: the server needs its own thread.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_repository_chart_is_chosen_fetched_once_and_rendered_as_helm_renders_it() {
    need!(tool("helm"));
    let server = need!(
        HelmRepoServer::start(Some(HttpAuth::Basic {
            username: USER.into(),
            password: PASSWORD.into(),
        }))
        .await
    );
    let work = tempfile::tempdir().unwrap();
    publish(&server, work.path(), "0.1.0", "blue");
    publish(&server, work.path(), "0.1.4", "green");
    publish(&server, work.path(), "0.2.0", "red");
    publish(&server, work.path(), "1.0.0-rc.1", "gray");
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path(), 8);
    let repo = repository(&server, PASSWORD);

    // Masterminds' rules, as helm: `0.1` is 0.1.x, no constraint is the highest release.
    let fetched = fetcher.fetch_chart(&repo, "app", "0.1").await.unwrap();
    assert_eq!(fetched.version, "0.1.4");
    assert!(fetched.transferred);
    assert!(fetched.artifact.revision.starts_with("0.1.4@sha256:"));
    let latest = fetcher.fetch_chart(&repo, "app", "").await.unwrap();
    assert_eq!(latest.version, "0.2.0");
    let pre = fetcher
        .fetch_chart(&repo, "app", ">=1.0.0-0")
        .await
        .unwrap();
    assert_eq!(pre.version, "1.0.0-rc.1");

    // Fetched again: only the index is read.
    let before = server.requests().len();
    let again = fetcher.fetch_chart(&repo, "app", "~0.2").await.unwrap();
    assert!(!again.transferred);
    assert_eq!(again.artifact, latest.artifact);
    let after = server.requests();
    assert_eq!(
        after[before..]
            .iter()
            .map(|r| r.path.as_str())
            .collect::<Vec<_>>(),
        ["/charts/index.yaml"]
    );
    assert!(
        after.iter().all(|r| r.authorized),
        "every request carried the credentials"
    );

    // Rendered from the artifact exactly as `helm template --repo` renders it.
    let ours = assert_renders_as_helm(
        &latest.artifact.path,
        &[
            "app",
            "--repo",
            &server.url(),
            "--username",
            USER,
            "--password",
            PASSWORD,
            "--version",
            "~0.2",
        ],
    );
    let color = ours
        .iter()
        .find(|o| o["metadata"]["name"] == "web-color")
        .unwrap();
    assert_eq!(
        (&color["data"]["color"], &color["data"]["version"]),
        (&"red".into(), &"0.2.0".into())
    );
}

#[tokio::test]
async fn a_wrong_password_and_a_tampered_archive_are_refused_by_name() {
    need!(tool("helm"));
    let server = need!(
        HelmRepoServer::start(Some(HttpAuth::Basic {
            username: USER.into(),
            password: PASSWORD.into(),
        }))
        .await
    );
    let work = tempfile::tempdir().unwrap();
    publish(&server, work.path(), "1.0.0", "blue");
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path(), 8);

    let wrong = "not-".to_owned() + PASSWORD;
    let err = fetcher
        .fetch_chart(&repository(&server, &wrong), "app", "1.0.0")
        .await
        .unwrap_err();
    let message = err.to_string();
    assert!(matches!(err, ChartError::Http { .. }), "{err:?}");
    assert!(
        message.contains("401") && message.contains(&server.url()),
        "{message}"
    );
    assert!(!message.contains(PASSWORD), "{message}");

    let repo = repository(&server, PASSWORD);
    let missing = fetcher.fetch_chart(&repo, "nope", "").await.unwrap_err();
    assert!(matches!(missing, ChartError::NoChart { .. }), "{missing}");
    let none = fetcher.fetch_chart(&repo, "app", "^2").await.unwrap_err();
    assert!(matches!(none, ChartError::NoVersion { .. }), "{none}");

    // The archive swapped after the index was written: refused, nothing unpacked.
    let archive = server.root().join("app-1.0.0.tgz");
    let mut bytes = std::fs::read(&archive).unwrap();
    bytes.extend_from_slice(b"\0");
    std::fs::write(&archive, bytes).unwrap();
    let err = fetcher
        .fetch_chart(&repo, "app", "1.0.0")
        .await
        .unwrap_err();
    assert!(matches!(err, ChartError::Digest { .. }), "{err:?}");
    assert!(err.to_string().contains("app 1.0.0"), "{err}");
    let unpacked = std::fs::read_dir(cache.path().join("charts"))
        .unwrap()
        .filter_map(Result::ok)
        .count();
    assert_eq!(unpacked, 0);
}
