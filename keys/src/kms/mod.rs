//! AWS KMS master keys (sops `kms` entries), through `aws-sdk-kms`.
//!
//! [`KmsKey`] is the [`KeyService`] for one entry: `wrap` calls `kms:Encrypt` with the raw
//! data key and the entry's encryption context and stores the `CiphertextBlob` as standard
//! base64 (the `enc` field); `unwrap` base64-decodes it and calls `kms:Decrypt` with the
//! same key id and context. The region comes from the ARN.
//!
//! Credentials come from the AWS default chain (environment, `AWS_PROFILE` or the entry's
//! `aws_profile`, shared files, web identity/IRSA, ECS, IMDS), optionally through an STS
//! `AssumeRole` of the entry's `role`, with the session name sops uses. The endpoint is the
//! SDK's: `AWS_ENDPOINT_URL_KMS`/`AWS_ENDPOINT_URL` are honoured, and
//! [`KmsKey::with_endpoint`] overrides both (tests point it at moto). Calls give up after
//! [`ATTEMPTS`] attempts, each bounded by [`ATTEMPT_TIMEOUT`], and after [`CALL_TIMEOUT`] in
//! all, so a dead endpoint fails in seconds. The async SDK runs on this crate's own runtime (see [`KmsKey`]).
//!
//! Errors name the ARN and what KMS said; the SDK's errors themselves are not kept, since
//! their raw HTTP responses could hold key material.

use std::collections::BTreeMap;

use aws_config::SdkConfig;
pub use aws_credential_types::Credentials;
use aws_sdk_kms::primitives::Blob;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use tokio::sync::OnceCell;
use zeroize::Zeroizing;

use crate::remote::{RemoteFailure, block_on};

pub use crate::aws::{ATTEMPT_TIMEOUT, ATTEMPTS, CALL_TIMEOUT, CONNECT_TIMEOUT};
use crate::aws::{Access, classify, no_credentials};
use crate::{DataKey, Error, KeyService, WrappedKey};

/// One AWS KMS key as a sops `kms` entry names it: ARN, optional role, encryption context
/// and optional `aws_profile`.
///
/// A sops metadata entry `{arn, role, context, aws_profile, enc}` maps to
/// `KmsKey::new(arn)?.with_role(role).with_context(context).with_profile(aws_profile)`, and
/// `enc` is the [`WrappedKey`]. The SDK client is built on first use and kept.
///
/// # Runtime
/// [`KeyService`] is synchronous; the SDK is async. Calls run on a small runtime this crate
/// owns (one worker thread, shared by all KMS and Vault keys, started on first use) while
/// the calling thread waits. So `wrap`/`unwrap` work from plain code without a runtime and
/// from `spawn_blocking` in a multi-thread runtime, and never panic because of the calling
/// context. From inside an async task they block that worker thread for the call: use
/// `spawn_blocking` there.
///
/// # `unwrap` outcomes
/// `Ok(None)` when no AWS credentials exist at all (the default chain found none): this
/// machine has no way to use any KMS key. Every other failure is `Err`: denied, unknown or
/// disabled key, wrong context or corrupt `enc`, unreachable endpoint, failed role
/// assumption.
#[derive(Clone)]
pub struct KmsKey {
    arn: String,
    region: String,
    role: Option<String>,
    context: BTreeMap<String, String>,
    profile: Option<String>,
    endpoint: Option<String>,
    credentials: Option<Credentials>,
    sdk_config: Option<SdkConfig>,
    client: std::sync::Arc<OnceCell<aws_sdk_kms::Client>>,
}

