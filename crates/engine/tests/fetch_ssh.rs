//! `ssh://` remotes against the real OpenSSH `sshd`, with the key and `known_hosts` from a
//! Secret's entries, as Flux reads them.

use std::error::Error as _;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use lockstep_engine::fetch::{
    Credentials, CredentialsError, FetchError, FetchOptions, Fetcher, GitReference,
};
use lockstep_testenv::{GitSshServer, need};

fn main_branch() -> GitReference {
    GitReference::Branch("main".into())
}

fn with_key(identity: &str, known_hosts: &str) -> FetchOptions {
    let entries = [
        ("identity", identity.as_bytes()),
        ("known_hosts", known_hosts.as_bytes()),
    ];
    FetchOptions {
        credentials: Credentials::from_entries(entries).unwrap(),
        ..FetchOptions::default()
    }
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

/// The base64 body of an OpenSSH private key: what must never leave memory.
fn key_body(key: &str) -> String {
    key.lines().filter(|l| !l.starts_with("-----")).collect()
}

/// Every file under `dir` (recursively) holding `needle`.
fn files_holding(dir: &Path, needle: &[u8]) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut found = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            found.extend(files_holding(&path, needle));
        } else if std::fs::read(&path).is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle)) {
            found.push(path);
        }
    }
    found
}

/// Watches the temp folder while a fetch runs: returns the agent folders seen and the
/// files in them that held `needle` (the first line of the key's base64, as it would be
/// written).
fn watch_agent_folders(
    needle: Vec<u8>,
    stop: Arc<AtomicBool>,
) -> std::thread::JoinHandle<(Vec<PathBuf>, Vec<PathBuf>)> {
    std::thread::spawn(move || {
        let (mut seen, mut leaked) = (Vec::new(), Vec::new());
        while !stop.load(Ordering::Relaxed) {
            let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
                break;
            };
            for entry in entries.flatten() {
                let path = entry.path();
                if entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with("lockstep-ssh-")
                {
                    leaked.extend(files_holding(&path, &needle));
                    if !seen.contains(&path) && path.join("known_hosts").exists() {
                        seen.push(path);
                    }
                }
            }
            std::thread::sleep(std::time::Duration::from_millis(2));
        }
        (seen, leaked)
    })
}

#[tokio::test]
async fn the_secrets_key_and_known_hosts_fetch_and_the_key_stays_in_memory() {
    let server = need!(GitSshServer::start().await);
    let repo = server.create_repo("app", None).unwrap();
    repo.write("deploy.yaml", "kind: ConfigMap\n").unwrap();
    let head = repo.commit("add deploy").unwrap();
    let key = server.client_key().unwrap();
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path(), 2);

    let body = key_body(&key);
    let needle = body.as_bytes()[..40].to_vec();
    let stop = Arc::new(AtomicBool::new(false));
    let watcher = watch_agent_folders(needle.clone(), stop.clone());
    let options = with_key(&key, &server.known_hosts().unwrap());
    let fetched = fetcher
        .fetch_with(&server.url("app"), &main_branch(), &options)
        .await;
    stop.store(true, Ordering::Relaxed);
    let (seen, leaked) = watcher.join().unwrap();
    let fetched = fetched.unwrap();

    assert_eq!(fetched.artifact.revision, format!("main@sha1:{head}"));
    assert!(fetched.transferred);
    assert_eq!(
        std::fs::read_to_string(fetched.artifact.path.join("deploy.yaml")).unwrap(),
        "kind: ConfigMap\n"
    );
    assert!(
        !seen.is_empty(),
        "the agent's folder should have been seen while fetching"
    );
    assert!(leaked.is_empty(), "key material in {leaked:?}");
    for dir in &seen {
        assert!(!dir.exists(), "{} should be removed", dir.display());
    }
    assert!(files_holding(cache.path(), &needle).is_empty());
    assert!(!format!("{options:?}").contains(&body[..40]));
}

/// Another server's client key is refused by this server: an authentication error that
/// shows no key; another server's host key is not this one's: host verification fails.
#[tokio::test]
async fn a_wrong_key_or_an_unknown_host_key_is_refused() {
    let server = need!(GitSshServer::start().await);
    let other = need!(GitSshServer::start().await);
    let repo = server.create_repo("app", None).unwrap();
    repo.commit("empty").unwrap();
    let url = server.url("app");
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path(), 2);
    let (right, wrong) = (server.client_key().unwrap(), other.client_key().unwrap());

    let options = with_key(&wrong, &server.known_hosts().unwrap());
    let err = fetcher
        .fetch_with(&url, &main_branch(), &options)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::Authentication { .. }), "{err:?}");
    let text = chain(&err);
    assert!(text.contains("Permission denied (publickey)"), "{text}");
    for key in [&right, &wrong] {
        assert!(!text.contains(&key_body(key)[..40]), "{text}");
    }

    let options = with_key(&right, &other.known_hosts().unwrap());
    let err = fetcher
        .fetch_with(&url, &main_branch(), &options)
        .await
        .unwrap_err();
    let FetchError::HostKey { detail, .. } = &err else {
        panic!("{err:?}");
    };
    assert!(detail.contains("Host key verification failed"), "{detail}");
    assert!(!chain(&err).contains(&key_body(&right)[..40]));
    assert_eq!(fetcher.transfers(), 0);
}

#[tokio::test]
async fn ssh_without_an_identity_is_refused_and_bad_or_locked_identities_are_named() {
    let server = need!(GitSshServer::start().await);
    server.create_repo("app", None).unwrap();
    let url = server.url("app");
    let cache = tempfile::tempdir().unwrap();
    let fetcher = Fetcher::new(cache.path(), 2);

    let err = fetcher
        .fetch_with(&url, &main_branch(), &FetchOptions::default())
        .await
        .unwrap_err();
    assert!(
        chain(&err).contains("needs a secretRef with identity"),
        "{err:?}"
    );

    let garbage =
        "-----BEGIN OPENSSH PRIVATE KEY-----\nbm90IGEga2V5\n-----END OPENSSH PRIVATE KEY-----\n";
    let options = with_key(garbage, &server.known_hosts().unwrap());
    let err = fetcher
        .fetch_with(&url, &main_branch(), &options)
        .await
        .unwrap_err();
    assert!(matches!(err, FetchError::SshAgent { .. }), "{err:?}");
    assert!(!chain(&err).contains("bm90IGEga2V5"));

    let entries = [
        ("identity", garbage.as_bytes()),
        ("known_hosts", b"x".as_slice()),
        ("password", b"p".as_slice()),
    ];
    let err = Credentials::from_entries(entries).unwrap_err();
    assert!(matches!(err, CredentialsError::SshPassphrase), "{err:?}");

    // A key protected by a passphrase is refused before ssh-add could ask for it.
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("locked");
    let status = std::process::Command::new(lockstep_testenv::tool("ssh-keygen").unwrap())
        .args(["-q", "-t", "ed25519", "-N", "s3cret-phrase", "-f"])
        .arg(&file)
        .status()
        .unwrap();
    assert!(status.success());
    let locked = std::fs::read(&file).unwrap();
    let entries = [("identity", &locked[..]), ("known_hosts", b"x".as_slice())];
    let err = Credentials::from_entries(entries).unwrap_err();
    assert!(matches!(err, CredentialsError::SshPassphrase), "{err:?}");
    let unlocked = server.client_key().unwrap();
    let entries = [("identity", unlocked.as_bytes()), ("known_hosts", b"x")];
    assert!(Credentials::from_entries(entries).unwrap().is_some());
}
