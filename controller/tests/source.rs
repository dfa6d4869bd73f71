//! GitSources end to end: the real `lockstep-controller` binary following semver tags and
//! verifying SSH and OpenPGP commit signatures made by the real `git` (with the real
//! `ssh-keygen` and `gpg`), from the real git daemon.

use crate::support;

use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::core::v1::{ConfigMap, Secret};
use kube::api::{Api, PostParams};
use lockstep_api::{Condition, GitSource, GitSourceStatus};
use lockstep_testenv::{
    ControlPlane, GitHttpServer, GitRepo, GitServer, GitSshServer, Gpg, HttpAuth, need,
};
use serde_json::json;
use support::{Controller, create_lockstep, eventually, install_sync_crds, wait_for_event};

/// A new ed25519 key from `ssh-keygen`: its private key file, public key line and
/// SHA-256 fingerprint.
fn keygen(dir: &Path, name: &str) -> (PathBuf, String, String) {
    let key = dir.join(name);
    let status = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", name, "-f"])
        .arg(&key)
        .status()
        .expect("ssh-keygen is installed");
    assert!(status.success());
    let public = std::fs::read_to_string(key.with_extension("pub")).unwrap();
    let listed = Command::new("ssh-keygen")
        .args(["-l", "-E", "sha256", "-f"])
        .arg(key.with_extension("pub"))
        .output()
        .unwrap();
    let fingerprint = String::from_utf8(listed.stdout).unwrap();
    let fingerprint = fingerprint.split_whitespace().nth(1).unwrap().to_owned();
    (key, public, fingerprint)
}

/// Commits a change signed with `key` and pushes; returns the commit.
fn signed_commit(repo: &GitRepo, key: &Path, message: &str) -> String {
    repo.write("app.yaml", format!("# {message}\n")).unwrap();
    repo.git(&["add", "--all"]).unwrap();
    let signing_key = format!("user.signingkey={}", key.display());
    repo.git(&[
        "-c",
        "gpg.format=ssh",
        "-c",
        &signing_key,
        "commit",
        "-q",
        "-S",
        "-m",
        message,
    ])
    .unwrap();
    repo.push().unwrap()
}

async fn source_status(client: &kube::Client, ns: &str, name: &str) -> GitSourceStatus {
    let api: Api<GitSource> = Api::namespaced(client.clone(), ns);
    api.get(name).await.unwrap().status.unwrap_or_default()
}

fn condition<'a>(status: &'a GitSourceStatus, type_: &str) -> Option<&'a Condition> {
    status.conditions.iter().find(|c| c.type_ == type_)
}

/// Waits until `name`'s condition `type_` has `status` and `reason`; returns its message.
async fn wait_condition(
    client: &kube::Client,
    ns: &str,
    name: &str,
    (type_, status, reason): (&str, &str, &str),
) -> (String, GitSourceStatus) {
    let mut last = GitSourceStatus::default();
    eventually(
        &format!("GitSource {name}: {type_}={status} ({reason})"),
        async || {
            last = source_status(client, ns, name).await;
            condition(&last, type_).is_some_and(|c| c.status == status && c.reason == reason)
        },
    )
    .await;
    let message = condition(&last, type_).unwrap().message.clone();
    (message, last)
}

