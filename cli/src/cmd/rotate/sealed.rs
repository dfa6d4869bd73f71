//! Re-sealing one SealedSecret file of a repository to the controller's newest key:
//! online through the controller's `/v1/rotate` (the private keys never leave the
//! cluster), or offline with the sealing private keys and the certificate to seal to.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use lockstep_keys::sealing::{Certificate, SealingPrivateKey};
use lockstep_sealed::manifest::{self, Format};
use lockstep_sealed::{SealedSecret, parse_sealed_secrets};

use super::RepoFlags;
use super::sops::Step;

/// How many times one SealedSecret is sent again after the controller's 429.
const RATE_LIMIT_RETRIES: usize = 10;

/// How SealedSecrets are re-sealed in this run.
pub enum Resealer {
    /// POST each SealedSecret to `<url>/v1/rotate`.
    Online {
        /// The controller's base URL.
        url: String,
        /// One client (and connection pool) for the run.
        client: reqwest::blocking::Client,
    },
    /// Unseal with `keys`, seal to `cert`.
    Offline {
        /// The sealing private keys.
        keys: Vec<SealingPrivateKey>,
        /// The certificate to seal to.
        cert: Certificate,
    },
    /// No way given: SealedSecrets are skipped.
    None,
}

impl Resealer {
    /// From `--controller-url`, or `--recovery-private-key` with `--cert`.
    pub fn new(flags: &RepoFlags) -> anyhow::Result<Self> {
        if let Some(url) = &flags.controller_url {
            let client = reqwest::blocking::Client::builder()
                .timeout(std::time::Duration::from_secs(60))
                .build()
                .context("cannot build an HTTP client")?;
            return Ok(Resealer::Online {
                url: url.trim_end_matches('/').to_owned(),
                client,
            });
        }
        if let Some(cert) = &flags.cert {
            return Ok(Resealer::Offline {
                keys: load_keys(&flags.recovery_private_key)?,
                cert: load_cert(cert)?,
            });
        }
        Ok(Resealer::None)
    }

    /// What re-sealing the file will do.
    pub fn plan(&self, bytes: &[u8]) -> anyhow::Result<Step> {
        let n = parse_sealed_secrets(bytes)?.len();
        Ok(match self {
            Resealer::Online { url, .. } => Step::Change(format!(
                "re-seal {n} SealedSecret(s) through {url}/v1/rotate"
            )),
            Resealer::Offline { cert, .. } => Step::Change(format!(
                "re-seal {n} SealedSecret(s) offline to certificate {}",
                cert.public_key().fingerprint()
            )),
            Resealer::None => Step::Skip(
                "SealedSecret: pass --controller-url, or --recovery-private-key and --cert"
                    .to_owned(),
            ),
        })
    }

    /// The file with every SealedSecret re-sealed, in the file's format (YAML or JSON).
    pub fn apply(&self, bytes: &[u8]) -> anyhow::Result<Vec<u8>> {
        let all = parse_sealed_secrets(bytes)?;
        let resealed = all
            .iter()
            .map(|s| self.reseal(s))
            .collect::<anyhow::Result<Vec<_>>>()?;
        let format = Format::detect(bytes);
        let mut text = manifest::sealed_secrets_to_string(&resealed, format)?;
        // kubeseal writes one YAML document without a `---` line; keep a file's first line.
        if format == Format::Yaml && !bytes.starts_with(b"---") {
            text = text.strip_prefix("---\n").unwrap_or(&text).to_owned();
        }
        Ok(text.into_bytes())
    }

    fn reseal(&self, sealed: &SealedSecret) -> anyhow::Result<SealedSecret> {
        match self {
            Resealer::Online { url, client } => {
                let body = serde_json::to_vec(sealed)?;
                let send = || {
                    client
                        .post(format!("{url}/v1/rotate"))
                        .header("content-type", "application/json")
                        .body(body.clone())
                        .send()
                        .with_context(|| format!("cannot reach the controller at {url}"))
                };
                let mut response = send()?;
                // The controller charges re-sealing per item: wait as long as it says.
                for _ in 0..RATE_LIMIT_RETRIES {
                    if response.status() != reqwest::StatusCode::TOO_MANY_REQUESTS {
                        break;
                    }
                    let wait = response
                        .headers()
                        .get("retry-after")
                        .and_then(|v| v.to_str().ok()?.parse().ok())
                        .unwrap_or(1);
                    std::thread::sleep(std::time::Duration::from_secs(wait.min(60)));
                    response = send()?;
                }
                let status = response.status();
                let text = response.text().unwrap_or_default();
                if !status.is_success() {
                    bail!(
                        "the controller refused to re-seal {} ({status}): {}",
                        sealed.display_name(),
                        text.trim()
                    );
                }
                Ok(manifest::parse_sealed_secret(text.as_bytes())
                    .context("the controller's answer is not a SealedSecret")?)
            }
            Resealer::Offline { keys, cert } => {
                Ok(lockstep_sealed::reseal(sealed, keys, cert.public_key())?)
            }
            Resealer::None => unreachable!("planned as skipped"),
        }
    }
}

fn load_keys(paths: &[PathBuf]) -> anyhow::Result<Vec<SealingPrivateKey>> {
    let mut keys = Vec::new();
    for path in paths {
        let bytes = crate::cmd::input::read(Some(path))?;
        keys.extend(
            lockstep_sealed::load_private_keys(&bytes)
                .with_context(|| format!("loading private keys from {}", path.display()))?,
        );
    }
    Ok(keys)
}

/// A certificate from a file or an http(s) URL.
pub fn load_cert(source: &str) -> anyhow::Result<Certificate> {
    let pem = if source.starts_with("http://") || source.starts_with("https://") {
        reqwest::blocking::get(source)
            .and_then(reqwest::blocking::Response::error_for_status)
            .and_then(|r| r.bytes())
            .with_context(|| format!("cannot fetch the certificate from {source}"))?
            .to_vec()
    } else {
        std::fs::read(source).with_context(|| format!("cannot read the certificate {source}"))?
    };
    Certificate::from_pem(&pem).with_context(|| format!("{source} is not a PEM certificate"))
}
