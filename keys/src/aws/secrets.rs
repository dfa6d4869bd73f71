//! Reading AWS Secrets Manager secrets and Parameter Store parameters: the reads behind
//! External Secrets' `aws` provider, with its endpoint rules.
//!
//! A secret or parameter that does not exist is `Ok(None)`, so the caller can apply its
//! deletion policy; every other failure is [`Error::AwsRead`], naming the secret and what
//! AWS said, never a value.

use aws_sdk_secretsmanager::operation::get_secret_value::GetSecretValueOutput;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use zeroize::Zeroizing;

use super::{Access, Credentials, classify};
use crate::{AwsService, Error, RemoteFailure};

/// Who reads, from where: the store's region, credentials and role, and the endpoints.
#[derive(Clone, Default)]
pub struct AwsSecretsSource {
    /// The region.
    pub region: String,
    /// The service's endpoint, when not AWS's own (External Secrets reads it from
    /// `AWS_SECRETSMANAGER_ENDPOINT` or `AWS_SSM_ENDPOINT`).
    pub endpoint: Option<String>,
    /// The STS endpoint for the role, when not AWS's own (`AWS_STS_ENDPOINT`).
    pub sts_endpoint: Option<String>,
    /// Static credentials; the default chain (environment, web identity, IMDS) without.
    pub credentials: Option<Credentials>,
    /// An IAM role to assume first.
    pub role: Option<String>,
}

impl AwsSecretsSource {
    async fn config(&self) -> aws_config::SdkConfig {
        Access {
            region: self.region.clone(),
            endpoint: self.sts_endpoint.clone(),
            credentials: self.credentials.clone(),
            role: self
                .role
                .clone()
                .map(|role| (role, "lockstep-external-secrets".to_owned())),
            ..Access::default()
        }
        .sdk_config()
        .await
    }
}

/// A value as Secrets Manager holds it: `SecretString` or `SecretBinary`; zeroized on
/// drop.
pub enum SecretPayload {
    /// `SecretString`.
    Text(Zeroizing<String>),
    /// `SecretBinary`.
    Binary(Zeroizing<Vec<u8>>),
}

impl SecretPayload {
    /// The bytes, whichever form (not copied).
    pub fn into_bytes(self) -> Zeroizing<Vec<u8>> {
        match self {
            Self::Text(mut text) => Zeroizing::new(std::mem::take(&mut *text).into_bytes()),
            Self::Binary(bytes) => bytes,
        }
    }
}

/// Which version of a secret: a staging label (`AWSCURRENT`) or a version id.
#[derive(Clone, Copy, Debug)]
pub enum SecretVersion<'a> {
    /// `VersionStage`.
    Stage(&'a str),
    /// `VersionId`.
    Id(&'a str),
}

/// A Secrets Manager client for one store.
pub struct SecretsManager {
    client: aws_sdk_secretsmanager::Client,
}

impl SecretsManager {
    /// The client for `source` (no call is made yet).
    pub async fn connect(source: &AwsSecretsSource) -> Self {
        let mut builder = aws_sdk_secretsmanager::config::Builder::from(&source.config().await);
        builder.set_endpoint_url(source.endpoint.clone());
        Self {
            client: aws_sdk_secretsmanager::Client::from_conf(builder.build()),
        }
    }

    /// `GetSecretValue` of `id` (a name or ARN) at `version`. `Ok(None)` when the secret
    /// does not exist or is marked for deletion.
    ///
    /// # Errors
    /// [`Error::AwsRead`].
    pub async fn secret(
        &self,
        id: &str,
        version: SecretVersion<'_>,
    ) -> Result<Option<SecretPayload>, Error> {
        let request = self.client.get_secret_value().secret_id(id);
        let request = match version {
            SecretVersion::Stage(stage) => request.version_stage(stage),
            SecretVersion::Id(version) => request.version_id(version),
        };
        match request.send().await {
            Ok(GetSecretValueOutput {
                secret_string: Some(text),
                ..
            }) => Ok(Some(SecretPayload::Text(Zeroizing::new(text)))),
            Ok(GetSecretValueOutput {
                secret_binary: Some(blob),
                ..
            }) => Ok(Some(SecretPayload::Binary(Zeroizing::new(
                blob.into_inner(),
            )))),
            Ok(_) => Err(read_error(
                AwsService::SecretsManager,
                id,
                (
                    RemoteFailure::Other,
                    "neither SecretString nor SecretBinary in the answer".into(),
                ),
            )),
            Err(err)
                if err.code() == Some("InvalidRequestException")
                    && err
                        .message()
                        .is_some_and(|m| m.contains("marked for deletion")) =>
            {
                Ok(None)
            }
            Err(err) => match classify(&err) {
                (RemoteFailure::NotFound, _) => Ok(None),
                failed => Err(read_error(AwsService::SecretsManager, id, failed)),
            },
        }
    }
}

impl SecretsManager {
    /// The names of the secrets AWS's `ListSecrets` gives for a `name` filter (a name
    /// prefix) and tag filters (each key and each value), every page.
    ///
    /// # Errors
    /// [`Error::AwsRead`].
    pub async fn list(
        &self,
        name: Option<&str>,
        tags: &std::collections::BTreeMap<String, String>,
    ) -> Result<Vec<String>, Error> {
        use aws_sdk_secretsmanager::types::{Filter, FilterNameStringType};
        let filter = |key: FilterNameStringType, value: &str| {
            Filter::builder().key(key).values(value).build()
        };
        let mut filters: Vec<Filter> = tags
            .iter()
            .flat_map(|(k, v)| {
                [
                    filter(FilterNameStringType::TagKey, k),
                    filter(FilterNameStringType::TagValue, v),
                ]
            })
            .collect();
        filters.extend(name.map(|prefix| filter(FilterNameStringType::Name, prefix)));
        let mut names = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_secrets()
                .set_filters((!filters.is_empty()).then(|| filters.clone()))
                .set_next_token(token)
                .send()
                .await
                .map_err(|err| read_error(AwsService::SecretsManager, "(list)", classify(&err)))?;
            names.extend(
                page.secret_list
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|s| s.name),
            );
            token = page.next_token;
            if token.is_none() {
                return Ok(names);
            }
        }
    }
}

