//! [`Manifest`]: one rendered object and where it came from.

use std::path::PathBuf;

use serde_json::Value;

/// One object to apply, with where it came from.
///
/// After the secrets stage it holds plaintext, so it cannot be cloned and its `Debug`
/// shows where it came from, never the object.
pub struct Manifest {
    /// The object as JSON, with `apiVersion`, `kind` and `metadata.name` present.
    pub object: Value,
    /// The file, relative to the rendered directory.
    pub file: PathBuf,
    /// Index of the document in the file, from 0.
    pub document: usize,
    /// Whether the secrets stage put plaintext into the object (decrypted SOPS values,
    /// resolved references). The API server's messages about such an object can quote
    /// those values, so they are never shown (see [`crate::apply`]).
    pub holds_secrets: bool,
}

impl std::fmt::Debug for Manifest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Manifest")
            .field("kind", &self.kind())
            .field("name", &self.name())
            .field("file", &self.file)
            .field("document", &self.document)
            .field("holds_secrets", &self.holds_secrets)
            .finish_non_exhaustive()
    }
}

impl Manifest {
    /// `apiVersion`.
    pub fn api_version(&self) -> &str {
        self.object["apiVersion"].as_str().unwrap_or_default()
    }
    /// `kind`.
    pub fn kind(&self) -> &str {
        self.object["kind"].as_str().unwrap_or_default()
    }
    /// `metadata.name`.
    pub fn name(&self) -> &str {
        self.object["metadata"]["name"].as_str().unwrap_or_default()
    }
    /// `metadata.namespace`, if any.
    pub fn namespace(&self) -> Option<&str> {
        self.object["metadata"]["namespace"].as_str()
    }
    /// The API group: the part of `apiVersion` before `/`, empty for core.
    pub fn group(&self) -> &str {
        self.api_version()
            .rsplit_once('/')
            .map_or("", |(group, _)| group)
    }
}
