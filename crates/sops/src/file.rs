//! An encrypted SOPS file in memory: the tree of (mostly encrypted) values and the parsed
//! metadata, with loading and emitting in any format.

use crate::error::{EmitError, LoadError};
use crate::metadata::Metadata;
use crate::stores::{self, EmitOptions, Format};
use crate::tree::Tree;

/// An encrypted file: values as stored (`ENC[…]` strings and clear values) plus metadata.
#[derive(Debug)]
pub struct EncryptedFile {
    /// The data, without the `sops` block.
    pub tree: Tree,
    /// The parsed `sops` block.
    pub metadata: Metadata,
}

impl EncryptedFile {
    /// Reads an encrypted file.
    ///
    /// # Errors
    /// [`LoadError`] for malformed input (with line/column or key path),
    /// [`LoadError::NoMetadata`] when the file has no `sops` block, and
    /// [`LoadError::Metadata`] when that block is malformed.
    pub fn load(bytes: &[u8], format: Format) -> Result<EncryptedFile, LoadError> {
        // A binary file is stored as JSON.
        let read_as = if format == Format::Binary {
            Format::Json
        } else {
            format
        };
        let mut tree = stores::load(bytes, read_as).map_err(|e| match (format, e) {
            (Format::Binary, LoadError::Syntax { .. } | LoadError::Structure { .. }) => {
                LoadError::NoMetadata
            }
            (_, e) => e,
        })?;
        let items = stores::take_metadata(&mut tree, format)?.ok_or(LoadError::NoMetadata)?;
        let metadata = Metadata::from_items(&items)?;
        Ok(EncryptedFile { tree, metadata })
    }

    /// Writes the file (values and metadata) in `format`.
    ///
    /// # Errors
    /// [`EmitError`] when the tree cannot be written in `format`.
    pub fn emit(&self, format: Format, opts: &EmitOptions) -> Result<Vec<u8>, EmitError> {
        stores::emit_with_metadata(&self.tree, self.metadata.to_items(), format, opts)
    }
}

/// Whether `bytes` hold a file sops considers encrypted (`filestatus`): metadata with a
/// non-empty `mac` and `version`. A file without metadata is not encrypted.
///
/// # Errors
/// As sops' `filestatus`, any other [`LoadError`]: input that does not parse, or exceeds a
/// limit (an alias bomb is an error, not "not encrypted").
pub fn is_encrypted(bytes: &[u8], format: Format) -> Result<bool, LoadError> {
    match EncryptedFile::load(bytes, format) {
        Ok(f) => Ok(!f.metadata.mac.is_empty() && !f.metadata.version.is_empty()),
        Err(LoadError::NoMetadata) => Ok(false),
        Err(e) => Err(e),
    }
}
