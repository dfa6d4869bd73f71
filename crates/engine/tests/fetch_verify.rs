//! Commit and tag signatures made by real `git` with SSH keys from real `ssh-keygen` and
//! with OpenPGP keys from real `gpg`, verified by the fetcher against the real `git daemon`.

use std::path::{Path, PathBuf};
use std::process::Command;

use lockstep_api::VerifyMode;
use lockstep_engine::fetch::{
    FetchError, FetchOptions, Fetcher, GitObject, GitReference, KeysError, TrustedKeys, VerifyError,
};
use lockstep_keys::openpgp::{CertificateError, KeyProblem, SignatureError};
use lockstep_testenv::{GitRepo, GitServer, Gpg, need};

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
    let source = verify_error(&err);
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
            verify_error(&err),
            VerifyError::Unsigned { object } if *object == GitObject::Commit(unsigned.clone())
        ),
        "{err:?}"
    );

    // Tag modes need a tag ref.
    let err = fetcher
        .fetch_with(&url, &main, &options(VerifyMode::Tag, &trusted_pub))
        .await
        .unwrap_err();
    assert!(
        matches!(verify_error(&err), VerifyError::NotATagRef { .. }),
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
        matches!(verify_error(&err), VerifyError::Unsigned { object }
            if *object == GitObject::Commit(unsigned.clone())),
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
        matches!(verify_error(&err), VerifyError::Lightweight { .. }),
        "{err:?}"
    );
}

/// Commits (signed through `gpg` with `key`, or unsigned) and pushes; returns the commit.
fn gpg_commit(repo: &GitRepo, gpg: &Gpg, key: Option<&str>, message: &str) -> String {
    repo.write("app.yaml", format!("# {message}\nkind: ConfigMap\n"))
        .unwrap();
    repo.git(&["add", "--all"]).unwrap();
    match key {
        Some(key) => gpg_signed(repo, gpg, key, &["commit", "-q", "-S", "-m", message]),
        None => repo.git(&["commit", "-q", "-m", message]),
    }
    .unwrap();
    repo.push().unwrap()
}

/// Runs `git <args>` signing with the OpenPGP key `key` of `gpg`.
fn gpg_signed(
    repo: &GitRepo,
    gpg: &Gpg,
    key: &str,
    args: &[&str],
) -> lockstep_testenv::Result<String> {
    let mut all = gpg.git_signing(key);
    all.extend(args.iter().map(|a| (*a).to_owned()));
    repo.git(&all.iter().map(String::as_str).collect::<Vec<_>>())
}

/// The Secret entries Flux reads: one `*.asc` per key, as `gpg --export --armor` writes it.
fn pgp_options(mode: VerifyMode, armoured: &[(&str, &str)]) -> FetchOptions {
    let entries = armoured.iter().map(|(name, key)| (*name, key.as_bytes()));
    FetchOptions {
        verify: Some((mode, TrustedKeys::from_entries(entries).unwrap())),
        ..FetchOptions::default()
    }
}

fn verify_error(err: &FetchError) -> &VerifyError {
    match err {
        FetchError::Verification { source, .. } => source,
        other => panic!("not a verification error: {other:?}"),
    }
}

