//! Where servers write their logs: one folder per test under `target/testenv-logs/`.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::{Error, Result};

/// A folder of its own for one server instance of one test.
///
/// The folder is named after the test binary, the test (the test thread's name, which libtest sets to the
/// test's path) and the server, plus a counter so that two servers of one test never share
/// a folder. It is kept after the test, so a failure can be read afterwards; a new run of
/// the same test replaces it.
#[derive(Clone, Debug)]
pub struct LogDir {
    path: PathBuf,
}

impl LogDir {
    /// Creates (or empties) the folder for `server` in the current test.
    ///
    /// # Errors
    /// [`Error::Io`] when the folder cannot be created.
    pub fn for_server(server: &str) -> Result<Self> {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let test = std::thread::current()
            .name()
            .filter(|name| *name != "main")
            .unwrap_or("shared")
            .replace("::", "-");
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let binary = std::env::current_exe()
            .ok()
            .and_then(|exe| exe.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .map(|stem| without_hash(&stem).to_owned())
            .unwrap_or_default();
        let path = logs_root()
            .join(binary)
            .join(test)
            .join(format!("{server}-{n}"));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path)
            .map_err(Error::io(format!("creating {}", path.display())))?;
        Ok(Self { path })
    }

    /// The folder.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A file inside the folder.
    pub fn join(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

/// `target/testenv-logs`, found from the running test binary (`target/debug/deps/…`), or
/// `$CARGO_TARGET_DIR/testenv-logs`.
fn logs_root() -> PathBuf {
    if let Some(dir) = std::env::var_os("CARGO_TARGET_DIR") {
        return PathBuf::from(dir).join("testenv-logs");
    }
    let exe = std::env::current_exe().unwrap_or_default();
    exe.ancestors()
        .find(|dir| dir.file_name().is_some_and(|name| name == "target"))
        .map(|target| target.join("testenv-logs"))
        .unwrap_or_else(|| std::env::temp_dir().join("lockstep-testenv-logs"))
}

/// `smoke-499ff0e44c27499a` → `smoke`: cargo's hash changes with every build, and the
/// folder should be replaced by the next run of the same test, not pile up.
fn without_hash(stem: &str) -> &str {
    match stem.rsplit_once('-') {
        Some((name, hash)) if hash.len() == 16 && hash.bytes().all(|b| b.is_ascii_hexdigit()) => {
            name
        }
        _ => stem,
    }
}
