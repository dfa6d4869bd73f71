//! Git repositories for tests: bare repositories served by `git daemon` over `git://`,
//! reachable as `file://` too, and a work tree beside each to commit and push from.
//!
//! Every git command runs with the user's and the system's git configuration ignored and a
//! fixed identity, so a test behaves the same on every machine.

use std::net::{IpAddr, Ipv4Addr};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::process::{Process, free_port};
use crate::{Error, LogDir, Result, tool};

/// A running `git daemon` serving the bare repositories under its root, with push allowed.
#[derive(Debug)]
pub struct GitServer {
    root: PathBuf,
    host: IpAddr,
    port: u16,
    server: Option<Process>,
}

impl GitServer {
    /// Starts `git daemon` on a free loopback port, serving a new empty root folder.
    ///
    /// # Errors
    /// [`Error::NotInstalled`] without `git`; [`Error::NotReady`] if it does not listen.
    pub async fn start() -> Result<Self> {
        Self::start_on(Ipv4Addr::LOCALHOST.into()).await
    }

    /// [`Self::start`], listening on `host`: a test node's
    /// [`host_address`](crate::Node::host_address), for Pods to fetch from.
    ///
    /// # Errors
    /// As [`Self::start`].
    pub async fn start_on(host: IpAddr) -> Result<Self> {
        let logs = LogDir::for_server("git-daemon")?;
        let root = logs.join("repos");
        std::fs::create_dir_all(&root).map_err(Error::io("creating the git root"))?;
        let port = free_port()?;
        let server = spawn_daemon(&root, host, port, &logs).await?;
        Ok(Self {
            root,
            host,
            port,
            server: Some(server),
        })
    }

    /// Stops the daemon, keeping the repositories: for tests of a Git server going away.
    /// [`Self::restart`] brings it back on the same port.
    pub fn stop(&mut self) {
        self.server = None;
    }

    /// Starts the daemon again after [`Self::stop`], on the same port and root.
    ///
    /// # Errors
    /// As [`Self::start`].
    pub async fn restart(&mut self) -> Result<()> {
        let logs = LogDir::for_server("git-daemon")?;
        self.server = Some(spawn_daemon(&self.root, self.host, self.port, &logs).await?);
        Ok(())
    }

    /// Creates the bare repository `<name>.git` with one commit holding the files of
    /// `from` (or an empty commit), and returns it with its `git://` URL.
    ///
    /// # Errors
    /// [`Error::Setup`] when a git command fails.
    pub fn create_repo(&self, name: &str, from: Option<&Path>) -> Result<GitRepo> {
        let mut repo = GitRepo::create(&self.root, name, from)?;
        repo.git_url = Some(format!("git://{}:{}/{name}.git", self.host, self.port));
        Ok(repo)
    }
}

/// A bare repository and a work tree that pushes to it.
#[derive(Debug)]
pub struct GitRepo {
    bare: PathBuf,
    work: PathBuf,
    git_url: Option<String>,
}

impl GitRepo {
    /// Creates `<root>/<name>.git` (bare, branch `main`) and `<root>/<name>.work`, commits
    /// the files of `from` (copied) or an empty commit, and pushes. For `file://` tests; a
    /// [`GitServer`] makes the same kind of repository with a `git://` URL.
    ///
    /// # Errors
    /// [`Error::Setup`] when a git command fails, [`Error::Io`] when copying fails.
    pub fn create(root: &Path, name: &str, from: Option<&Path>) -> Result<Self> {
        let bare = root.join(format!("{name}.git"));
        let work = root.join(format!("{name}.work"));
        run_git(
            root,
            &[
                "init",
                "--quiet",
                "--bare",
                "--initial-branch=main",
                &path_arg(&bare),
            ],
        )?;
        run_git(
            root,
            &["init", "--quiet", "--initial-branch=main", &path_arg(&work)],
        )?;
        run_git(&work, &["remote", "add", "origin", &path_arg(&bare)])?;
        if let Some(from) = from {
            copy_dir(from, &work)?;
        }
        let repo = Self {
            bare,
            work,
            git_url: None,
        };
        repo.commit("initial commit")?;
        Ok(repo)
    }

    /// `git://127.0.0.1:<port>/<name>.git` when served by a [`GitServer`].
    pub fn git_url(&self) -> Option<&str> {
        self.git_url.as_deref()
    }

    /// `file://` URL of the bare repository.
    pub fn file_url(&self) -> String {
        format!("file://{}", self.bare.display())
    }

