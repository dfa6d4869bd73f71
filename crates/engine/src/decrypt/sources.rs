//! Finding the SOPS-encrypted files a render used.
//!
//! For a plain folder that is every `.yaml`/`.yml`/`.json` file under it (hidden ones
//! skipped, as render skips them). For a kustomization it is what kustomize reads, followed
//! through local `resources`, `bases` and `components`: those resource files, the patch
//! files (`patches[].path`, `patchesStrategicMerge`, `patchesJson6902[].path`) and the
//! `files`/`envs`/`env` sources of `secretGenerator` and `configMapGenerator`. Remote
//! entries and anything outside the artifact are not followed (render refuses them).
//!
//! A file counts as encrypted when it mentions SOPS (`sops`, `mac`, `ENC[`) and then loads
//! as a SOPS file with metadata; one that mentions SOPS but holds no metadata is left
//! alone. Any file here may be a tenant's, and render never parsed generator sources or
//! patches, so files are read and loaded within [`lockstep_limits::LIMITS`]: a file that
//! is too large, or does not load (bad syntax, an alias bomb), fails the render naming the
//! file and the line.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use lockstep_limits::LIMITS;
use lockstep_sops::{EncryptedFile, Format, LoadError};
use serde_json::Value;
use zeroize::Zeroizing;

use super::DecryptError;
use crate::render::KUSTOMIZATION_FILES;

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
    if has_kustomization(dir) {
        let mut seen = std::collections::HashSet::new();
        walk_kustomization(&root, dir, &mut seen, &mut candidates);
    } else {
        walk_folder(dir, &mut candidates)?;
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

fn has_kustomization(dir: &Path) -> bool {
    KUSTOMIZATION_FILES.iter().any(|f| dir.join(f).is_file())
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

fn walk_folder(dir: &Path, candidates: &mut Candidates) -> Result<(), DecryptError> {
    let read = std::fs::read_dir(dir).map_err(|source| DecryptError::Read {
        file: dir.to_path_buf(),
        source,
    })?;
    for entry in read.flatten() {
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            walk_folder(&path, candidates)?;
        } else if name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json") {
            let format = Format::from_path(&path);
            add(candidates, path, format, false);
        }
    }
    Ok(())
}

fn walk_kustomization(
    root: &Path,
    dir: &Path,
    seen: &mut std::collections::HashSet<PathBuf>,
    candidates: &mut Candidates,
) {
    let Ok(dir) = dir.canonicalize() else {
        return;
    };
    if !dir.starts_with(root) || !seen.insert(dir.clone()) {
        return;
    }
    let Some(text) = KUSTOMIZATION_FILES
        .iter()
        .find_map(|name| std::fs::read_to_string(dir.join(name)).ok())
    else {
        return;
    };
    // A kustomization that does not parse is kustomize's to report.
    let Ok(k) =
        serde_saphyr::from_str_with_options::<Value>(&text, lockstep_limits::yaml_options())
    else {
        return;
    };
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
    for field in ["resources", "bases", "components"] {
        for entry in strings(&k[field]).iter().filter(|e| local(e)) {
            let target = dir.join(entry);
            if target.is_dir() {
                walk_kustomization(root, &target, seen, candidates);
            } else {
                add(
                    candidates,
                    target.clone(),
                    Format::from_path(&target),
                    false,
                );
            }
        }
    }
    let mut patches = strings(&k["patchesStrategicMerge"]);
    for field in ["patches", "patchesJson6902"] {
        for patch in k[field].as_array().into_iter().flatten() {
            patches.extend(patch["path"].as_str().map(str::to_owned));
        }
    }
    for entry in patches.iter().filter(|e| local(e)) {
        let target = dir.join(entry);
        add(
            candidates,
            target.clone(),
            Format::from_path(&target),
            false,
        );
    }
    for field in ["secretGenerator", "configMapGenerator"] {
        for generator in k[field].as_array().into_iter().flatten() {
            for file in strings(&generator["files"]) {
                let path = file.split_once('=').map_or(file.as_str(), |(_, p)| p);
                let target = dir.join(path);
                add(candidates, target.clone(), Format::from_path(&target), true);
            }
            let mut envs = strings(&generator["envs"]);
            envs.extend(strings(&generator["env"]));
            for env in envs {
                add(candidates, dir.join(env), Format::Dotenv, false);
            }
        }
    }
}
