//! `lockstep seal` / `lockstep unseal` end to end, and differential tests against the real
//! `kubeseal` (found in `$LOCKSTEP_BIN_DIR` or `~/.cache/lockstep/bin`; a missing binary
//! skips loudly, or fails when `LOCKSTEP_REQUIRE_SERVERS=1`).
//!
//! Fixtures: `crates/sealed/tests/testdata/` (provenance in its INDEX.md).

use std::path::{Path, PathBuf};
use std::process::Output;

use assert_cmd::Command;
use lockstep_keys::sealing::{GenerateOptions, RsaKeyBits, SealingKeyPair};
use serde_json::Value;

const V014: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../crates/sealed/tests/testdata/wingkwong-v0.14.1-strict"
);
const CANARY: &str = "sealed-secrets-example";
const B64_CANARY: &str = "c2VhbGVkLXNlY3JldHMtZXhhbXBsZQ==";

fn lockstep() -> Command {
    Command::cargo_bin("lockstep").expect("lockstep binary")
}

fn ok(output: Output) -> String {
    assert!(
        output.status.success(),
        "exit {:?}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

fn yaml(text: &str) -> Value {
    serde_saphyr::from_str(text).unwrap_or_else(|e| panic!("{e}: {text}"))
}

/// Data items of an output Secret, base64 as written.
fn data(secret: &Value) -> Value {
    secret["data"].clone()
}

const SECRET: &str = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: apps\n  labels:\n    app: demo\ntype: Opaque\nstringData:\n  password: pa55-canary\n  user: admin\n";

fn expected_data() -> Value {
    serde_json::json!({"password": "cGE1NS1jYW5hcnk=", "user": "YWRtaW4="})
}

struct Keys {
    _dir: tempfile::TempDir,
    key: PathBuf,
    crt: PathBuf,
}

/// A fresh 2048-bit pair made by our generator, written as the controller writes it.
fn fresh_keys() -> Keys {
    let dir = tempfile::tempdir().unwrap();
    let mut options = GenerateOptions::default();
    options.bits = RsaKeyBits::Rsa2048;
    let pair = SealingKeyPair::generate(&options).unwrap();
    let key = dir.path().join("tls.key");
    let crt = dir.path().join("tls.crt");
    std::fs::write(&key, pair.tls_key_pem().unwrap().as_bytes()).unwrap();
    std::fs::write(&crt, pair.tls_crt_pem()).unwrap();
    Keys {
        _dir: dir,
        key,
        crt,
    }
}

#[test]
fn unseal_v014_fixture_with_pem_key_and_with_key_secret() {
    for key in ["tls.key", "controller-key-secret.yaml"] {
        let out = ok(lockstep()
            .args(["unseal", "--recovery-private-key"])
            .arg(format!("{V014}/{key}"))
            .arg("-f")
            .arg(format!("{V014}/sealed-secret.yaml"))
            .args(["-o", "yaml"])
            .output()
            .unwrap());
        let secret = yaml(&out);
        assert_eq!(secret["data"]["token"], B64_CANARY);
        assert_eq!(secret["metadata"]["name"], "credentials");
        assert_eq!(secret["metadata"]["namespace"], "foo");
        assert_eq!(secret["type"], "Opaque");
    }
    // stdin and JSON (the default) work too.
    let out = ok(lockstep()
        .args(["unseal", "--recovery-unseal", "--recovery-private-key"])
        .arg(format!("{V014}/tls.key"))
        .pipe_stdin(format!("{V014}/sealed-secret.yaml"))
        .unwrap()
        .output()
        .unwrap());
    assert_eq!(json(&out)["data"]["token"], B64_CANARY);
}

#[test]
fn unseal_refuses_a_moved_strict_secret_without_leaking() {
    let text = std::fs::read_to_string(format!("{V014}/sealed-secret.yaml")).unwrap();
    let moved = text.replacen("namespace: foo", "namespace: bar", 1);
    let out = lockstep()
        .args(["unseal", "--recovery-private-key"])
        .arg(format!("{V014}/tls.key"))
        .write_stdin(moved)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no key could decrypt secret (encryptedData.token)"),
        "{err}"
    );
    assert!(err.contains("bar/credentials"), "{err}");
    assert!(!err.contains(CANARY) && out.stdout.is_empty());
}

#[test]
fn seal_unseal_round_trip_every_scope() {
    let keys = fresh_keys();
    for scope in ["strict", "namespace-wide", "cluster-wide"] {
        let sealed = ok(lockstep()
            .args(["seal", "--scope", scope, "--cert"])
            .arg(&keys.crt)
            .write_stdin(SECRET)
            .output()
            .unwrap());
        let doc = json(&sealed);
        assert_eq!(doc["kind"], "SealedSecret");
        assert!(!sealed.contains("pa55-canary"));
        let out = ok(lockstep()
            .args(["unseal", "--recovery-private-key"])
            .arg(&keys.key)
            .write_stdin(sealed)
            .output()
            .unwrap());
        let secret = json(&out);
        assert_eq!(data(&secret), expected_data(), "{scope}");
        assert_eq!(secret["metadata"]["labels"]["app"], "demo");
    }
}

#[test]
fn seal_writes_yaml_for_a_yaml_file_and_reads_json_input() {
    let keys = fresh_keys();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("sealed.yaml");
    let input: Value = yaml(SECRET);
    ok(lockstep()
        .args(["seal", "--cert"])
        .arg(format!("file://{}", keys.crt.display()))
        .arg("-w")
        .arg(&out)
        .write_stdin(serde_json::to_string(&input).unwrap())
        .output()
        .unwrap());
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(
        text.starts_with("---\napiVersion: bitnami.com/v1alpha1\n"),
        "{text}"
    );
    let back = ok(lockstep()
        .args(["unseal", "--recovery-private-key"])
        .arg(&keys.key)
        .arg("-f")
        .arg(&out)
        .output()
        .unwrap());
    assert_eq!(data(&json(&back)), expected_data());
}

#[test]
fn cert_by_http_url_and_expired_cert() {
    use std::io::{Read as _, Write as _};
    let keys = fresh_keys();
    let pem = std::fs::read(&keys.crt).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/v1/cert.pem", listener.local_addr().unwrap());
    let server = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut request = [0u8; 4096];
        let n = conn.read(&mut request).unwrap();
        let head = String::from_utf8_lossy(&request[..n]).into_owned();
        let reply = format!(
            "HTTP/1.1 200 OK\r\nContent-Type: application/x-pem-file\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            pem.len()
        );
        conn.write_all(reply.as_bytes()).unwrap();
        conn.write_all(&pem).unwrap();
        head
    });
    let sealed = ok(lockstep()
        .args(["seal", "--cert", &url])
        .env("NO_PROXY", "*")
        .write_stdin(SECRET)
        .output()
        .unwrap());
    let head = server.join().unwrap();
    assert!(head.starts_with("GET /v1/cert.pem "), "{head}");
    let out = ok(lockstep()
        .args(["unseal", "--recovery-private-key"])
        .arg(&keys.key)
        .write_stdin(sealed)
        .output()
        .unwrap());
    assert_eq!(data(&json(&out)), expected_data());

    // A certificate past NotAfter is refused, as kubeseal refuses it.
    let dir = tempfile::tempdir().unwrap();
    let mut options = GenerateOptions::default();
    options.bits = RsaKeyBits::Rsa2048;
    options.not_before =
        Some(std::time::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000_000));
    options.ttl = std::time::Duration::from_secs(3600);
    let old = SealingKeyPair::generate(&options).unwrap();
    let crt = dir.path().join("old.crt");
    std::fs::write(&crt, old.tls_crt_pem()).unwrap();
    let out = lockstep()
        .args(["seal", "--cert"])
        .arg(&crt)
        .write_stdin(SECRET)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("expired certificate"));
}

