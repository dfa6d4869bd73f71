//! Finding what to rotate: every SOPS-encrypted file (any format) and every SealedSecret
//! manifest under the given paths, walking with ripgrep's `ignore` crate so `.gitignore`,
//! `.ignore` and `.git/info/exclude` are honoured and hidden entries (`.git`, our own
//! `.lockstep-*` temporary files) are skipped.

use std::path::{Path, PathBuf};

use lockstep_sops::Format;

/// Files larger than this are not secrets files; they are not read.
const MAX_SIZE: u64 = 16 << 20;

/// What a found file is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A SOPS-encrypted file, read and written in this format.
    Sops(Format),
    /// One or more SealedSecrets (YAML stream or JSON).
    Sealed,
}

/// A file to rotate, with the bytes it had when it was found: the rotation works from
/// these, so a file is only ever replaced by a rotation of what was read.
pub struct Found {
    /// Its path.
    pub path: PathBuf,
    /// What it is.
    pub kind: Kind,
    /// Its content.
    pub bytes: Vec<u8>,
}

/// Walks `roots` and returns what to rotate, sorted by path, and the paths that could not
/// be read with why.
pub fn discover(roots: &[PathBuf]) -> (Vec<Found>, Vec<(PathBuf, String)>) {
    let mut found = Vec::new();
    let mut errors = Vec::new();
    let Some((first, rest)) = roots.split_first() else {
        return (found, errors);
    };
    let mut walk = ignore::WalkBuilder::new(first);
    for root in rest {
        walk.add(root);
    }
    // Honour .gitignore also outside a Git work tree (a copy of a repository, a subfolder).
    walk.require_git(false).follow_links(false);
    for entry in walk.build() {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                errors.push((PathBuf::new(), e.to_string()));
                continue;
            }
        };
        if !entry.file_type().is_some_and(|t| t.is_file()) {
            continue;
        }
        let path = entry.into_path();
        if std::fs::metadata(&path).is_ok_and(|m| m.len() > MAX_SIZE) {
            continue;
        }
        match std::fs::read(&path) {
            Ok(bytes) => {
                if let Some(kind) = classify(&path, &bytes) {
                    found.push(Found { path, kind, bytes });
                }
            }
            Err(e) => errors.push((path, e.to_string())),
        }
    }
    found.sort_by(|a, b| a.path.cmp(&b.path));
    found.dedup_by(|a, b| a.path == b.path);
    (found, errors)
}

/// What `bytes` (read from `path`) is, if anything we rotate.
pub fn classify(path: &Path, bytes: &[u8]) -> Option<Kind> {
    let format = Format::from_path(path);
    let manifest = matches!(format, Format::Yaml | Format::Json);
    if manifest
        && contains(bytes, b"SealedSecret")
        && lockstep_sealed::parse_sealed_secrets(bytes).is_ok()
    {
        return Some(Kind::Sealed);
    }
    // Every SOPS format stores its metadata under a name containing "sops" (`sops:`,
    // `sops_mac=`, `[sops]`); checking for it first keeps other files from being parsed.
    (contains(bytes, b"sops") && lockstep_sops::file::is_encrypted(bytes, format).unwrap_or(false))
        .then_some(Kind::Sops(format))
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_files_are_not_rotated() {
        assert_eq!(classify(Path::new("a.yaml"), b"sops: is a word\n"), None);
        assert_eq!(classify(Path::new("a.bin"), b"\x00\x01sops"), None);
        assert_eq!(
            classify(
                Path::new("s.yaml"),
                b"apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: SealedSecret\n"
            ),
            None
        );
    }

    #[test]
    fn sealed_secrets_are_found() {
        let doc = b"apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: a\n  namespace: b\nspec:\n  encryptedData:\n    x: AAAA\n";
        assert_eq!(classify(Path::new("s.yaml"), doc), Some(Kind::Sealed));
        assert_eq!(classify(Path::new("s.txt"), doc), None);
    }

    #[test]
    fn walk_honours_gitignore_without_git() {
        let dir = tempfile::tempdir().unwrap();
        let doc = "apiVersion: bitnami.com/v1alpha1\nkind: SealedSecret\nmetadata:\n  name: a\nspec:\n  encryptedData:\n    x: AAAA\n";
        std::fs::write(dir.path().join(".gitignore"), "ignored/\n").unwrap();
        std::fs::create_dir(dir.path().join("ignored")).unwrap();
        std::fs::write(dir.path().join("ignored/s.yaml"), doc).unwrap();
        std::fs::write(dir.path().join("s.yaml"), doc).unwrap();
        std::fs::write(dir.path().join(".lockstep-tmp.yaml"), doc).unwrap();
        let (found, errors) = discover(&[dir.path().to_owned()]);
        assert!(errors.is_empty());
        let names: Vec<_> = found.iter().map(|f| f.path.clone()).collect();
        assert_eq!(names, vec![dir.path().join("s.yaml")]);
    }
}