#[tokio::test]
async fn semver_tags_and_ssh_signatures_through_the_controller() {
    let plane = need!(ControlPlane::shared().await);
    let git = need!(GitServer::start().await);
    let (client, ns) = plane.namespace("source").await.unwrap();
    install_sync_crds(&client).await;
    let keys = tempfile::tempdir().unwrap();
    let (trusted, trusted_pub, trusted_fp) = keygen(keys.path(), "trusted");
    let (other, _, other_fp) = keygen(keys.path(), "other");

    let repo = git.create_repo("source", None).unwrap();
    let one = signed_commit(&repo, &trusted, "one");
    repo.git(&["tag", "-a", "-m", "one", "v1.0.0"]).unwrap();
    repo.git(&["tag", "v2.0.0"]).unwrap();
    repo.push().unwrap();
    let url = repo.git_url().unwrap().to_owned();

    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "trusted-keys"},
        "stringData": {"author.sshpub": trusted_pub},
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();

    let _controller = Controller::start_syncing(plane, &ns, &[]).await;
    for (name, git_ref, verify) in [
        ("semver", json!({"semver": ">=1.0.0 <2.0.0"}), json!(null)),
        (
            "verified",
            json!({"branch": "main"}),
            json!({"mode": "HEAD", "secretRef": {"name": "trusted-keys"}}),
        ),
        (
            "no-keys",
            json!({"branch": "main"}),
            json!({"secretRef": {"name": "missing"}}),
        ),
    ] {
        let mut spec = json!({"url": url, "interval": "1s", "ref": git_ref});
        if !verify.is_null() {
            spec["verify"] = verify;
        }
        let body = json!({"metadata": {"name": name}, "spec": spec});
        create_lockstep(&client, &ns, "GitSource", body).await;
    }

    // semver: the highest tag in range, then a newer one when it is pushed.
    let (_, status) = wait_condition(&client, &ns, "semver", ("Ready", "True", "Succeeded")).await;
    assert_eq!(
        status.last_attempted_revision.as_deref(),
        Some(format!("v1.0.0@sha1:{one}").as_str())
    );
    assert!(condition(&status, "SourceVerified").is_none());
    let two = signed_commit(&repo, &trusted, "two");
    repo.git(&["tag", "v1.1.0"]).unwrap();
    repo.push().unwrap();
    let want = format!("v1.1.0@sha1:{two}");
    eventually(&format!("GitSource semver at {want}"), async || {
        source_status(&client, &ns, "semver")
            .await
            .last_attempted_revision
            == Some(want.clone())
    })
    .await;

    // A signed head verifies, naming the key.
    let (message, _) = wait_condition(
        &client,
        &ns,
        "verified",
        ("SourceVerified", "True", "Succeeded"),
    )
    .await;
    assert!(message.contains(&trusted_fp), "{message}");
    // The first reconcile may have taken `one` before `two` was pushed: wait for `two`.
    let want = format!("main@sha1:{two}");
    eventually(&format!("GitSource verified at {want}"), async || {
        let status = source_status(&client, &ns, "verified").await;
        status.last_attempted_revision == Some(want.clone())
            && condition(&status, "Ready").is_some_and(|c| c.status == "True")
    })
    .await;

    // A head signed by an untrusted key: not used, and the status says which commit and key.
    let bad = signed_commit(&repo, &other, "untrusted");
    let (message, status) = wait_condition(
        &client,
        &ns,
        "verified",
        ("Ready", "False", "InvalidCommitSignature"),
    )
    .await;
    for part in [&bad, &other_fp, &trusted_fp, &url] {
        assert!(
            message.contains(part.as_str()),
            "{message} should name {part}"
        );
    }
    let verified = condition(&status, "SourceVerified").unwrap();
    assert_eq!(
        (verified.status.as_str(), verified.reason.as_str()),
        ("False", "InvalidCommitSignature")
    );
    assert_eq!(
        status.last_attempted_revision.as_deref(),
        Some(format!("main@sha1:{two}").as_str()),
        "the unverified revision is not taken"
    );

    // Trusted keys from a Secret that does not exist.
    let (message, _) = wait_condition(
        &client,
        &ns,
        "no-keys",
        ("Ready", "False", "VerificationError"),
    )
    .await;
    assert!(message.contains("missing"), "{message}");
}

/// Commits a ConfigMap with `value`, signed through `gpg` with `key`, and pushes.
/// Two signing keys: one the tests trust, one they do not (its fingerprints).
pub(crate) fn gpg_keys(gpg: &Gpg) -> (String, String) {
    let trusted = gpg.generate("Trusted <trusted@lockstep.invalid>", "never");
    let other = gpg.generate("Other <other@lockstep.invalid>", "never");
    (trusted.unwrap(), other.unwrap())
}

pub(crate) fn gpg_commit(repo: &GitRepo, gpg: &Gpg, key: &str, value: &str) -> String {
    let manifest = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: signed}}\ndata: {{value: {value}}}\n"
    );
    repo.write("deploy/signed.yaml", manifest).unwrap();
    repo.git(&["add", "--all"]).unwrap();
    let mut args = gpg.git_signing(key);
    args.extend(["commit", "-q", "-S", "-m", value].map(str::to_owned));
    repo.git(&args.iter().map(String::as_str).collect::<Vec<_>>())
        .unwrap();
    repo.push().unwrap()
}

