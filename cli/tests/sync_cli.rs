//! `lockstep render`, `diff` and `apply` end to end: a real git daemon as the source and a
//! real kube-apiserver + kube-controller-manager as the cluster (from the test
//! environment; missing servers skip loudly, or fail under LOCKSTEP_REQUIRE_SERVERS=1).
//! Every Secret value is a canary that must never appear in any output.

use std::path::Path;
use std::process::Output;

use assert_cmd::Command;
use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams};
use lockstep_testenv::{ControlPlane, GitServer, need};
use serde_json::Value;

const CANARY: &str = "CanaryPassword7Q";
const CANARY_2: &str = "CanarySecond9Z";

fn lockstep(cache: &Path) -> Command {
    let mut command = Command::cargo_bin("lockstep").expect("lockstep binary");
    command.env("XDG_CACHE_HOME", cache);
    command
}

fn text(output: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

fn code(output: &Output) -> i32 {
    output.status.code().expect("exit code")
}

/// Runs `command`: its exit code, stdout and stderr, neither of which may hold [`CANARY`].
fn outcome(command: &mut Command) -> (i32, String, String) {
    let output = command.output().unwrap();
    let (stdout, stderr) = text(&output);
    for stream in [&stdout, &stderr] {
        assert!(!stream.contains(CANARY), "{stream}");
    }
    (code(&output), stdout, stderr)
}

fn write(root: &Path, path: &str, text: &str) {
    let file = root.join(path);
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(file, text).unwrap();
}

fn app(secret: &str) -> String {
    format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings}}\ndata: {{greeting: hello, enabled: \"on\"}}\n---\napiVersion: v1\nkind: Secret\nmetadata: {{name: db}}\nstringData: {{password: {secret}}}\ndata: {{user: YWRtaW4=}}\n"
    )
}

fn documents(yaml: &str) -> Vec<Value> {
    yaml.split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| serde_saphyr::from_str(d).unwrap_or_else(|e| panic!("{e}: {d}")))
        .collect()
}

#[test]
fn render_hides_secret_values_and_sets_namespace_and_labels() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "app/all.yaml", &app(CANARY));
    let source = dir.path().to_str().unwrap();
    let output = lockstep(dir.path())
        .args([
            "render",
            source,
            "--path",
            "app",
            "--target-namespace",
            "team",
        ])
        .args(["--name", "web"])
        .output()
        .unwrap();
    let (stdout, stderr) = text(&output);
    assert_eq!(code(&output), 0, "{stderr}");
    assert!(
        !stdout.contains(CANARY) && !stdout.contains("YWRtaW4="),
        "{stdout}"
    );
    let objects = documents(&stdout);
    assert_eq!(objects.len(), 2);
    let secret = &objects[1];
    assert_eq!(secret["stringData"]["password"], "[redacted]");
    assert_eq!(secret["data"]["user"], "[redacted]");
    let config = &objects[0];
    assert_eq!(config["metadata"]["namespace"], "team");
    assert_eq!(config["metadata"]["labels"]["lockstep.dev/name"], "web");
    assert_eq!(config["data"]["enabled"], "on");

    let output = lockstep(dir.path())
        .args(["render", source, "--path", "app", "-o", "json"])
        .output()
        .unwrap();
    let (stdout, _) = text(&output);
    let list: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(list["kind"], "List");
    assert_eq!(list["items"].as_array().unwrap().len(), 2);
    assert_eq!(list["items"][0]["metadata"].get("labels"), None);
    assert!(!stdout.contains(CANARY));
}

