//! The SDK configuration of one AWS caller: region, profile, endpoint, static credentials
//! and an optional STS `AssumeRole`, with the retry and timeout policy every client here
//! shares.

use aws_config::sts::AssumeRoleProvider;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::Credentials;
use aws_credential_types::provider::SharedCredentialsProvider;
use aws_smithy_types::retry::RetryConfig;
use aws_smithy_types::timeout::TimeoutConfig;

use super::{ATTEMPT_TIMEOUT, ATTEMPTS, CALL_TIMEOUT, CONNECT_TIMEOUT};

/// Who calls AWS, and where.
#[derive(Clone, Default)]
pub(crate) struct Access {
    /// The region.
    pub region: String,
    /// A named profile of the shared config files.
    pub profile: Option<String>,
    /// The endpoint of every service, STS included (tests point it at moto).
    pub endpoint: Option<String>,
    /// Static credentials instead of the default chain.
    pub credentials: Option<Credentials>,
    /// An IAM role to assume with those credentials, and the session name to use.
    pub role: Option<(String, String)>,
    /// A ready configuration that replaces region, profile, endpoint and credentials.
    pub sdk_config: Option<SdkConfig>,
}

impl Access {
    /// The SDK configuration every client is built from: the default chain (or the given
    /// parts), then the role, with the shared retry and timeout policy.
    pub(crate) async fn sdk_config(&self) -> SdkConfig {
        let region = Region::new(self.region.clone());
        let base = match &self.sdk_config {
            Some(config) => config.clone(),
            None => {
                let mut loader =
                    aws_config::defaults(BehaviorVersion::latest()).region(region.clone());
                if let Some(profile) = &self.profile {
                    loader = loader.profile_name(profile);
                }
                if let Some(url) = &self.endpoint {
                    loader = loader.endpoint_url(url);
                }
                if let Some(credentials) = &self.credentials {
                    loader = loader.credentials_provider(credentials.clone());
                }
                loader.load().await
            }
        };
        let mut config = base.to_builder();
        if let Some((role, session)) = &self.role {
            let provider = AssumeRoleProvider::builder(role)
                .session_name(session)
                .region(region.clone())
                .configure(&base)
                .build()
                .await;
            config.set_credentials_provider(Some(SharedCredentialsProvider::new(provider)));
        }
        config
            .region(region)
            .retry_config(retry())
            .timeout_config(timeouts())
            .build()
    }
}

/// [`ATTEMPTS`] attempts per call.
fn retry() -> RetryConfig {
    RetryConfig::standard().with_max_attempts(ATTEMPTS)
}

/// [`CONNECT_TIMEOUT`], [`ATTEMPT_TIMEOUT`] and [`CALL_TIMEOUT`].
fn timeouts() -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(CONNECT_TIMEOUT)
        .operation_attempt_timeout(ATTEMPT_TIMEOUT)
        .operation_timeout(CALL_TIMEOUT)
        .build()
}