#[test]
fn raw_from_file_and_stdin() {
    let keys = fresh_keys();
    let dir = tempfile::tempdir().unwrap();
    let value = dir.path().join("v");
    std::fs::write(&value, "raw-canary").unwrap();
    let from_file = ok(lockstep()
        .args([
            "seal",
            "--raw",
            "--scope",
            "namespace-wide",
            "-n",
            "apps",
            "--cert",
        ])
        .arg(&keys.crt)
        .arg("--from-file")
        .arg(format!("item={}", value.display()))
        .output()
        .unwrap());
    assert!(!from_file.ends_with('\n'), "no trailing newline");
    let from_stdin = ok(lockstep()
        .args(["seal", "--raw", "-n", "apps", "--name", "other", "--cert"])
        .arg(&keys.crt)
        .write_stdin("strict-canary")
        .output()
        .unwrap());
    let manifest = format!(
        "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: other\n  namespace: apps\n  annotations:\n    sealedsecrets.bitnami.com/namespace-wide: \"true\"\nspec:\n  encryptedData:\n    a: {from_file}\n"
    );
    let out = ok(lockstep()
        .args(["unseal", "--recovery-private-key"])
        .arg(&keys.key)
        .write_stdin(manifest)
        .output()
        .unwrap());
    assert_eq!(json(&out)["data"]["a"], "cmF3LWNhbmFyeQ==");
    let strict = format!(
        "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: other\n  namespace: apps\nspec:\n  encryptedData:\n    b: {from_stdin}\n"
    );
    let out = ok(lockstep()
        .args(["unseal", "--recovery-private-key"])
        .arg(&keys.key)
        .write_stdin(strict)
        .output()
        .unwrap());
    assert_eq!(json(&out)["data"]["b"], "c3RyaWN0LWNhbmFyeQ==");
    // Strict raw without --name is refused.
    let out = lockstep()
        .args(["seal", "--raw", "-n", "apps", "--cert"])
        .arg(&keys.crt)
        .write_stdin("x")
        .output()
        .unwrap();
    assert!(!out.status.success());
}