/// The probe's A13: `data`/`stringData` as a string or a list (the API server refuses
/// them, but render prints them) are hidden whole.
/// A path that does not exist is named as such, a single manifest file is a source as
/// `kubectl apply -f FILE` takes it, and an empty render is said aloud: a warning from
/// `render`, an error from `diff` and `apply` (UX review D13, D14).
#[test]
fn missing_paths_single_files_and_empty_renders_are_told() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "plain/cm.yaml", &app("not-secret"));
    std::fs::create_dir_all(dir.path().join("empty")).unwrap();
    write(dir.path(), "kubeconfig", NOWHERE);
    let at = |p: &str| dir.path().join(p).to_str().unwrap().to_owned();
    let kubeconfig = at("kubeconfig");

    let (rc, _, stderr) = outcome(lockstep(dir.path()).args(["render", &at("nope")]));
    assert_eq!(rc, 1, "{stderr}");
    assert!(
        stderr.contains("nope: No such file or directory"),
        "{stderr}"
    );
    assert!(
        stderr.contains("give a folder, a manifest file or a Git URL"),
        "{stderr}"
    );

    let (rc, stdout, stderr) =
        outcome(lockstep(dir.path()).args(["render", &at("plain/cm.yaml"), "-o", "json"]));
    assert_eq!(rc, 0, "{stderr}");
    let list: Value = serde_json::from_str(&stdout).unwrap();
    let names: Vec<_> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["metadata"]["name"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(names, ["settings", "db"]);

    let (rc, stdout, stderr) = outcome(lockstep(dir.path()).args(["render", &at("empty")]));
    assert_eq!(rc, 0, "{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(stderr.contains("renders no objects"), "{stderr}");

    for verb in ["diff", "apply"] {
        let (rc, _, stderr) = outcome(lockstep(dir.path()).args([
            verb,
            &at("empty"),
            "--name",
            "d14",
            "--kubeconfig",
            &kubeconfig,
        ]));
        assert_ne!(rc, 0, "{verb}: {stderr}");
        assert!(
            stderr.contains(&format!("renders no objects: nothing to {verb}")),
            "{verb}: {stderr}"
        );
    }
}

#[test]
fn render_hides_secret_fields_of_any_shape() {
    let dir = tempfile::tempdir().unwrap();
    let shapes = [
        format!("stringData: {CANARY}-scalar"),
        format!("stringData: [{CANARY}-list]"),
        "data: Q2FuYXJ5UGFzc3dvcmQ3US1iYXNlNjQ=".to_owned(),
        format!("data: [{CANARY}-data-list]"),
    ];
    let docs: Vec<String> = shapes
        .iter()
        .enumerate()
        .map(|(i, field)| {
            format!("apiVersion: v1\nkind: Secret\nmetadata: {{name: s{i}}}\n{field}\n")
        })
        .collect();
    write(dir.path(), "app/odd.yaml", &docs.join("---\n"));
    let source = dir.path().to_str().unwrap();
    for format in ["yaml", "json"] {
        let output = lockstep(dir.path())
            .args(["render", source, "--path", "app", "-o", format])
            .output()
            .unwrap();
        let (stdout, stderr) = text(&output);
        assert_eq!(code(&output), 0, "{stderr}");
        assert!(
            !stdout.contains(CANARY) && !stdout.contains("Q2FuYXJ5UGFzc3dvcmQ3"),
            "{stdout}"
        );
        assert_eq!(stdout.matches("[redacted]").count(), 4, "{stdout}");
    }
}

#[tokio::test]
async fn render_a_git_url_at_a_tag_and_a_branch() {
    let git = need!(GitServer::start().await);
    let repo = git.create_repo("render-url", None).unwrap();
    let cm = |v: &str| {
        format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c}}\ndata: {{v: \"{v}\"}}\n")
    };
    repo.write("deploy/c.yaml", cm("1")).unwrap();
    repo.commit("v1").unwrap();
    repo.git(&["tag", "v1.0.0"]).unwrap();
    repo.git(&["push", "origin", "v1.0.0"]).unwrap();
    repo.write("deploy/c.yaml", cm("2")).unwrap();
    repo.commit("v2").unwrap();
    let url = repo.git_url().unwrap().to_owned();
    let cache = tempfile::tempdir().unwrap();
    let value = |reference: &str| {
        let output = lockstep(cache.path())
            .args([
                "render", &url, "--ref", reference, "--path", "deploy", "-o", "json",
            ])
            .output()
            .unwrap();
        let (stdout, stderr) = text(&output);
        assert_eq!(code(&output), 0, "{stderr}");
        let list: Value = serde_json::from_str(&stdout).unwrap();
        list["items"][0]["data"]["v"].as_str().unwrap().to_owned()
    };
    assert_eq!(value("refs/tags/v1.0.0"), "1");
    assert_eq!(value("main"), "2");
    assert!(cache.path().join("lockstep/cli-git").is_dir());
}

#[tokio::test]
async fn diff_before_and_after_apply_and_after_drift() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("cli-diff").await.unwrap();
    let kubeconfig = plane.kubeconfig_path().to_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "app/all.yaml", &app(CANARY));
    let source = dir.path().join("app").to_str().unwrap().to_owned();
    let run = |verb: &str| {
        let output = lockstep(dir.path())
            .args([verb, &source, "--name", "web", "--inventory-namespace", &ns])
            .args(["--kubeconfig", &kubeconfig])
            .args(if verb == "apply" {
                &["--timeout", "60s"][..]
            } else {
                &[]
            })
            .output()
            .unwrap();
        let (stdout, stderr) = text(&output);
        for stream in [&stdout, &stderr] {
            assert!(
                !stream.contains(CANARY) && !stream.contains(CANARY_2),
                "{stream}"
            );
            assert!(!stream.contains("YWRtaW4="), "{stream}");
        }
        (code(&output), stdout, stderr)
    };

    // Nothing applied yet: both objects are new.
    let (exit, stdout, stderr) = run("diff");
    assert_eq!(exit, 1, "{stderr}");
    assert!(
        stdout.contains(&format!("+++ merged/ConfigMap/{ns}/settings")),
        "{stdout}"
    );
    assert!(stdout.contains("+  greeting: hello"), "{stdout}");
    // A summary on standard error, the diff alone (no colour off a terminal) on stdout.
    assert!(stderr.contains("lockstep: 2 to create"), "{stderr}");
    assert!(!stdout.contains('\u{1b}'), "{stdout}");
    // The server moved stringData into data; new values differ from nothing.
    assert!(
        stdout.contains("+  password: \"[redacted, after]\""),
        "{stdout}"
    );

    let (exit, stdout, stderr) = run("apply");
    assert_eq!(exit, 0, "{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l == format!("ConfigMap/{ns}/settings created")),
        "{stdout}"
    );

    let (exit, stdout, stderr) = run("diff");
    assert_eq!((exit, stdout.as_str()), (0, ""), "{stderr}");

    // Drift in the cluster, and a new Secret value in the files.
    Api::<ConfigMap>::namespaced(client, &ns)
        .patch(
            "settings",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"data": {"greeting": "edited"}})),
        )
        .await
        .unwrap();
    write(dir.path(), "app/all.yaml", &app(CANARY_2));
    let (exit, stdout, _) = run("diff");
    assert_eq!(exit, 1);
    assert!(
        stdout.contains("-  greeting: edited\n+  greeting: hello"),
        "{stdout}"
    );
    assert!(
        stdout.contains("-  password: \"[redacted, before]\""),
        "{stdout}"
    );
    assert!(
        stdout.contains("+  password: \"[redacted, after]\""),
        "{stdout}"
    );
    // The unchanged key is hidden too, and not shown as changed.
    assert!(!stdout.contains("-  user:"), "{stdout}");

    // An unknown kind is an error (2), naming the file.
    write(
        dir.path(),
        "app/widget.yaml",
        "apiVersion: example.invalid/v1\nkind: Widget\nmetadata: {name: w}\n",
    );
    let (exit, _, stderr) = run("diff");
    assert_eq!(exit, 2, "{stderr}");
    assert!(
        stderr
            .contains("(in widget.yaml): the API server does not serve example.invalid/v1 Widget"),
        "{stderr}"
    );
}

