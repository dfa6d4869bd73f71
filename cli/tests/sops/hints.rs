//! The hint under an error is chosen by the error and names only flags the command has
//! (UX review D6: hints were chosen by exit code, so `filestatus` was told about
//! `--filename-override` and stdin without a name about "conflicting flags"); exit codes
//! stay sops'.

use super::{Env, WriteStdin as _, encrypted_yaml, lockstep_bin};

/// The `hint:` line of stderr.
fn hint(stderr: &[u8]) -> String {
    String::from_utf8_lossy(stderr)
        .lines()
        .find_map(|l| l.strip_prefix("hint: "))
        .unwrap_or_default()
        .to_owned()
}

#[test]
fn hints_fit_the_error_and_the_command() {
    let Some(env) = Env::new(1) else { return };
    let (path, bytes) = encrypted_yaml(&env);
    let r = env.recipient(0).to_owned();
    let same_code = |args: &[&str], stdin: Option<&[u8]>| {
        let run = |mut cmd: std::process::Command| match stdin {
            Some(bytes) => cmd.write_stdin_bytes(bytes),
            None => cmd.output().unwrap(),
        };
        let mut ours = lockstep_bin();
        env.prepare(&mut ours, &[0]);
        let ours = run({
            ours.args(args);
            ours
        });
        let mut theirs = std::process::Command::new(&env.sops);
        env.prepare(&mut theirs, &[0]);
        let theirs = run({
            theirs.args(args);
            theirs
        });
        assert_eq!(ours.status.code(), theirs.status.code(), "{args:?}");
        hint(&ours.stderr)
    };

    // stdin without a name: no conflicting flag, a missing one.
    let h = same_code(&["encrypt", "--age", &r], Some(b"a: b\n"));
    assert!(
        h.contains("--filename-override NAME") && !h.contains("conflicting"),
        "{h}"
    );
    // A missing file: stdin is an option only where --filename-override exists.
    let h = same_code(&["filestatus", "nope.yaml"], None);
    assert!(
        h.starts_with("pass an existing file") && !h.contains("stdin"),
        "{h}"
    );
    let h = same_code(&["decrypt", "nope.yaml"], None);
    assert!(h.contains("--filename-override"), "{h}");
    for verb in [
        &["set", "nope.yaml", "[\"a\"]", "1"][..],
        &["exec-env", "nope.yaml", "true"],
    ] {
        let h = same_code(verb, None);
        assert!(
            h.starts_with("pass an existing file") && !h.contains("stdin"),
            "{h}"
        );
    }
    // A real conflict.
    let h = same_code(
        &["decrypt", "-i", "--output", "x.yaml", "secret.enc.yaml"],
        None,
    );
    assert!(h.contains("drop one"), "{h}");
    // A bad path, for --extract (91) and set (7).
    let h = same_code(&["decrypt", "--extract", "[\"a\"", "secret.enc.yaml"], None);
    assert!(h.starts_with("paths look like"), "{h}");
    let h = same_code(&["set", "secret.enc.yaml", "[\"a\"", "1"], None);
    assert!(h.starts_with("paths look like"), "{h}");
    // A MAC mismatch: --ignore-mac is offered by the verbs that have it.
    let text = String::from_utf8(bytes).unwrap();
    std::fs::write(&path, text.replace("visible", "changed")).unwrap();
    for verb in ["decrypt", "exec-env"] {
        let mut args = vec![verb, "secret.enc.yaml"];
        if verb == "exec-env" {
            args.push("true");
        }
        let h = same_code(&args, None);
        assert!(
            h.contains("restore it from Git") && h.contains("--ignore-mac"),
            "{h}"
        );
    }
    // No identity: where to put one.
    let out = env.ours(&[], &["decrypt", "secret.enc.yaml"]);
    assert_eq!(out.status.code(), Some(128));
    assert!(hint(&out.stderr).contains("SOPS_AGE_KEY_FILE"));
}
