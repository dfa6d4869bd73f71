//! sops exit codes: the one place where errors of the SOPS verbs become process exit codes
//! (`cmd/sops/codes/codes.go` upstream), plus the hint line printed under an error.

use std::fmt;

use lockstep_sops::{DecryptError, EmitError, EncryptError, LoadError, PathError};

/// sops' exit codes that no library error carries by itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    /// 1: anything else.
    Generic = 1,
    /// 2: the input could not be read or parsed as plaintext.
    CannotReadInput = 2,
    /// 3: the output could not be written.
    CannotWriteOutput = 3,
    /// 4: the output format cannot hold the tree or value (`ErrorDumpingTree`).
    ErrorDumpingTree = 4,
    /// 6: a malformed `--encryption-context`.
    InvalidKmsContext = 6,
    /// 7: a bad `set`/`unset` path or value.
    InvalidSetFormat = 7,
    /// 8: flags that exclude each other.
    ConflictingParameters = 8,
    /// 49: `rotate --add-*/--rm-*` on a file that does not exist.
    NonExistentFileKeys = 49,
    /// 91: a bad `--extract` path.
    InvalidTreePath = 91,
    /// 112: a key type named twice in `--decryption-order`.
    DuplicateDecryptionKeyType = 112,
    /// 100: no file given, or it does not exist.
    NoFileSpecified = 100,
    /// 200: `edit` left the file unchanged.
    FileNotModified = 200,
    /// 201: no editor could be started.
    NoEditorFound = 201,
}

/// An error that carries its sops exit code.
#[derive(Debug)]
pub struct Coded {
    code: Code,
    message: String,
}

impl Coded {
    /// An error with this code and message (never a secret value in `message`).
    pub fn new(code: Code, message: impl Into<String>) -> Self {
        Coded {
            code,
            message: message.into(),
        }
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
    anyhow::Error::new(Coded::new(code, message))
}

/// Whether the error is a broken pipe on output (a quiet success, like `head` closing).
pub fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}

/// The sops exit code of an error chain: the outermost [`Coded`] wins; otherwise the
/// first library error found; otherwise 1.
pub fn exit_code(err: &anyhow::Error) -> u8 {
    // Context layers are only visible to anyhow's own downcast; sources to `chain`.
    if let Some(c) = err.downcast_ref::<Coded>() {
        return c.code as u8;
    }
    for cause in err.chain() {
        if let Some(c) = cause.downcast_ref::<Coded>() {
            return c.code as u8;
        }
        if let Some(e) = cause.downcast_ref::<DecryptError>() {
            return e.exit_code();
        }
        if let Some(e) = cause.downcast_ref::<EncryptError>() {
            return match e {
                EncryptError::AlreadyEncrypted | EncryptError::Empty => e.exit_code(),
                // sops: "Could not generate data key" and config errors are generic.
                EncryptError::NoKeys { .. }
                | EncryptError::Wrap { .. }
                | EncryptError::Threshold { .. } => Code::Generic as u8,
                _ => e.exit_code(),
            };
        }
        if cause.downcast_ref::<LoadError>().is_some() {
            return Code::Generic as u8;
        }
        if cause.downcast_ref::<EmitError>().is_some() {
            return Code::ErrorDumpingTree as u8;
        }
        if let Some(e) = cause.downcast_ref::<PathError>() {
            return match e {
                PathError::Syntax { .. } | PathError::Value { .. } => Code::InvalidSetFormat,
                _ => Code::Generic,
            } as u8;
        }
    }
    Code::Generic as u8
}

/// The next step to suggest for an exit code, if there is a useful one.
pub fn hint(code: u8) -> Option<&'static str> {
    Some(match code {
        2 => "check that the input is valid in its format (or pass --input-type)",
        8 => "drop one of the conflicting flags (see --help)",
        51 => {
            "the file was changed outside sops/lockstep; restore it from Git, or pass --ignore-mac if you trust it"
        }
        91 => "paths look like '[\"data\"][\"password\"]' or '[\"list\"][0]'",
        92 => "the input must contain at least one document",
        100 => "pass an existing file (or use stdin with --filename-override)",
        128 => {
            "make an identity of the file available: SOPS_AGE_KEY_FILE, SOPS_AGE_KEY, ~/.config/sops/age/keys.txt, AWS credentials or VAULT_TOKEN"
        }
        200 => "nothing was written",
        201 => "set SOPS_EDITOR or EDITOR",
        203 => "decrypt it first, or use `lockstep edit`/`rotate`",
        _ => return None,
    })
}