/// Signed by a trusted gpg key → used, naming the key; unsigned, an untrusted key, tampered
/// content, an expired key and a revoked key → refused, naming the commit and the key.
#[tokio::test]
async fn openpgp_commits_verify_only_when_a_trusted_key_may_sign() {
    let git = need!(GitServer::start().await);
    let gpg = need!(Gpg::new());
    // A key that was valid for 2020 only, and a commit it signed then.
    let past = need!(Gpg::at("20200601T000000"));
    let trusted = gpg
        .generate("Trusted <trusted@lockstep.invalid>", "never")
        .unwrap();
    let other = gpg
        .generate("Other <other@lockstep.invalid>", "never")
        .unwrap();
    let revoked = gpg
        .generate("Revoked <revoked@lockstep.invalid>", "never")
        .unwrap();
    let expired = past
        .generate("Expired <expired@lockstep.invalid>", "1y")
        .unwrap();
    let repo = git.create_repo("verify-pgp", None).unwrap();
    let url = repo.git_url().unwrap().to_owned();
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path(), 4);
    let main = GitReference::Branch("main".into());

    // Signed before the key was revoked; the Secret holds the revoked key.
    let by_revoked = gpg_commit(&repo, &gpg, Some(&revoked), "by a key revoked since");
    gpg.revoke(&revoked).unwrap();
    let (trusted_asc, revoked_asc, expired_asc) = (
        gpg.export(&trusted).unwrap(),
        gpg.export(&revoked).unwrap(),
        past.export(&expired).unwrap(),
    );
    let head = pgp_options(
        VerifyMode::Head,
        &[
            ("trusted.asc", &trusted_asc),
            ("revoked.asc", &revoked_asc),
            ("expired.asc", &expired_asc),
        ],
    );
    let err = fetcher.fetch_with(&url, &main, &head).await.unwrap_err();
    let message = format!("{err}: {}", verify_error(&err));
    assert!(
        matches!(
            verify_error(&err),
            VerifyError::OpenPgp {
                source: SignatureError::Key {
                    problem: KeyProblem::Revoked,
                    ..
                },
                ..
            }
        ),
        "{message}"
    );
    for part in [&by_revoked, &revoked] {
        assert!(
            message.contains(part.as_str()),
            "{message} should name {part}"
        );
    }

    let good = gpg_commit(&repo, &gpg, Some(&trusted), "signed");
    let fetched = fetcher.fetch_with(&url, &main, &head).await.unwrap();
    assert_eq!(fetched.artifact.commit, good);
    let verified = fetched.verified.unwrap();
    assert!(verified.contains(&good), "{verified}");
    assert!(verified.contains(&trusted), "{verified}");

    // Signed by a key that is not trusted: the error names the commit and both keys.
    let bad = gpg_commit(&repo, &gpg, Some(&other), "other key");
    let err = fetcher.fetch_with(&url, &main, &head).await.unwrap_err();
    assert!(
        matches!(verify_error(&err), VerifyError::Untrusted { .. }),
        "{err:?}"
    );
    let message = format!("{err}: {}", verify_error(&err));
    for part in [&bad, &other, &trusted] {
        assert!(
            message.contains(part.as_str()),
            "{message} should name {part}"
        );
    }

    // Unsigned.
    let unsigned = gpg_commit(&repo, &gpg, None, "unsigned");
    let err = fetcher.fetch_with(&url, &main, &head).await.unwrap_err();
    assert_eq!(
        verify_error(&err).object(),
        Some(&GitObject::Commit(unsigned))
    );
    assert!(
        matches!(verify_error(&err), VerifyError::Unsigned { .. }),
        "{err:?}"
    );

    // Signed in 2020 by a key that expired in 2021.
    let old = gpg_commit(&repo, &past, Some(&expired), "by a key expired since");
    let err = fetcher.fetch_with(&url, &main, &head).await.unwrap_err();
    let message = format!("{err}: {}", verify_error(&err));
    assert!(
        matches!(
            verify_error(&err),
            VerifyError::OpenPgp {
                source: SignatureError::Key {
                    problem: KeyProblem::Expired { .. },
                    ..
                },
                ..
            }
        ),
        "{message}"
    );
    assert!(
        message.contains(&old) && message.contains("expired at 2021-"),
        "{message}"
    );

    // A trusted signature moved onto other content: the commit's message is changed, its
    // `gpgsig` header kept, and the branch force-pushed to the forgery.
    let signed = gpg_commit(&repo, &gpg, Some(&trusted), "original message");
    let object = repo.git(&["cat-file", "commit", &signed]).unwrap();
    let forged_object = object.replace("original message", "forged message");
    let forged = hash_commit(&repo, &forged_object);
    repo.git(&["update-ref", "refs/heads/main", &forged])
        .unwrap();
    repo.git(&["push", "-q", "--force", "origin", "main"])
        .unwrap();
    let err = fetcher.fetch_with(&url, &main, &head).await.unwrap_err();
    assert!(
        matches!(verify_error(&err), VerifyError::Invalid { signer, .. } if *signer == trusted),
        "{err:?}"
    );
    assert_eq!(
        verify_error(&err).object(),
        Some(&GitObject::Commit(forged))
    );
}

