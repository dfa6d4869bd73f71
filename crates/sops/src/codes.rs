//! sops' exit codes (`cmd/sops/codes/codes.go` upstream) and the one mapping from this
//! crate's errors to them, so a tool built on the crate exits as sops does.
//!
//! Some codes belong to a command, not to an error of this crate (a flag conflict, an
//! editor that does not start): the [`Code`] enum has them too, for the caller to use.

use crate::config::ConfigError;
use crate::error::{DecryptError, EmitError, EncryptError, LoadError, PathError};

/// A sops exit code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
#[repr(u8)]
pub enum Code {
    /// 1: anything else (`ErrorGeneric`).
    Generic = 1,
    /// 2: the input could not be read or parsed as plaintext.
    CannotReadInput = 2,
    /// 3: the output could not be written.
    CannotWriteOutput = 3,
    /// 4: the output format cannot hold the tree or value (`ErrorDumpingTree`).
    CannotDumpTree = 4,
    /// 6: a malformed `--encryption-context`.
    InvalidKmsContext = 6,
    /// 7: a bad `set`/`unset` path or value.
    InvalidSetFormat = 7,
    /// 8: flags that exclude each other.
    ConflictingParameters = 8,
    /// 23: the tree could not be encrypted.
    CannotEncryptTree = 23,
    /// 25: a value does not decrypt.
    CannotDecryptValue = 25,
    /// 49: `rotate --add-*/--rm-*` on a file that does not exist.
    NonExistentFileKeys = 49,
    /// 51: the MAC does not match (or is missing).
    MacMismatch = 51,
    /// 91: a bad `--extract` path.
    InvalidTreePath = 91,
    /// 92: the input has no document.
    NeedAtLeastOneDocument = 92,
    /// 100: no file given, or it does not exist.
    NoFileSpecified = 100,
    /// 112: a key type named twice in `--decryption-order`.
    DuplicateDecryptionKeyType = 112,
    /// 128: no key gave the data key.
    CannotRetrieveKey = 128,
    /// 200: `edit` left the file unchanged.
    FileNotModified = 200,
    /// 201: no editor could be started.
    NoEditorFound = 201,
    /// 203: the input is already encrypted.
    FileAlreadyEncrypted = 203,
}

impl From<Code> for u8 {
    fn from(code: Code) -> u8 {
        code as u8
    }
}

impl DecryptError {
    /// The exit code sops uses for this error.
    pub fn code(&self) -> Code {
        match self {
            DecryptError::NoKey { .. } | DecryptError::Shamir(_) => Code::CannotRetrieveKey,
            DecryptError::Value { .. } => Code::CannotDecryptValue,
            DecryptError::MacMismatch
            | DecryptError::MacMissing
            | DecryptError::MacUndecryptable { .. } => Code::MacMismatch,
        }
    }
}

impl EncryptError {
    /// The exit code `sops encrypt` uses for this error: key wrapping and key group
    /// problems are generic there ("could not generate data key").
    pub fn code(&self) -> Code {
        match self {
            EncryptError::AlreadyEncrypted => Code::FileAlreadyEncrypted,
            EncryptError::Empty => Code::NeedAtLeastOneDocument,
            EncryptError::Wrap { .. }
            | EncryptError::NoKeys { .. }
            | EncryptError::Threshold { .. } => Code::Generic,
            _ => Code::CannotEncryptTree,
        }
    }
}

impl LoadError {
    /// The exit code sops uses for an encrypted file that does not load (a plaintext
    /// input that does not parse is the caller's [`Code::CannotReadInput`]).
    pub fn code(&self) -> Code {
        Code::Generic
    }
}

impl EmitError {
    /// The exit code sops uses when the output format cannot hold the data.
    pub fn code(&self) -> Code {
        Code::CannotDumpTree
    }
}

impl PathError {
    /// The exit code of `set`/`unset` for this error (`--extract` uses
    /// [`Code::InvalidTreePath`] for a malformed path).
    pub fn code(&self) -> Code {
        match self {
            PathError::Syntax { .. } | PathError::Value { .. } => Code::InvalidSetFormat,
            _ => Code::Generic,
        }
    }
}

impl ConfigError {
    /// The exit code sops uses for this error.
    pub fn code(&self) -> Code {
        match self {
            ConfigError::ConflictingRules => Code::ConflictingParameters,
            _ => Code::Generic,
        }
    }
}
