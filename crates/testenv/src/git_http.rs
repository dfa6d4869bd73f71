//! Git over HTTP(S) with authentication: the real `git http-backend` run as a CGI program
//! behind a small axum server that checks basic-auth or bearer credentials, as a Git host
//! would. Repositories are made by [`GitRepo::create`] under [`GitHttpServer::root`].
//! Over HTTPS the server's certificate is signed by a CA of its own
//! ([`GitHttpServer::ca_pem`]), which clients must be told to trust.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use tokio::io::AsyncWriteExt;

use crate::process::free_port;
use crate::{Error, GitRepo, LogDir, Result, tool};

/// What the server accepts in `Authorization`.
#[derive(Clone, Debug)]
pub enum HttpAuth {
    /// `Basic` with this user name and password.
    Basic {
        /// The user name.
        username: String,
        /// The password.
        password: String,
    },
    /// `Bearer` with this token.
    Bearer(String),
}

impl HttpAuth {
    /// The `Authorization` header value a client sends.
    pub fn header(&self) -> String {
        match self {
            Self::Basic { username, password } => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            ),
            Self::Bearer(token) => format!("Bearer {token}"),
        }
    }
}

/// An HTTP(S) Git server on a free loopback port; stops when dropped.
#[derive(Debug)]
pub struct GitHttpServer {
    root: PathBuf,
    port: u16,
    ca_pem: Option<String>,
    task: tokio::task::JoinHandle<()>,
}

struct Backend {
    git: PathBuf,
    root: PathBuf,
    expected: String,
}

impl GitHttpServer {
    /// Starts serving a new empty root folder over plain HTTP, accepting only `auth`.
    ///
    /// # Errors
    /// [`Error::NotInstalled`] without `git`; [`Error::Io`] if the port cannot be bound.
    pub async fn start(auth: HttpAuth) -> Result<Self> {
        Self::start_with(auth, false).await
    }

    /// [`Self::start`] over HTTPS, with a certificate for `127.0.0.1` from a new CA.
    ///
    /// # Errors
    /// As [`Self::start`], and [`Error::Setup`] when the TLS setup fails.
    pub async fn start_tls(auth: HttpAuth) -> Result<Self> {
        Self::start_with(auth, true).await
    }

    async fn start_with(auth: HttpAuth, tls: bool) -> Result<Self> {
        let git = tool("git")?;
        let logs = LogDir::for_server("git-http")?;
        let root = logs.join("repos");
        std::fs::create_dir_all(&root).map_err(Error::io("creating the git root"))?;
        let expected = auth.header();
        let port = free_port()?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(Error::io("binding the git http port"))?;
        let backend = Arc::new(Backend {
            git,
            root: root.clone(),
            expected,
        });
        let app = axum::Router::new().fallback(serve).with_state(backend);
        let (task, ca_pem) = serve_app(listener, app, tls.then_some(&logs), "the git http server")?;
        Ok(Self {
            root,
            port,
            ca_pem,
            task,
        })
    }

    /// The CA certificate (PEM) of an HTTPS server, `None` over plain HTTP.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// The folder repositories are created in ([`GitRepo::create`]).
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Creates `<name>.git` with one commit of the files of `from`; see [`GitRepo::create`].
    ///
    /// # Errors
    /// As [`GitRepo::create`].
    pub fn create_repo(&self, name: &str, from: Option<&Path>) -> Result<GitRepo> {
        GitRepo::create(&self.root, name, from)
    }

    /// `http://127.0.0.1:<port>/<name>.git`, or `https://…` over TLS.
    pub fn url(&self, name: &str) -> String {
        let scheme = if self.ca_pem.is_some() {
            "https"
        } else {
            "http"
        };
        format!("{scheme}://127.0.0.1:{}/{name}.git", self.port)
    }
}

impl Drop for GitHttpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Serves `app` on `listener` in a task, over TLS with a certificate for `127.0.0.1` from
/// a new CA written under `logs/pki` when `tls` names the log folder; the CA's PEM with it.
pub(crate) fn serve_app(
    listener: tokio::net::TcpListener,
    app: axum::Router,
    tls: Option<&LogDir>,
    server: &str,
) -> Result<(tokio::task::JoinHandle<()>, Option<String>)> {
    let Some(logs) = tls else {
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        return Ok((task, None));
    };
    let dir = logs.join("pki");
    std::fs::create_dir_all(&dir).map_err(Error::io("creating the pki folder"))?;
    let pki = crate::pki::write(&dir, &[])?;
    let acceptor = tls_acceptor(&pki).map_err(|err| Error::Setup {
        step: format!("TLS for {server}"),
        detail: err.to_string(),
    })?;
    let listener = TlsListener { listener, acceptor };
    let task = tokio::spawn(async move {
        let _ = axum::serve(listener, app).await;
    });
    Ok((task, Some(pki.ca_pem)))
}