impl std::fmt::Debug for KmsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KmsKey")
            .field("arn", &self.arn)
            .field("role", &self.role)
            .field("context", &self.context)
            .field("profile", &self.profile)
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl KmsKey {
    /// A key from its ARN (`arn:aws…:kms:<region>:<account>:key/…` or `…:alias/…`); spaces
    /// are removed, as sops does.
    ///
    /// # Errors
    /// [`Error::KmsArn`] when the ARN does not have that form.
    pub fn new(arn: &str) -> Result<Self, Error> {
        let arn: String = arn.chars().filter(|c| *c != ' ').collect();
        let region = region_of(&arn)?.to_owned();
        Ok(Self {
            arn,
            region,
            role: None,
            context: BTreeMap::new(),
            profile: None,
            endpoint: None,
            credentials: None,
            sdk_config: None,
            client: Default::default(),
        })
    }

    /// A key from sops' string form `arn[+role_arn]` (`--kms`, `SOPS_KMS_ARN`, one item of
    /// a comma-separated list).
    ///
    /// # Errors
    /// [`Error::KmsArn`] when either ARN is malformed.
    pub fn parse(text: &str) -> Result<Self, Error> {
        let text: String = text.chars().filter(|c| *c != ' ').collect();
        match text.split_once("+arn:") {
            Some((arn, role)) => {
                let role = format!("arn:{role}");
                if !role.contains(":iam:") {
                    return Err(Error::KmsArn {
                        arn: text.clone(),
                        reason: "the part after `+` is not an IAM role ARN",
                    });
                }
                Ok(Self::new(arn)?.with_role(role))
            }
            None => Self::new(&text),
        }
    }

    /// Assumes this IAM role (sops `role`) before calling KMS.
    pub fn with_role(mut self, role_arn: impl Into<String>) -> Self {
        self.role = Some(role_arn.into()).filter(|r| !r.is_empty());
        self.reset()
    }

    /// The encryption context (sops `context`), sent with both Encrypt and Decrypt.
    pub fn with_context<K: Into<String>, V: Into<String>>(
        mut self,
        context: impl IntoIterator<Item = (K, V)>,
    ) -> Self {
        self.context = context
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        self.reset()
    }

    /// Loads credentials from this shared-config profile (sops `aws_profile`) instead of
    /// `AWS_PROFILE`/`default`. Ignored with [`KmsKey::with_sdk_config`].
    pub fn with_profile(mut self, profile: impl Into<String>) -> Self {
        self.profile = Some(profile.into()).filter(|p| !p.is_empty());
        self.reset()
    }

    /// Sends KMS (and STS, for a role) requests to this endpoint instead of AWS's.
    pub fn with_endpoint(mut self, url: impl Into<String>) -> Self {
        self.endpoint = Some(url.into());
        self.reset()
    }

    /// Uses these static credentials instead of the default chain's (a decryption Secret's
    /// `sops.aws-kms`); the endpoint and profile settings still apply.
    pub fn with_credentials(mut self, credentials: Credentials) -> Self {
        self.credentials = Some(credentials);
        self.reset()
    }

    /// Uses this SDK configuration (credentials, endpoint, HTTP client) instead of loading
    /// the default chain. The region still comes from the ARN.
    pub fn with_sdk_config(mut self, config: SdkConfig) -> Self {
        self.sdk_config = Some(config);
        self.reset()
    }

    fn reset(mut self) -> Self {
        self.client = Default::default();
        self
    }

    /// The key ARN (sops `arn`).
    pub fn arn(&self) -> &str {
        &self.arn
    }

    /// The role to assume (sops `role`).
    pub fn role(&self) -> Option<&str> {
        self.role.as_deref()
    }

    /// The encryption context (sops `context`).
    pub fn context(&self) -> &BTreeMap<String, String> {
        &self.context
    }

    /// The shared-config profile (sops `aws_profile`).
    pub fn profile(&self) -> Option<&str> {
        self.profile.as_deref()
    }

    /// sops' string form: `arn` or `arn+role_arn`.
    pub fn to_sops_string(&self) -> String {
        match &self.role {
            Some(role) => format!("{}+{role}", self.arn),
            None => self.arn.clone(),
        }
    }

    /// The context as the SDK takes it; none at all when empty, as sops sends it.
    fn context_map(&self) -> Option<std::collections::HashMap<String, String>> {
        (!self.context.is_empty()).then(|| self.context.clone().into_iter().collect())
    }

    async fn client(&self) -> aws_sdk_kms::Client {
        self.client
            .get_or_init(|| async {
                let access = Access {
                    region: self.region.clone(),
                    profile: self.profile.clone(),
                    endpoint: self.endpoint.clone(),
                    credentials: self.credentials.clone(),
                    role: self.role.clone().map(|role| (role, session_name())),
                    sdk_config: self.sdk_config.clone(),
                };
                let config = access.sdk_config().await;
                let mut builder = aws_sdk_kms::config::Builder::from(&config);
                if let Some(url) = &self.endpoint {
                    builder = builder.endpoint_url(url);
                }
                aws_sdk_kms::Client::from_conf(builder.build())
            })
            .await
            .clone()
    }

    fn encrypt(&self, plaintext: Vec<u8>) -> Result<WrappedKey, Error> {
        let key = self.clone();
        let result = block_on(async move {
            let client = key.client().await;
            let answer = client
                .encrypt()
                .key_id(&key.arn)
                .plaintext(Blob::new(plaintext))
                .set_encryption_context(key.context_map())
                .send()
                .await;
            answer.map(|out| out.ciphertext_blob.map(Blob::into_inner))
        })?;
        let failed = |(failure, detail)| Error::KmsEncrypt {
            arn: self.arn.clone(),
            failure,
            detail,
        };
        match result {
            Ok(Some(blob)) => Ok(WrappedKey(STANDARD.encode(blob))),
            Ok(None) => Err(failed((
                RemoteFailure::Other,
                "no CiphertextBlob in the answer".into(),
            ))),
            Err(err) => Err(failed(classify(&err))),
        }
    }

    fn decrypt(&self, wrapped: &WrappedKey) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        let failed = |failure, detail| Error::KmsDecrypt {
            arn: self.arn.clone(),
            failure,
            detail,
        };
        let blob = STANDARD.decode(wrapped.0.trim()).map_err(|_| {
            failed(
                RemoteFailure::InvalidCiphertext,
                "enc is not valid base64".into(),
            )
        })?;
        let key = self.clone();
        let result = block_on(async move {
            let client = key.client().await;
            let answer = client
                .decrypt()
                .key_id(&key.arn)
                .ciphertext_blob(Blob::new(blob))
                .set_encryption_context(key.context_map())
                .send()
                .await;
            answer.map(|out| out.plaintext.map(|p| Zeroizing::new(p.into_inner())))
        })?;
        match result {
            Ok(Some(plaintext)) => Ok(Some(plaintext)),
            Ok(None) => Err(failed(
                RemoteFailure::Other,
                "no Plaintext in the answer".into(),
            )),
            Err(err) if no_credentials(&err) => Ok(None),
            Err(err) => {
                let (failure, detail) = classify(&err);
                Err(failed(failure, detail))
            }
        }
    }
}