#[test]
fn merge_into_adds_one_key_and_keeps_the_others_byte_identical() {
    let keys = fresh_keys();
    let dir = tempfile::tempdir().unwrap();
    for (file, format) in [("s.yaml", "yaml"), ("s.json", "json")] {
        let path = dir.path().join(file);
        ok(lockstep()
            .args(["seal", "-o", format, "--cert"])
            .arg(&keys.crt)
            .arg("-w")
            .arg(&path)
            .write_stdin(SECRET)
            .output()
            .unwrap());
        let before = std::fs::read_to_string(&path).unwrap();
        let doc_before = if format == "json" {
            json(&before)
        } else {
            yaml(&before)
        };
        let added = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: ignored\nstringData:\n  token: t0k3n\n";
        ok(lockstep()
            .args(["seal", "--cert"])
            .arg(&keys.crt)
            .arg("--merge-into")
            .arg(&path)
            .write_stdin(added)
            .output()
            .unwrap());
        let after = std::fs::read_to_string(&path).unwrap();
        let doc_after = if format == "json" {
            json(&after)
        } else {
            yaml(&after)
        };
        for item in ["password", "user"] {
            let blob = doc_before["spec"]["encryptedData"][item].as_str().unwrap();
            assert_eq!(doc_after["spec"]["encryptedData"][item], blob);
            assert!(
                after.contains(blob),
                "{item} byte-identical in the file text"
            );
        }
        assert_eq!(
            after.trim_start().starts_with('{'),
            format == "json",
            "format kept"
        );
        let out = ok(lockstep()
            .args(["unseal", "--recovery-private-key"])
            .arg(&keys.key)
            .arg("-f")
            .arg(&path)
            .output()
            .unwrap());
        let d = data(&json(&out));
        assert_eq!(d["token"], "dDBrM24=");
        assert_eq!(d["password"], "cGE1NS1jYW5hcnk=");
    }
}

#[test]
fn empty_data_needs_the_flag() {
    let keys = fresh_keys();
    let empty = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: e\n  namespace: n\n";
    let out = lockstep()
        .args(["seal", "--cert"])
        .arg(&keys.crt)
        .write_stdin(empty)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--allow-empty-data"));
    ok(lockstep()
        .args(["seal", "--allow-empty-data", "--cert"])
        .arg(&keys.crt)
        .write_stdin(empty)
        .output()
        .unwrap());
}

