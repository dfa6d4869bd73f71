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

#[cfg(test)]
mod tests {
    use super::*;

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
