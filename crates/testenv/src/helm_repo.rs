//! A Helm HTTP repository: a folder of `helm package` archives and the `index.yaml` the
//! real `helm repo index` writes for them, served by a small axum server that checks
//! credentials as a chart host would. Every request is recorded, so a test can tell what
//! a client downloaded and whether it sent credentials.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::git_http::serve_app;
use crate::process::free_port;
use crate::{Error, HttpAuth, LogDir, Result, tool};

/// A Helm chart repository on a free loopback port; stops when dropped.
#[derive(Debug)]
pub struct HelmRepoServer {
    root: PathBuf,
    port: u16,
    ca_pem: Option<String>,
    requests: Arc<Mutex<Vec<Served>>>,
    task: tokio::task::JoinHandle<()>,
}

/// One request the server answered.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Served {
    /// The request path.
    pub path: String,
    /// Whether it carried an `Authorization` header.
    pub authorized: bool,
}

struct Backend {
    root: PathBuf,
    expected: Option<String>,
    requests: Arc<Mutex<Vec<Served>>>,
}

impl HelmRepoServer {
    /// Serves a new empty repository over plain HTTP, accepting only `auth` (anyone
    /// without).
    ///
    /// # Errors
    /// [`Error::Io`] if the port cannot be bound.
    pub async fn start(auth: Option<HttpAuth>) -> Result<Self> {
        Self::start_with(auth, false).await
    }

    /// [`Self::start`] over HTTPS, with a certificate for `127.0.0.1` from a new CA
    /// ([`Self::ca_pem`]).
    ///
    /// # Errors
    /// As [`Self::start`], and [`Error::Setup`] when the TLS setup fails.
    pub async fn start_tls(auth: Option<HttpAuth>) -> Result<Self> {
        Self::start_with(auth, true).await
    }

    async fn start_with(auth: Option<HttpAuth>, tls: bool) -> Result<Self> {
        let logs = LogDir::for_server("helm-repo")?;
        let root = logs.join("charts");
        std::fs::create_dir_all(&root).map_err(Error::io("creating the chart folder"))?;
        let port = free_port()?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(Error::io("binding the helm repository port"))?;
        let requests = Arc::new(Mutex::new(Vec::new()));
        let backend = Arc::new(Backend {
            root: root.clone(),
            expected: auth.as_ref().map(HttpAuth::header),
            requests: requests.clone(),
        });
        let app = axum::Router::new().fallback(serve).with_state(backend);
        let (task, ca_pem) = serve_app(listener, app, tls.then_some(&logs), "the helm repository")?;
        Ok(Self {
            root,
            port,
            ca_pem,
            requests,
            task,
        })
    }

    /// `http://127.0.0.1:<port>/charts`, or `https://…` over TLS.
    pub fn url(&self) -> String {
        let scheme = if self.ca_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://127.0.0.1:{}/charts", self.port)
    }

    /// The CA certificate (PEM) of an HTTPS server, `None` over plain HTTP.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The folder the archives and `index.yaml` are served from.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Packages the chart folder `chart` with the real `helm package` into the repository
    /// and rewrites `index.yaml` with `helm repo index` (relative chart URLs, SHA-256
    /// digests, as `helm` writes them for a static host).
    ///
    /// # Errors
    /// [`Error::NotInstalled`] without `helm`; [`Error::Setup`] when helm fails.
    pub fn publish(&self, chart: &Path) -> Result<()> {
        let root = self.root.to_string_lossy().into_owned();
        let chart = chart.to_string_lossy().into_owned();
        helm(&["package", &chart, "--destination", &root])?;
        helm(&["repo", "index", &root]).map(drop)
    }

    /// The requests answered so far.
    pub fn requests(&self) -> Vec<Served> {
        self.requests.lock().map(|r| r.clone()).unwrap_or_default()
    }
}

impl Drop for HelmRepoServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Runs the real `helm` with a private home, so nothing of the user's is read or written;
/// what it printed, stdout then stderr.
pub(crate) fn helm(args: &[&str]) -> Result<String> {
    let helm = tool("helm")?;
    let home = tempfile::tempdir().map_err(Error::io("creating helm's home"))?;
    let out = std::process::Command::new(helm)
        .args(args)
        .env_clear()
        .env("HOME", home.path())
        .output()
        .map_err(Error::io("running helm"))?;
    if out.status.success() {
        let mut printed = String::from_utf8_lossy(&out.stdout).into_owned();
        printed.push_str(&String::from_utf8_lossy(&out.stderr));
        Ok(printed)
    } else {
        Err(Error::Setup {
            step: format!("helm {}", args.first().unwrap_or(&"")),
            detail: String::from_utf8_lossy(&out.stderr).into_owned(),
        })
    }
}

async fn serve(State(backend): State<Arc<Backend>>, request: Request) -> Response {
    let path = request.uri().path().to_owned();
    let sent = request.headers().get(header::AUTHORIZATION);
    if let Ok(mut requests) = backend.requests.lock() {
        requests.push(Served {
            path: path.clone(),
            authorized: sent.is_some(),
        });
    }
    if let Some(expected) = &backend.expected
        && sent.is_none_or(|v| v.as_bytes() != expected.as_bytes())
    {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"charts\"")],
            "authentication required\n",
        )
            .into_response();
    }
    let Some(name) = path
        .strip_prefix("/charts/")
        .filter(|n| !n.is_empty() && !n.contains('/') && !n.starts_with('.'))
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    match tokio::fs::read(backend.root.join(name)).await {
        Ok(body) => body.into_response(),
        Err(_) => StatusCode::NOT_FOUND.into_response(),
    }
}