impl KeyService for KmsKey {
    fn describe(&self) -> String {
        self.arn.clone()
    }

    fn not_found(&self) -> String {
        "no AWS credentials found (environment, shared config and credentials files, \
         web identity, container or instance role)"
            .to_owned()
    }

    fn wrap(&self, key: &DataKey) -> Result<WrappedKey, Error> {
        self.encrypt(key.expose_secret().to_vec())
    }

    fn unwrap(&self, wrapped: &WrappedKey) -> Result<Option<DataKey>, Error> {
        match self.decrypt(wrapped)? {
            Some(bytes) => DataKey::try_from_slice(&bytes).map(Some),
            None => Ok(None),
        }
    }

    fn wrap_share(&self, share: &[u8]) -> Result<WrappedKey, Error> {
        self.encrypt(share.to_vec())
    }

    fn unwrap_share(&self, wrapped: &WrappedKey) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        self.decrypt(wrapped)
    }
}

/// The region of a KMS ARN, checking the form sops accepts:
/// `^arn:aws[\w-]*:kms:(.+):[0-9]+:(key|alias)/.+$`.
fn region_of(arn: &str) -> Result<&str, Error> {
    let bad = |reason| Error::KmsArn {
        arn: arn.to_owned(),
        reason,
    };
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let [prefix, partition, service, region, account, resource] = parts[..] else {
        return Err(bad("not an ARN (arn:aws:kms:<region>:<account>:key/<id>)"));
    };
    let partition_ok = partition.strip_prefix("aws").is_some_and(|rest| {
        rest.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    });
    if prefix != "arn" || !partition_ok || service != "kms" {
        return Err(bad(
            "not a KMS ARN (arn:aws:kms:<region>:<account>:key/<id>)",
        ));
    }
    if region.is_empty() {
        return Err(bad("the ARN has no region"));
    }
    if account.is_empty() || !account.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad("the ARN's account is not a number"));
    }
    let id = resource
        .strip_prefix("key/")
        .or_else(|| resource.strip_prefix("alias/"));
    if id.is_none_or(str::is_empty) {
        return Err(bad("the ARN names no key/<id> or alias/<name>"));
    }
    Ok(region)
}

