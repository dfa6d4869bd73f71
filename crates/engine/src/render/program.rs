//! The external programs render runs (`kustomize`, `helm`): found on `PATH` or in
//! `$LOCKSTEP_CACHE/bin` (default `~/.cache/lockstep/bin`, where
//! `scripts/install-testenv.sh` puts the pinned versions), run in an empty environment
//! (no `git` on their `PATH`, every HTTP proxy pointed at a closed local port, so nothing
//! is fetched) and killed after a timeout.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

/// Where a program's HTTP requests go: a local port nothing listens on, so a remote
/// resource, patch or chart URL fails instead of being fetched.
const NO_NETWORK_PROXY: &str = "http://127.0.0.1:9";

/// `name` on `PATH`.
pub(super) fn on_path(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// `name` on `PATH`, else in the cache's `bin`.
pub(super) fn find(name: &str) -> Option<PathBuf> {
    let cache = std::env::var_os("LOCKSTEP_CACHE")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| Path::new(&home).join(".cache/lockstep")));
    let cached = cache
        .map(|c| c.join("bin").join(name))
        .filter(|p| p.is_file());
    on_path(name).or(cached)
}

/// `program` with an empty environment: no `PATH`, `HOME` at `home`, no network.
pub(super) fn sandboxed(program: &Path, home: &Path) -> Command {
    let mut command = Command::new(program);
    command.env_clear().env("PATH", "").env("HOME", home);
    for proxy in ["HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"] {
        command.env(proxy, NO_NETWORK_PROXY);
    }
    command
}

/// What a finished program gave.
pub(super) struct Output {
    pub success: bool,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
}

/// Why a program gave no [`Output`].
pub(super) enum RunError {
    Timeout,
    Io(std::io::Error),
}

/// Runs `command` to completion with `stdin` on its standard input (through a pipe,
/// never a file), or kills it after `timeout`.
pub(super) fn run(
    mut command: Command,
    stdin: Option<Zeroizing<Vec<u8>>>,
    timeout: Duration,
) -> Result<Output, RunError> {
    let mut child = command
        .stdin(if stdin.is_some() {
            Stdio::piped()
        } else {
            Stdio::null()
        })
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(RunError::Io)?;
    // Written from a thread of its own: a program that writes before it has read all of
    // its input would otherwise block on a full pipe, and so would we.
    let feed = child.stdin.take().zip(stdin).map(|(mut pipe, bytes)| {
        std::thread::spawn(move || {
            // A program that exits early closes the pipe; its exit status says why.
            let _ = pipe.write_all(&bytes);
        })
    });
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
    if let Some(feed) = feed {
        let _ = feed.join();
    }
    Ok(Output {
        success: status.success(),
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    })
}