const DEPLOY: &str = r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: idle}
spec:
  replicas: 0
  selector: {matchLabels: {app: idle}}
  template:
    metadata: {labels: {app: idle}}
    spec: {containers: [{name: app, image: registry.invalid/app:1}]}
"#;

const SLOW_JOB: &str = r#"apiVersion: batch/v1
kind: Job
metadata: {name: too-slow}
spec:
  activeDeadlineSeconds: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: job, image: registry.invalid/job:1}]
"#;

#[tokio::test]
async fn apply_from_git_prunes_records_the_inventory_and_waits_for_health() {
    let plane = need!(ControlPlane::shared().await);
    let git = need!(GitServer::start().await);
    let (client, ns) = plane.namespace("cli-apply").await.unwrap();
    let kubeconfig = plane.kubeconfig_path().to_str().unwrap().to_owned();
    let repo = git.create_repo("cli-apply", None).unwrap();
    let cm = |name: &str| format!("apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: {name}}}\n");
    repo.write("deploy/deployment.yaml", DEPLOY).unwrap();
    repo.write("deploy/a.yaml", cm("a")).unwrap();
    repo.write("deploy/b.yaml", cm("b")).unwrap();
    let first = repo.commit("three objects").unwrap();
    let url = repo.git_url().unwrap().to_owned();
    let cache = tempfile::tempdir().unwrap();
    let apply = || {
        let output = lockstep(cache.path())
            .args(["apply", &url, "--path", "deploy", "--target-namespace", &ns])
            .args(["--name", "app", "--inventory-namespace", &ns])
            .args(["--kubeconfig", &kubeconfig, "--timeout", "90s"])
            .output()
            .unwrap();
        let (stdout, stderr) = text(&output);
        (code(&output), stdout, stderr)
    };
    let config_maps = Api::<ConfigMap>::namespaced(client, &ns);
    let inventory = async || -> Vec<Value> {
        let cm = config_maps.get("lockstep-inventory-app").await.unwrap();
        serde_json::from_str(&cm.data.unwrap()["inventory.json"]).unwrap()
    };

    let (exit, stdout, stderr) = apply();
    assert_eq!(exit, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains(&format!("main@sha1:{first}: created 3")),
        "{stdout}"
    );
    assert!(stdout.contains("3 object(s) healthy"), "{stdout}");
    assert_eq!(inventory().await.len(), 3);

    repo.remove("deploy/b.yaml").unwrap();
    repo.commit("remove b").unwrap();
    let (exit, stdout, stderr) = apply();
    assert_eq!(exit, 0, "{stdout}\n{stderr}");
    assert!(
        stdout
            .lines()
            .any(|l| l == format!("ConfigMap/{ns}/b pruned")),
        "{stdout}"
    );
    assert!(config_maps.get_opt("b").await.unwrap().is_none());
    assert_eq!(inventory().await.len(), 2);

    // A Job that can never finish in time: applied, then the wait fails early on it.
    repo.write("deploy/job.yaml", SLOW_JOB).unwrap();
    repo.commit("add a job").unwrap();
    let (exit, stdout, stderr) = apply();
    assert_ne!(exit, 0, "{stdout}");
    assert!(
        stdout.contains(&format!("Job/{ns}/too-slow created")),
        "{stdout}"
    );
    assert!(
        stderr.contains(&format!("Job/{ns}/too-slow failed")),
        "{stderr}"
    );
    assert!(stderr.contains("DeadlineExceeded"), "{stderr}");
    // While it waited, it said for what (the first look comes before the deadline).
    assert!(
        stderr.contains(&format!("waiting for: Job/{ns}/too-slow")),
        "{stderr}"
    );
    assert_eq!(inventory().await.len(), 3);
}

/// `lockstep encrypt`s `plain` (a Secret manifest) for a new age key in `dir`, writing
/// `dir/app/secret.enc.yaml`; returns the key file.
fn encrypted_secret(dir: &Path, plain: &str) -> std::path::PathBuf {
    encrypted_secret_for(dir, plain, None)
}

/// [`encrypted_secret`], with `also` (an SSH public key) as a second recipient.
fn encrypted_secret_for(dir: &Path, plain: &str, also: Option<&str>) -> std::path::PathBuf {
    let key = dir.join("keys.txt");
    let output = lockstep(dir)
        .args(["age-keygen", "-o"])
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(code(&output), 0, "{}", text(&output).1);
    let recipient = text(
        &lockstep(dir)
            .args(["age-keygen", "-y"])
            .arg(&key)
            .output()
            .unwrap(),
    )
    .0;
    let recipients = match also {
        Some(also) => format!("{},{}", recipient.trim(), also.trim()),
        None => recipient.trim().to_owned(),
    };
    write(dir, "plain/secret.yaml", plain);
    let output = lockstep(dir)
        .args(["encrypt", "--age", &recipients])
        .args(["--encrypted-regex", "^(data|stringData)$"])
        .arg(dir.join("plain/secret.yaml"))
        .output()
        .unwrap();
    let (encrypted, stderr) = text(&output);
    assert_eq!(code(&output), 0, "{stderr}");
    assert!(!encrypted.contains(CANARY));
    write(dir, "app/secret.enc.yaml", &encrypted);
    std::fs::remove_dir_all(dir.join("plain")).unwrap();
    key
}

