//! moto's server as an AWS endpoint: KMS for sops keys, Secrets Manager and Parameter Store
//! for External Secrets' `aws` provider. The AWS SDK talks to it like to the real services
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
    port: u16,
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
            port,
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

    /// Encrypts `plaintext` under key `arn` with an encryption context and returns the
    /// ciphertext as `aws kms encrypt --output text --query CiphertextBlob` prints it
    /// (base64).
    ///
    /// # Errors
    /// [`Error::Setup`] when the server refuses.
    pub async fn encrypt(
        &self,
        arn: &str,
        context: &[(&str, &str)],
        plaintext: &[u8],
    ) -> Result<String> {
        use base64::Engine as _;
        let client = aws_sdk_kms::Client::new(&self.sdk_config().await);
        let mut request = client
            .encrypt()
            .key_id(arn)
            .plaintext(aws_sdk_kms::primitives::Blob::new(plaintext));
        for (key, value) in context {
            request = request.encryption_context(*key, *value);
        }
        let encrypted = request.send().await.map_err(|err| Error::Setup {
            step: "KMS Encrypt".into(),
            detail: aws_sdk_kms::error::DisplayErrorContext(err).to_string(),
        })?;
        let blob = encrypted.ciphertext_blob().ok_or_else(|| Error::Setup {
            step: "KMS Encrypt".into(),
            detail: "the answer has no ciphertext".into(),
        })?;
        Ok(base64::engine::general_purpose::STANDARD.encode(blob.as_ref()))
    }

    /// Creates Secrets Manager secret `name` with a `SecretString` (`Ok(text)`) or a
    /// `SecretBinary` (`Err(bytes)`), or puts a new version of it (the old one becomes
    /// `AWSPREVIOUS`); returns the new version's id.
    ///
    /// # Errors
    /// [`Error::Setup`] when the server refuses.
    pub async fn put_secret(
        &self,
        name: &str,
        value: std::result::Result<&str, &[u8]>,
    ) -> Result<String> {
        use aws_sdk_secretsmanager::primitives::Blob;
        let client = aws_sdk_secretsmanager::Client::new(&self.sdk_config().await);
        let failed = |step: &str, detail: String| Error::Setup {
            step: format!("Secrets Manager {step} {name}"),
            detail,
        };
        use aws_sdk_secretsmanager::error::DisplayErrorContext;
        // A secret without a version first, so every value is one PutSecretValue.
        if client
            .describe_secret()
            .secret_id(name)
            .send()
            .await
            .is_err()
        {
            client
                .create_secret()
                .name(name)
                .send()
                .await
                .map_err(|err| failed("CreateSecret", DisplayErrorContext(err).to_string()))?;
        }
        let request = client.put_secret_value().secret_id(name);
        let request = match value {
            Ok(text) => request.secret_string(text),
            Err(bytes) => request.secret_binary(Blob::new(bytes)),
        };
        let version = request
            .send()
            .await
            .map_err(|err| failed("PutSecretValue", DisplayErrorContext(err).to_string()))?
            .version_id;
        version.ok_or_else(|| failed("write", "the answer has no version id".into()))
    }

    /// Tags Secrets Manager secret `name` with `key: value`.
    ///
    /// # Errors
    /// [`Error::Setup`] when the server refuses.
    pub async fn tag_secret(&self, name: &str, key: &str, value: &str) -> Result<()> {
        use aws_sdk_secretsmanager::types::Tag;
        let client = aws_sdk_secretsmanager::Client::new(&self.sdk_config().await);
        client
            .tag_resource()
            .secret_id(name)
            .tags(Tag::builder().key(key).value(value).build())
            .send()
            .await
            .map_err(|err| Error::Setup {
                step: format!("Secrets Manager TagResource {name}"),
                detail: aws_sdk_secretsmanager::error::DisplayErrorContext(err).to_string(),
            })?;
        Ok(())
    }

    /// Puts Parameter Store parameter `name` (`SecureString` when `secure`), overwriting:
    /// each put is a new numeric version.
    ///
    /// # Errors
    /// [`Error::Setup`] when the server refuses.
    pub async fn put_parameter(&self, name: &str, value: &str, secure: bool) -> Result<()> {
        use aws_sdk_ssm::types::ParameterType;
        let client = aws_sdk_ssm::Client::new(&self.sdk_config().await);
        client
            .put_parameter()
            .name(name)
            .value(value)
            .r#type(if secure {
                ParameterType::SecureString
            } else {
                ParameterType::String
            })
            .overwrite(true)
            .send()
            .await
            .map_err(|err| Error::Setup {
                step: format!("Parameter Store PutParameter {name}"),
                detail: aws_sdk_ssm::error::DisplayErrorContext(err).to_string(),
            })?;
        Ok(())
    }

    /// An access key pair of a user in another AWS account (`111122223333`, made through
    /// moto's IAM). KMS denies it every key of this account, as AWS denies a principal the
    /// key policy does not name: for tests of a refused decryption.
    ///
    /// # Errors
    /// [`Error::Setup`] when the server refuses or answers without a key.
    pub async fn foreign_credentials(&self) -> Result<(String, String)> {
        self.iam("CreateUser&UserName=foreign").await?;
        let answer = self.iam("CreateAccessKey&UserName=foreign").await?;
        let field = |name: &str| {
            let open = format!("<{name}>");
            answer
                .split_once(&open)
                .and_then(|(_, rest)| rest.split_once(&format!("</{name}>")))
                .map(|(value, _)| value.to_owned())
                .ok_or_else(|| Error::Setup {
                    step: "IAM CreateAccessKey".into(),
                    detail: format!("no {name} in the answer"),
                })
        };
        Ok((field("AccessKeyId")?, field("SecretAccessKey")?))
    }

    /// One IAM query-API `action` (with its `&`-joined parameters) in account
    /// `111122223333`; moto routes by the credential scope and checks no signature.
    async fn iam(&self, action: &str) -> Result<String> {
        let headers = [
            (
                "Authorization",
                "AWS4-HMAC-SHA256 Credential=test/20250101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
            ),
            ("x-moto-account-id", "111122223333"),
            ("Content-Type", "application/x-www-form-urlencoded"),
        ];
        let body = format!("Action={action}&Version=2010-05-08");
        let response = http::request(self.port, "POST", "/", &headers, &body)
            .await
            .map_err(Error::io("IAM request to moto"))?;
        if (200..300).contains(&response.status) {
            Ok(response.body)
        } else {
            Err(Error::Setup {
                step: format!("IAM {action}"),
                detail: format!("status {}: {}", response.status, response.body.trim()),
            })
        }
    }
}
