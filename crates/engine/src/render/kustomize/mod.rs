//! Building a kustomization with the external `kustomize`, the way `kubectl apply -k` does.
//!
//! The program is the first of: `kustomize` on `PATH` or in the cache (where
//! `scripts/install-testenv.sh` puts v5.7.1, the version kubectl 1.34 embeds); `kubectl
//! kustomize` ([`program`]). It runs as `kustomize build --load-restrictor
//! LoadRestrictionsRootOnly DIR` with plugins, exec functions and Helm off (kustomize's
//! defaults), sandboxed ([`program::sandboxed`]: no network, no `git`), and is killed
//! after [`TIMEOUT`]. Before it runs, every `resources`/`bases`/`components` entry of the
//! kustomization and of the folders it names must be a file or folder inside the source
//! ([`walk`]): remote bases are never fetched, and one source cannot read another's files.
//!
//! Kustomize's error messages can quote the input (an object dump, a literal that lacks
//! its `=`), so only its first line is kept, and [`sanitize`] removes everything in it
//! that could be data.

mod walk;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use super::program::{self, RunError};
use super::sanitize::sanitize;
use super::{Manifest, RenderError, yaml};
pub(super) use walk::Walk;

/// How long one `kustomize build` may run.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Builds the kustomization `file` (relative name `relative`) and appends its objects,
/// after `walk` checked what it names.
pub(super) fn build(
    walk: &mut Walk,
    file: &Path,
    relative: &Path,
    out: &mut Vec<Manifest>,
) -> Result<(), RenderError> {
    let root = walk.root().to_path_buf();
    let dir = file.parent().unwrap_or(&root);
    walk.kustomization(dir, relative)?;
    let mut command = kustomize(dir).ok_or_else(|| RenderError::KustomizeMissing {
        path: relative.to_path_buf(),
    })?;
    command
        .args(["--load-restrictor", "LoadRestrictionsRootOnly"])
        .arg(dir);
    let output = program::run(command, None, TIMEOUT).map_err(|err| match err {
        RunError::Timeout => RenderError::KustomizeTimeout {
            path: relative.to_path_buf(),
            after: TIMEOUT,
        },
        RunError::Io(source) => RenderError::Read {
            path: relative.to_path_buf(),
            source,
        },
    })?;
    if !output.success {
        let stderr = String::from_utf8_lossy(&output.stderr);
        return Err(RenderError::Kustomize {
            path: relative.to_path_buf(),
            reason: sanitize(stderr.lines().next().unwrap_or("no message"), &root),
        });
    }
    let stdout = String::from_utf8(output.stdout).map_err(|_| RenderError::Kustomize {
        path: relative.to_path_buf(),
        reason: "output is not UTF-8".into(),
    })?;
    yaml::parse_file(relative, &stdout, false, out)
}

/// `kustomize build`, or `kubectl kustomize`, as found first, sandboxed in `dir`.
fn kustomize(dir: &Path) -> Option<Command> {
    if let Some(kustomize) = program::find("kustomize") {
        let mut command = program::sandboxed(&kustomize, dir);
        command.arg("build");
        return Some(command);
    }
    let mut command = program::sandboxed(&program::on_path("kubectl")?, dir);
    command.arg("kustomize");
    Some(command)
}
