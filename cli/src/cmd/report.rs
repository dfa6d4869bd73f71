//! What a failed command shows: its error chain, printed once; a hint chosen by the error
//! (naming a flag only when the command has it); and, for the SOPS verbs, sops' exit code
//! ([`Code`], mapped from the library's errors by `lockstep_sops::codes`).

use std::fmt;
use std::process::ExitCode;

use clap::CommandFactory as _;

use lockstep_sops::config::ConfigError;
use lockstep_sops::{DecryptError, EmitError, EncryptError, LoadError, PathError};

pub use lockstep_sops::Code;

/// Shows the libraries' warnings (a symlink render skipped, say) on standard error, written
/// through the redactor's writer like the controller's log. `LOCKSTEP_LOG` takes a
/// `RUST_LOG`-style filter for more (default `warn`, without kube-rs' own lines: a failed
/// request is reported once, by [`report`], with the server and context it tried).
pub fn init_warnings() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("LOCKSTEP_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn,kube_client=off"));
    // Fails only if a subscriber is already set, and then that one reports.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .without_time()
        .with_target(false)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(|| lockstep_engine::redact::ScrubbedWriter::new(std::io::stderr()))
        .try_init();
}

/// Reports a failed `verb` and picks its exit code: sops' code for the SOPS verbs, 1 for
/// the others (`diff` prints with [`explain`] and exits 2, as `kubectl diff`).
pub fn report(err: &anyhow::Error, verb: &str) -> ExitCode {
    if is_broken_pipe(err) {
        return ExitCode::SUCCESS;
    }
    explain(err, verb);
    if super::sops::args::is_sops_verb(verb) {
        ExitCode::from(u8::from(code(err)))
    } else {
        ExitCode::FAILURE
    }
}

/// Prints the error chain once, then the hint the error calls for, naming a flag only
/// when `verb` has it.
pub fn explain(err: &anyhow::Error, verb: &str) {
    eprintln!("lockstep: {}", chain(err.as_ref()));
    if let Some(hint) = hint(err) {
        eprintln!("hint: {}", hint.render(|id| has_flag(verb, id)));
    }
}

/// Whether subcommand `verb` has the argument whose clap id is `id`.
fn has_flag(verb: &str, id: &str) -> bool {
    super::Cli::command()
        .find_subcommand(verb)
        .is_some_and(|c| c.get_arguments().any(|a| a.get_id() == id))
}

/// A next step to print under an error: a sentence, and a clause that names a flag, added
/// only when the failed command has that flag.
#[derive(Clone, Copy, Debug)]
pub struct Hint {
    text: &'static str,
    flag: Option<(&'static str, &'static str)>,
}

impl Hint {
    /// A hint that names no flag.
    pub const fn new(text: &'static str) -> Self {
        Hint { text, flag: None }
    }

    /// Adds `clause` when the command has the flag whose clap id is `id`.
    pub const fn or_flag(self, id: &'static str, clause: &'static str) -> Self {
        Hint {
            text: self.text,
            flag: Some((id, clause)),
        }
    }

    /// The hint for a command that has the flags `has_flag` says it has.
    pub fn render(&self, has_flag: impl Fn(&str) -> bool) -> String {
        match self.flag {
            Some((id, clause)) if has_flag(id) => format!("{}{clause}", self.text),
            _ => self.text.to_owned(),
        }
    }
}

/// Hints for errors of the command line itself, used where those errors are made.
pub mod hints {
    use super::Hint;

    /// A file argument that does not exist.
    pub const EXISTING_FILE: Hint = Hint::new("pass an existing file").or_flag(
        "filename_override",
        ", or read stdin with --filename-override NAME",
    );
    /// Plaintext that does not parse in its format.
    pub const INPUT_FORMAT: Hint = Hint::new("check that the input is valid in its format")
        .or_flag("input_type", ", or name its format with --input-type");
    /// stdin without a name to pick the format and creation rule by.
    pub const NAME_STDIN: Hint = Hint::new(
        "pass --filename-override NAME: its extension picks the format, its path the creation rule",
    );
    /// Two flags that exclude each other.
    pub const CONFLICTING_FLAGS: Hint = Hint::new("drop one of the two flags");
    /// `edit` left the file as it was.
    pub const NOTHING_WRITTEN: Hint = Hint::new("nothing was written");
    /// No editor started.
    pub const SET_EDITOR: Hint = Hint::new("set SOPS_EDITOR or EDITOR");
}

