//! Running one server process so that it can never outlive the test that started it.
//!
//! Each server runs under a small `sh` supervisor in a process group of its own. The
//! supervisor holds the read end of a pipe whose write end only the test process holds;
//! when that end closes — because the [`Process`] was dropped, or because the test process
//! died, even from a panic or a signal — the supervisor sends the server SIGTERM. Drop then
//! waits briefly and kills whatever is left of the group. This needs no `unsafe` (no
//! `prctl`), and unlike `PR_SET_PDEATHSIG` it does not fire when the *thread* that spawned
//! the server ends, which matters for a control plane shared by many test threads.

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use crate::{Error, LogDir, Result};

/// The supervisor: start the server with stdin from /dev/null, wait for EOF on our stdin
/// (fd 3 inside, since a background job's own stdin is /dev/null), then stop the server.
const SUPERVISOR: &str = r#"
exec 3<&0
"$@" </dev/null 3<&- &
server=$!
echo "$server" >"$LOCKSTEP_PIDFILE"
{ cat <&3 >/dev/null; kill -TERM "$server" 2>/dev/null; } &
wait "$server"
"#;

/// A running program (a server, or a binary under test) and its log.
#[derive(Debug)]
pub struct Process {
    name: String,
    child: Child,
    lifeline: Option<ChildStdin>,
    log: PathBuf,
    pidfile: PathBuf,
}

impl Process {
    /// Starts `program` with `args` and extra `env`, in `logs` as its working directory,
    /// its stdout and stderr written to `<logs>/<name>.log`.
    ///
    /// # Errors
    /// [`Error::Io`] when the log cannot be created or the program not started.
    pub fn start(
        name: &str,
        program: &Path,
        args: &[String],
        env: &[(&str, &Path)],
        logs: &LogDir,
    ) -> Result<Self> {
        let log = logs.join(&format!("{name}.log"));
        let out = File::create(&log).map_err(Error::io(format!("creating {}", log.display())))?;
        let err = out
            .try_clone()
            .map_err(Error::io("duplicating log handle"))?;
        let pidfile = logs.join(&format!("{name}.pid"));
        let mut command = Command::new("sh");
        command
            .arg("-c")
            .arg(SUPERVISOR)
            .arg("supervisor")
            .arg(program)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(out)
            .stderr(err)
            .current_dir(logs.path())
            .env("LOCKSTEP_PIDFILE", &pidfile)
            .process_group(0);
        for (key, value) in env {
            command.env(key, value);
        }
        let mut child = command
            .spawn()
            .map_err(Error::io(format!("starting {}", program.display())))?;
        let lifeline = child.stdin.take();
        Ok(Self {
            name: name.to_owned(),
            child,
            lifeline,
            log,
            pidfile,
        })
    }

    /// The program's log file.
    pub fn log(&self) -> &Path {
        &self.log
    }

    /// The program's own process id (not its supervisor's), once it has started.
    pub fn pid(&self) -> Option<u32> {
        std::fs::read_to_string(&self.pidfile)
            .ok()
            .and_then(|pid| pid.trim().parse().ok())
    }

    /// Sends `signal` (e.g. `"USR1"`) to the program itself, not its supervisor.
    ///
    /// # Errors
    /// [`Error::Setup`] when the program's pid is unknown or `kill` fails.
    pub fn signal(&self, signal: &str) -> Result<()> {
        let pid = std::fs::read_to_string(&self.pidfile).unwrap_or_default();
        let status = Command::new("kill")
            .arg(format!("-{signal}"))
            .arg(pid.trim())
            .status()
            .map_err(Error::io("running kill"))?;
        if status.success() {
            Ok(())
        } else {
            Err(Error::Setup {
                step: format!("sending SIG{signal} to {}", self.name),
                detail: format!("kill exited with {status}"),
            })
        }
    }

