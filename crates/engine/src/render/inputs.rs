//! [`Inputs`]: what a render read, or had kustomize read, that the secrets stage needs —
//! so decrypt neither lists, walks nor reads again what render did.
//!
//! A manifest file render read is kept (its bytes) only when it mentions SOPS; the other
//! files are the ones kustomize reads and render only named: the resource files of its
//! kustomizations, their patches and the sources of their generators. All are keyed by
//! their real path inside the source, so a file reached twice is one input.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use zeroize::Zeroizing;

/// How a file is read, and its bytes when render read it.
pub(crate) struct Input {
    /// Kustomize reads it as a dotenv file (a generator's `envs:`), whatever its name.
    pub dotenv: bool,
    /// A generator reads it whole (`files:`), so its decrypted bytes are needed.
    pub whole: bool,
    /// The bytes render read (a manifest that mentions SOPS); `None` for a file only
    /// kustomize reads, which the secrets stage reads when it needs it.
    pub bytes: Option<Zeroizing<Vec<u8>>>,
}

/// The files of one render that may be SOPS-encrypted (see the module doc).
pub struct Inputs {
    /// The source, by its real path.
    pub(crate) root: PathBuf,
    /// By real path inside `root`.
    pub(crate) files: BTreeMap<PathBuf, Input>,
}

impl std::fmt::Debug for Inputs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inputs")
            .field("root", &self.root)
            .field("files", &self.files.keys().collect::<Vec<_>>())
            .finish()
    }
}

impl Inputs {
    pub(super) fn new(root: PathBuf) -> Inputs {
        Inputs {
            root,
            files: BTreeMap::new(),
        }
    }

    /// The same files under `root`: each path keeps its place relative to the old root.
    pub(super) fn rebase(&mut self, root: &Path) {
        let files = std::mem::take(&mut self.files);
        self.files = files
            .into_iter()
            .map(|(path, input)| {
                let relative = path.strip_prefix(&self.root).unwrap_or(&path);
                (root.join(relative), input)
            })
            .collect();
        self.root = root.to_path_buf();
    }

    /// A manifest file render read: kept only when it may be encrypted.
    pub(super) fn read(&mut self, path: &Path, bytes: Zeroizing<Vec<u8>>) {
        if mentions_sops(&bytes) {
            self.files.insert(
                path.to_path_buf(),
                Input {
                    dotenv: false,
                    whole: false,
                    bytes: Some(bytes),
                },
            );
        }
    }

    /// A file kustomize reads (by its real path inside the source). The first use names
    /// its format; `whole` adds up.
    pub(super) fn named(&mut self, path: PathBuf, dotenv: bool, whole: bool) {
        let input = self.files.entry(path).or_insert(Input {
            dotenv,
            whole,
            bytes: None,
        });
        input.whole |= whole;
    }
}

/// Whether `bytes` may be a SOPS file: the markers of every store (`sops`, `mac`,
/// `ENC[`). Cheaper than loading, and a file without them holds nothing to decrypt.
pub(crate) fn mentions_sops(bytes: &[u8]) -> bool {
    let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    has(b"sops") && has(b"mac") && has(b"ENC[")
}