#[tokio::test]
async fn sops_files_are_decrypted_in_memory_with_the_users_age_key() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("cli-sops").await.unwrap();
    let kubeconfig = plane.kubeconfig_path().to_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let key = encrypted_secret(
        dir.path(),
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: db}}\nstringData: {{password: {CANARY}}}\n"
        ),
    );
    let source = dir.path().join("app").to_str().unwrap().to_owned();
    let run = |verb: &str, key: Option<&Path>| {
        let mut command = lockstep(dir.path());
        command
            .args([
                verb,
                &source,
                "--name",
                "sops",
                "--inventory-namespace",
                &ns,
            ])
            .args(["--kubeconfig", &kubeconfig])
            .env("HOME", dir.path())
            .env_remove("SOPS_AGE_KEY")
            .env_remove("SOPS_AGE_KEY_FILE");
        if let Some(key) = key {
            command.env("SOPS_AGE_KEY_FILE", key);
        }
        outcome(&mut command)
    };
    let secrets = Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client, &ns);

    // Without the key nothing is applied: ciphertext never reaches the cluster.
    let (exit, _, stderr) = run("apply", None);
    assert_ne!(exit, 0);
    assert!(stderr.contains("secret.enc.yaml"), "{stderr}");
    assert!(secrets.get_opt("db").await.unwrap().is_none());
    let (exit, _, stderr) = run("diff", None);
    assert_eq!(exit, 2, "{stderr}");

    let (exit, stdout, stderr) = run("diff", Some(&key));
    assert_eq!(exit, 1, "{stderr}");
    assert!(
        stdout.contains("+  password: \"[redacted, after]\""),
        "{stdout}"
    );

    let (exit, stdout, stderr) = run("apply", Some(&key));
    assert_eq!(exit, 0, "{stdout}\n{stderr}");
    let secret = secrets.get("db").await.unwrap();
    assert_eq!(secret.data.unwrap()["password"].0, CANARY.as_bytes());

    let (exit, stdout, stderr) = run("diff", Some(&key));
    assert_eq!((exit, stdout.as_str()), (0, ""), "{stderr}");
}

/// Issue 11 (the probe's C6): the API server refuses a ConfigMap whose decrypted data is a
/// map, and quotes the value back Go-escaped (`\x01`), where a string scrubber does not
/// find it. `apply` and `diff` name the object and the field, never the server's message.
#[tokio::test]
async fn apply_and_diff_never_quote_a_refused_objects_decrypted_values() {
    let plane = need!(ControlPlane::shared().await);
    let (_, ns) = plane.namespace("cli-refused").await.unwrap();
    let kubeconfig = plane.kubeconfig_path().to_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let value = format!("{CANARY}-\u{1}-tail");
    let key = encrypted_secret(
        dir.path(),
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: nested}}\ndata: {{nested: {{inner: \"{CANARY}-\\x01-tail\"}}}}\n"
        ),
    );
    let canaries = lockstep_testenv::Canaries::new([value]);
    let source = dir.path().join("app").to_str().unwrap().to_owned();
    for verb in ["diff", "apply"] {
        let output = lockstep(dir.path())
            .args([
                verb,
                &source,
                "--name",
                "refused",
                "--inventory-namespace",
                &ns,
            ])
            .args(["--kubeconfig", &kubeconfig, "--target-namespace", &ns])
            .env("HOME", dir.path())
            .env("SOPS_AGE_KEY_FILE", &key)
            .env_remove("SOPS_AGE_KEY")
            .output()
            .unwrap();
        let (stdout, stderr) = text(&output);
        assert_ne!(code(&output), 0, "{verb} of a refused object succeeded");
        canaries.assert_absent(&format!("lockstep {verb}'s stdout"), &stdout);
        canaries.assert_absent(&format!("lockstep {verb}'s stderr"), &stderr);
        for part in ["ConfigMap", "nested", ".data.nested", "message withheld"] {
            assert!(stderr.contains(part), "{verb}: want {part:?}: {stderr}");
        }
    }
}

/// A kubeconfig for a cluster that is not there: `apply` and `diff` decrypt before they
/// talk to the API server, so their decryption errors need no cluster.
const NOWHERE: &str = "apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: \"https://127.0.0.1:1\"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u, namespace: default}}]\ncurrent-context: x\n";

/// UX review D6–D8: `apply` and `diff` print a decryption error once (the chain repeated
/// itself), with hints of their own (`--ignore-mac` is not one of their flags), and
/// `apply` exits 1 as documented (not sops' 51 or 128).
#[test]
fn apply_and_diff_say_a_decryption_error_once_with_their_own_hints() {
    let dir = tempfile::tempdir().unwrap();
    let key = encrypted_secret(
        dir.path(),
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: db}}\nstringData: {{password: {CANARY}}}\n"
        ),
    );
    write(dir.path(), "kubeconfig", NOWHERE);
    let source = dir.path().join("app").to_str().unwrap().to_owned();
    let kubeconfig = dir.path().join("kubeconfig").to_str().unwrap().to_owned();
    let run = |verb: &str, key: Option<&Path>| {
        let mut command = lockstep(dir.path());
        command
            .args([verb, &source, "--name", "d6", "--kubeconfig", &kubeconfig])
            .env("HOME", dir.path())
            .env_remove("SOPS_AGE_KEY")
            .env_remove("SOPS_AGE_KEY_FILE");
        if let Some(key) = key {
            command.env("SOPS_AGE_KEY_FILE", key);
        }
        let output = command.output().unwrap();
        let (stdout, stderr) = text(&output);
        assert!(
            !stdout.contains(CANARY) && !stderr.contains(CANARY),
            "{stderr}"
        );
        (code(&output), stderr)
    };
    let expected = |verb: &str| if verb == "diff" { 2 } else { 1 };

    for verb in ["apply", "diff"] {
        let (exit, stderr) = run(verb, None);
        assert_eq!(exit, expected(verb), "{verb}: {stderr}");
        assert_eq!(
            stderr.matches("could not retrieve the data key").count(),
            1,
            "{verb}: {stderr}"
        );
        assert!(
            stderr.contains("hint: make an identity"),
            "{verb}: {stderr}"
        );
    }

    let file = dir.path().join("app/secret.enc.yaml");
    let text = std::fs::read_to_string(&file).unwrap();
    std::fs::write(&file, text.replace("name: db", "name: other")).unwrap();
    for verb in ["apply", "diff"] {
        let (exit, stderr) = run(verb, Some(&key));
        assert_eq!(exit, expected(verb), "{verb}: {stderr}");
        assert_eq!(
            stderr.matches("MAC mismatch").count(),
            1,
            "{verb}: {stderr}"
        );
        assert!(stderr.contains("restore it from Git"), "{verb}: {stderr}");
        assert!(!stderr.contains("--ignore-mac"), "{verb}: {stderr}");
    }
}

