//! How `lockstep` is called: `--version` names the commit it was built from, and sops'
//! flag-style commands (`sops -e`, `-d`, `--set`, a bare file to edit) work unchanged, so
//! `alias sops=lockstep` keeps old scripts running.

use std::path::Path;
use std::process::{Command, Output};

use crate::rotate_support::ok;
use assert_cmd::cargo::CommandCargoExt;

/// `lockstep` in `dir`, with only `key_file`'s identities and nothing from the user's home.
fn command(dir: &Path, key_file: &Path) -> Command {
    let mut command = Command::cargo_bin("lockstep").expect("the lockstep binary is built");
    command
        .current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("SOPS_AGE_KEY_FILE", key_file);
    command
}

fn lockstep(dir: &Path, key_file: &Path, args: &[&str]) -> Output {
    command(dir, key_file).args(args).output().unwrap()
}

#[test]
fn version_names_the_commit() {
    let out = Command::cargo_bin("lockstep")
        .unwrap()
        .arg("--version")
        .output()
        .unwrap();
    let version = ok(out, "--version");
    let head = Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .unwrap();
    let head = String::from_utf8(head.stdout).unwrap();
    assert!(
        version.contains(&format!("(commit {})", head.trim())),
        "{version} is not built from {head}"
    );
}

#[test]
fn sops_flag_commands_work_as_its_verbs() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let keys = dir.join("keys.txt");
    ok(
        lockstep(dir, &keys, &["age-keygen", "-o", keys.to_str().unwrap()]),
        "age-keygen",
    );
    let text = std::fs::read_to_string(&keys).unwrap();
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_owned();
    std::fs::write(dir.join("app.yaml"), "password: hunter2\nuser: admin\n").unwrap();

    // `sops -e -i FILE`, `sops -d FILE`, `sops --set '["k"] v' FILE`, `sops -d --extract`.
    ok(
        lockstep(dir, &keys, &["-e", "-i", "--age", &recipient, "app.yaml"]),
        "-e -i",
    );
    let encrypted = std::fs::read_to_string(dir.join("app.yaml")).unwrap();
    assert!(encrypted.contains("ENC[AES256_GCM") && !encrypted.contains("hunter2"));
    let plain = ok(lockstep(dir, &keys, &["-d", "app.yaml"]), "-d");
    assert_eq!(plain, "password: hunter2\nuser: admin\n");
    ok(
        lockstep(dir, &keys, &["--set", r#"["user"] "root""#, "app.yaml"]),
        "--set",
    );
    let user = ok(
        lockstep(
            dir,
            &keys,
            &["--decrypt", "--extract", r#"["user"]"#, "app.yaml"],
        ),
        "--decrypt --extract",
    );
    assert_eq!(user.trim(), "root");

    // A bare file opens the editor, as `sops FILE` does.
    let editor = dir.join("editor.sh");
    std::fs::write(&editor, "#!/bin/sh\nsed -i 's/root/admin/' \"$1\"\n").unwrap();
    let executable = std::os::unix::fs::PermissionsExt::from_mode(0o755);
    std::fs::set_permissions(&editor, executable).unwrap();
    let out = command(dir, &keys)
        .env("EDITOR", &editor)
        .arg("app.yaml")
        .output()
        .unwrap();
    ok(out, "bare file");
    let plain = ok(lockstep(dir, &keys, &["-d", "app.yaml"]), "-d after edit");
    assert_eq!(plain, "password: hunter2\nuser: admin\n");

    // A mistyped verb is not taken for a file to create.
    let out = lockstep(dir, &keys, &["aply"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unrecognized subcommand"));
    assert!(!dir.join("aply").exists());
}

/// No cluster config, or a cluster that does not answer: the message names what was read
/// and the server and context tried, not kube-rs' chain.
#[test]
fn cluster_errors_name_the_config_and_the_server() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    std::fs::write(
        dir.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
    )
    .unwrap();
    let out = command(dir, &dir.join("none"))
        .env("KUBECONFIG", "/nonexistent/kubeconfig")
        .args(["diff", "--name", "x", "cm.yaml"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("cannot read the kubeconfig KUBECONFIG names (/nonexistent/kubeconfig)")
            && stderr.contains("No such file or directory")
            && stderr.contains("hint: pass --kubeconfig"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("in-cluster: ("),
        "kube-rs' chain: {stderr}"
    );

    let kubeconfig = dir.join("dead.kubeconfig");
    std::fs::write(
        &kubeconfig,
        "apiVersion: v1\nkind: Config\ncurrent-context: dead\nclusters:\n- name: c\n  cluster: {server: 'https://127.0.0.1:1'}\ncontexts:\n- name: dead\n  context: {cluster: c, user: u}\nusers:\n- name: u\n  user: {token: t}\n",
    )
    .unwrap();
    let out = command(dir, &dir.join("none"))
        .env("KUBECONFIG", &kubeconfig)
        .args(["get", "syncs"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains(
            "cannot reach the Kubernetes API server https://127.0.0.1:1/ (kubeconfig context dead)"
        ) && stderr.contains("Connection refused")
            && stderr.contains("--context"),
        "{stderr}"
    );
    assert!(!stderr.contains("ServiceError"), "{stderr}");
    assert!(!stderr.contains("ERROR"), "kube-rs' own log line: {stderr}");
}

/// A reader that stops early (`| head`) ends the output quietly: the completion script
/// (larger than a pipe holds) used to panic on the broken pipe.
#[test]
fn output_cut_short_is_not_a_crash() {
    let bin = assert_cmd::cargo::cargo_bin("lockstep");
    let out = Command::new("bash")
        .args(["-c", "set -o pipefail; \"$0\" completion bash | true"])
        .arg(&bin)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
