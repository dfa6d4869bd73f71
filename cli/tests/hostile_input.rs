//! Hostile inputs to the CLI (the reliability probe's defects 1, 11 and 12): each ends in a
//! clear error naming the input, never in an allocation failure. Every run is under a
//! 1.5 GiB address-space cap (`prlimit`), so a regression fails here instead of eating the
//! machine.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The probe's 559-byte "billion laughs" with a `sops` block (defect 1).
const BOMB: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../crates/limits/testdata/alias-bomb.yaml"
);
/// A sealing key of the SealedSecret fixtures.
const SEALING_KEY: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../crates/sealed/tests/testdata/wingkwong-v0.14.1-strict/tls.key"
);
const CAP_BYTES: u64 = 3 << 29;

/// `lockstep args` in `dir` with no identities of the user's, under the memory cap.
fn capped(dir: &Path, args: &[&str]) -> Output {
    let out = Command::new("prlimit")
        .arg(format!("--as={CAP_BYTES}"))
        .arg("--")
        .arg(assert_cmd::cargo::cargo_bin("lockstep"))
        .args(args)
        .current_dir(dir)
        .env_clear()
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir.join("xdg"))
        .output()
        .expect("prlimit (util-linux) runs");
    assert_ne!(
        out.status.code(),
        Some(134),
        "{args:?} aborted (allocation failure?): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// The exit code and the one-line error of a failed run.
fn failure(out: &Output) -> (i32, String) {
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!out.status.success(), "succeeded: {stderr}");
    assert!(out.stdout.is_empty(), "wrote output on failure: {stderr}");
    (out.status.code().unwrap_or(-1), stderr)
}

fn temp() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let bomb = dir.path().join("bomb.yaml");
    std::fs::copy(BOMB, &bomb).unwrap();
    (dir, bomb)
}

#[test]
fn alias_bomb_is_refused_by_decrypt_and_filestatus() {
    let (dir, _) = temp();
    for verb in ["decrypt", "filestatus"] {
        let (code, stderr) = failure(&capped(dir.path(), &[verb, "bomb.yaml"]));
        // sops 3.13: exit 1, "yaml: document contains excessive aliasing".
        assert_eq!(code, 1, "{verb}: {stderr}");
        assert!(
            stderr.contains("bomb.yaml")
                && stderr.contains("line 7, column 18")
                && stderr.contains("excessive aliasing"),
            "{verb}: {stderr}"
        );
        assert!(!stderr.contains("lol"), "{verb} quotes the input: {stderr}");
    }
}

#[test]
fn endless_inputs_stop_at_the_input_limit() {
    let (dir, _) = temp();
    let runs: [&[&str]; 5] = [
        &["decrypt", "/dev/zero"],
        &["filestatus", "--input-type", "yaml", "/dev/zero"],
        &["unseal", "--recovery-private-key", "/dev/zero"],
        &[
            "unseal",
            "--recovery-private-key",
            SEALING_KEY,
            "-f",
            "/dev/zero",
        ],
        &[
            "encrypt",
            "--age",
            "age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29",
            "--input-type",
            "yaml",
            "/dev/zero",
        ],
    ];
    for args in runs {
        let (code, stderr) = failure(&capped(dir.path(), args));
        assert!(
            stderr.contains("/dev/zero is larger than 256 MiB, the limit for one input"),
            "{args:?}: {stderr}"
        );
        // The SOPS verbs keep sops' "cannot read the input" code.
        let expected = if args[0] == "unseal" { 1 } else { 2 };
        assert_eq!(code, expected, "{args:?}: {stderr}");
    }
}

#[test]
fn a_large_regular_file_is_refused_before_it_is_read() {
    let (dir, _) = temp();
    let big = dir.path().join("big.yaml");
    let file = std::fs::File::create(&big).unwrap();
    // Sparse: no disk space used, and refused from its size alone.
    file.set_len((256 << 20) + 1).unwrap();
    let started = std::time::Instant::now();
    let (code, stderr) = failure(&capped(dir.path(), &["decrypt", "big.yaml"]));
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("big.yaml is larger than 256 MiB"),
        "{stderr}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(20),
        "read it anyway?"
    );
}

/// Probe case A10: `render` never follows a symlink or opens a FIFO, and says which it
/// skipped (it used to skip them silently, so a file the user meant just went missing).
#[test]
fn render_names_the_links_and_special_files_it_skips() {
    let (dir, _) = temp();
    let app = dir.path().join("app");
    std::fs::create_dir(&app).unwrap();
    std::fs::write(
        app.join("cm.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: kept}\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("/etc/passwd", app.join("passwd.yaml")).unwrap();
    std::os::unix::fs::symlink("loop.yaml", app.join("loop.yaml")).unwrap();
    std::os::unix::fs::symlink("/etc", app.join("etc")).unwrap();
    let fifo = app.join("pipe.yaml");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success(),
        "mkfifo"
    );
    let out = capped(dir.path(), &["render", "app"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("name: kept"));
    for (name, what) in [
        ("passwd.yaml", "a symlink"),
        ("loop.yaml", "a symlink"),
        ("etc", "a symlink"),
        ("pipe.yaml", "not a regular file"),
    ] {
        assert!(
            stderr.contains(&format!("skipped {name}: {what}")),
            "{name}: {stderr}"
        );
    }
    assert!(
        !stderr.contains("root:"),
        "read the link's target: {stderr}"
    );
}
