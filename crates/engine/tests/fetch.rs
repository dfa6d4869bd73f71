//! Fetching from the real `git daemon` (git://) and from a bare repository (file://).

use lockstep_engine::fetch::{FetchError, Fetcher, GitReference};
use lockstep_testenv::{GitServer, need};

fn main_branch() -> GitReference {
    GitReference::Branch("main".into())
}

async fn new_commit_new_revision_same_revision_no_fetch(
    url: &str,
    repo: &lockstep_testenv::GitRepo,
    first: &str,
) {
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path(), 2);

    let one = fetcher.fetch(url, &main_branch()).await.unwrap();
    assert_eq!(one.artifact.revision, format!("main@sha1:{first}"));
    assert!(one.transferred);
    assert!(one.shallow, "a branch is fetched with depth 1");
    assert_eq!(
        std::fs::read_to_string(one.artifact.path.join("apps/cm.yaml")).unwrap(),
        "kind: ConfigMap\n"
    );
    assert!(!one.artifact.path.join(".git").exists());
    assert_eq!(fetcher.transfers(), 1);

    // Same revision: the ref is listed, nothing is fetched.
    let again = fetcher.fetch(url, &main_branch()).await.unwrap();
    assert_eq!(again.artifact, one.artifact);
    assert!(!again.transferred);
    assert_eq!(fetcher.transfers(), 1);

    // A new commit: a new revision and a new artifact.
    repo.write("apps/second.yaml", "kind: Secret\n").unwrap();
    let second = repo.commit("second").unwrap();
    let two = fetcher.fetch(url, &main_branch()).await.unwrap();
    assert_eq!(two.artifact.revision, format!("main@sha1:{second}"));
    assert!(two.transferred);
    assert_eq!(fetcher.transfers(), 2);
    assert!(two.artifact.path.join("apps/second.yaml").is_file());

    // The cache is bounded: after a third revision only the two newest remain.
    repo.write("apps/third.yaml", "kind: Service\n").unwrap();
    repo.commit("third").unwrap();
    let three = fetcher.fetch(url, &main_branch()).await.unwrap();
    assert_eq!(fetcher.transfers(), 3);
    assert!(three.artifact.path.is_dir());
    assert!(two.artifact.path.is_dir());
    assert!(!one.artifact.path.exists(), "oldest artifact evicted");

    // A tag and an exact commit.
    repo.git(&["tag", "v1.0.0", &second]).unwrap();
    repo.push().unwrap();
    let tagged = fetcher
        .fetch(url, &GitReference::Tag("v1.0.0".into()))
        .await
        .unwrap();
    assert_eq!(tagged.artifact.revision, format!("v1.0.0@sha1:{second}"));
    let pinned = fetcher
        .fetch(url, &GitReference::Commit(first.to_owned()))
        .await
        .unwrap();
    assert_eq!(pinned.artifact.revision, format!("sha1:{first}"));
    assert!(pinned.artifact.path.join("apps/cm.yaml").is_file());
    assert!(!pinned.artifact.path.join("apps/second.yaml").exists());

    // A branch that does not exist.
    let err = fetcher
        .fetch(url, &GitReference::Branch("nope".into()))
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::RefNotFound { .. }), "{err:?}");
    assert!(err.to_string().contains("refs/heads/nope"), "{err}");
}

fn seed() -> tempfile::TempDir {
    let seed = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(seed.path().join("apps")).unwrap();
    std::fs::write(seed.path().join("apps/cm.yaml"), "kind: ConfigMap\n").unwrap();
    seed
}

#[tokio::test]
async fn git_daemon_revisions_are_fetched_once_each() {
    let git = need!(GitServer::start().await);
    let seed = seed();
    let repo = git.create_repo("fetch-daemon", Some(seed.path())).unwrap();
    let first = repo.git(&["rev-parse", "HEAD"]).unwrap().trim().to_owned();
    let url = repo.git_url().unwrap().to_owned();
    new_commit_new_revision_same_revision_no_fetch(&url, &repo, &first).await;
}

#[tokio::test]
async fn file_url_revisions_are_fetched_once_each() {
    let git = need!(GitServer::start().await);
    let seed = seed();
    let repo = git.create_repo("fetch-file", Some(seed.path())).unwrap();
    let first = repo.git(&["rev-parse", "HEAD"]).unwrap().trim().to_owned();
    let url = repo.file_url();
    new_commit_new_revision_same_revision_no_fetch(&url, &repo, &first).await;
}

#[tokio::test]
async fn stopped_server_is_a_typed_error_naming_the_url() {
    let mut git = need!(GitServer::start().await);
    let repo = git.create_repo("fetch-down", None).unwrap();
    let url = repo.git_url().unwrap().to_owned();
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path(), 2);
    fetcher.fetch(&url, &main_branch()).await.unwrap();

    git.stop();
    let err = fetcher.fetch(&url, &main_branch()).await.unwrap_err();
    assert!(matches!(err, FetchError::ListRefs { .. }), "{err:?}");
    assert!(err.to_string().contains(&url), "{err}");
    assert_eq!(fetcher.transfers(), 1);

    // It comes back: fetching works again with no new transfer (same revision).
    git.restart().await.unwrap();
    let back = fetcher.fetch(&url, &main_branch()).await.unwrap();
    assert!(!back.transferred);
}