/// A hint chosen by the kind of a library error.
fn library_hint(cause: &(dyn std::error::Error + 'static)) -> Option<Hint> {
    if let Some(e) = cause.downcast_ref::<DecryptError>() {
        return match e {
            DecryptError::NoKey { .. } => Some(Hint::new(
                "make an identity of the file available: SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, SOPS_AGE_KEY_CMD, an SSH key (~/.ssh/id_ed25519, SOPS_AGE_SSH_PRIVATE_KEY_FILE), ~/.config/sops/age/keys.txt, AWS credentials or VAULT_TOKEN",
            )),
            DecryptError::MacMismatch
            | DecryptError::MacMissing
            | DecryptError::MacUndecryptable { .. } => Some(
                Hint::new("the file was changed by something other than sops or lockstep; restore it from Git")
                    .or_flag("ignore_mac", ", or pass --ignore-mac if you trust it"),
            ),
            _ => None,
        };
    }
    if let Some(e) = cause.downcast_ref::<EncryptError>() {
        return match e {
            EncryptError::Empty => Some(Hint::new("the input must contain at least one document")),
            EncryptError::AlreadyEncrypted => Some(Hint::new(
                "decrypt it first, or change it with `lockstep edit`, `set` or `rotate`",
            )),
            _ => None,
        };
    }
    if let Some(e) = cause.downcast_ref::<PathError>() {
        return match e {
            PathError::Syntax { .. } => Some(Hint::new(
                "paths look like '[\"data\"][\"password\"]' or '[\"list\"][0]'",
            )),
            PathError::Value { .. } => Some(Hint::new(
                "give the value as JSON: '\"text\"', 42, true, null or '{\"key\": \"value\"}'",
            )),
            _ => None,
        };
    }
    if let Some(kube::Error::Service(_) | kube::Error::HyperError(_)) = cause.downcast_ref() {
        return Some(Hint::new(
            "is the cluster running, and is this the right one? Choose it with --context or --kubeconfig",
        ));
    }
    if let Some(e) = cause.downcast_ref::<ConfigError>() {
        return match e {
            ConfigError::NoMatchingRule { .. } => Some(Hint::new(
                "add a creation rule whose path_regex matches the file (a rule without path_regex matches every file)",
            )),
            ConfigError::ConflictingRules => Some(Hint::new(
                "keep one encryption rule, in the flags or in the creation rule",
            )),
            _ => None,
        };
    }
    None
}

/// An error of the command line itself (a flag, a missing file), with its sops exit code
/// and, when one helps, a hint.
#[derive(Debug)]
pub struct Coded {
    code: Code,
    message: String,
    hint: Option<Hint>,
}

impl Coded {
    /// An error with this code and message (never a secret value in `message`).
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Coded {
            code,
            message: message.into(),
            hint: None,
        }
    }

    /// The same error, with a hint.
    pub fn hint(mut self, hint: Hint) -> Self {
        self.hint = Some(hint);
        self
    }
}

impl fmt::Display for Coded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Coded {}

/// Shorthand: an `anyhow::Error` with a sops exit code.
pub fn coded(code: Code, message: impl Into<String>) -> anyhow::Error {
    Coded::new(code, message).into()
}

/// The [`Coded`] layers of a chain, outermost first. Context layers are only visible to
/// anyhow's own downcast, sources only to `chain`.
fn coded_layers(err: &anyhow::Error) -> impl Iterator<Item = &Coded> {
    err.downcast_ref::<Coded>()
        .into_iter()
        .chain(err.chain().filter_map(|e| e.downcast_ref::<Coded>()))
}

