//! Building a kustomization with the external `kustomize`, the way `kubectl apply -k` does.
//!
//! The program is the first of: `kustomize` on `PATH`; `kustomize` in
//! `$LOCKSTEP_CACHE/bin` (default `~/.cache/lockstep/bin`, where
//! `scripts/install-testenv.sh` puts v5.7.1, the version kubectl 1.34 embeds); `kubectl
//! kustomize`. It runs as `kustomize build --load-restrictor LoadRestrictionsRootOnly DIR`
//! with plugins, exec functions and Helm off (kustomize's defaults), an empty environment
//! (no `git` on its `PATH`, and every HTTP proxy pointed at a closed local port), and is
//! killed after [`TIMEOUT`]. Before it runs, every `resources`/`bases`/`components` entry
//! of the kustomization and of the folders it names must be a file or folder inside the
//! source ([`walk`]): remote bases are never fetched, and one source cannot read another's
//! files.
//!
//! Kustomize's error messages can quote the input (an object dump, a literal that lacks
//! its `=`), so only its first line is kept, and [`sanitize`] removes everything in it
//! that could be data.

mod sanitize;
mod walk;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::{Manifest, RenderError, yaml};
use sanitize::sanitize;
pub(super) use walk::Walk;

/// How long one `kustomize build` may run.
pub const TIMEOUT: Duration = Duration::from_secs(60);

/// Where kustomize's HTTP requests go: a local port nothing listens on, so a remote
/// resource or patch URL fails instead of being fetched.
const NO_NETWORK_PROXY: &str = "http://127.0.0.1:9";

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
    let mut command = program().ok_or_else(|| RenderError::KustomizeMissing {
        path: relative.to_path_buf(),
    })?;
    command
        .args(["--load-restrictor", "LoadRestrictionsRootOnly"])
        .arg(dir)
        .env_clear()
        .env("PATH", "")
        .env("HOME", dir);
    for proxy in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
        command.env(proxy, NO_NETWORK_PROXY);
    }
    let output = run(command, TIMEOUT).map_err(|err| match err {
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

/// `kustomize build`, or `kubectl kustomize`, as found first.
fn program() -> Option<Command> {
    let on_path = |name: &str| {
        std::env::split_paths(&std::env::var_os("PATH")?)
            .map(|dir| dir.join(name))
            .find(|path| path.is_file())
    };
    let cache = std::env::var_os("LOCKSTEP_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache/lockstep")));
    let cached = cache
        .map(|c| c.join("bin/kustomize"))
        .filter(|p| p.is_file());
    if let Some(kustomize) = on_path("kustomize").or(cached) {
        let mut command = Command::new(kustomize);
        command.arg("build");
        return Some(command);
    }
    let mut command = Command::new(on_path("kubectl")?);
    command.arg("kustomize");
    Some(command)
}

struct Output {
    success: bool,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

enum RunError {
    Timeout,
    Io(std::io::Error),
}

/// Runs `command` to completion, or kills it after `timeout`.
fn run(mut command: Command, timeout: Duration) -> Result<Output, RunError> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(RunError::Io)?;
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_end(&mut bytes);
            }
            bytes
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let deadline = Instant::now() + timeout;
    // Polls from 1 ms, doubling to 20 ms: a 15 ms build is noticed within a few ms.
    let mut pause = Duration::from_millis(1);
    let status = loop {
        if let Some(status) = child.try_wait().map_err(RunError::Io)? {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(RunError::Timeout);
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(20));
    };
    Ok(Output {
        success: status.success(),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}
