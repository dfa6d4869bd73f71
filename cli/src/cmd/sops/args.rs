//! sops' global flags in sops' position: `sops --config c.yaml encrypt f` has them before
//! the verb. `lockstep` takes them on the verb, so they are moved after it before clap
//! parses. Only the global flags lockstep implements are moved, and only in front of a
//! SOPS verb; everything else is left for clap to judge.

use std::ffi::OsString;

/// sops' verbs: they take `--config` (and `--decryption-order`).
const CONFIG_VERBS: [&str; 10] = [
    "encrypt",
    "decrypt",
    "edit",
    "set",
    "unset",
    "exec-env",
    "exec-file",
    "rotate",
    "updatekeys",
    "filestatus",
];

/// Whether `verb` is one of sops' verbs, which exit with sops' codes.
pub fn is_sops_verb(verb: &str) -> bool {
    CONFIG_VERBS.contains(&verb)
}

/// Verbs that take the encryption rule flags.
const RULE_VERBS: [&str; 2] = ["encrypt", "edit"];

/// Global flags with a value, and whether only [`RULE_VERBS`] take them.
const WITH_VALUE: [(&str, bool); 4] = [
    ("--config", false),
    ("--indent", false),
    ("--unencrypted-comment-regex", true),
    ("--encrypted-comment-regex", true),
];

/// Moves leading sops global flags after the SOPS verb that follows them.
pub fn reorder(args: Vec<OsString>) -> Vec<OsString> {
    let Some(program) = args.first().cloned() else {
        return args;
    };
    let mut globals: Vec<(Vec<OsString>, bool)> = Vec::new();
    let mut i = 1;
    while i < args.len() {
        let Some(arg) = args[i].to_str() else { break };
        if arg == "--mac-only-encrypted" {
            globals.push((vec![args[i].clone()], true));
            i += 1;
            continue;
        }
        let matched = WITH_VALUE.iter().find_map(|(name, rule_only)| {
            if arg == *name {
                Some((2, *rule_only))
            } else if arg.starts_with(&format!("{name}=")) {
                Some((1, *rule_only))
            } else {
                None
            }
        });
        match matched {
            Some((n, rule_only)) if i + n <= args.len() => {
                globals.push((args[i..i + n].to_vec(), rule_only));
                i += n;
            }
            _ => break,
        }
    }
    if globals.is_empty() {
        return args;
    }
    let Some(verb) = args.get(i).and_then(|v| v.to_str()) else {
        return args;
    };
    if !CONFIG_VERBS.contains(&verb) {
        return args;
    }
    let mut out = vec![program, args[i].clone()];
    for (flag, rule_only) in globals {
        // sops ignores rule flags on verbs that do not encrypt; so does lockstep.
        if !rule_only || RULE_VERBS.contains(&verb) {
            if verb == "filestatus" {
                continue;
            }
            out.extend(flag);
        }
    }
    out.extend(args[i + 1..].iter().cloned());
    out
}

/// sops' flag-style commands, from before it had verbs and still accepted by it:
/// `sops -d f`, `sops -e -i f`, `sops -r f`, `sops --set '["a"] "v"' f`, and a bare
/// `sops f`, which edits. Rewritten into the verb form so `alias sops=lockstep` keeps old
/// scripts working. Nothing is rewritten when the first argument is a verb (`is_verb`), a
/// help or version flag, or — for the bare form — a word that is neither an existing path
/// nor a file name (`lockstep aply` stays clap's "unrecognized subcommand", instead of
/// opening an editor on a new file `aply` as sops would).
pub fn legacy(args: Vec<OsString>, is_verb: impl Fn(&str) -> bool) -> Vec<OsString> {
    let Some(first) = args.get(1).and_then(|a| a.to_str()) else {
        return args;
    };
    let any_verb = args[1..].iter().any(|a| a.to_str().is_some_and(&is_verb));
    if any_verb || ["-h", "--help", "-V", "--version"].contains(&first) {
        return args;
    }
    let mode = args.iter().enumerate().skip(1).find_map(|(i, arg)| {
        let arg = arg.to_str()?;
        match arg {
            "-d" | "--decrypt" => Some((i, "decrypt", None)),
            "-e" | "--encrypt" => Some((i, "encrypt", None)),
            "-r" | "--rotate" => Some((i, "rotate", None)),
            "--set" => Some((i, "set", args.get(i + 1)?.to_str())),
            _ => Some((i, "set", Some(arg.strip_prefix("--set=")?))),
        }
    });
    let mut out = vec![args[0].clone()];
    match mode {
        Some((i, "set", Some(set))) => {
            // sops splits `PATH VALUE` after the path's closing `] `.
            let (index, value) = match set.find("] ") {
                Some(at) => (&set[..=at], set[at + 2..].trim_start()),
                None => (set, ""),
            };
            let taken = if args[i].to_str() == Some("--set") {
                2
            } else {
                1
            };
            let rest: Vec<OsString> = [&args[1..i], &args[i + taken..]].concat();
            // The file is the one positional argument sops takes; it goes first.
            let Some(file) = rest
                .iter()
                .rposition(|a| !a.to_string_lossy().starts_with('-'))
            else {
                return args;
            };
            out.push("set".into());
            out.extend(rest[..file].iter().cloned());
            out.extend(rest[file + 1..].iter().cloned());
            out.extend([rest[file].clone(), index.into(), value.into()]);
        }
        Some((i, verb, _)) => {
            out.push(verb.into());
            out.extend(args[1..i].iter().cloned());
            out.extend(args[i + 1..].iter().cloned());
        }
        None => {
            // A bare file edits; sops' edit flags may come before it.
            let edits = if first.starts_with('-') {
                args[1..].iter().any(looks_like_file)
            } else {
                looks_like_file(&args[1])
            };
            if !edits {
                return args;
            }
            out.push("edit".into());
            out.extend(args[1..].iter().cloned());
        }
    }
    out
}

