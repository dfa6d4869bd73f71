//! OpenBao in dev mode: in memory, unsealed, with KV v2 at `secret/` and transit at
//! `transit/`. OpenBao speaks Vault's API, so Vault clients (vaultrs) work unchanged.

use std::time::Duration;

use crate::kube::random_token;
use crate::process::{Process, free_ports};
use crate::{Error, LogDir, Result, http, tool};

/// How OpenBao checks a ServiceAccount token ([`Vault::token_auth`]).
#[derive(Clone, Copy, Debug)]
pub enum TokenAuth {
    /// Kubernetes auth: it asks the API server (TokenReview).
    Kubernetes,
    /// JWT auth: it checks the token's signature and issuer itself.
    Jwt,
}

/// A running OpenBao dev server.
#[derive(Debug)]
pub struct Vault {
    addr: String,
    port: u16,
    token: String,
    server: Process,
}

impl Vault {
    /// Starts `bao server -dev` on a free loopback port with a fresh root token, waits for
    /// it to report healthy and mounts the transit engine.
    ///
    /// # Errors
    /// [`Error::NotInstalled`] without `bao`; [`Error::NotReady`] or [`Error::Setup`] when it
    /// does not start or refuses the mount.
    pub async fn start() -> Result<Self> {
        Self::start_with_audit(None).await
    }