/// A Parameter Store client for one store.
pub struct ParameterStore {
    client: aws_sdk_ssm::Client,
}

impl ParameterStore {
    /// The client for `source` (no call is made yet).
    pub async fn connect(source: &AwsSecretsSource) -> Self {
        let mut builder = aws_sdk_ssm::config::Builder::from(&source.config().await);
        builder.set_endpoint_url(source.endpoint.clone());
        Self {
            client: aws_sdk_ssm::Client::from_conf(builder.build()),
        }
    }

    /// `GetParameter` of `name` (`name:version` for a version), decrypted. `Ok(None)` when
    /// the parameter does not exist (a missing *version* is an error, as in AWS).
    ///
    /// # Errors
    /// [`Error::AwsRead`].
    pub async fn parameter(&self, name: &str) -> Result<Option<Zeroizing<String>>, Error> {
        let answer = self
            .client
            .get_parameter()
            .name(name)
            .with_decryption(true)
            .send()
            .await;
        match answer {
            Ok(out) => match out.parameter.and_then(|p| p.value) {
                Some(value) => Ok(Some(Zeroizing::new(value))),
                None => Err(read_error(
                    AwsService::ParameterStore,
                    name,
                    (RemoteFailure::Other, "no value in the answer".into()),
                )),
            },
            Err(err) => match classify(&err) {
                (RemoteFailure::NotFound, _) => Ok(None),
                failed => Err(read_error(AwsService::ParameterStore, name, failed)),
            },
        }
    }
}

impl ParameterStore {
    /// Every parameter under `path` (recursively, decrypted) with its value:
    /// `GetParametersByPath`, every page.
    ///
    /// # Errors
    /// [`Error::AwsRead`].
    pub async fn by_path(&self, path: &str) -> Result<Vec<(String, Zeroizing<String>)>, Error> {
        let mut found = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .get_parameters_by_path()
                .path(path)
                .recursive(true)
                .with_decryption(true)
                .set_next_token(token)
                .send()
                .await
                .map_err(|err| read_error(AwsService::ParameterStore, path, classify(&err)))?;
            for parameter in page.parameters.unwrap_or_default() {
                if let (Some(name), Some(value)) = (parameter.name, parameter.value) {
                    found.push((name, Zeroizing::new(value)));
                }
            }
            token = page.next_token;
            if token.is_none() {
                return Ok(found);
            }
        }
    }

    /// The names of the parameters carrying every tag of `tags` (and under `path`):
    /// `DescribeParameters`, every page.
    ///
    /// # Errors
    /// [`Error::AwsRead`].
    pub async fn with_tags(
        &self,
        tags: &std::collections::BTreeMap<String, String>,
        path: Option<&str>,
    ) -> Result<Vec<String>, Error> {
        use aws_sdk_ssm::types::ParameterStringFilter;
        let filter = |key: String, option: &str, value: &str| {
            ParameterStringFilter::builder()
                .key(key)
                .option(option)
                .values(value)
                .build()
                .ok()
        };
        let mut filters: Vec<ParameterStringFilter> = tags
            .iter()
            .filter_map(|(k, v)| filter(format!("tag:{k}"), "Equals", v))
            .collect();
        filters.extend(path.and_then(|p| filter("Path".into(), "Recursive", p)));
        let mut names = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .describe_parameters()
                .set_parameter_filters(Some(filters.clone()))
                .set_next_token(token)
                .send()
                .await
                .map_err(|err| {
                    read_error(AwsService::ParameterStore, "(describe)", classify(&err))
                })?;
            names.extend(
                page.parameters
                    .unwrap_or_default()
                    .into_iter()
                    .filter_map(|p| p.name),
            );
            token = page.next_token;
            if token.is_none() {
                return Ok(names);
            }
        }
    }
}

fn read_error(
    service: AwsService,
    name: &str,
    (failure, detail): (RemoteFailure, String),
) -> Error {
    Error::AwsRead {
        service,
        name: name.to_owned(),
        failure,
        detail,
    }
}