/// Whether `arg` names a file: an existing path, or a word with a dot or a slash.
fn looks_like_file(arg: &OsString) -> bool {
    let Some(text) = arg.to_str() else {
        return false;
    };
    !text.starts_with('-') && (std::path::Path::new(text).exists() || text.contains(['.', '/']))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn l(args: &[&str]) -> Vec<String> {
        legacy(args.iter().map(OsString::from).collect(), |v| {
            ["encrypt", "decrypt", "edit", "set", "seal", "rotate"].contains(&v)
        })
        .into_iter()
        .map(|a| a.into_string().unwrap())
        .collect()
    }

    #[test]
    fn sops_flag_commands_become_verbs() {
        assert_eq!(
            l(&["lockstep", "-d", "f.yaml"]),
            ["lockstep", "decrypt", "f.yaml"]
        );
        assert_eq!(
            l(&["lockstep", "--input-type", "json", "--decrypt", "f"]),
            ["lockstep", "decrypt", "--input-type", "json", "f"]
        );
        assert_eq!(
            l(&["lockstep", "-e", "-i", "--age", "age1x", "f.yaml"]),
            ["lockstep", "encrypt", "-i", "--age", "age1x", "f.yaml"]
        );
        assert_eq!(
            l(&["lockstep", "-r", "f.yaml"]),
            ["lockstep", "rotate", "f.yaml"]
        );
        assert_eq!(
            l(&["lockstep", "--set", r#"["a"]["b"] "v w""#, "f.yaml"]),
            ["lockstep", "set", "f.yaml", r#"["a"]["b"]"#, r#""v w""#]
        );
        assert_eq!(
            l(&["lockstep", r#"--set=["a"] 1"#, "--idempotent", "f.yaml"]),
            ["lockstep", "set", "--idempotent", "f.yaml", r#"["a"]"#, "1"]
        );
        // A bare file edits, as in sops; flags before it go with it.
        assert_eq!(l(&["lockstep", "f.yaml"]), ["lockstep", "edit", "f.yaml"]);
        assert_eq!(
            l(&["lockstep", "--show-master-keys", "f.yaml"]),
            ["lockstep", "edit", "--show-master-keys", "f.yaml"]
        );
    }

    #[test]
    fn verbs_help_and_typos_are_left_alone() {
        for args in [
            &["lockstep", "decrypt", "-d"][..],
            &["lockstep", "seal", "-e"],
            &["lockstep", "--help"],
            &["lockstep", "-V"],
            &["lockstep", "aply"],
            &["lockstep", "--bogus"],
            &["lockstep", "--config", "c.yaml", "seal"],
            &["lockstep"],
        ] {
            assert_eq!(l(args), args, "{args:?}");
        }
    }

    fn r(args: &[&str]) -> Vec<String> {
        reorder(args.iter().map(OsString::from).collect())
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn moves_globals_after_the_verb() {
        assert_eq!(
            r(&[
                "lockstep",
                "--config",
                "c.yaml",
                "--mac-only-encrypted",
                "encrypt",
                "f"
            ]),
            [
                "lockstep",
                "encrypt",
                "--config",
                "c.yaml",
                "--mac-only-encrypted",
                "f"
            ]
        );
        assert_eq!(
            r(&[
                "lockstep",
                "--config=c.yaml",
                "--mac-only-encrypted",
                "decrypt",
                "f"
            ]),
            ["lockstep", "decrypt", "--config=c.yaml", "f"]
        );
        assert_eq!(
            r(&["lockstep", "seal", "--cert", "x"]),
            ["lockstep", "seal", "--cert", "x"]
        );
        assert_eq!(
            r(&["lockstep", "--config", "c", "seal"]),
            ["lockstep", "--config", "c", "seal"]
        );
    }
}
