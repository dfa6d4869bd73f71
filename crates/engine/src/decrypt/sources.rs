//! The SOPS-encrypted files a render used, from the [`Inputs`] render handed over: the
//! manifest files it read (their bytes, kept when they mention SOPS), and the files its
//! kustomizations name for kustomize (resources, patches, generator sources), which are
//! read here, once, only when some rendered object still holds an encrypted value.
//!
//! A file counts as encrypted when it mentions SOPS (`sops`, `mac`, `ENC[`) and then loads
//! as a SOPS file with metadata; one that mentions SOPS but holds no metadata is left
//! alone. Any file here may be a tenant's, and render never parsed generator sources or
//! patches, so files are read and loaded within [`lockstep_limits::LIMITS`]: a file that
//! is too large, or does not load (bad syntax, an alias bomb), fails the render naming the
//! file and the line.

use std::path::PathBuf;

use lockstep_limits::LIMITS;
use lockstep_sops::{EncryptedFile, Format, LoadError};
use zeroize::Zeroizing;

use super::DecryptError;
use crate::render::{Inputs, mentions_sops};

/// An encrypted file to decrypt.
pub(super) struct Source {
    /// Its name relative to the artifact root, for messages.
    pub shown: PathBuf,
    /// The SOPS store it was read with.
    pub format: Format,
    /// Whether a generator reads it whole (`files:`), so its decrypted bytes are needed.
    pub whole: bool,
    /// Its bytes, as on disk (the MAC is verified on these).
    pub bytes: Zeroizing<Vec<u8>>,
    /// The file as loaded from `bytes`.
    pub encrypted: EncryptedFile,
}

/// The encrypted files among `inputs`.
pub(super) fn find(inputs: Inputs) -> Result<Vec<Source>, DecryptError> {
    let Inputs { root, files } = inputs;
    let mut sources = Vec::new();
    for (path, input) in files {
        let shown = path.strip_prefix(&root).unwrap_or(&path).to_path_buf();
        let bytes = match input.bytes {
            Some(bytes) => bytes,
            None => {
                lockstep_limits::read_file(&path, LIMITS.max_input_bytes).map_err(|source| {
                    DecryptError::Read {
                        file: shown.clone(),
                        source: source.into(),
                    }
                })?
            }
        };
        let format = if input.dotenv {
            Format::Dotenv
        } else {
            Format::from_path(&path)
        };
        sources.extend(load(shown, format, input.whole, bytes)?);
    }
    Ok(sources)
}

/// `bytes` (of the file named `shown`) as a [`Source`], or `None` when the file is not
/// SOPS-encrypted.
pub(super) fn load(
    shown: PathBuf,
    format: Format,
    whole: bool,
    bytes: Zeroizing<Vec<u8>>,
) -> Result<Option<Source>, DecryptError> {
    if !mentions_sops(&bytes) {
        return Ok(None);
    }
    let encrypted = match EncryptedFile::load(&bytes, format) {
        Ok(encrypted) => encrypted,
        Err(LoadError::NoMetadata) => return Ok(None),
        Err(source) => {
            return Err(DecryptError::Load {
                file: shown,
                source,
            });
        }
    };
    Ok(Some(Source {
        shown,
        format,
        whole,
        bytes,
        encrypted,
    }))
}
