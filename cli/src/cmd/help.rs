//! `lockstep --help`: the commands listed by the job they do (encrypted files, sealed
//! secrets, GitOps, the shell) instead of one list of thirty in declaration order.

use std::fmt::Write as _;

use clap::Command;

/// Each group's heading and its commands, in the order they are listed.
const GROUPS: &[(&str, &[&str])] = &[
    (
        "Encrypted files (sops format)",
        &[
            "encrypt",
            "decrypt",
            "edit",
            "set",
            "unset",
            "filestatus",
            "exec-env",
            "exec-file",
            "updatekeys",
            "rotate",
            "age-keygen",
            "merge-driver",
            "textconv",
        ],
    ),
    ("Sealed secrets (kubeseal)", &["seal", "unseal", "keys"]),
    (
        "GitOps",
        &[
            "render",
            "diff",
            "apply",
            "get",
            "tree",
            "history",
            "logs",
            "reconcile",
            "suspend",
            "resume",
            "approve",
            "rollback",
        ],
    ),
    ("Shell", &["completion", "man"]),
];

/// Each command's example, and its exit codes where the command does not state them in
/// its own `after_help`: shown under its flags by `lockstep <command> --help`.
const FOOTERS: &[(&str, &str, Option<&str>)] = &[
    (
        "encrypt",
        "lockstep encrypt --age age1… -i secret.yaml",
        Some(SOPS_CODES),
    ),
    (
        "decrypt",
        "lockstep decrypt --extract '[\"stringData\"][\"password\"]' secret.yaml",
        Some(SOPS_CODES),
    ),
    (
        "edit",
        "lockstep edit secret.yaml",
        Some(
            "Exit codes (sops'): 0 written, 200 nothing changed, 201 the editor failed, 2 the text does not parse, 128 no key decrypts the file.",
        ),
    ),
    (
        "set",
        "lockstep set secret.yaml '[\"stringData\"][\"password\"]' '\"new\"'",
        Some(SOPS_CODES),
    ),
    (
        "unset",
        "lockstep unset secret.yaml '[\"stringData\"][\"old\"]'",
        Some(SOPS_CODES),
    ),
    (
        "filestatus",
        "lockstep filestatus secret.yaml",
        Some("Exit codes: 0 answered ({\"encrypted\":…}), 1 the file cannot be read or parsed."),
    ),
    (
        "exec-env",
        "lockstep exec-env secret.env 'psql \"$DATABASE_URL\"'",
        Some("Exit codes: the command's own, else sops' codes for the file."),
    ),
    (
        "exec-file",
        "lockstep exec-file kubeconfig.enc.yaml 'kubectl --kubeconfig {} get pods'",
        Some("Exit codes: the command's own, else sops' codes for the file."),
    ),
    (
        "updatekeys",
        "lockstep updatekeys -y secrets/*.yaml",
        Some(
            "Exit codes: 0 updated or already up to date, 1 a file was not updated (not confirmed, no key).",
        ),
    ),
    (
        "rotate",
        "lockstep rotate --dry-run --rm-age age1old… .",
        Some(
            "Exit codes: 0 every file rotated (or planned with --dry-run), 1 a file failed or was not confirmed; one file as sops rotate: sops' codes.",
        ),
    ),
    (
        "age-keygen",
        "lockstep age-keygen -o key.txt",
        Some("Exit codes: 0 written, 1 the file exists or cannot be written."),
    ),
    (
        "merge-driver",
        "git config merge.sops.driver 'lockstep merge-driver %O %A %B %P'",
        Some(
            "Exit codes (as git expects): 0 merged, 1 a conflict (ours kept encrypted, the paths named) or the files cannot be read or decrypted.",
        ),
    ),
    (
        "textconv",
        "git config diff.sops.textconv 'lockstep textconv'",
        Some("Exit codes: 0 printed, 1 the file cannot be read."),
    ),
    (
        "seal",
        "lockstep seal --cert cert.pem -o yaml -f secret.yaml > sealed.yaml",
        Some(
            "Exit codes: 0 sealed, 1 the input, the certificate or the controller could not be read.",
        ),
    ),
    (
        "unseal",
        "lockstep unseal --recovery-private-key key.pem -f sealed.yaml",
        Some("Exit codes: 0 unsealed, 1 no key opens it or the input cannot be read."),
    ),
    (
        "keys",
        "lockstep keys list --repo .",
        Some("Exit codes: 0 done, 1 the cluster refused or the key was not found."),
    ),
    (
        "render",
        "lockstep render ./deploy --path overlays/prod",
        Some("Exit codes: 0 rendered (an empty render warns), 1 the source does not render."),
    ),
    (
        "diff",
        "lockstep diff --name web ./deploy",
        Some("Exit codes (as kubectl diff): 0 no difference, 1 differences, 2 an error."),
    ),
    (
        "apply",
        "lockstep apply --name web ./deploy --timeout 2m",
        Some(
            "Exit codes: 0 applied and healthy, 1 refused (nothing written), failed, or not healthy in time.",
        ),
    ),
    ("get", "lockstep get syncs -A", None),
    ("tree", "lockstep tree web -n shop", None),
    ("history", "lockstep history web -n shop", None),
    ("logs", "lockstep logs web -n shop -f", None),
    (
        "reconcile",
        "lockstep reconcile web -n shop --with-source",
        None,
    ),
    ("suspend", "lockstep suspend web -n shop", None),
    ("resume", "lockstep resume web -n shop", None),
    ("approve", "lockstep approve web -n shop", None),
    (
        "rollback",
        "lockstep rollback web -n shop --to 1a2b3c4",
        None,
    ),
    (
        "completion",
        "lockstep completion bash > /etc/bash_completion.d/lockstep",
        Some("Exit codes: 0 written."),
    ),
    (
        "man",
        "lockstep man ./man",
        Some("Exit codes: 0 written, 1 the folder cannot be written."),
    ),
];

