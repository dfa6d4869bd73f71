//! Which files render reads: the one rule for what a path names, the one list of
//! kustomization file names, and the listing of a folder.

use std::path::{Component, Path, PathBuf};

use super::RenderError;

/// The folder or manifest file `path` names under `root` (the source, by its real path):
/// refused when `path` is absolute or climbs out with `..`, when its real path leaves
/// `root` through a symlink, or when it does not exist. What a Sync or `lockstep apply
/// --path` names is found this way only.
///
/// # Errors
/// [`RenderError::InvalidPath`].
pub(super) fn target(root: &Path, path: &str) -> Result<Target, RenderError> {
    let invalid = |reason| RenderError::InvalidPath {
        path: path.to_owned(),
        reason,
    };
    let found = secure_join(root, path)?
        .canonicalize()
        .map_err(|_| invalid("no such file or folder in the source"))?;
    if !found.starts_with(root) {
        return Err(invalid("leaves the source (through a symlink)"));
    }
    if found.is_dir() {
        return Ok(Target::Folder(found));
    }
    let manifest = found
        .extension()
        .is_some_and(|e| e == "yaml" || e == "yml" || e == "json");
    if found.is_file() && (manifest || is_kustomization(&found)) {
        return Ok(Target::File(found));
    }
    Err(invalid(
        "neither a folder nor a manifest file (.yaml, .yml, .json)",
    ))
}

/// What a path names in the source, by its real path.
pub(super) enum Target {
    /// A folder: its manifests, or its kustomization.
    Folder(PathBuf),
    /// One manifest file (or kustomization), as `kubectl apply -f FILE` takes it.
    File(PathBuf),
}

/// `root/path`, refusing a `path` that is absolute or climbs out with `..`.
fn secure_join(root: &Path, path: &str) -> Result<PathBuf, RenderError> {
    let relative = Path::new(path);
    let mut out = root.to_path_buf();
    for component in relative.components() {
        match component {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::RootDir if path.starts_with("./") || path == "/" => {}
            _ => {
                return Err(RenderError::InvalidPath {
                    path: path.to_owned(),
                    reason: "must be relative and stay inside the source",
                });
            }
        }
    }
    Ok(out)
}

/// The file names kustomize accepts for a kustomization.
pub(super) const KUSTOMIZATION_FILES: [&str; 3] =
    ["kustomization.yaml", "kustomization.yml", "Kustomization"];

pub(super) fn is_kustomization(file: &Path) -> bool {
    file.file_name()
        .is_some_and(|name| KUSTOMIZATION_FILES.iter().any(|k| name == *k))
}

/// The files render reads under a folder, and what it skipped.
pub(super) struct Listing {
    /// Manifests, and in place of a folder with a kustomization that kustomization
    /// (kustomize decides what belongs to its build; see [`super::kustomize`]), sorted.
    pub files: Vec<PathBuf>,
    /// Entries that are neither regular files nor folders (symlinks, devices), relative to
    /// the folder, with what they are: never followed.
    pub skipped: Vec<(PathBuf, &'static str)>,
}

/// The [`Listing`] of `dir`.
///
/// # Errors
/// [`RenderError::Read`] when a folder cannot be listed.
pub(super) fn files(dir: &Path) -> Result<Listing, RenderError> {
    let mut listing = Listing {
        files: Vec::new(),
        skipped: Vec::new(),
    };
    collect(dir, dir, &mut listing)?;
    listing.files.sort();
    Ok(listing)
}

/// The files to read under `dir`, or its kustomization when it has one (then nothing
/// below it is read directly: kustomize decides what belongs to the build).
/// `base` is the listed folder, which skipped entries are named from.
fn collect(base: &Path, dir: &Path, listing: &mut Listing) -> Result<(), RenderError> {
    if let Some(kustomization) = KUSTOMIZATION_FILES
        .iter()
        .map(|name| dir.join(name))
        .find(|path| path.is_file())
    {
        listing.files.push(kustomization);
        return Ok(());
    }
    let read = std::fs::read_dir(dir).map_err(|source| RenderError::Read {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in read {
        let entry = entry.map_err(|source| RenderError::Read {
            path: dir.to_path_buf(),
            source,
        })?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') {
            continue;
        }
        let path = entry.path();
        let kind = entry.file_type().map_err(|source| RenderError::Read {
            path: path.clone(),
            source,
        })?;
        if kind.is_dir() {
            collect(base, &path, listing)?;
        } else if kind.is_file() {
            if name.ends_with(".yaml") || name.ends_with(".yml") || name.ends_with(".json") {
                listing.files.push(path);
            }
        } else {
            // Never followed: a link could point out of the source (/etc/shadow), at a device
            // (/dev/zero) or at itself.
            let what = if kind.is_symlink() {
                "a symlink"
            } else {
                "not a regular file"
            };
            let shown = path.strip_prefix(base).unwrap_or(&path).to_path_buf();
            listing.skipped.push((shown, what));
        }
    }
    Ok(())
}

/// Which files of a folder are read, as Argo CD's `source.directory` chooses them: the
/// top folder only unless `recurse`, and by `include`/`exclude` globs over the path below
/// the folder (where `*` matches `/` too, `{a,b}` either).
pub(super) struct Filter {
    recurse: bool,
    include: Option<globset::GlobMatcher>,
    exclude: Option<globset::GlobMatcher>,
}

impl Filter {
    /// The filter `directory` describes.
    ///
    /// # Errors
    /// [`RenderError::InvalidPath`] naming a glob that does not parse.
    pub(super) fn new(directory: &lockstep_api::Directory) -> Result<Self, RenderError> {
        let glob = |pattern: &Option<String>| {
            pattern
                .as_deref()
                .map(|pattern| {
                    globset::Glob::new(pattern)
                        .map(|glob| glob.compile_matcher())
                        .map_err(|_| RenderError::InvalidPath {
                            path: pattern.to_owned(),
                            reason: "is not a glob of directory.include or directory.exclude",
                        })
                })
                .transpose()
        };
        Ok(Self {
            recurse: directory.recurse,
            include: glob(&directory.include)?,
            exclude: glob(&directory.exclude)?,
        })
    }

    /// Keeps in `files` (paths under `dir`) those the filter reads.
    pub(super) fn apply(&self, dir: &Path, files: &mut Vec<PathBuf>) {
        files.retain(|file| {
            let relative = file.strip_prefix(dir).unwrap_or(file);
            (self.recurse || relative.components().count() == 1)
                && !self.exclude.as_ref().is_some_and(|g| g.is_match(relative))
                && self.include.as_ref().is_none_or(|g| g.is_match(relative))
        });
    }
}