/// The review's D9–D11: `apply` checks everything before its first write, never takes an
/// object another `--name` holds without `--force-ownership`, and `diff` shows what
/// `apply` would refuse or replace.
#[tokio::test]
async fn apply_checks_everything_first_and_never_takes_another_names_objects() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("cli-owner").await.unwrap();
    let kubeconfig = plane.kubeconfig_path().to_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let space = format!("{ns}-ux");
    let namespace = format!("apiVersion: v1\nkind: Namespace\nmetadata: {{name: {space}}}\n");
    let settings = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: settings, namespace: {space}}}\ndata: {{a: \"1\"}}\n"
    );
    write(dir.path(), "plain/ns.yaml", &namespace);
    write(dir.path(), "plain/cm.yaml", &settings);
    let run = |verb: &str, source: &str, name: &str, extra: &[&str]| {
        let output = lockstep(dir.path())
            .args([verb, &dir.path().join(source).display().to_string()])
            .args(["--name", name, "--inventory-namespace", &ns])
            .args(["--kubeconfig", &kubeconfig])
            .args(extra)
            .output()
            .unwrap();
        let (stdout, stderr) = text(&output);
        (code(&output), stdout, stderr)
    };
    let (exit, stdout, stderr) = run("apply", "plain", "ux-plain", &["--no-wait"]);
    assert_eq!(exit, 0, "{stdout}\n{stderr}");
    let namespaces = Api::<k8s_openapi::api::core::v1::Namespace>::all(client.clone());
    let owner_of_namespace = async || {
        namespaces
            .get(&space)
            .await
            .unwrap()
            .metadata
            .labels
            .unwrap()["lockstep.dev/name"]
            .clone()
    };
    let inventories = Api::<ConfigMap>::namespaced(client.clone(), &ns);

    // D9: an unknown kind is found before the Namespace is written (and taken).
    write(dir.path(), "bad/ns.yaml", &namespace);
    write(
        dir.path(),
        "bad/widget.yaml",
        &format!(
            "apiVersion: example.invalid/v1\nkind: Widget\nmetadata: {{name: w, namespace: {space}}}\n"
        ),
    );
    let (exit, _, stderr) = run("apply", "bad", "b2", &["--no-wait"]);
    assert_eq!(exit, 1, "{stderr}");
    assert!(
        stderr.contains("does not serve example.invalid/v1 Widget"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was applied"), "{stderr}");
    assert!(
        stderr.contains("hint: install its CustomResourceDefinition"),
        "{stderr}"
    );
    assert_eq!(owner_of_namespace().await, "ux-plain");
    assert!(
        inventories
            .get_opt("lockstep-inventory-b2")
            .await
            .unwrap()
            .is_none()
    );

    // Another name declaring the same objects: refused, naming the owner; then taken.
    write(dir.path(), "steal/ns.yaml", &namespace);
    write(
        dir.path(),
        "steal/cm.yaml",
        &settings.replace("\"1\"", "\"stolen\""),
    );
    let (exit, stdout, _) = run("diff", "steal", "thief", &[]);
    assert_eq!(exit, 2, "{stdout}");
    let (exit, stdout, stderr) = run("apply", "steal", "thief", &["--no-wait"]);
    assert_eq!(exit, 1, "{stdout}\n{stderr}");
    assert!(stderr.contains("--name ux-plain"), "{stderr}");
    assert!(stderr.contains("or pass --force-ownership"), "{stderr}");
    assert_eq!(owner_of_namespace().await, "ux-plain");
    let settings_value = async || {
        Api::<ConfigMap>::namespaced(client.clone(), &space)
            .get("settings")
            .await
            .unwrap()
            .data
            .unwrap()["a"]
            .clone()
    };
    assert_eq!(settings_value().await, "1");
    let (exit, stdout, stderr) = run(
        "apply",
        "steal",
        "thief",
        &["--no-wait", "--force-ownership"],
    );
    assert_eq!(exit, 0, "{stdout}\n{stderr}");
    assert!(
        stderr.contains("taken over from `lockstep apply --name ux-plain`"),
        "{stderr}"
    );
    assert_eq!(owner_of_namespace().await, "thief");
    assert_eq!(settings_value().await, "stolen");

    // D10: a namespace that exists nowhere is an error in diff and apply, before any write.
    let lonely = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: lonely, namespace: {ns}-missing}}\n"
    );
    write(dir.path(), "lonely/cm.yaml", &lonely);
    write(
        dir.path(),
        "lonely/other.yaml",
        &settings.replace("settings", "beside"),
    );
    let (exit, _, stderr) = run("diff", "lonely", "lonely", &[]);
    assert_eq!(exit, 2, "{stderr}");
    assert!(
        stderr.contains(&format!("namespace {ns}-missing does not exist")),
        "{stderr}"
    );
    let (exit, _, stderr) = run("apply", "lonely", "lonely", &["--no-wait"]);
    assert_eq!(exit, 1, "{stderr}");
    assert!(
        Api::<ConfigMap>::namespaced(client.clone(), &space)
            .get_opt("beside")
            .await
            .unwrap()
            .is_none()
    );

    // D11: an immutable change shows as a replace, and apply names its own flag.
    let frozen = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: frozen, namespace: {space}}}\nimmutable: true\ndata: {{v: one}}\n"
    );
    write(dir.path(), "frozen/cm.yaml", &frozen);
    let (exit, _, stderr) = run("apply", "frozen", "frozen", &["--no-wait"]);
    assert_eq!(exit, 0, "{stderr}");
    write(
        dir.path(),
        "frozen/cm.yaml",
        &frozen.replace("v: one", "v: two"),
    );
    let (exit, stdout, stderr) = run("diff", "frozen", "frozen", &[]);
    assert_eq!(exit, 1, "{stderr}");
    assert!(
        stdout.contains(&format!("# ConfigMap/{space}/frozen: replaced")),
        "{stdout}"
    );
    assert!(stdout.contains("+  v: two"), "{stdout}");
    let (exit, _, stderr) = run("apply", "frozen", "frozen", &["--no-wait"]);
    assert_eq!(exit, 1, "{stderr}");
    assert!(stderr.contains("or pass --force,"), "{stderr}");
    assert!(!stderr.contains("set force"), "{stderr}");
    let (exit, stdout, stderr) = run("apply", "frozen", "frozen", &["--no-wait", "--force"]);
    assert_eq!(exit, 0, "{stderr}");
    assert!(stdout.contains("frozen replaced"), "{stdout}");
}

