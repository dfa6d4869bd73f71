//! moto's server as an AWS KMS endpoint. The AWS SDK talks to it like to the real service
//! once its endpoint URL points here; credentials are the throwaway `test`/`test` pair.

use std::time::Duration;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_kms::config::Credentials;

use crate::process::{Process, free_port};
use crate::{Error, LogDir, Result, http, tool};

/// The region every test key lives in.
pub const REGION: &str = "us-east-1";

/// A running moto server.
#[derive(Debug)]
pub struct Kms {
    endpoint: String,
    _server: Process,
}

impl Kms {
    /// Starts `moto_server` on a free loopback port and waits until it answers HTTP.
    ///
    /// # Errors
    /// [`Error::NotInstalled`] without `moto_server`; [`Error::NotReady`] if it does not
    /// answer within a minute.
    pub async fn start() -> Result<Self> {
        let bin = tool("moto_server")?;
        let logs = LogDir::for_server("moto")?;
        let port = free_port()?;
        let args = [
            "-H".to_owned(),
            "127.0.0.1".to_owned(),
            "-p".to_owned(),
            port.to_string(),
        ];
        let mut server = Process::start("moto", &bin, &args, &[], &logs)?;
        server
            .wait_ready(Duration::from_secs(60), || async move {
                http::request(port, "GET", "/moto-api/", &[], "")
                    .await
                    .is_ok()
            })
            .await?;
        Ok(Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            _server: server,
        })
    }

    /// The endpoint URL, as `AWS_ENDPOINT_URL` wants it.
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// An SDK configuration for this server: its endpoint, [`REGION`] and test credentials.
    pub async fn sdk_config(&self) -> SdkConfig {
        aws_config::defaults(BehaviorVersion::latest())
            .region(Region::new(REGION))
            .endpoint_url(&self.endpoint)
            .credentials_provider(Credentials::new(
                "test",
                "test",
                None,
                None,
                "lockstep-testenv",
            ))
            .load()
            .await
    }

    /// Creates a fresh symmetric KMS key and returns its ARN.
    ///
    /// # Errors
    /// [`Error::Setup`] when the server refuses.
    pub async fn create_key(&self) -> Result<String> {
        let client = aws_sdk_kms::Client::new(&self.sdk_config().await);
        let created = client
            .create_key()
            .description("lockstep test key")
            .send()
            .await
            .map_err(|err| Error::Setup {
                step: "KMS CreateKey".into(),
                detail: aws_sdk_kms::error::DisplayErrorContext(err).to_string(),
            })?;
        created
            .key_metadata()
            .and_then(|meta| meta.arn())
            .map(str::to_owned)
            .ok_or_else(|| Error::Setup {
                step: "KMS CreateKey".into(),
                detail: "the answer has no key ARN".into(),
            })
    }
}
