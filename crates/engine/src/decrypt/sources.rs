//! Finding the SOPS-encrypted files a render used.
//!
//! The files are the ones render read ([`render::files`]): every manifest file, and for a
//! kustomization what kustomize reads, followed through local `resources`, `bases` and
//! `components` by render's own walk ([`kustomize::walk`], which refused remote entries and
//! anything outside the artifact): those resource files, the patch files
//! (`patches[].path`, `patchesStrategicMerge`, `patchesJson6902[].path`) and the
//! `files`/`envs`/`env` sources of `secretGenerator` and `configMapGenerator`.
//!
//! A file counts as encrypted when it mentions SOPS (`sops`, `mac`, `ENC[`) and then loads
//! as a SOPS file with metadata; one that mentions SOPS but holds no metadata is left
//! alone. Any file here may be a tenant's, and render never parsed generator sources or
//! patches, so files are read and loaded within [`lockstep_limits::LIMITS`]: a file that
//! is too large, or does not load (bad syntax, an alias bomb), fails the render naming the
//! file and the line.

use std::collections::{BTreeMap, HashSet};
use std::path::{Path, PathBuf};

use lockstep_limits::LIMITS;
use lockstep_sops::{EncryptedFile, Format, LoadError};
use serde_json::Value;
use zeroize::Zeroizing;

use super::DecryptError;
use crate::render::kustomize::{self, Visit};
use crate::render::{self, RenderError, is_kustomization};

/// An encrypted file to decrypt.
pub(super) struct Source {
    /// Its name relative to the artifact root, for messages.
    pub shown: PathBuf,
    /// The SOPS store to read it with.
    pub format: Format,
    /// Whether a generator reads it whole (`files:`), so its decrypted bytes are needed.
    pub whole: bool,
    /// Its bytes, as on disk (the MAC is verified on these).
    pub bytes: Zeroizing<Vec<u8>>,
    /// The file as loaded from `bytes`.
    pub encrypted: EncryptedFile,
}

/// The encrypted sources of rendering `dir` (inside `root`).
pub(super) fn find(root: &Path, dir: &Path) -> Result<Vec<Source>, DecryptError> {
    let root = root.canonicalize().map_err(|source| DecryptError::Read {
        file: PathBuf::from("."),
        source,
    })?;
    let mut candidates = BTreeMap::new();
    // Render warned about the entries it skipped already.
    let files = render::files(dir)
        .map_err(|err| match err {
            RenderError::Read { path, source } => DecryptError::Read { file: path, source },
            other => DecryptError::Read {
                file: dir.to_path_buf(),
                source: std::io::Error::other(other.to_string()),
            },
        })?
        .files;
    let mut seen = HashSet::new();
    for file in files {
        if !is_kustomization(&file) {
            let format = Format::from_path(&file);
            add(&mut candidates, file, format, false);
            continue;
        }
        let kustomization_dir = file.parent().unwrap_or(dir);
        let relative = file.strip_prefix(&root).unwrap_or(&file);
        // Render walked the same kustomizations and accepted every reference.
        kustomize::walk(
            &root,
            kustomization_dir,
            relative,
            &mut seen,
            &mut |visit| match visit {
                Visit::Kustomization(dir, k) => kustomization_files(dir, k, &mut candidates),
                Visit::Resource(path) => {
                    add(
                        &mut candidates,
                        path.to_path_buf(),
                        Format::from_path(path),
                        false,
                    );
                }
            },
        )
        .map_err(|err| DecryptError::Read {
            file: relative.to_path_buf(),
            source: std::io::Error::other(err.to_string()),
        })?;
    }
    let mut sources = Vec::new();
    for (path, (format, whole)) in candidates {
        if !path.starts_with(&root) || !path.is_file() {
            continue;
        }
        let shown = path.strip_prefix(&root).unwrap_or(&path).to_path_buf();
        let bytes =
            lockstep_limits::read_file(&path, LIMITS.max_input_bytes).map_err(|source| {
                DecryptError::Read {
                    file: shown.clone(),
                    source: source.into(),
                }
            })?;
        if !looks_encrypted(&bytes) {
            continue;
        }
        let encrypted = match EncryptedFile::load(&bytes, format) {
            Ok(encrypted) => encrypted,
            Err(LoadError::NoMetadata) => continue,
            Err(source) => {
                return Err(DecryptError::Load {
                    file: shown,
                    source,
                });
            }
        };
        sources.push(Source {
            shown,
            format,
            whole,
            bytes,
            encrypted,
        });
    }
    Ok(sources)
}

/// The SOPS MAC marker in any store (`mac:`, `"mac":`, `sops_mac=`, `[sops] mac =`).
fn looks_encrypted(bytes: &[u8]) -> bool {
    let has = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
    has(b"sops") && has(b"mac") && has(b"ENC[")
}

type Candidates = BTreeMap<PathBuf, (Format, bool)>;

/// Records `path` (if it exists; kustomize reports missing files) under its real name, so
/// a file reached twice is decrypted once.
fn add(candidates: &mut Candidates, path: PathBuf, format: Format, whole: bool) {
    let Ok(path) = path.canonicalize() else {
        return;
    };
    let entry = candidates.entry(path).or_insert((format, whole));
    entry.1 |= whole;
}

/// The files a kustomization (in `dir`) reads besides its resources: patch files
/// (`patches[].path`, `patchesStrategicMerge`, `patchesJson6902[].path`) and the
/// `files`/`envs`/`env` sources of its generators.
fn kustomization_files(dir: &Path, k: &Value, candidates: &mut Candidates) {
    let strings = |v: &Value| -> Vec<String> {
        match v {
            Value::Array(items) => items
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect(),
            Value::String(s) => vec![s.clone()],
            _ => Vec::new(),
        }
    };
    let local = |entry: &str| !entry.contains("://") && !entry.contains('\n');
    let mut patches = strings(&k["patchesStrategicMerge"]);
    for field in ["patches", "patchesJson6902"] {
        for patch in k[field].as_array().into_iter().flatten() {
            patches.extend(patch["path"].as_str().map(str::to_owned));
        }
    }
    for entry in patches.iter().filter(|e| local(e)) {
        let target = dir.join(entry);
        let format = Format::from_path(&target);
        add(candidates, target, format, false);
    }
    for field in ["secretGenerator", "configMapGenerator"] {
        for generator in k[field].as_array().into_iter().flatten() {
            for file in strings(&generator["files"]) {
                let path = file.split_once('=').map_or(file.as_str(), |(_, p)| p);
                let target = dir.join(path);
                let format = Format::from_path(&target);
                add(candidates, target, format, true);
            }
            let mut envs = strings(&generator["envs"]);
            envs.extend(strings(&generator["env"]));
            for env in envs {
                add(candidates, dir.join(env), Format::Dotenv, false);
            }
        }
    }
}
