//! Building the SDK client of one key: region, endpoint, timeouts, retries, and the
//! optional STS `AssumeRole` with the session name sops uses.

use aws_config::sts::AssumeRoleProvider;
use aws_config::{BehaviorVersion, Region};
use aws_sdk_kms::config::SharedCredentialsProvider;
use aws_sdk_kms::config::retry::RetryConfig;
use aws_sdk_kms::config::timeout::TimeoutConfig;

use super::{ATTEMPT_TIMEOUT, ATTEMPTS, CALL_TIMEOUT, CONNECT_TIMEOUT, KmsKey};

pub(super) async fn build_client(key: KmsKey) -> aws_sdk_kms::Client {
    let region = Region::new(key.region.clone());
    let base = match key.sdk_config {
        Some(config) => config,
        None => {
            let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(region.clone());
            if let Some(profile) = &key.profile {
                loader = loader.profile_name(profile);
            }
            if let Some(url) = &key.endpoint {
                loader = loader.endpoint_url(url);
            }
            if let Some(credentials) = &key.credentials {
                loader = loader.credentials_provider(credentials.clone());
            }
            loader.load().await
        }
    };
    let config = match &key.role {
        Some(role) => {
            let provider = AssumeRoleProvider::builder(role)
                .session_name(session_name())
                .region(region.clone())
                .configure(&base)
                .build()
                .await;
            base.into_builder()
                .credentials_provider(SharedCredentialsProvider::new(provider))
                .build()
        }
        None => base,
    };
    let mut builder = aws_sdk_kms::config::Builder::from(&config)
        .region(region)
        .retry_config(RetryConfig::standard().with_max_attempts(ATTEMPTS))
        .timeout_config(
            TimeoutConfig::builder()
                .connect_timeout(CONNECT_TIMEOUT)
                .operation_attempt_timeout(ATTEMPT_TIMEOUT)
                .operation_timeout(CALL_TIMEOUT)
                .build(),
        );
    if let Some(url) = &key.endpoint {
        builder = builder.endpoint_url(url);
    }
    aws_sdk_kms::Client::from_conf(builder.build())
}

/// sops' STS session name: `sops@<hostname>`, characters outside `[\w+=,.@-]` removed,
/// at most 64 characters.
pub(super) fn session_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_default();
    let name: String = format!("sops@{}", host.trim())
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(*c))
        .take(64)
        .collect();
    name
}