/// OpenPGP keys from a Secret's `*.asc` entry, as Flux reads them: a commit signed by the
/// trusted gpg key is applied and `SourceVerified` names the key; one signed by another
/// key is refused with Flux's reason, naming both keys, and what was applied stays.
#[tokio::test]
async fn openpgp_signatures_through_the_controller() {
    let plane = need!(ControlPlane::shared().await);
    let git = need!(GitServer::start().await);
    let gpg = need!(Gpg::new());
    let (client, ns) = plane.namespace("source-pgp").await.unwrap();
    install_sync_crds(&client).await;
    let (trusted, other) = gpg_keys(&gpg);
    let repo = git.create_repo("source-pgp", None).unwrap();
    let good = gpg_commit(&repo, &gpg, &trusted, "trusted");

    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let secret: Secret = serde_json::from_value(json!({
        "metadata": {"name": "pgp-keys"},
        "stringData": {"author.asc": gpg.export(&trusted).unwrap()},
    }))
    .unwrap();
    secrets
        .create(&PostParams::default(), &secret)
        .await
        .unwrap();
    let _controller = Controller::start_syncing(plane, &ns, &[]).await;
    let url = repo.git_url().unwrap();
    let verify = json!({"mode": "HEAD", "secretRef": {"name": "pgp-keys"}});
    let spec = json!({"url": url, "interval": "1s", "ref": {"branch": "main"}, "verify": verify});
    create_lockstep(
        &client,
        &ns,
        "GitSource",
        json!({"metadata": {"name": "pgp"}, "spec": spec}),
    )
    .await;
    let spec = json!({"sourceRef": {"name": "pgp"}, "path": "deploy", "interval": "1s", "targetNamespace": ns});
    create_lockstep(
        &client,
        &ns,
        "Sync",
        json!({"metadata": {"name": "pgp"}, "spec": spec}),
    )
    .await;

    let (message, _) =
        wait_condition(&client, &ns, "pgp", ("SourceVerified", "True", "Succeeded")).await;
    assert!(
        message.contains(&trusted) && message.contains(&good),
        "{message}"
    );
    let configmaps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let value = async || {
        let data = configmaps
            .get_opt("signed")
            .await
            .unwrap()
            .and_then(|c| c.data);
        data.and_then(|d| d.get("value").cloned())
    };
    eventually("the trusted commit applied", async || {
        value().await.as_deref() == Some("trusted")
    })
    .await;

    let bad = gpg_commit(&repo, &gpg, &other, "forged");
    let (message, status) = wait_condition(
        &client,
        &ns,
        "pgp",
        ("Ready", "False", "InvalidCommitSignature"),
    )
    .await;
    for part in [&bad, &other, &trusted] {
        assert!(
            message.contains(part.as_str()),
            "{message} should name {part}"
        );
    }
    let verified = condition(&status, "SourceVerified").unwrap();
    assert_eq!(
        (verified.status.as_str(), verified.reason.as_str()),
        ("False", "InvalidCommitSignature")
    );
    assert_eq!(
        status.last_attempted_revision.as_deref(),
        Some(format!("main@sha1:{good}").as_str()),
        "the unverified revision is not taken"
    );
    // Several Sync intervals later, what the trusted commit made is still there.
    tokio::time::sleep(std::time::Duration::from_secs(3)).await;
    assert_eq!(value().await.as_deref(), Some("trusted"));
}