/// Writes a commit object as given and returns its id.
fn hash_commit(repo: &GitRepo, object: &str) -> String {
    let file = repo.work_tree().join(".git/forged-commit");
    std::fs::write(&file, object).unwrap();
    let path = file.display().to_string();
    let id = repo
        .git(&["hash-object", "-t", "commit", "-w", &path])
        .unwrap();
    id.trim().to_owned()
}

#[tokio::test]
async fn openpgp_tags_and_their_commits() {
    let git = need!(GitServer::start().await);
    let gpg = need!(Gpg::new());
    let trusted = gpg
        .generate("Trusted <trusted@lockstep.invalid>", "never")
        .unwrap();
    let repo = git.create_repo("verify-pgp-tag", None).unwrap();
    let url = repo.git_url().unwrap().to_owned();
    let commit = gpg_commit(&repo, &gpg, Some(&trusted), "release");
    gpg_signed(
        &repo,
        &gpg,
        &trusted,
        &["tag", "-s", "-m", "release", "v1.0.0"],
    )
    .unwrap();
    repo.git(&["tag", "-a", "-m", "unsigned", "v1.1.0"])
        .unwrap();
    repo.push().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path(), 4);
    let armoured = gpg.export(&trusted).unwrap();
    let both = pgp_options(VerifyMode::TagAndHEAD, &[("trusted.asc", &armoured)]);

    let fetched = fetcher
        .fetch_with(&url, &GitReference::Tag("v1.0.0".into()), &both)
        .await
        .unwrap();
    let verified = fetched.verified.unwrap();
    for part in ["tag v1.0.0", &commit, &trusted] {
        assert!(verified.contains(part), "{verified} should name {part}");
    }

    // An annotated tag without a signature.
    let err = fetcher
        .fetch_with(&url, &GitReference::Tag("v1.1.0".into()), &both)
        .await
        .unwrap_err();
    assert!(
        matches!(verify_error(&err), VerifyError::Unsigned { object: GitObject::Tag(tag) } if tag == "v1.1.0"),
        "{err:?}"
    );
}

#[test]
fn key_entries_are_read_as_flux_reads_them() {
    // Any name but *.sshpub is an armoured OpenPGP public key block.
    for (name, data) in [
        (
            "key.asc",
            &b"-----BEGIN PGP PUBLIC KEY BLOCK-----\n\nbm90IGEga2V5\n"[..],
        ),
        ("key", &b"ssh-ed25519 AAAA"[..]),
    ] {
        let err = TrustedKeys::from_entries([(name, data)]).unwrap_err();
        assert!(
            // rPGP (with malformed-artifact-compat) finds no packet in an SSH line: Empty.
            matches!(&err, KeysError::OpenPgp { entry, source: CertificateError::Parse { .. } | CertificateError::Empty } if entry == name),
            "{err:?}"
        );
    }
    // A private key is refused unread.
    let err =
        TrustedKeys::from_entries([("key.asc", &b"-----BEGIN PGP PRIVATE KEY BLOCK-----\n"[..])])
            .unwrap_err();
    assert!(
        matches!(
            &err,
            KeysError::OpenPgp {
                source: CertificateError::Private,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("only public keys"), "{err}");
    let err = TrustedKeys::from_entries([("a.sshpub", &b"not a key"[..])]).unwrap_err();
    assert!(matches!(err, KeysError::Parse { .. }), "{err:?}");
    let err = TrustedKeys::from_entries([]).unwrap_err();
    assert!(matches!(err, KeysError::Empty), "{err:?}");
}