/// Issue 12: `apply` and `diff` run the engine's secrets stage, as the controller does, so a
/// Secret asking for resolution gets its Vault reference resolved with the user's own
/// `VAULT_ADDR` and `VAULT_TOKEN` (before, the reference itself was applied as the value).
#[tokio::test]
async fn apply_and_diff_resolve_vault_references_with_the_users_token() {
    let plane = need!(ControlPlane::shared().await);
    let vault = need!(lockstep_testenv::Vault::start().await);
    let (client, ns) = plane.namespace("cli-refs").await.unwrap();
    let kubeconfig = plane.kubeconfig_path().to_str().unwrap().to_owned();
    vault
        .post(
            "/v1/secret/data/app/db",
            &format!(r#"{{"data": {{"password": "{CANARY}"}}}}"#),
        )
        .await
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "app/secret.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  annotations: {lockstep.dev/resolve: enabled}\nstringData: {password: 'ref+vault://secret/app/db#password'}\n",
    );
    let source = dir.path().join("app").to_str().unwrap().to_owned();
    let run = |verb: &str, token: &str| {
        let output = lockstep(dir.path())
            .args([
                verb,
                &source,
                "--name",
                "refs",
                "--inventory-namespace",
                &ns,
            ])
            .args(["--kubeconfig", &kubeconfig])
            .env("HOME", dir.path())
            .env("VAULT_ADDR", vault.addr())
            .env("VAULT_TOKEN", token)
            .output()
            .unwrap();
        let (stdout, stderr) = text(&output);
        for stream in [&stdout, &stderr] {
            assert!(!stream.contains(CANARY), "{stream}");
            assert!(!stream.contains(vault.token()), "{stream}");
        }
        (code(&output), stdout, stderr)
    };
    let secrets = Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client, &ns);

    // A token Vault refuses: nothing is applied, the error names the reference.
    let (exit, _, stderr) = run("apply", "not-a-token");
    assert_ne!(exit, 0);
    assert!(
        stderr.contains("resolving the references of")
            && stderr.contains("ref+vault://secret/app/db#password")
            && stderr.contains("Vault"),
        "{stderr}"
    );
    assert!(secrets.get_opt("db").await.unwrap().is_none());

    let (exit, stdout, stderr) = run("diff", vault.token());
    assert_eq!(exit, 1, "{stderr}");
    assert!(
        stdout.contains("+  password: \"[redacted, after]\""),
        "{stdout}"
    );
    let (exit, stdout, stderr) = run("apply", vault.token());
    assert_eq!(exit, 0, "{stdout}\n{stderr}");
    let secret = secrets.get("db").await.unwrap();
    assert_eq!(secret.data.unwrap()["password"].0, CANARY.as_bytes());
    let (exit, stdout, stderr) = run("diff", vault.token());
    assert_eq!((exit, stdout.as_str()), (0, ""), "{stderr}");
}

