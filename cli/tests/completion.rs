//! `lockstep completion` and `lockstep man`: the generated files work in the programs that
//! read them (bash completes a subcommand and a flag; `man` renders every page).

use std::process::Command;

use assert_cmd::cargo::CommandCargoExt;

fn lockstep() -> Command {
    Command::cargo_bin("lockstep").expect("the lockstep binary is built")
}

fn completion(shell: &str) -> String {
    let output = lockstep().args(["completion", shell]).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout).unwrap()
}

/// Sources the bash script and asks it to complete `words` (the last one is the word
/// being typed), as bash does on Tab.
fn bash_complete(script: &std::path::Path, words: &[&str]) -> Vec<String> {
    let words = words.join(" ");
    let program = format!(
        "source {script}
words=({words})
COMP_WORDS=(\"${{words[@]}}\")
COMP_CWORD=$(( ${{#words[@]}} - 1 ))
COMP_LINE=\"${{words[*]}}\"
COMP_POINT=${{#COMP_LINE}}
_lockstep lockstep \"${{words[-1]}}\" \"${{words[-2]}}\"
printf '%s\\n' \"${{COMPREPLY[@]}}\"",
        script = script.display()
    );
    let output = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", &program])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    String::from_utf8(output.stdout)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect()
}

#[test]
fn bash_completes_subcommands_and_their_flags() {
    let dir = tempfile::tempdir().unwrap();
    let script = dir.path().join("lockstep.bash");
    std::fs::write(&script, completion("bash")).unwrap();

    let subcommands = bash_complete(&script, &["lockstep", "se"]);
    assert!(subcommands.contains(&"seal".to_owned()), "{subcommands:?}");
    assert!(subcommands.contains(&"set".to_owned()), "{subcommands:?}");
    assert!(
        !subcommands.contains(&"decrypt".to_owned()),
        "{subcommands:?}"
    );

    let flags = bash_complete(&script, &["lockstep", "seal", "--fetch"]);
    assert_eq!(flags, ["--fetch-cert"]);
}

#[test]
fn zsh_and_fish_scripts_name_every_subcommand() {
    let zsh = completion("zsh");
    assert!(zsh.starts_with("#compdef lockstep"), "{}", &zsh[..40]);
    let fish = completion("fish");
    for subcommand in ["seal", "encrypt", "apply", "keys", "completion"] {
        assert!(
            zsh.contains(&format!("'{subcommand}:")),
            "zsh lacks {subcommand}"
        );
        assert!(
            fish.contains(&format!("-a \"{subcommand}\"")),
            "fish lacks {subcommand}"
        );
    }
}

#[test]
fn an_unknown_shell_is_refused_with_the_known_ones() {
    let output = lockstep().args(["completion", "tcsh"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("bash, zsh, fish"), "{stderr}");
}

#[test]
fn man_writes_a_page_per_command_that_man_renders() {
    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man1");
    let output = lockstep().arg("man").arg(&pages).output().unwrap();
    assert!(output.status.success(), "{output:?}");
    for page in ["lockstep.1", "lockstep-seal.1", "lockstep-keys-renew.1"] {
        assert!(pages.join(page).is_file(), "{page} missing");
    }
    // `man -l` formats the page the way a user reads it.
    let rendered = Command::new("man")
        .arg("-l")
        .arg(pages.join("lockstep-seal.1"))
        .env("MANPAGER", "cat")
        .env("MANWIDTH", "100")
        .output()
        .unwrap();
    assert!(rendered.status.success(), "{rendered:?}");
    let text = String::from_utf8_lossy(&rendered.stdout);
    assert!(text.contains("--fetch-cert"), "{text}");
    assert!(text.contains("SYNOPSIS"), "{text}");
}
