//! Semver ranges over tags, the remote's default branch (`HEAD`) and ignore rules, against
//! the real `git daemon`.

use lockstep_engine::fetch::{DEFAULT_BRANCH, FetchError, FetchOptions, Fetcher, GitReference};
use lockstep_testenv::{GitServer, need};

fn semver(range: &str) -> GitReference {
    GitReference::Semver(range.into())
}

#[tokio::test]
async fn semver_follows_the_highest_matching_tag() {
    let git = need!(GitServer::start().await);
    let repo = git.create_repo("semver", None).unwrap();
    let url = repo.git_url().unwrap().to_owned();
    let one = repo.git(&["rev-parse", "HEAD"]).unwrap().trim().to_owned();
    repo.git(&["tag", "v1.0.0"]).unwrap();
    repo.write("app.yaml", "kind: ConfigMap\n").unwrap();
    let two = repo.commit("two").unwrap();
    repo.git(&["tag", "-a", "-m", "release", "1.1.0"]).unwrap();
    repo.write("app.yaml", "kind: Secret\n").unwrap();
    let three = repo.commit("three").unwrap();
    repo.git(&["tag", "v2.0.0"]).unwrap();
    repo.git(&["tag", "latest"]).unwrap();
    repo.push().unwrap();

    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path(), 4);
    let got = fetcher
        .fetch(&url, &semver(">=1.0.0 <2.0.0"))
        .await
        .unwrap();
    assert_eq!(got.artifact.revision, format!("1.1.0@sha1:{two}"));
    assert_eq!(got.artifact.commit, two);
    assert_ne!(got.artifact.commit, one);
    assert_eq!(
        std::fs::read_to_string(got.artifact.path.join("app.yaml")).unwrap(),
        "kind: ConfigMap\n"
    );

    // Unchanged: listed, not fetched.
    let again = fetcher
        .fetch(&url, &semver(">=1.0.0 <2.0.0"))
        .await
        .unwrap();
    assert!(!again.transferred);
    assert_eq!(again.artifact, got.artifact);

    // A new matching tag is a new revision.
    repo.git(&["tag", "-a", "-m", "fix", "v1.2.0", &three])
        .unwrap();
    repo.push().unwrap();
    let newer = fetcher
        .fetch(&url, &semver(">=1.0.0 <2.0.0"))
        .await
        .unwrap();
    assert_eq!(newer.artifact.revision, format!("v1.2.0@sha1:{three}"));
    assert!(newer.transferred);

    let err = fetcher.fetch(&url, &semver(">=3.0.0")).await.unwrap_err();
    assert!(matches!(err, FetchError::NoMatchingTag { .. }), "{err:?}");
    assert!(err.to_string().contains(">=3.0.0"), "{err}");
    assert!(err.to_string().contains(&url), "{err}");
}

#[tokio::test]
async fn sourceignore_files_and_the_ignore_string_leave_files_out() {
    let git = need!(GitServer::start().await);
    let repo = git.create_repo("ignore", None).unwrap();
    let url = repo.git_url().unwrap().to_owned();
    for (path, text) in [
        (".sourceignore", "*.md\nscratch/\n"),
        ("README.md", "read me\n"),
        ("scratch/x.yaml", "kind: Pod\n"),
        ("apps/.sourceignore", "local.yaml\n"),
        ("apps/local.yaml", "kind: Pod\n"),
        ("apps/app.yaml", "kind: ConfigMap\n"),
        ("apps/extra.yaml", "kind: Secret\n"),
        (".github/workflows/ci.yml", "on: push\n"),
        ("logo.png", "png"),
    ] {
        repo.write(path, text).unwrap();
    }
    repo.commit("files").unwrap();

    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path(), 4);
    let main = GitReference::Branch("main".into());
    let plain = fetcher.fetch(&url, &main).await.unwrap();
    let root = &plain.artifact.path;
    assert!(root.join("apps/app.yaml").is_file());
    assert!(root.join("apps/extra.yaml").is_file());
    for gone in [
        "README.md",
        "scratch",
        "apps/local.yaml",
        ".github",
        "logo.png",
    ] {
        assert!(!root.join(gone).exists(), "{gone} should be ignored");
    }

    // The ignore string replaces the defaults and wins over .sourceignore files.
    let options = FetchOptions {
        ignore: Some("!README.md\nextra.yaml\n".into()),
        ..FetchOptions::default()
    };
    let custom = fetcher.fetch_with(&url, &main, &options).await.unwrap();
    assert_eq!(custom.artifact.commit, plain.artifact.commit);
    assert_ne!(
        custom.artifact.path, plain.artifact.path,
        "one commit, two rule sets"
    );
    let root = &custom.artifact.path;
    assert!(root.join("README.md").is_file());
    assert!(root.join(".github/workflows/ci.yml").is_file());
    assert!(root.join("logo.png").is_file());
    assert!(!root.join("apps/extra.yaml").exists());
    assert!(!root.join("apps/local.yaml").exists());
    assert!(!root.join("scratch").exists());

    // Both stay usable side by side.
    assert!(plain.artifact.path.join("apps/extra.yaml").is_file());
    let again = fetcher.fetch(&url, &main).await.unwrap();
    assert_eq!(again.artifact.path, plain.artifact.path);
}

/// Branch `HEAD` follows the branch the remote's HEAD points at, named in the revision.
#[tokio::test]
async fn head_follows_the_default_branch() {
    let git = need!(GitServer::start().await);
    let repo = git.create_repo("head", None).unwrap();
    let url = repo.git_url().unwrap().to_owned();
    repo.write("app.yaml", "kind: ConfigMap\n").unwrap();
    let main = repo.commit("on main").unwrap();
    repo.git(&["push", "--quiet", "origin", "HEAD:refs/heads/other"])
        .unwrap();

    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path(), 4);
    let head = GitReference::Branch(DEFAULT_BRANCH.into());
    let got = fetcher.fetch(&url, &head).await.unwrap();
    assert_eq!(got.artifact.revision, format!("main@sha1:{main}"));
    assert_eq!(
        std::fs::read_to_string(got.artifact.path.join("app.yaml")).unwrap(),
        "kind: ConfigMap\n"
    );
}