/// sops' STS session name: `sops@<hostname>`, characters outside `[\w+=,.@-]` removed,
/// at most 64 characters.
fn session_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .or_else(|_| std::fs::read_to_string("/etc/hostname"))
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .or_else(|| std::env::var("COMPUTERNAME").ok())
        .unwrap_or_default();
    format!("sops@{}", host.trim())
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(*c))
        .take(64)
        .collect()
}

#[cfg(test)]
mod tests {
    use aws_sdk_kms::error::SdkError;

    use super::*;

    #[test]
    fn arns_are_checked_and_give_their_region() {
        let key = KmsKey::new("arn:aws:kms:eu-west-1:123456789012:key/abc-def").unwrap();
        assert_eq!(key.region, "eu-west-1");
        let alias = KmsKey::new("arn:aws-us-gov:kms:us-gov-west-1:1:alias/sops").unwrap();
        assert_eq!(alias.region, "us-gov-west-1");
        for bad in [
            "",
            "abc",
            "arn:aws:s3:eu-west-1:123:key/x",
            "arn:aws:kms::123:key/x",
            "arn:aws:kms:eu-west-1:abc:key/x",
            "arn:aws:kms:eu-west-1:123:key/",
            "arn:aws:kms:eu-west-1:123:secret/x",
        ] {
            let err = KmsKey::new(bad).unwrap_err();
            assert!(matches!(err, Error::KmsArn { .. }), "{bad}: {err}");
        }
    }

    #[test]
    fn sops_string_form_splits_the_role() {
        let key =
            KmsKey::parse(" arn:aws:kms:us-east-1:1:key/k+arn:aws:iam::1:role/sops ").unwrap();
        assert_eq!(key.arn(), "arn:aws:kms:us-east-1:1:key/k");
        assert_eq!(key.role(), Some("arn:aws:iam::1:role/sops"));
        assert_eq!(
            key.to_sops_string(),
            "arn:aws:kms:us-east-1:1:key/k+arn:aws:iam::1:role/sops"
        );
        let plain = KmsKey::parse("arn:aws:kms:us-east-1:1:key/k").unwrap();
        assert_eq!(plain.role(), None);
        assert_eq!(plain.to_sops_string(), "arn:aws:kms:us-east-1:1:key/k");
    }

    #[test]
    fn service_codes_become_failure_kinds() {
        use aws_sdk_kms::config::http::HttpResponse;
        use aws_sdk_kms::error::ErrorMetadata;
        use aws_sdk_kms::operation::decrypt::DecryptError;
        use aws_sdk_kms::types::error::{DisabledException, KmsInvalidStateException};
        let response = || HttpResponse::new(400.try_into().unwrap(), "{}".into());
        // As the deserializer builds them: the code is in the error metadata.
        let meta = |code: &str, message: &str| {
            ErrorMetadata::builder().code(code).message(message).build()
        };
        let disabled = DecryptError::DisabledException(
            DisabledException::builder()
                .message("key is disabled")
                .meta(meta("DisabledException", "key is disabled"))
                .build(),
        );
        let (kind, detail) = classify(&SdkError::service_error(disabled, response()));
        assert_eq!(kind, RemoteFailure::Disabled);
        assert_eq!(detail, "DisabledException: key is disabled");
        let pending = DecryptError::KmsInvalidStateException(
            KmsInvalidStateException::builder()
                .meta(meta("KMSInvalidStateException", "pending deletion"))
                .build(),
        );
        let (kind, _) = classify(&SdkError::service_error(pending, response()));
        assert_eq!(kind, RemoteFailure::Disabled);
    }

    #[test]
    fn session_name_is_what_sts_accepts() {
        let name = session_name();
        assert!(name.starts_with("sops@"));
        assert!(name.len() <= 64);
    }
}
