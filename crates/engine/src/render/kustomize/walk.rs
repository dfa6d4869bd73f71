//! The one walk over a kustomization and the local folders it builds from, before
//! kustomize runs: every `resources`/`bases`/`components` entry must be a file or folder
//! inside the source (remote ones are refused), and every file kustomize will read is
//! named in the render's [`Inputs`] — resource files, patch files (`patches[].path`,
//! `patchesStrategicMerge`, `patchesJson6902[].path`) and the `files`/`envs`/`env` sources
//! of `secretGenerator` and `configMapGenerator` — so the secrets stage decrypts them
//! without walking again.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use serde_json::Value;

use super::super::files::KUSTOMIZATION_FILES;
use super::super::{Inputs, RenderError};

/// One render's walk: the source, the folders walked (each kustomization is read and
/// parsed once per render, however many overlays name it) and what was found.
pub(in crate::render) struct Walk {
    /// The source, by its real path.
    root: PathBuf,
    seen: HashSet<PathBuf>,
    /// The files the render read or named.
    pub inputs: Inputs,
}

impl Walk {
    /// A walk inside `root` (its real path).
    pub fn new(root: &Path) -> Walk {
        Walk {
            root: root.to_path_buf(),
            seen: HashSet::new(),
            inputs: Inputs::new(root.to_path_buf()),
        }
    }

    /// The source, by its real path.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Walks the kustomization in `dir` (named `relative` in messages) and the folders it
    /// builds from.
    ///
    /// # Errors
    /// [`RenderError::KustomizeReference`] naming the entry and why.
    pub fn kustomization(&mut self, dir: &Path, relative: &Path) -> Result<(), RenderError> {
        let Ok(dir) = dir.canonicalize() else {
            return Ok(());
        };
        if !self.seen.insert(dir.clone()) {
            return Ok(());
        }
        let Some(text) = KUSTOMIZATION_FILES
            .iter()
            .find_map(|name| std::fs::read_to_string(dir.join(name)).ok())
        else {
            return Ok(());
        };
        // A kustomization that does not parse is left to kustomize to report.
        let Ok(kustomization) =
            serde_saphyr::from_str_with_options::<Value>(&text, lockstep_limits::yaml_options())
        else {
            return Ok(());
        };
        self.read_besides_resources(&dir, &kustomization);
        let refuse = |entry: &str, reason| RenderError::KustomizeReference {
            path: relative.to_path_buf(),
            entry: entry.to_owned(),
            reason,
        };
        let entries = ["resources", "bases", "components"]
            .iter()
            .filter_map(|field| kustomization[*field].as_array())
            .flatten()
            .filter_map(Value::as_str);
        for entry in entries {
            if entry.contains("://")
                || entry.starts_with("git@")
                || entry.starts_with("github.com/")
            {
                return Err(refuse(
                    entry,
                    "is remote; only paths inside the source are built",
                ));
            }
            let target = match self.inside(&dir, entry) {
                Ok(Some(target)) => target,
                Ok(None) => return Err(refuse(entry, "does not exist in the source")),
                Err(reason) => return Err(refuse(entry, reason)),
            };
            if target.is_dir() {
                let below = target
                    .strip_prefix(&self.root)
                    .unwrap_or(&target)
                    .join("kustomization.yaml");
                self.kustomization(&target, &below)?;
            } else {
                self.inputs.named(target, false, false);
            }
        }
        Ok(())
    }

    /// The real path of `entry` (relative to `dir`): `Ok(None)` when it does not exist,
    /// and the reason when it leaves the source. The one rule for what a kustomization
    /// may name.
    fn inside(&self, dir: &Path, entry: &str) -> Result<Option<PathBuf>, &'static str> {
        let lexical = normalize(&dir.join(entry));
        if !lexical.starts_with(&self.root) {
            return Err("leaves the source");
        }
        let Ok(target) = lexical.canonicalize() else {
            return Ok(None);
        };
        if !target.starts_with(&self.root) {
            return Err("leaves the source (through a symlink)");
        }
        Ok(Some(target))
    }

    /// Names the files a kustomization (in `dir`) reads besides its resources: patch
    /// files and generator sources. One that is missing or outside the source is left to
    /// kustomize to report (it loads only from inside the kustomization's folder).
    fn read_besides_resources(&mut self, dir: &Path, k: &Value) {
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
        // An inline patch is YAML text, not a path.
        let local = |entry: &str| !entry.contains("://") && !entry.contains('\n');
        let mut named = Vec::new();
        let mut patches = strings(&k["patchesStrategicMerge"]);
        for field in ["patches", "patchesJson6902"] {
            for patch in k[field].as_array().into_iter().flatten() {
                patches.extend(patch["path"].as_str().map(str::to_owned));
            }
        }
        named.extend(patches.into_iter().map(|p| (p, false, false)));
        for field in ["secretGenerator", "configMapGenerator"] {
            for generator in k[field].as_array().into_iter().flatten() {
                for file in strings(&generator["files"]) {
                    let path = file.split_once('=').map_or(file.as_str(), |(_, p)| p);
                    named.push((path.to_owned(), false, true));
                }
                let mut envs = strings(&generator["envs"]);
                envs.extend(strings(&generator["env"]));
                named.extend(envs.into_iter().map(|e| (e, true, false)));
            }
        }
        for (entry, dotenv, whole) in named.into_iter().filter(|(e, ..)| local(e)) {
            if let Ok(Some(path)) = self.inside(dir, &entry)
                && path.is_file()
            {
                self.inputs.named(path, dotenv, whole);
            }
        }
    }
}

/// `a/b/../c` → `a/c`, without touching the file system.
fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for component in path.components() {
        match component {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}