/// Credentials from `secretRef` over the real `git http-backend`: a bearer token over
/// HTTP, and a password over HTTPS with the Secret's `ca.crt`; and over the real `sshd`, an
/// `identity` with `known_hosts`. Right ones fetch; wrong ones are `AuthenticationFailed`
/// with no credential in the status or the events.
#[tokio::test]
async fn credentials_from_the_secret_ref_never_reach_status_or_events() {
    const TOKEN: &str = "t0ken-for-the-controller";
    const WRONG: &str = "wr0ng-credential-value";
    const PASSWORD: &str = "passw0rd-for-the-controller";
    let plane = need!(ControlPlane::shared().await);
    let bearer = need!(GitHttpServer::start(HttpAuth::Bearer(TOKEN.into())).await);
    let basic = need!(
        GitHttpServer::start_tls(HttpAuth::Basic {
            username: "git".into(),
            password: PASSWORD.into(),
        })
        .await
    );
    let ssh = need!(GitSshServer::start().await);
    let (client, ns) = plane.namespace("source-auth").await.unwrap();
    install_sync_crds(&client).await;
    let bearer_head = bearer
        .create_repo("private", None)
        .unwrap()
        .commit("bearer")
        .unwrap();
    let basic_head = basic
        .create_repo("private", None)
        .unwrap()
        .commit("basic")
        .unwrap();
    let ca = basic.ca_pem().unwrap();
    let ssh_head = ssh
        .create_repo("private", None)
        .unwrap()
        .commit("ssh")
        .unwrap();
    let (identity, known_hosts) = (ssh.client_key().unwrap(), ssh.known_hosts().unwrap());
    let keys = tempfile::tempdir().unwrap();
    let wrong_identity = std::fs::read_to_string(keygen(keys.path(), "wrong").0).unwrap();
    // A line of each private key's base64: what must never show.
    let key_lines = [&identity, &wrong_identity].map(|key| key.lines().nth(1).unwrap().to_owned());

    let secrets: Api<Secret> = Api::namespaced(client.clone(), &ns);
    let sources = [
        (
            "token",
            bearer.url("private"),
            json!({"bearerToken": TOKEN}),
        ),
        (
            "wrong-token",
            bearer.url("private"),
            json!({"bearerToken": WRONG}),
        ),
        (
            "basic",
            basic.url("private"),
            json!({"username": "git", "password": PASSWORD, "ca.crt": ca}),
        ),
        (
            "wrong-password",
            basic.url("private"),
            json!({"username": "git", "password": WRONG, "ca.crt": ca}),
        ),
        (
            "ssh",
            ssh.url("private"),
            json!({"identity": identity, "known_hosts": known_hosts}),
        ),
        (
            "wrong-identity",
            ssh.url("private"),
            json!({"identity": wrong_identity, "known_hosts": known_hosts}),
        ),
    ];
    for (name, _, data) in &sources {
        let secret: Secret =
            serde_json::from_value(json!({"metadata": {"name": name}, "stringData": data}))
                .unwrap();
        secrets
            .create(&PostParams::default(), &secret)
            .await
            .unwrap();
    }
    let _controller = Controller::start_syncing(plane, &ns, &[]).await;
    for (name, url, _) in &sources {
        let spec = json!({"url": url, "interval": "1s", "secretRef": {"name": name}});
        let body = json!({"metadata": {"name": name}, "spec": spec});
        create_lockstep(&client, &ns, "GitSource", body).await;
    }

    let heads = [
        ("token", &bearer_head),
        ("basic", &basic_head),
        ("ssh", &ssh_head),
    ];
    for (name, head) in heads {
        let (_, status) = wait_condition(&client, &ns, name, ("Ready", "True", "Succeeded")).await;
        assert_eq!(
            status.last_attempted_revision.as_deref(),
            Some(format!("main@sha1:{head}").as_str())
        );
    }
    for (name, url, _) in sources.iter().filter(|s| s.0.starts_with("wrong")) {
        let (message, status) = wait_condition(
            &client,
            &ns,
            name,
            ("Ready", "False", "AuthenticationFailed"),
        )
        .await;
        // The ssh user name in the URL is scrubbed as the URL's userinfo is (here it is
        // also the home folder in the path), so ssh's own words are looked for instead.
        let expected = match url.starts_with("ssh://") {
            true => "Permission denied (publickey)".to_owned(),
            false => url.clone(),
        };
        assert!(message.contains(&expected), "{message}");
        let event = wait_for_event(&client, &ns, name, "AuthenticationFailed").await;
        let everything = format!("{status:?} {event}");
        for secret in [TOKEN, WRONG, PASSWORD]
            .into_iter()
            .chain(key_lines.iter().map(String::as_str))
        {
            assert!(!everything.contains(secret), "{everything}");
        }
    }
}