    /// The work tree to change files in before [`Self::commit`].
    pub fn work_tree(&self) -> &Path {
        &self.work
    }

    /// Writes `contents` to `path` (relative to the work tree), creating folders.
    ///
    /// # Errors
    /// [`Error::Io`] when the file cannot be written.
    pub fn write(&self, path: &str, contents: impl AsRef<[u8]>) -> Result<()> {
        let file = self.work.join(path);
        if let Some(parent) = file.parent() {
            std::fs::create_dir_all(parent)
                .map_err(Error::io(format!("creating {}", parent.display())))?;
        }
        std::fs::write(&file, contents).map_err(Error::io(format!("writing {}", file.display())))
    }

    /// Removes `path` (relative to the work tree).
    ///
    /// # Errors
    /// [`Error::Io`] when it cannot be removed.
    pub fn remove(&self, path: &str) -> Result<()> {
        let file = self.work.join(path);
        std::fs::remove_file(&file).map_err(Error::io(format!("removing {}", file.display())))
    }

    /// Commits every change in the work tree (even none), pushes to `main` and returns the
    /// new commit's full SHA-1.
    ///
    /// # Errors
    /// [`Error::Setup`] when a git command fails.
    pub fn commit(&self, message: &str) -> Result<String> {
        run_git(&self.work, &["add", "--all"])?;
        run_git(
            &self.work,
            &["commit", "--quiet", "--allow-empty", "-m", message],
        )?;
        self.push()
    }

    /// Runs any git command in the work tree (`revert`, `tag`, …) and returns its stdout.
    ///
    /// # Errors
    /// [`Error::Setup`] when it fails.
    pub fn git(&self, args: &[&str]) -> Result<String> {
        run_git(&self.work, args)
    }

    /// Pushes `main` and tags to the bare repository and returns the head commit.
    ///
    /// # Errors
    /// [`Error::Setup`] when the push fails.
    pub fn push(&self) -> Result<String> {
        run_git(&self.work, &["push", "--quiet", "--tags", "origin", "main"])?;
        Ok(run_git(&self.work, &["rev-parse", "HEAD"])?
            .trim()
            .to_owned())
    }
}

async fn spawn_daemon(root: &Path, host: IpAddr, port: u16, logs: &LogDir) -> Result<Process> {
    let git = tool("git")?;
    let args = [
        "daemon".to_owned(),
        "--reuseaddr".to_owned(),
        "--export-all".to_owned(),
        "--enable=receive-pack".to_owned(),
        "--informative-errors".to_owned(),
        format!("--base-path={}", root.display()),
        format!("--listen={host}"),
        format!("--port={port}"),
        root.display().to_string(),
    ];
    let mut server = Process::start("git-daemon", &git, &args, &[], logs)?;
    server
        .wait_ready(Duration::from_secs(30), || async move {
            tokio::net::TcpStream::connect((host, port)).await.is_ok()
        })
        .await?;
    Ok(server)
}

fn path_arg(path: &Path) -> String {
    path.display().to_string()
}

fn run_git(dir: &Path, args: &[&str]) -> Result<String> {
    let git = tool("git")?;
    let output = Command::new(git)
        .current_dir(dir)
        .args([
            "-c",
            "user.name=Lockstep Test",
            "-c",
            "user.email=test@lockstep.invalid",
        ])
        .args(["-c", "commit.gpgsign=false", "-c", "tag.gpgsign=false"])
        .args(args)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .output()
        .map_err(Error::io(format!("running git {}", args.join(" "))))?;
    if output.status.success() {
        Ok(String::from_utf8_lossy(&output.stdout).into_owned())
    } else {
        Err(Error::Setup {
            step: format!("git {}", args.join(" ")),
            detail: String::from_utf8_lossy(&output.stderr).trim().to_owned(),
        })
    }
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    let entries =
        std::fs::read_dir(from).map_err(Error::io(format!("reading {}", from.display())))?;
    for entry in entries {
        let entry = entry.map_err(Error::io(format!("reading {}", from.display())))?;
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            std::fs::create_dir_all(&target)
                .map_err(Error::io(format!("creating {}", target.display())))?;
            copy_dir(&entry.path(), &target)?;
        } else {
            std::fs::copy(entry.path(), &target)
                .map_err(Error::io(format!("copying to {}", target.display())))?;
        }
    }
    Ok(())
}
