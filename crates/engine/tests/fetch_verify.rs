//! Commit and tag signatures made by real `git` with SSH keys from real `ssh-keygen`,
//! verified by the fetcher against the real `git daemon`.

use std::path::{Path, PathBuf};
use std::process::Command;

use lockstep_api::VerifyMode;
use lockstep_engine::fetch::{
    FetchError, FetchOptions, Fetcher, GitReference, KeysError, TrustedKeys, VerifyError,
};
use lockstep_testenv::{GitRepo, GitServer, need};

/// A new ed25519 key: its private key file and its public key line.
fn keygen(dir: &Path, name: &str) -> (PathBuf, String) {
    let key = dir.join(name);
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen is installed");
    assert!(status.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    (key, public)
}

fn fingerprint(public: &str) -> String {
    ssh_key::PublicKey::from_openssh(public.trim())
        .unwrap()
        .fingerprint(ssh_key::HashAlg::Sha256)
        .to_string()
}

/// Commits (signed with `key`, or unsigned) and pushes; returns the commit.
fn commit(repo: &GitRepo, key: Option<&Path>, message: &str) -> String {
    repo.write("app.yaml", format!("# {message}\nkind: ConfigMap\n"))
        .unwrap();
    repo.git(&["add", "--all"]).unwrap();
    match key {
        Some(key) => signed(repo, key, &["commit", "-q", "-S", "-m", message]),
        None => repo.git(&["commit", "-q", "-m", message]),
    }
    .unwrap();
    repo.push().unwrap()
}

/// Runs `git <args>` signing with the SSH key `key`.
fn signed(repo: &GitRepo, key: &Path, args: &[&str]) -> lockstep_testenv::Result<String> {
    let signing_key = format!("user.signingkey={}", key.display());
    let mut all = vec!["-c", "gpg.format=ssh", "-c", &signing_key];
    all.extend_from_slice(args);
    repo.git(&all)
}

fn options(mode: VerifyMode, public: &str) -> FetchOptions {
    let keys = TrustedKeys::from_entries([("trusted.sshpub", public.as_bytes())]).unwrap();
    FetchOptions {
        verify: Some((mode, keys)),
        ..FetchOptions::default()
    }
}

#[tokio::test]
async fn commits_verify_only_when_signed_by_a_trusted_key() {
    let git = need!(GitServer::start().await);
    let keys = tempfile::tempdir().unwrap();
    let (trusted, trusted_pub) = keygen(keys.path(), "trusted");
    let (other, other_pub) = keygen(keys.path(), "other");
    let repo = git.create_repo("verify-head", None).unwrap();
    let url = repo.git_url().unwrap().to_owned();
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path(), 4);
    let main = GitReference::Branch("main".into());
    let head = options(VerifyMode::Head, &trusted_pub);

    let good = commit(&repo, Some(&trusted), "signed");
    let fetched = fetcher.fetch_with(&url, &main, &head).await.unwrap();
    assert_eq!(fetched.artifact.commit, good);
    let verified = fetched.verified.unwrap();
    assert!(verified.contains(&good), "{verified}");
    assert!(verified.contains(&fingerprint(&trusted_pub)), "{verified}");

    // Signed by a key that is not trusted: the error names the commit and both keys.
    let bad = commit(&repo, Some(&other), "other key");
    let err = fetcher.fetch_with(&url, &main, &head).await.unwrap_err();
    let FetchError::Verification { source, .. } = &err else {
        panic!("{err:?}");
    };
    assert!(
        matches!(source, VerifyError::Untrusted { .. }),
        "{source:?}"
    );
    let message = format!("{err}: {source}");
    for part in [&bad, &fingerprint(&other_pub), &fingerprint(&trusted_pub)] {
        assert!(
            message.contains(part.as_str()),
            "{message} should name {part}"
        );
    }

    // Unsigned, and already cached by a fetch without verification: still refused.
    let unsigned = commit(&repo, None, "unsigned");
    let plain = fetcher.fetch(&url, &main).await.unwrap();
    assert_eq!(plain.artifact.commit, unsigned);
    assert!(plain.verified.is_none());
    let err = fetcher.fetch_with(&url, &main, &head).await.unwrap_err();
    assert!(
        matches!(
            &err,
            FetchError::Verification { source: VerifyError::Unsigned { object }, .. }
                if object.contains(&unsigned)
        ),
        "{err:?}"
    );

    // Tag modes need a tag ref.
    let err = fetcher
        .fetch_with(&url, &main, &options(VerifyMode::Tag, &trusted_pub))
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            FetchError::Verification {
                source: VerifyError::NotATagRef { .. },
                ..
            }
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn tags_verify_by_their_own_signature() {
    let git = need!(GitServer::start().await);
    let keys = tempfile::tempdir().unwrap();
    let (trusted, trusted_pub) = keygen(keys.path(), "trusted");
    let repo = git.create_repo("verify-tag", None).unwrap();
    let url = repo.git_url().unwrap().to_owned();
    let unsigned = commit(&repo, None, "unsigned commit");
    signed(&repo, &trusted, &["tag", "-s", "-m", "release", "v1.0.0"]).unwrap();
    repo.git(&["tag", "v1.1.0"]).unwrap();
    repo.push().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path(), 4);

    let fetched = fetcher
        .fetch_with(
            &url,
            &GitReference::Semver("~1.0".into()),
            &options(VerifyMode::Tag, &trusted_pub),
        )
        .await
        .unwrap();
    assert_eq!(fetched.artifact.revision, format!("v1.0.0@sha1:{unsigned}"));
    let verified = fetched.verified.unwrap();
    assert!(verified.contains("tag v1.0.0"), "{verified}");
    assert!(verified.contains(&fingerprint(&trusted_pub)), "{verified}");

    // The tag is signed, its commit is not.
    let err = fetcher
        .fetch_with(
            &url,
            &GitReference::Tag("v1.0.0".into()),
            &options(VerifyMode::TagAndHEAD, &trusted_pub),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&err, FetchError::Verification { source: VerifyError::Unsigned { object }, .. }
            if object.contains(&unsigned)),
        "{err:?}"
    );

    // A lightweight tag has no signature to check.
    let err = fetcher
        .fetch_with(
            &url,
            &GitReference::Tag("v1.1.0".into()),
            &options(VerifyMode::Tag, &trusted_pub),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(
            &err,
            FetchError::Verification {
                source: VerifyError::Lightweight { .. },
                ..
            }
        ),
        "{err:?}"
    );
}

#[test]
fn pgp_keys_are_refused_by_name() {
    let err =
        TrustedKeys::from_entries([("key.asc", &b"-----BEGIN PGP PUBLIC KEY BLOCK-----"[..])])
            .unwrap_err();
    assert!(matches!(err, KeysError::Pgp { .. }), "{err:?}");
    assert!(
        err.to_string()
            .contains("PGP verification is not supported"),
        "{err}"
    );
    let err = TrustedKeys::from_entries([("a.sshpub", &b"not a key"[..])]).unwrap_err();
    assert!(matches!(err, KeysError::Parse { .. }), "{err:?}");
}
