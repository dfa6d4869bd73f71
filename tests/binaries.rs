//! For people who install binaries: the README's `cargo install` lines and the completion
//! and man page steps after them, run as written but with `--debug` and a `--root` of the
//! test's own. A release build is `scripts/release.sh`'s; a debug install reuses what the
//! test build compiled, in the same target folder, so it costs seconds, not a rebuild.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The README's install block, whose commands this test runs.
const README_STEPS: &[&str] = &[
    "cargo install --locked --path cli",
    "cargo install --locked --path controller",
    "lockstep completion bash > ~/.local/share/bash-completion/completions/lockstep",
    "lockstep man ~/.local/share/man/man1",
];

/// The repository's root.
fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// The target folder this test binary was built in (`<target>/<profile>/deps/<test>`).
fn target_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.ancestors().nth(3).unwrap().to_owned()
}

fn run(command: &mut Command) -> Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

#[test]
fn cargo_install_puts_working_binaries_completions_and_man_pages_in_place() {
    let readme = std::fs::read_to_string(repo().join("README.md")).unwrap();
    for step in README_STEPS {
        assert!(readme.contains(step), "the README no longer says `{step}`");
    }
    let root = tempfile::tempdir().unwrap();
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    for package in ["cli", "controller"] {
        run(Command::new(&cargo)
            .current_dir(repo())
            .args([
                "install", "--quiet", "--locked", "--debug", "--path", package,
            ])
            .arg("--root")
            .arg(root.path())
            .arg("--target-dir")
            .arg(target_dir()));
    }
    let bin = |name: &str| root.path().join("bin").join(name);
    let version = |name: &str| {
        let output = run(Command::new(bin(name)).arg("--version"));
        String::from_utf8(output.stdout).unwrap()
    };
    let cli_version = env!("CARGO_PKG_VERSION");
    assert!(version("lockstep").starts_with(&format!("lockstep {cli_version}")));
    assert!(version("lockstep-controller").starts_with("lockstep-controller "));

    let completion = run(Command::new(bin("lockstep")).args(["completion", "bash"]));
    let script = String::from_utf8(completion.stdout).unwrap();
    assert!(script.contains("complete -F _lockstep"), "{script}");
    let man = root.path().join("man1");
    std::fs::create_dir(&man).unwrap();
    run(Command::new(bin("lockstep")).arg("man").arg(&man));
    for page in ["lockstep.1", "lockstep-encrypt.1", "lockstep-seal.1"] {
        let text = std::fs::read_to_string(man.join(page)).unwrap();
        assert!(text.contains(".TH"), "{page} is not a man page");
    }
}