    /// Polls `ready` until it returns `true`, failing when the program exits or `timeout`
    /// passes. The error names the log file and quotes its last lines.
    ///
    /// # Errors
    /// [`Error::NotReady`].
    pub async fn wait_ready<F, Fut>(&mut self, timeout: Duration, mut ready: F) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = bool>,
    {
        let deadline = Instant::now() + timeout;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(self.not_ready(format!("exited with {status}")));
            }
            if ready().await {
                return Ok(());
            }
            if Instant::now() > deadline {
                return Err(self.not_ready(format!("no answer after {timeout:?}")));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    fn not_ready(&self, reason: String) -> Error {
        let tail = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = tail.lines().rev().take(15).collect();
        let tail: Vec<&str> = lines.into_iter().rev().collect();
        Error::NotReady {
            server: self.name.clone(),
            reason: format!("{reason}; last lines:\n{}", tail.join("\n")),
            log: self.log.clone(),
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        // Closing the lifeline makes the supervisor stop the server gracefully.
        drop(self.lifeline.take());
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        // Whatever is left of the group (a server ignoring SIGTERM, the pipe watcher).
        let group = format!("-{}", self.child.id());
        let _ = Command::new("kill")
            .args(["-KILL", "--", &group])
            .stderr(Stdio::null())
            .status();
        let _ = self.child.wait();
    }
}

/// A free TCP port on 127.0.0.1 for a server to listen on.
///
/// The ports come from below the kernel's ephemeral range: a port the kernel hands out for
/// `bind(0)` can be taken again, before the server binds it, by any outgoing connection of
/// any process (a CI run failed that way: kube-apiserver found its port in use). Below the
/// ephemeral range only another listener can clash, so each port is checked free, and a
/// process-wide cursor, started at a place that differs per process, never hands the same
/// port out twice.
///
/// # Errors
/// [`Error::Io`] when no port can be bound.
pub fn free_port() -> Result<u16> {
    free_ports(1)
}

/// The first of `count` consecutive free ports, for a server that also listens on the
/// ports after the one it is given (OpenBao's dev server takes the next one for its cluster
/// listener). See [`free_port`].
///
/// # Errors
/// [`Error::Io`] when no such ports can be bound.
pub fn free_ports(count: u16) -> Result<u16> {
    use std::sync::atomic::{AtomicU32, Ordering};
    static CURSOR: AtomicU32 = AtomicU32::new(u32::MAX);

    let (low, high) = listen_range();
    let span = u32::from(high - low - count);
    let start = std::process::id().wrapping_mul(7919)
        ^ std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.subsec_nanos());
    let _ = CURSOR.compare_exchange(u32::MAX, start % span, Ordering::Relaxed, Ordering::Relaxed);
    let free = |port: u16| std::net::TcpListener::bind(("127.0.0.1", port)).is_ok();
    for _ in 0..span {
        let offset = CURSOR.fetch_add(u32::from(count), Ordering::Relaxed) % span;
        let first = low + u16::try_from(offset).unwrap_or(0);
        if (first..first + count).all(free) {
            return Ok(first);
        }
    }
    Err(Error::io("finding a free port")(std::io::Error::new(
        std::io::ErrorKind::AddrInUse,
        format!("no {count} consecutive free ports between {low} and {high}"),
    )))
}

/// Ports from 20000 up to 30000, or to the start of the kernel's ephemeral range if that
/// is lower: above the fixed ports of Kubernetes' own servers (kubelet 10250, the
/// controller manager 10257, …) and below Services' NodePort range (30000–32767).
fn listen_range() -> (u16, u16) {
    const LOW: u16 = 20_000;
    const HIGH: u16 = 30_000;
    let ephemeral_start = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
        .ok()
        .and_then(|range| range.split_whitespace().next()?.parse::<u16>().ok())
        .unwrap_or(32_768);
    (LOW, ephemeral_start.clamp(LOW + 1_000, HIGH))
}