#[test]
fn bad_input_is_a_clean_error() {
    let keys = fresh_keys();
    let garbage = "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: s\n  namespace: n\nspec:\n  encryptedData:\n    a: '%%%not-base64'\n";
    let out = lockstep()
        .args(["unseal", "--recovery-private-key"])
        .arg(&keys.key)
        .write_stdin(garbage)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("illegal base64 data (encryptedData.a)"));
    // A wrong key reads exactly like tampering.
    let sealed = ok(lockstep()
        .args(["seal", "--cert"])
        .arg(&keys.crt)
        .write_stdin(SECRET)
        .output()
        .unwrap());
    let out = lockstep()
        .args(["unseal", "--recovery-private-key"])
        .arg(format!("{V014}/tls.key"))
        .write_stdin(sealed)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no key could decrypt secret (encryptedData.password, encryptedData.user)"),
        "{err}"
    );
    assert!(!err.contains("pa55-canary"));
    // Not a Secret at all: position only, no value.
    let out = lockstep()
        .args(["seal", "--cert"])
        .arg(&keys.crt)
        .write_stdin("kind: Secret\nimmutable: yes-canary-value\n")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(!String::from_utf8_lossy(&out.stderr).contains("canary"));
}

// ---------------------------------------------------------------------------------------
// Differential tests against the real kubeseal.

fn kubeseal() -> Option<PathBuf> {
    let dir = std::env::var_os("LOCKSTEP_BIN_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME")
                .map(PathBuf::from)
                .unwrap_or_default();
            home.join(".cache/lockstep/bin")
        });
    let path = dir.join("kubeseal");
    if path.exists() {
        return Some(path);
    }
    let required = std::env::var("LOCKSTEP_REQUIRE_SERVERS").is_ok_and(|v| v == "1");
    assert!(
        !required,
        "kubeseal is not installed in {} and LOCKSTEP_REQUIRE_SERVERS=1",
        dir.display()
    );
    eprintln!(
        "\n!!!!! SKIPPED: kubeseal is not installed in {}; run the test-environment installer (or set LOCKSTEP_BIN_DIR)\n!!!!! set LOCKSTEP_REQUIRE_SERVERS=1 to make this a failure\n",
        dir.display()
    );
    None
}

fn run_kubeseal(bin: &Path, args: &[&str], extra: &[&Path], stdin: &str) -> String {
    let home = tempfile::tempdir().unwrap();
    let out = Command::new(bin)
        .args(args)
        .args(extra)
        // No cluster: kubeseal must not need one for --cert or --recovery-unseal.
        .env("KUBECONFIG", home.path().join("none"))
        .env("HOME", home.path())
        .write_stdin(stdin.to_owned())
        .output()
        .unwrap();
    ok(out)
}

#[test]
fn differential_we_seal_kubeseal_recovers() {
    let Some(kubeseal) = kubeseal() else { return };
    let keys = fresh_keys();
    for scope in ["strict", "namespace-wide", "cluster-wide"] {
        let sealed = ok(lockstep()
            .args(["seal", "--scope", scope, "--cert"])
            .arg(&keys.crt)
            .write_stdin(SECRET)
            .output()
            .unwrap());
        let out = run_kubeseal(
            &kubeseal,
            &["--recovery-unseal", "-o", "json", "--recovery-private-key"],
            &[&keys.key],
            &sealed,
        );
        let secret = json(&out);
        assert_eq!(data(&secret), expected_data(), "{scope}");
        assert_eq!(secret["metadata"]["name"], "db");
        assert_eq!(secret["metadata"]["namespace"], "apps");
        assert_eq!(secret["metadata"]["labels"]["app"], "demo");
        assert_eq!(secret["type"], "Opaque");
    }
}

#[test]
fn differential_kubeseal_seals_we_unseal() {
    let Some(kubeseal) = kubeseal() else { return };
    let keys = fresh_keys();
    for scope in ["strict", "namespace-wide", "cluster-wide"] {
        for format in ["json", "yaml"] {
            let sealed = run_kubeseal(
                &kubeseal,
                &["--scope", scope, "-o", format, "--cert"],
                &[&keys.crt],
                SECRET,
            );
            let out = ok(lockstep()
                .args(["unseal", "--recovery-private-key"])
                .arg(&keys.key)
                .write_stdin(sealed)
                .output()
                .unwrap());
            let secret = json(&out);
            assert_eq!(data(&secret), expected_data(), "{scope} {format}");
            assert_eq!(secret["metadata"]["labels"]["app"], "demo");
        }
    }
}