/// The sops exit code of an error chain: the outermost [`Coded`] wins, else the first
/// library error's, else [`Code::Generic`].
pub fn code(err: &anyhow::Error) -> Code {
    if let Some(c) = coded_layers(err).next() {
        return c.code;
    }
    err.chain()
        .find_map(|cause| {
            if let Some(e) = cause.downcast_ref::<DecryptError>() {
                Some(e.code())
            } else if let Some(e) = cause.downcast_ref::<EncryptError>() {
                Some(e.code())
            } else if let Some(e) = cause.downcast_ref::<LoadError>() {
                Some(e.code())
            } else if let Some(e) = cause.downcast_ref::<EmitError>() {
                Some(e.code())
            } else if let Some(e) = cause.downcast_ref::<PathError>() {
                Some(e.code())
            } else {
                cause.downcast_ref::<ConfigError>().map(ConfigError::code)
            }
        })
        .unwrap_or(Code::Generic)
}

/// The hint for an error chain: a [`Coded`] layer's, else the first library error's.
pub fn hint(err: &anyhow::Error) -> Option<Hint> {
    coded_layers(err)
        .find_map(|c| c.hint)
        .or_else(|| err.chain().find_map(library_hint))
}

/// The chain as one line, `outer: inner`, leaving out a cause whose text the layer above
/// already quotes (many errors print their source in their own message). A Kubernetes
/// client error ends it, told as [`kube_text`] tells it.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut out = String::new();
    let mut next = Some(err);
    while let Some(cause) = next {
        next = cause.source();
        let kube = cause.downcast_ref::<kube::Error>().and_then(kube_text);
        if kube.is_some() {
            next = None;
        }
        let text = kube.unwrap_or_else(|| cause.to_string());
        if out.contains(&text) {
            continue;
        }
        if !out.is_empty() {
            out.push_str(": ");
        }
        out.push_str(&text);
    }
    out
}

/// A Kubernetes client error as a person reads it: the API server's answer without
/// kube-rs' debug dump of it, or the server that could not be reached (and the
/// kubeconfig context that chose it) with what failed underneath; `None` for the others.
fn kube_text(err: &kube::Error) -> Option<String> {
    match err {
        kube::Error::Api(status) => Some(format!(
            "the API server answered {} {}: {}",
            status.code, status.reason, status.message
        )),
        kube::Error::Service(_) | kube::Error::HyperError(_) => Some(format!(
            "cannot reach the Kubernetes API server{}: {}",
            super::cluster::server().map_or_else(String::new, |s| format!(" {s}")),
            super::cluster::innermost(err)
        )),
        _ => None,
    }
}

/// Whether the error is a broken pipe on output (a quiet success, like `head` closing).
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quoted_source_is_printed_once() {
        let inner = std::io::Error::other("No such file (os error 2)");
        let err = anyhow::Error::new(inner)
            .context("failed to read kubeconfig: No such file (os error 2)")
            .context("reading kubeconfig /nope");
        assert_eq!(
            chain(err.as_ref()),
            "reading kubeconfig /nope: failed to read kubeconfig: No such file (os error 2)"
        );
    }

    #[test]
    fn codes_and_hints_come_from_the_error() {
        let err = anyhow::Error::new(DecryptError::MacMismatch).context("decrypting x");
        assert_eq!(code(&err), Code::MacMismatch);
        let hint = hint(&err).unwrap();
        assert!(
            hint.render(|id| id == "ignore_mac")
                .contains("--ignore-mac")
        );
        assert!(!hint.render(|_| false).contains("--ignore-mac"));
        let coded = anyhow::Error::from(
            Coded::new(Code::NoFileSpecified, "missing").hint(hints::EXISTING_FILE),
        )
        .context("outer");
        assert_eq!(code(&coded), Code::NoFileSpecified);
        assert!(
            !super::hint(&coded)
                .unwrap()
                .render(|_| false)
                .contains("stdin")
        );
        assert_eq!(code(&anyhow::anyhow!("plain")), Code::Generic);
    }
}