/// Flags a command accepts as sops does (so sops' command lines keep working) but that
/// change nothing for it: left out of its help.
const HIDDEN: &[(&str, &[&str])] = &[
    ("filestatus", &["output_type", "indent"]),
    ("exec-env", &["output_type", "indent"]),
    ("updatekeys", &["output_type"]),
];

/// sops' exit codes, which the SOPS verbs keep.
const SOPS_CODES: &str = "Exit codes (sops'): 0 done, 2 the input does not parse, 51 MAC mismatch, \
     91 bad --extract path, 100 no such file, 128 no key decrypts the file, 203 already encrypted.";

/// The width the command list is wrapped to (clap's own default).
const WIDTH: usize = 100;

/// `command` with its top-level help listing the subcommands by group.
pub fn grouped(command: Command) -> Command {
    let width = GROUPS
        .iter()
        .flat_map(|(_, names)| names.iter())
        .map(|name| name.len())
        .max()
        .unwrap_or(0);
    let mut list = String::new();
    for (heading, names) in GROUPS {
        let _ = writeln!(list, "{heading}:");
        for name in *names {
            let about = command
                .find_subcommand(name)
                .and_then(Command::get_about)
                .map(ToString::to_string)
                .unwrap_or_default();
            // Wrapped here, with the description's indent, before clap wraps at 100.
            let indent = width + 4;
            let mut line = format!("  {name:<width$}  ");
            for word in about.split_whitespace() {
                if line.len() > indent && line.len() + 1 + word.len() > WIDTH {
                    let _ = writeln!(list, "{}", line.trim_end());
                    line = " ".repeat(indent);
                } else if line.len() > indent {
                    line.push(' ');
                }
                line.push_str(word);
            }
            let _ = writeln!(list, "{line}");
        }
        list.push('\n');
    }
    let mut command = command;
    for (name, example, codes) in FOOTERS {
        command = command.mut_subcommand(name, |sub| {
            let codes = codes
                .map(str::to_owned)
                .or_else(|| sub.get_after_help().map(ToString::to_string))
                .unwrap_or_default();
            sub.after_help(format!("Example:\n  {example}\n\n{codes}"))
        });
    }
    for (name, ids) in HIDDEN {
        command = command.mut_subcommand(name, |mut sub| {
            for id in *ids {
                if sub.get_arguments().any(|a| a.get_id() == id) {
                    sub = sub.mut_arg(id, |arg| arg.hide(true));
                }
            }
            sub
        });
    }
    command
        .before_help(list)
        .help_template(
            "{about-with-newline}\n{usage-heading} {usage}\n\n{before-help}Options:\n{options}\
             {after-help}",
        )
        .after_help(
            "`lockstep help <command>` (or `<command> --help`) shows a command's flags, an \
             example and its exit codes.",
        )
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory as _;

    /// Every command is in exactly one group, and every name a group lists is a command:
    /// a new command cannot go missing from the help.
    #[test]
    fn every_command_is_listed_once() {
        let command = crate::cmd::Cli::command();
        let listed: Vec<&str> = GROUPS.iter().flat_map(|(_, n)| n.iter().copied()).collect();
        for sub in command.get_subcommands() {
            let name = sub.get_name();
            let times = listed.iter().filter(|n| **n == name).count();
            assert_eq!(times, 1, "{name} is listed {times} times");
        }
        for name in &listed {
            assert!(
                command.find_subcommand(name).is_some(),
                "{name} is no command"
            );
        }
        let help = grouped(command).render_help().to_string();
        for (heading, _) in GROUPS {
            assert!(help.contains(&format!("{heading}:")), "{help}");
        }
        assert!(help.contains("  rollback  "), "{help}");
        assert!(help.contains("Options:"), "{help}");
        assert!(help.lines().all(|l| l.chars().count() <= WIDTH), "{help}");
    }

    /// Every command's help ends with an example and its exit codes (UX review, §3.9).
    #[test]
    fn every_command_has_an_example_and_exit_codes() {
        let mut command = grouped(crate::cmd::Cli::command());
        for sub in command.get_subcommands_mut() {
            let help = sub.render_help().to_string();
            assert!(
                help.contains("Example:\n  lockstep ") || help.contains("Example:\n  git "),
                "{}: {help}",
                sub.get_name()
            );
            assert!(help.contains("Exit codes"), "{}: {help}", sub.get_name());
            assert!(
                !help.contains("-V, --version"),
                "{}: {help}",
                sub.get_name()
            );
        }
        let filestatus = command.find_subcommand_mut("filestatus").unwrap();
        let help = filestatus.render_help().to_string();
        assert!(
            !help.contains("--output-type") && help.contains("--input-type"),
            "{help}"
        );
    }
}
