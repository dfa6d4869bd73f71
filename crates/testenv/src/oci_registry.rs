//! An OCI registry: the CNCF `distribution` registry (the one Docker Hub and many others
//! run), built from its Go module by the installer, on a free loopback port with its
//! storage in the test's log folder. Charts reach it the way users push them: `helm
//! package`, then `helm push`.
//!
//! With credentials it checks them as a registry behind `htpasswd` does (`WWW-Authenticate:
//! Basic`, a bcrypt hash in the file), or, started with [`OciRegistry::start_token`], as
//! Docker Hub and ghcr.io do: a Bearer challenge naming a token service that grants signed
//! tokens to those credentials ([`crate::oci_token`]). Over TLS its certificate is for
//! `127.0.0.1`, from a new CA ([`OciRegistry::ca_pem`]).

use std::path::Path;
use std::time::Duration;

use crate::oci_token::{ISSUER, SERVICE, TokenService};
use crate::process::Process;
use crate::{Error, HttpAuth, LogDir, Result, free_port, tool};

/// A running registry; stopped when dropped.
#[derive(Debug)]
pub struct OciRegistry {
    port: u16,
    ca_pem: Option<String>,
    ca_file: Option<std::path::PathBuf>,
    auth: Option<(String, String)>,
    tokens: Option<TokenService>,
    logs: LogDir,
    _server: Process,
}

impl OciRegistry {
    /// Starts a registry over plain HTTP, accepting only `username`/`password` when given
    /// (anyone without).
    ///
    /// # Errors
    /// [`Error::NotInstalled`] without `registry` or `helm`; [`Error::NotReady`] when it
    /// does not answer.
    pub async fn start(auth: Option<HttpAuth>) -> Result<Self> {
        Self::start_with(auth, false, false).await
    }

    /// [`Self::start`] behind a token service that grants tokens to `username` with
    /// `password` only ([`Self::tokens_issued`] counts them).
    ///
    /// # Errors
    /// As [`Self::start`].
    pub async fn start_token(username: &str, password: &str) -> Result<Self> {
        let auth = HttpAuth::Basic {
            username: username.into(),
            password: password.into(),
        };
        Self::start_with(Some(auth), false, true).await
    }

    /// [`Self::start`] over HTTPS.
    ///
    /// # Errors
    /// As [`Self::start`].
    pub async fn start_tls(auth: Option<HttpAuth>) -> Result<Self> {
        Self::start_with(auth, true, false).await
    }