    /// [`Self::start`] with a file audit device writing to `audit_log` when given (one JSON
    /// line per request and per response; a benchmark counts the requests). OpenBao takes
    /// audit devices only from its configuration, not through the API.
    ///
    /// # Errors
    /// As [`Self::start`].
    pub async fn start_with_audit(audit_log: Option<&std::path::Path>) -> Result<Self> {
        let bin = tool("bao")?;
        let logs = LogDir::for_server("openbao")?;
        // The dev server's cluster listener takes the port after the API's.
        let port = free_ports(2)?;
        let token = random_token()?;
        let mut args = vec![
            "server".to_owned(),
            "-dev".to_owned(),
            format!("-dev-listen-address=127.0.0.1:{port}"),
            format!("-dev-root-token-id={token}"),
            // Dev mode would otherwise write the token to ~/.vault-token.
            "-dev-no-store-token".to_owned(),
        ];
        if let Some(audit_log) = audit_log {
            let config = logs.join("audit.hcl");
            let audit = format!(
                "audit \"file\" \"requests\" {{\n  options {{\n    file_path = {:?}\n  }}\n}}\n",
                audit_log.display().to_string()
            );
            std::fs::write(&config, audit)
                .map_err(Error::io(format!("writing {}", config.display())))?;
            args.push(format!("-config={}", config.display()));
        }
        // HOME points into the log folder so nothing of the user's is read or written.
        let mut server = Process::start("openbao", &bin, &args, &[("HOME", logs.path())], &logs)?;
        server
            .wait_ready(Duration::from_secs(60), || {
                http::is_ok(port, "/v1/sys/health")
            })
            .await?;
        let vault = Self {
            addr: format!("http://127.0.0.1:{port}"),
            port,
            token,
            server,
        };
        vault
            .post("/v1/sys/mounts/transit", r#"{"type":"transit"}"#)
            .await?;
        Ok(vault)
    }

    /// The server's address, as `VAULT_ADDR` wants it (`http://127.0.0.1:<port>`).
    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// The root token (a test credential of this throwaway server).
    pub fn token(&self) -> &str {
        &self.token
    }

    /// Seals the server (`bao operator seal`): every request but health and unseal fails
    /// until [`Vault::unseal`].
    ///
    /// # Errors
    /// [`Error::Setup`] when the server refuses.
    pub async fn seal(&self) -> Result<()> {
        self.post("/v1/sys/seal", "").await.map(drop)
    }

    /// Unseals the server with the unseal key dev mode printed at start, keeping its data.
    ///
    /// # Errors
    /// [`Error::Setup`] when the key is not in the log or the server refuses it.
    pub async fn unseal(&self) -> Result<()> {
        let log = std::fs::read_to_string(self.server.log())
            .map_err(Error::io("reading the OpenBao log"))?;
        let key = log
            .lines()
            .find_map(|line| line.trim().strip_prefix("Unseal Key: "))
            .ok_or_else(|| Error::Setup {
                step: "unsealing OpenBao".into(),
                detail: "no unseal key in its log".into(),
            })?;
        let body = serde_json::json!({ "key": key }).to_string();
        self.post("/v1/sys/unseal", &body).await.map(drop)
    }

    /// Enables `method` at `auth/<method>` with a role `role` that lets the tokens of
    /// ServiceAccount `account` of `namespace` (of `plane`) read every KV v2 secret under
    /// `secret/`: Kubernetes auth reviews them against `plane` with its admin credentials,
    /// JWT auth checks their signature with its public key and issuer (audience `vault`).
    ///
    /// # Errors
    /// [`Error::Setup`] when the kubeconfig or key cannot be read or OpenBao refuses a step.
    pub async fn token_auth(
        &self,
        method: TokenAuth,
        plane: &crate::ControlPlane,
        role: &str,
        account: &str,
        namespace: &str,
    ) -> Result<()> {
        let unreadable = |detail: String| Error::Setup {
            step: "reading the control plane's credentials for OpenBao".into(),
            detail,
        };
        let (config, role_body) = match method {
            TokenAuth::Kubernetes => {
                let text = std::fs::read_to_string(plane.kubeconfig_path())
                    .map_err(|e| unreadable(e.to_string()))?;
                let kubeconfig: serde_json::Value =
                    serde_saphyr::from_str(&text).map_err(|e| unreadable(e.to_string()))?;
                let ca_path =
                    kubeconfig["clusters"][0]["cluster"]["certificate-authority"].as_str();
                let ca = std::fs::read_to_string(ca_path.unwrap_or_default())
                    .map_err(|e| unreadable(e.to_string()))?;
                let config = serde_json::json!({
                    "kubernetes_host": plane.server_url(),
                    "kubernetes_ca_cert": ca,
                    "token_reviewer_jwt": kubeconfig["users"][0]["user"]["token"],
                    "disable_local_ca_jwt": true,
                });
                let role_body = serde_json::json!({
                    "bound_service_account_names": [account],
                    "bound_service_account_namespaces": [namespace],
                    "token_policies": ["reader"],
                });
                (config, role_body)
            }
            TokenAuth::Jwt => {
                let key = plane
                    .service_account_public_key()
                    .map_err(|e| unreadable(e.to_string()))?;
                let config = serde_json::json!({
                    "jwt_validation_pubkeys": [key],
                    "bound_issuer": "https://kubernetes.default.svc.cluster.local",
                });
                let role_body = serde_json::json!({
                    "role_type": "jwt",
                    "bound_audiences": ["vault"],
                    "user_claim": "sub",
                    "bound_subject": format!("system:serviceaccount:{namespace}:{account}"),
                    "token_policies": ["reader"],
                });
                (config, role_body)
            }
        };
        let method = match method {
            TokenAuth::Kubernetes => "kubernetes",
            TokenAuth::Jwt => "jwt",
        };
        let reader = r#"path "secret/data/*" { capabilities = ["read"] }"#;
        for (path, body) in [
            (
                format!("/v1/sys/auth/{method}"),
                serde_json::json!({"type": method}),
            ),
            (format!("/v1/auth/{method}/config"), config),
            (
                "/v1/sys/policies/acl/reader".to_owned(),
                serde_json::json!({"policy": reader}),
            ),
            (format!("/v1/auth/{method}/role/{role}"), role_body),
        ] {
            self.post(&path, &body.to_string()).await?;
        }
        Ok(())
    }

    /// Sends an authenticated `DELETE` (a KV v2 secret with every version is
    /// `/v1/secret/metadata/<key>`), for tests of a remote secret that disappears.
    ///
    /// # Errors
    /// [`Error::Setup`] when the server answers with anything but 2xx.
    pub async fn delete(&self, path: &str) -> Result<()> {
        self.send("DELETE", path, "").await.map(drop)
    }

    /// Sends an authenticated `POST` with a JSON body; for setup steps and for tests that
    /// need to change the server (create a transit key, seal it).
    ///
    /// # Errors
    /// [`Error::Setup`] when the server answers with anything but 2xx.
    pub async fn post(&self, path: &str, json: &str) -> Result<String> {
        self.send("POST", path, json).await
    }

    async fn send(&self, method: &str, path: &str, json: &str) -> Result<String> {
        let headers = [
            ("X-Vault-Token", self.token.as_str()),
            ("Content-Type", "application/json"),
        ];
        let response = http::request(self.port, method, path, &headers, json)
            .await
            .map_err(Error::io(format!("{method} {path} to OpenBao")))?;
        if (200..300).contains(&response.status) {
            Ok(response.body)
        } else {
            Err(Error::Setup {
                step: format!("{method} {path} to OpenBao"),
                detail: format!("status {}: {}", response.status, response.body.trim()),
            })
        }
    }
}