#[test]
fn differential_raw_both_ways() {
    let Some(kubeseal) = kubeseal() else { return };
    let keys = fresh_keys();
    for (scope, annotation) in [
        ("strict", ""),
        (
            "namespace-wide",
            "  annotations:\n    sealedsecrets.bitnami.com/namespace-wide: \"true\"\n",
        ),
        (
            "cluster-wide",
            "  annotations:\n    sealedsecrets.bitnami.com/cluster-wide: \"true\"\n",
        ),
    ] {
        let theirs = run_kubeseal(
            &kubeseal,
            &[
                "--raw",
                "--scope",
                scope,
                "--namespace",
                "apps",
                "--name",
                "db",
                "--cert",
            ],
            &[&keys.crt],
            "raw-canary",
        );
        let ours = ok(lockstep()
            .args([
                "seal", "--raw", "--scope", scope, "-n", "apps", "--name", "db", "--cert",
            ])
            .arg(&keys.crt)
            .write_stdin("raw-canary")
            .output()
            .unwrap());
        let manifest = format!(
            "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: db\n  namespace: apps\n{annotation}spec:\n  encryptedData:\n    theirs: {theirs}\n    ours: {ours}\n  template:\n    metadata:\n      name: db\n      namespace: apps\n"
        );
        let by_us = ok(lockstep()
            .args(["unseal", "--recovery-private-key"])
            .arg(&keys.key)
            .write_stdin(manifest.clone())
            .output()
            .unwrap());
        let by_them = run_kubeseal(
            &kubeseal,
            &["--recovery-unseal", "-o", "json", "--recovery-private-key"],
            &[&keys.key],
            &manifest,
        );
        for out in [by_us, by_them] {
            let d = data(&json(&out));
            assert_eq!(d["theirs"], "cmF3LWNhbmFyeQ==", "{scope}");
            assert_eq!(d["ours"], "cmF3LWNhbmFyeQ==", "{scope}");
        }
    }
}

/// `--merge-into` a YAML file kubeseal wrote: every line of it is kept as it was (the
/// items are plain one-line scalars, as Go's YAML writes them, not refolded), and only the
/// new item's line is added.
#[test]
fn differential_merge_into_a_kubeseal_yaml_only_adds_the_new_item() {
    let Some(kubeseal) = kubeseal() else { return };
    let keys = fresh_keys();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.yaml");
    let written = run_kubeseal(&kubeseal, &["-o", "yaml", "--cert"], &[&keys.crt], SECRET);
    std::fs::write(&path, &written).unwrap();
    let added = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: apps\nstringData:\n  token: t0k3n\n";
    ok(lockstep()
        .args(["seal", "--cert"])
        .arg(&keys.crt)
        .arg("--merge-into")
        .arg(&path)
        .write_stdin(added)
        .output()
        .unwrap());
    let merged = std::fs::read_to_string(&path).unwrap();
    let mut new_lines: Vec<&str> = merged.lines().collect();
    for line in written.lines() {
        let at = new_lines.iter().position(|l| *l == line);
        assert!(
            at.is_some(),
            "{line:?} of kubeseal's file is gone:\n{written}\n---\n{merged}"
        );
        new_lines.remove(at.unwrap());
    }
    assert_eq!(
        new_lines.len(),
        1,
        "only the new item is added: {new_lines:?}"
    );
    assert!(new_lines[0].starts_with("    token: "), "{new_lines:?}");
}

#[test]
fn differential_kubeseal_merges_into_our_file() {
    let Some(kubeseal) = kubeseal() else { return };
    let keys = fresh_keys();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.json");
    ok(lockstep()
        .args(["seal", "--cert"])
        .arg(&keys.crt)
        .arg("-w")
        .arg(&path)
        .write_stdin(SECRET)
        .output()
        .unwrap());
    let before = json(&std::fs::read_to_string(&path).unwrap());
    let added = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: apps\nstringData:\n  token: t0k3n\n";
    run_kubeseal(
        &kubeseal,
        &["--cert"],
        &[&keys.crt, Path::new("--merge-into"), &path],
        added,
    );
    let after = json(&std::fs::read_to_string(&path).unwrap());
    assert_eq!(
        after["spec"]["encryptedData"]["user"],
        before["spec"]["encryptedData"]["user"]
    );
    let out = ok(lockstep()
        .args(["unseal", "--recovery-private-key"])
        .arg(&keys.key)
        .arg("-f")
        .arg(&path)
        .output()
        .unwrap());
    assert_eq!(data(&json(&out))["token"], "dDBrM24=");
}