    async fn start_with(auth: Option<HttpAuth>, tls: bool, token: bool) -> Result<Self> {
        let bin = tool("registry")?;
        let logs = LogDir::for_server("oci-registry")?;
        let port = free_port()?;
        let auth = match auth {
            None => None,
            Some(HttpAuth::Basic { username, password }) => Some((username, password)),
            Some(HttpAuth::Bearer(_)) => {
                return Err(Error::Setup {
                    step: "starting the OCI registry".into(),
                    detail: "it checks user names and passwords, not bearer tokens".into(),
                });
            }
        };
        let mut config = format!(
            "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {:?}\n  \
             delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n  secret: lockstep-test\n",
            logs.join("storage").display().to_string(),
        );
        let (mut ca_pem, mut ca_file) = (None, None);
        if tls {
            let dir = logs.join("pki");
            std::fs::create_dir_all(&dir).map_err(Error::io("creating the pki folder"))?;
            let pki = crate::pki::write(&dir, &[])?;
            config.push_str(&format!(
                "  tls:\n    certificate: {:?}\n    key: {:?}\n",
                pki.serving_cert.display().to_string(),
                pki.serving_key.display().to_string(),
            ));
            ca_file = Some(pki.ca_cert.clone());
            ca_pem = Some(pki.ca_pem);
        }
        let mut tokens = None;
        if let (Some((username, password)), true) = (&auth, token) {
            let service = TokenService::start(username, password).await?;
            let jwks = logs.join("jwks.json");
            std::fs::write(&jwks, service.jwks())
                .map_err(Error::io("writing the registry's JWKS"))?;
            config.push_str(&format!(
                "auth:\n  token:\n    realm: {:?}\n    service: {SERVICE}\n    issuer: {ISSUER}\n    \
                 jwks: {:?}\n",
                service.realm(),
                jwks.display().to_string()
            ));
            tokens = Some(service);
        } else if let Some((username, password)) = &auth {
            let hash = bcrypt::hash(password, 5).map_err(|err| Error::Setup {
                step: "hashing the registry password".into(),
                detail: err.to_string(),
            })?;
            let htpasswd = logs.join("htpasswd");
            std::fs::write(&htpasswd, format!("{username}:{hash}\n"))
                .map_err(Error::io("writing the registry's htpasswd"))?;
            config.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: lockstep-test\n    path: {:?}\n",
                htpasswd.display().to_string()
            ));
        }
        let file = logs.join("config.yml");
        std::fs::write(&file, config).map_err(Error::io("writing the registry's config"))?;
        let args = ["serve".to_owned(), file.display().to_string()];
        // No telemetry exporter: the registry would otherwise try an OTLP collector.
        let env = [
            ("OTEL_TRACES_EXPORTER", Path::new("none")),
            ("OTEL_METRICS_EXPORTER", Path::new("none")),
            ("OTEL_LOGS_EXPORTER", Path::new("none")),
        ];
        let mut server = Process::start("registry", &bin, &args, &env, &logs)?;
        // `/v2/` answers 200, or 401 behind htpasswd: either way it is serving.
        server
            .wait_ready(Duration::from_secs(30), || async move {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
            })
            .await?;
        Ok(Self {
            port,
            ca_pem,
            ca_file,
            auth,
            tokens,
            logs,
            _server: server,
        })
    }

    /// How many tokens its token service has granted (0 without one).
    pub fn tokens_issued(&self) -> usize {
        self.tokens.as_ref().map_or(0, TokenService::issued)
    }

    /// `127.0.0.1:<port>`, the registry's host as references name it.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// `oci://127.0.0.1:<port>/charts`: the repository prefix charts are pushed under, as
    /// a Flux `HelmRepository` of `type: oci` and `helm pull` name it.
    pub fn url(&self) -> String {
        format!("oci://{}/charts", self.host())
    }

    /// The CA certificate (PEM) over TLS, `None` over plain HTTP.
    pub fn ca_pem(&self) -> Option<&str> {
        self.ca_pem.as_deref()
    }

    /// Packages the chart folder `chart` with the real `helm package` and pushes it with
    /// `helm push` under [`Self::url`]; the manifest digest `helm push` reports
    /// (`sha256:<hex>`).
    ///
    /// # Errors
    /// [`Error::NotInstalled`] without `helm`; [`Error::Setup`] when helm fails.
    pub fn push(&self, chart: &Path) -> Result<String> {
        let packaged = self.logs.join("packaged");
        let _ = std::fs::remove_dir_all(&packaged);
        let packaged_arg = packaged.display().to_string();
        let chart_arg = chart.display().to_string();
        crate::helm_repo::helm(&["package", &chart_arg, "--destination", &packaged_arg])?;
        let archive = std::fs::read_dir(&packaged)
            .map_err(Error::io("reading helm package's output"))?
            .filter_map(std::result::Result::ok)
            .map(|e| e.path())
            .find(|p| p.extension().is_some_and(|e| e == "tgz"))
            .ok_or_else(|| Error::Setup {
                step: "helm package".into(),
                detail: "it wrote no .tgz".into(),
            })?;
        let mut args = vec!["push".to_owned(), archive.display().to_string(), self.url()];
        match &self.ca_file {
            Some(ca) => args.extend(["--ca-file".to_owned(), ca.display().to_string()]),
            None => args.push("--plain-http".to_owned()),
        }
        if let Some((username, password)) = &self.auth {
            args.extend([
                "--username".to_owned(),
                username.clone(),
                "--password".to_owned(),
                password.clone(),
            ]);
        }
        let args = args.iter().map(String::as_str).collect::<Vec<_>>();
        let output = crate::helm_repo::helm(&args)?;
        output
            .split_whitespace()
            .find(|word| word.starts_with("sha256:"))
            .map(str::to_owned)
            .ok_or_else(|| Error::Setup {
                step: "helm push".into(),
                detail: format!("no digest in its output: {output}"),
            })
    }

    /// Pushes the folder `dir` with the real `flux push artifact` as
    /// `oci://<host>/<repository>:<tag>` (what a Flux OCIRepository of a Kustomization
    /// reads), `revision` as its source revision; the manifest digest (`sha256:<hex>`).
    ///
    /// # Errors
    /// [`Error::NotInstalled`] without `flux`; [`Error::Setup`] when it fails.
    pub fn push_artifact(
        &self,
        dir: &Path,
        repository: &str,
        tag: &str,
        revision: &str,
    ) -> Result<String> {
        let flux = tool("flux")?;
        let mut command = std::process::Command::new(&flux);
        command
            .args(["push", "artifact"])
            .arg(format!("oci://{}/{repository}:{tag}", self.host()))
            .arg(format!("--path={}", dir.display()))
            .args(["--source=https://example.invalid/app.git", "--revision"])
            .arg(revision)
            .args(["--output", "json"])
            .env("HOME", self.logs.path());
        if self.ca_file.is_none() {
            command.arg("--insecure-registry");
        }
        if let Some((username, password)) = &self.auth {
            command.arg(format!("--creds={username}:{password}"));
        }
        let out = command
            .output()
            .map_err(Error::io("running flux push artifact"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        let digest = stdout
            .split('"')
            .find(|word| word.starts_with("sha256:"))
            .filter(|_| out.status.success());
        digest.map(str::to_owned).ok_or_else(|| Error::Setup {
            step: "flux push artifact".into(),
            detail: format!("{stdout}{}", String::from_utf8_lossy(&out.stderr)),
        })
    }
}
