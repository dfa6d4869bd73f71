//! Writing a commit's tree out as a plain directory, minus ignored files, and keeping the
//! cache of such directories bounded.
//!
//! Ignore rules follow Flux's GitRepository: `.sourceignore` files anywhere in the tree
//! (each scoped to its folder, deeper ones winning) and the source's own `ignore` string
//! (gitignore syntax, winning over every file). Without an `ignore` string, Flux's default
//! exclusions apply as well (CI folders, images and archives, `.sops.yaml`, …); an
//! `ignore` string replaces them. An artifact's folder name includes a digest of the
//! `ignore` string, so two sources of one commit with different rules never share it.

use std::path::{Path, PathBuf};

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};

use super::BoxError;

/// The name of the per-folder ignore file, as in Flux.
const SOURCEIGNORE: &str = ".sourceignore";

/// Always left out: version-control files.
const VCS: &[&str] = &[".git/", ".gitignore", ".gitmodules", ".gitattributes"];

/// Left out unless the source has its own `ignore` (Flux's `sourceignore` defaults).
const DEFAULTS: &[&str] = &[
    "*.jpg",
    "*.jpeg",
    "*.gif",
    "*.png",
    "*.wmv",
    "*.flv",
    "*.tar.gz",
    "*.zip",
    ".github/",
    ".circleci/",
    ".travis.yml",
    ".gitlab-ci.yml",
    "appveyor.yml",
    ".drone.yml",
    "cloudbuild.yaml",
    "codeship-services.yml",
    "codeship-steps.yml",
    "**/.goreleaser.yml",
    "**/.sops.yaml",
    "**/.flux.yaml",
];

/// The cache folder name of `commit` written with `ignore`.
pub(super) fn key(commit: &str, ignore: Option<&str>) -> String {
    // Bump the prefix when what goes into an artifact changes, so old folders are not reused.
    let rules = match ignore {
        Some(rules) => format!("v1\0{rules}"),
        None => "v1\0defaults".to_owned(),
    };
    format!("{commit}-{:08x}", super::fnv1a(rules.as_bytes()) as u32)
}

/// Writes the blobs of `tree` under `dir`, leaving out what the rules ignore; symlinks
/// and submodules are skipped (a symlink could point outside the artifact).
pub(super) fn write(
    tree: &gix::Tree<'_>,
    dir: &Path,
    ignore: Option<&str>,
) -> Result<(), BoxError> {
    let mut base = GitignoreBuilder::new(dir);
    let defaults = if ignore.is_some() { &[][..] } else { DEFAULTS };
    for line in VCS.iter().chain(defaults) {
        base.add_line(None, line)?;
    }
    let mut spec = GitignoreBuilder::new(dir);
    for line in ignore.unwrap_or_default().lines() {
        spec.add_line(None, line)?;
    }
    let rules = Rules {
        base: base.build()?,
        spec: spec.build()?,
        files: Vec::new(),
    };
    write_dir(tree, dir, rules)
}

/// The matchers in force in one folder, lowest precedence first: the defaults, the
/// `.sourceignore` files from the root down to here, the source's `ignore`.
#[derive(Clone)]
struct Rules {
    base: Gitignore,
    spec: Gitignore,
    files: Vec<Gitignore>,
}

impl Rules {
    fn ignored(&self, path: &Path, is_dir: bool) -> bool {
        let matchers = std::iter::once(&self.spec)
            .chain(self.files.iter().rev())
            .chain(std::iter::once(&self.base));
        for matcher in matchers {
            match matcher.matched(path, is_dir) {
                Match::Ignore(_) => return true,
                Match::Whitelist(_) => return false,
                Match::None => {}
            }
        }
        false
    }
}

fn write_dir(tree: &gix::Tree<'_>, dir: &Path, mut rules: Rules) -> Result<(), BoxError> {
    std::fs::create_dir_all(dir)?;
    if let Some(entry) = tree.find_entry(SOURCEIGNORE)
        && entry.mode().is_blob()
    {
        let blob = entry.object()?;
        let mut builder = GitignoreBuilder::new(dir);
        for line in String::from_utf8_lossy(&blob.data).lines() {
            builder.add_line(None, line)?;
        }
        rules.files.push(builder.build()?);
    }
    for entry in tree.iter() {
        let entry = entry?;
        let name = entry.filename().to_string();
        if name.is_empty() || name == "." || name == ".." || name.contains('/') {
            continue;
        }
        let path = dir.join(&name);
        let mode = entry.mode();
        if rules.ignored(&path, mode.is_tree()) {
            continue;
        }
        if mode.is_tree() {
            let sub = entry.object()?.into_tree();
            write_dir(&sub, &path, rules.clone())?;
        } else if mode.is_blob() {
            let blob = entry.object()?;
            std::fs::write(&path, &blob.data)?;
        }
    }
    Ok(())
}

/// Keeps the `keep` most recently used artifacts (by modification time), never `current`.
pub(super) fn evict(artifacts: &Path, keep: usize, current: &Path) {
    let Ok(read) = std::fs::read_dir(artifacts) else {
        return;
    };
    let mut dirs: Vec<(std::time::SystemTime, PathBuf)> = read
        .filter_map(Result::ok)
        .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
        .filter_map(|e| Some((e.metadata().ok()?.modified().ok()?, e.path())))
        .collect();
    dirs.sort_by_key(|d| std::cmp::Reverse(d.0));
    for (_, path) in dirs.into_iter().skip(keep) {
        if path != current {
            let _ = std::fs::remove_dir_all(path);
        }
    }
}

/// Marks an artifact as recently used.
pub(super) fn touch(dir: &Path) {
    if let Ok(f) = std::fs::File::open(dir) {
        let _ = f.set_modified(std::time::SystemTime::now());
    }
}