/// Issue 12: `apply` and `diff` decrypt with every identity `lockstep decrypt` uses, not
/// only age key files: here an SSH key in `~/.ssh` and `SOPS_AGE_KEY_CMD`.
#[tokio::test]
async fn apply_and_diff_decrypt_with_an_ssh_key_and_a_key_command() {
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("cli-idents").await.unwrap();
    let kubeconfig = plane.kubeconfig_path().to_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let ssh_home = dir.path().join("ssh-home");
    std::fs::create_dir_all(ssh_home.join(".ssh")).unwrap();
    let ssh_key = ssh_home.join(".ssh/id_ed25519");
    let keygen = std::process::Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "", "-f"])
        .arg(&ssh_key)
        .output()
        .expect("ssh-keygen");
    assert!(keygen.status.success(), "{keygen:?}");
    let ssh_recipient = std::fs::read_to_string(ssh_key.with_extension("pub")).unwrap();
    let age_key = encrypted_secret_for(
        dir.path(),
        &format!(
            "apiVersion: v1\nkind: Secret\nmetadata: {{name: db}}\nstringData: {{password: {CANARY}}}\n"
        ),
        Some(&ssh_recipient),
    );
    let source = dir.path().join("app").to_str().unwrap().to_owned();
    let key_cmd = format!("cat {}", age_key.display());
    let run = |verb: &str, home: &Path, key_cmd: Option<&str>| {
        let mut command = lockstep(dir.path());
        command
            .args([
                verb,
                &source,
                "--name",
                "idents",
                "--inventory-namespace",
                &ns,
            ])
            .args(["--kubeconfig", &kubeconfig])
            .env("HOME", home)
            .env_remove("SOPS_AGE_KEY")
            .env_remove("SOPS_AGE_KEY_FILE")
            .env_remove("SOPS_AGE_SSH_PRIVATE_KEY_FILE")
            .env_remove("SOPS_AGE_SSH_PRIVATE_KEY_CMD")
            .env_remove("SOPS_AGE_KEY_CMD")
            .env_remove("XDG_CONFIG_HOME");
        if let Some(key_cmd) = key_cmd {
            command.env("SOPS_AGE_KEY_CMD", key_cmd);
        }
        outcome(&mut command)
    };
    let secrets = Api::<k8s_openapi::api::core::v1::Secret>::namespaced(client, &ns);

    // The SSH key in ~/.ssh, as sops reads it.
    let (exit, stdout, stderr) = run("diff", &ssh_home, None);
    assert_eq!(exit, 1, "{stderr}");
    assert!(
        stdout.contains("+  password: \"[redacted, after]\""),
        "{stdout}"
    );
    let (exit, stdout, stderr) = run("apply", &ssh_home, None);
    assert_eq!(exit, 0, "{stdout}\n{stderr}");
    assert_eq!(
        secrets.get("db").await.unwrap().data.unwrap()["password"].0,
        CANARY.as_bytes()
    );

    // The key command alone (no SSH key in this HOME): the Secret, deleted, comes back.
    secrets.delete("db", &Default::default()).await.unwrap();
    let (exit, _, stderr) = run("diff", dir.path(), None);
    assert_eq!(exit, 2, "{stderr}");
    let (exit, stdout, stderr) = run("diff", dir.path(), Some(&key_cmd));
    assert_eq!(exit, 1, "{stderr}");
    assert!(stdout.contains("password"), "{stdout}");
    let (exit, stdout, stderr) = run("apply", dir.path(), Some(&key_cmd));
    assert_eq!(exit, 0, "{stdout}\n{stderr}");
    assert_eq!(
        secrets.get("db").await.unwrap().data.unwrap()["password"].0,
        CANARY.as_bytes()
    );
}