fn tls_acceptor(
    pki: &crate::pki::Pki,
) -> std::result::Result<tokio_rustls::TlsAcceptor, Box<dyn std::error::Error>> {
    use tokio_rustls::rustls::pki_types::pem::PemObject;
    use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let certs = CertificateDer::pem_file_iter(&pki.serving_cert)?.collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKeyDer::from_pem_file(&pki.serving_key)?;
    let provider = Arc::new(tokio_rustls::rustls::crypto::aws_lc_rs::default_provider());
    let config = tokio_rustls::rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    Ok(tokio_rustls::TlsAcceptor::from(Arc::new(config)))
}

/// Accepts TCP connections and completes the TLS handshake before axum sees them; a
/// failed handshake drops that connection only.
struct TlsListener {
    listener: tokio::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
}

impl axum::serve::Listener for TlsListener {
    type Io = tokio_rustls::server::TlsStream<tokio::net::TcpStream>;
    type Addr = std::net::SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            let Ok((stream, addr)) = self.listener.accept().await else {
                continue;
            };
            if let Ok(tls) = self.acceptor.accept(stream).await {
                return (tls, addr);
            }
        }
    }

    fn local_addr(&self) -> std::io::Result<Self::Addr> {
        self.listener.local_addr()
    }
}

async fn serve(State(backend): State<Arc<Backend>>, request: Request) -> Response {
    let authorized = request
        .headers()
        .get(header::AUTHORIZATION)
        .is_some_and(|v| v.as_bytes() == backend.expected.as_bytes());
    if !authorized {
        return (
            StatusCode::UNAUTHORIZED,
            [(header::WWW_AUTHENTICATE, "Basic realm=\"git\"")],
            "authentication required\n",
        )
            .into_response();
    }
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::BAD_REQUEST.into_response();
    };
    match cgi(&backend, &parts.method, &parts.uri, &parts.headers, body).await {
        Ok(response) => response,
        Err(err) => (StatusCode::INTERNAL_SERVER_ERROR, err.to_string()).into_response(),
    }
}

/// Runs `git http-backend` for one request and turns its CGI output into a response.
async fn cgi(
    backend: &Backend,
    method: &axum::http::Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
    body: Bytes,
) -> std::io::Result<Response> {
    let header_str = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let mut child = tokio::process::Command::new(&backend.git)
        .arg("http-backend")
        .env_clear()
        .env("GIT_PROJECT_ROOT", &backend.root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("REQUEST_METHOD", method.as_str())
        .env("PATH_INFO", uri.path())
        .env("QUERY_STRING", uri.query().unwrap_or_default())
        .env("CONTENT_TYPE", header_str("content-type"))
        .env("CONTENT_LENGTH", body.len().to_string())
        .env("HTTP_CONTENT_ENCODING", header_str("content-encoding"))
        .env("GIT_PROTOCOL", header_str("git-protocol"))
        .env("REMOTE_USER", "test")
        .env("REMOTE_ADDR", "127.0.0.1")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(&body).await?;
    }
    let output = child.wait_with_output().await?;
    let raw = output.stdout;
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .map(|i| (i, i + 4))
        .or_else(|| {
            raw.windows(2)
                .position(|w| w == b"\n\n")
                .map(|i| (i, i + 2))
        })
        .ok_or_else(|| std::io::Error::other("git http-backend wrote no headers"))?;
    let mut response = Response::new(Body::from(raw[split.1..].to_vec()));
    for line in String::from_utf8_lossy(&raw[..split.0]).lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("status") {
            let code = value.split_whitespace().next().and_then(|c| c.parse().ok());
            *response.status_mut() = code
                .and_then(|c| StatusCode::from_u16(c).ok())
                .unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        } else if let (Ok(name), Ok(value)) = (
            header::HeaderName::try_from(name.trim()),
            HeaderValue::try_from(value),
        ) {
            response.headers_mut().append(name, value);
        }
    }
    Ok(response)
}
