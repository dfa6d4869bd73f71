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
}