/// `--helm`: a chart rendered with the real helm, its SOPS-encrypted values file decrypted in
/// memory with the user's age key, the decrypted value hidden wherever a template put it;
/// without the key the file is named; hooks are left out of `render` and named; `apply` runs
/// the install's hooks before and after the objects, and an upgrade hook that cannot finish
/// (no node runs its Job) stops the upgrade before anything is written.
#[tokio::test]
async fn a_chart_renders_with_its_encrypted_values_and_apply_runs_its_hooks() {
    need!(lockstep_testenv::tool("helm"));
    let plane = need!(ControlPlane::shared().await);
    let (client, ns) = plane.namespace("cli-helm").await.unwrap();
    let kubeconfig = plane.kubeconfig_path().to_str().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "chart/Chart.yaml",
        "apiVersion: v2\nname: web\nversion: 1.0.0\n",
    );
    write(root, "chart/values.yaml", "color: blue\n");
    write(
        root,
        "chart/templates/config.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: {{ .Release.Name }}-config\n\
         data:\n  color: {{ .Values.color | quote }}\n  dsn: {{ printf \"db://%s\" .Values.password | quote }}\n",
    );
    let key = root.join("keys.txt");
    let keygen = lockstep(root)
        .args(["age-keygen", "-o"])
        .arg(&key)
        .output()
        .unwrap();
    assert_eq!(code(&keygen), 0, "{}", text(&keygen).1);
    let recipient = text(
        &lockstep(root)
            .args(["age-keygen", "-y"])
            .arg(&key)
            .output()
            .unwrap(),
    )
    .0;
    write(root, "secrets.yaml", &format!("password: {CANARY}\n"));
    let encrypted = lockstep(root)
        .args(["encrypt", "--age", recipient.trim()])
        .arg(root.join("secrets.yaml"))
        .output()
        .unwrap();
    assert_eq!(code(&encrypted), 0, "{}", text(&encrypted).1);
    std::fs::remove_file(root.join("secrets.yaml")).unwrap();
    write(root, "chart/secrets.enc.yaml", &text(&encrypted).0);
    let source = root.to_str().unwrap().to_owned();
    // HOME is the temp folder (no key of the user's own is found): helm is found on PATH.
    let path = format!(
        "{}:{}",
        lockstep_testenv::bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let run = |verb: &str, key: Option<&Path>| {
        let mut command = lockstep(root);
        command
            .env("PATH", &path)
            .args([
                verb,
                &source,
                "--path",
                "chart",
                "--helm",
                "--release-name",
                "web",
            ])
            .args(["--values", "secrets.enc.yaml", "--target-namespace", &ns])
            .env("HOME", root)
            .env_remove("SOPS_AGE_KEY")
            .env_remove("SOPS_AGE_KEY_FILE");
        if verb == "render" {
            command.args(["-o", "json"]);
        } else {
            command.args([
                "--kubeconfig",
                &kubeconfig,
                "--name",
                "web",
                "--timeout",
                "4s",
            ]);
            command.args(["--inventory-namespace", &ns]);
        }
        if let Some(key) = key {
            command.env("SOPS_AGE_KEY_FILE", key);
        }
        outcome(&mut command)
    };

    let (exit, stdout, stderr) = run("render", Some(&key));
    assert_eq!(exit, 0, "{stderr}");
    let list: Value = serde_json::from_str(&stdout).unwrap();
    let config = &list["items"][0];
    assert_eq!(config["metadata"]["name"], "web-config");
    assert_eq!(config["metadata"]["namespace"], ns.as_str());
    assert_eq!(config["data"]["color"], "blue");
    let dsn = config["data"]["dsn"].as_str().unwrap();
    assert!(
        dsn.starts_with("db://") && dsn.len() > 5,
        "rendered, the value hidden: {dsn}"
    );
    assert_eq!(
        config["metadata"]["labels"]["app.kubernetes.io/managed-by"], "Helm",
        "as helm install writes it"
    );

    let (exit, _, stderr) = run("render", None);
    assert_ne!(exit, 0);
    assert!(stderr.contains("secrets.enc.yaml"), "{stderr}");

    let hook = |name: &str, event: &str| {
        format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: web-{name}\n  annotations:\n    \
             helm.sh/hook: {event}\ndata: {{color: {{{{ .Values.color | quote }}}}}}\n"
        )
    };
    write(
        root,
        "chart/templates/pre.yaml",
        &hook("pre", "pre-install"),
    );
    write(
        root,
        "chart/templates/post.yaml",
        &hook("post", "post-install"),
    );
    write(
        root,
        "chart/templates/migrate.yaml",
        "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: migrate\n  annotations:\n    \
         helm.sh/hook: pre-upgrade\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      \
         containers: [{name: m, image: lockstep.test/none:1}]\n",
    );
    let (exit, stdout, stderr) = run("render", Some(&key));
    assert_eq!(exit, 0, "{stderr}");
    assert!(
        stderr.contains("3 Helm hook(s) not shown") && stderr.contains("Job/migrate (pre-upgrade)"),
        "{stderr}"
    );
    assert!(!stdout.contains("migrate"), "{stdout}");

    // Install: the pre-install hook, the chart, then the post-install hook (the API
    // server's resourceVersions, one counter across objects, give the order of writes).
    let (exit, stdout, stderr) = run("apply", Some(&key));
    assert_eq!(exit, 0, "{stdout}\n{stderr}");
    assert!(
        stdout.contains("1 pre-install hook(s) succeeded")
            && stdout.contains("1 post-install hook(s) succeeded"),
        "{stdout}"
    );
    let configs: Api<ConfigMap> = Api::namespaced(client, &ns);
    let mut versions = Vec::new();
    for name in ["web-pre", "web-config", "web-post"] {
        let version = configs.get(name).await.unwrap().metadata.resource_version;
        versions.push(version.unwrap().parse::<u64>().unwrap());
    }
    assert!(versions.is_sorted(), "written in hook order: {versions:?}");

    // Upgrade: the pre-upgrade Job never finishes, so nothing of the upgrade is written.
    write(root, "chart/values.yaml", "color: red\n");
    let (exit, _, stderr) = run("apply", Some(&key));
    assert_ne!(exit, 0);
    assert!(
        stderr.contains(&format!(
            "pre-upgrade hook Job/{ns}/migrate did not succeed"
        )) && stderr.contains("nothing was applied"),
        "{stderr}"
    );
    let config = configs.get("web-config").await.unwrap();
    assert_eq!(
        config.data.unwrap()["color"],
        "blue",
        "the upgrade not applied"
    );
}

/// `render --helm` fetches a dependency `Chart.yaml` names from a Helm repository and
/// `charts/` lacks, as `helm dependency build` would, and leaves the chart folder as it was.
/// (Two workers: the repository is served while the test waits for the CLI.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn render_fetches_a_charts_repository_dependency() {
    need!(lockstep_testenv::tool("helm"));
    let server = need!(lockstep_testenv::HelmRepoServer::start(None).await);
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(
        root,
        "dep/Chart.yaml",
        "apiVersion: v2\nname: dep\nversion: 0.3.1\n",
    );
    write(
        root,
        "dep/templates/cm.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: dep}\ndata: {v: {{ .Chart.Version | quote }}}\n",
    );
    server.publish(&root.join("dep")).unwrap();
    write(
        root,
        "src/chart/Chart.yaml",
        &format!(
            "apiVersion: v2\nname: web\nversion: 1.0.0\ndependencies:\n- name: dep\n  \
             version: ^0.3.0\n  repository: {}\n",
            server.url()
        ),
    );
    let path = format!(
        "{}:{}",
        lockstep_testenv::bin_dir().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let source = root.join("src");
    let (exit, stdout, stderr) = outcome(
        lockstep(root)
            .args([
                "render",
                source.to_str().unwrap(),
                "--path",
                "chart",
                "--helm",
            ])
            .args(["-o", "json"])
            .env("HOME", root)
            .env("PATH", &path),
    );
    assert_eq!(exit, 0, "{stderr}");
    let list: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(list["items"][0]["data"]["v"], "0.3.1", "{stdout}");
    assert!(
        !source.join("chart/charts").exists(),
        "the chart folder is left as it was"
    );
}
