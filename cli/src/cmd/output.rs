//! Where a command writes: a file replaced atomically (never half-written, permissions
//! kept), stdout, or a new private file. `seal`, `keys backup`, `rotate`, `age-keygen` and
//! the SOPS verbs write through it.

use std::io::Write as _;
use std::path::Path;

use anyhow::Context as _;

use crate::cmd::report::{Code, Coded, Hint, hints};

/// How a listing command (`get`, `history`, `keys list`) prints: `-o table|json|yaml`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Listing {
    /// Aligned columns, as `flux get` and `kubectl get` print them.
    Table,
    /// A JSON list.
    Json,
    /// YAML.
    Yaml,
}

/// Where to write: in place, to a file, or to stdout.
pub enum Output<'a> {
    /// Replace this file atomically, keeping its permissions.
    InPlace(&'a Path),
    /// Write this file (atomically).
    File(&'a Path),
    /// Standard output.
    Stdout,
}

impl<'a> Output<'a> {
    /// From `-i`, `--output` and the input path; both flags together are exit 8, `-i` on
    /// stdin too.
    pub fn choose(
        in_place: bool,
        output: Option<&'a Path>,
        input: Option<&'a Path>,
    ) -> anyhow::Result<Output<'a>> {
        match (in_place, output, input) {
            (true, Some(_), _) => Err(Coded::new(
                Code::ConflictingParameters,
                "cannot operate on both --output and --in-place",
            )
            .hint(hints::CONFLICTING_FLAGS)
            .into()),
            (true, None, None) => Err(Coded::new(
                Code::ConflictingParameters,
                "cannot use --in-place when reading from stdin",
            )
            .hint(Hint::new(
                "name the file to change in place, or drop --in-place",
            ))
            .into()),
            (true, None, Some(p)) => Ok(Output::InPlace(p)),
            (false, Some(p), _) => Ok(Output::File(p)),
            (false, None, _) => Ok(Output::Stdout),
        }
    }

    /// Writes `bytes`; nothing is left behind on failure.
    pub fn write(&self, bytes: &[u8]) -> anyhow::Result<()> {
        match self {
            Output::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(bytes)?;
                out.flush()?;
                Ok(())
            }
            Output::InPlace(p) | Output::File(p) => write_atomic(p, bytes),
        }
    }
}

/// Writes `path` through a temporary file in the same directory and a rename, keeping the
/// permissions of an existing file (a new file gets 0644, as sops' `os.Create` under the
/// usual umask).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let fail = |e: std::io::Error| {
        anyhow::Error::new(e).context(Coded::new(
            Code::CannotWriteOutput,
            format!("could not write {}", path.display()),
        ))
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".lockstep-")
        .tempfile_in(dir)
        .map_err(fail)?;
    tmp.write_all(bytes).map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    if let Ok(meta) = std::fs::metadata(path) {
        std::fs::set_permissions(tmp.path(), meta.permissions()).map_err(fail)?;
    } else {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
                .map_err(fail)?;
        }
    }
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

/// Writes `bytes` to a new file only the user can read (0600), refusing to replace one:
/// an age identity, or plaintext handed to another program (`edit`, `exec-file
/// --no-fifo`).
pub fn private_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
    let mut file = opts
        .open(path)
        .with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes)
        .with_context(|| format!("cannot write {}", path.display()))
}
