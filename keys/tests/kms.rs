//! The KMS key service against moto: round trips with and without an encryption context,
//! every failure a user can meet (wrong context, unknown, disabled or deleted key, dead
//! endpoint, no credentials) as a clear error naming the ARN and never the data key, and
//! the calling contexts the controller and the CLI use.
#![cfg(feature = "kms")]

use std::time::{Duration, Instant};

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::{ProvideCredentials, future};
use aws_sdk_kms::config::{Credentials, SharedCredentialsProvider};
use base64::Engine as _;
use lockstep_keys::{DataKey, Error, KeyService, KmsKey, RemoteFailure, WrappedKey};
use lockstep_testenv::{Kms, need};

/// Every rendering of an error, checked for the data key in hex and base64.
fn assert_no_leak(err: &Error, key: &DataKey) {
    let bytes = key.expose_secret();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    for text in [err.to_string(), format!("{err:?}"), format!("{err:#?}")] {
        assert!(
            !text.to_lowercase().contains(&hex),
            "hex data key in {text}"
        );
        assert!(!text.contains(&b64), "base64 data key in {text}");
        assert!(!text.contains(&b64[..20]), "base64 data key in {text}");
    }
}

async fn moto_key(kms: &Kms) -> (String, SdkConfig) {
    (kms.create_key().await.unwrap(), kms.sdk_config().await)
}

/// Runs the blocking call the way the controller does.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn round_trip_without_context() {
    let kms = need!(Kms::start().await);
    let (arn, config) = moto_key(&kms).await;
    let key = KmsKey::new(&arn).unwrap().with_sdk_config(config);
    let data_key = DataKey::generate();
    let expected = *data_key.expose_secret();
    let (wrapped, back) = blocking(move || {
        let wrapped = key.wrap(&data_key).unwrap();
        let back = key.unwrap(&wrapped).unwrap().expect("my key");
        (wrapped, *back.expose_secret())
    })
    .await;
    assert!(
        base64::engine::general_purpose::STANDARD
            .decode(&wrapped.0)
            .is_ok()
    );
    assert_eq!(back, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn round_trip_with_context_and_mismatched_context_fails() {
    let kms = need!(Kms::start().await);
    let (arn, config) = moto_key(&kms).await;
    let key = KmsKey::new(&arn)
        .unwrap()
        .with_sdk_config(config.clone())
        .with_context([("app", "lockstep"), ("env", "test")]);
    let other = KmsKey::new(&arn)
        .unwrap()
        .with_sdk_config(config.clone())
        .with_context([("app", "lockstep"), ("env", "prod")]);
    let none = KmsKey::new(&arn).unwrap().with_sdk_config(config);
    blocking(move || {
        let data_key = DataKey::generate();
        let wrapped = key.wrap(&data_key).unwrap();
        let back = key.unwrap(&wrapped).unwrap().unwrap();
        assert_eq!(back.expose_secret(), data_key.expose_secret());
        for wrong in [&other, &none] {
            let err = wrong.unwrap(&wrapped).unwrap_err();
            assert!(
                matches!(
                    err,
                    Error::KmsDecrypt {
                        failure: RemoteFailure::InvalidCiphertext,
                        ..
                    }
                ),
                "{err:?}"
            );
            assert!(err.to_string().contains(&arn), "{err}");
            assert_no_leak(&err, &data_key);
        }
        let corrupt = WrappedKey("bm90IGEgY2lwaGVydGV4dA==".into());
        let err = key.unwrap(&corrupt).unwrap_err();
        assert!(err.to_string().contains(&arn), "{err}");
        let garbage = WrappedKey("***".into());
        let err = key.unwrap(&garbage).unwrap_err();
        assert!(err.to_string().contains("not valid base64"), "{err}");
    })
    .await;
}

/// moto (5.2.5) refuses an unknown key on Encrypt, but neither a disabled key nor one
/// pending deletion, and Decrypt ignores `KeyId`; `DisabledException` and
/// `KMSInvalidStateException` are covered by the unit test
/// `kms::tests::service_codes_become_failure_kinds`.
#[tokio::test(flavor = "multi_thread")]
async fn unknown_key_fails_naming_the_arn() {
    let kms = need!(Kms::start().await);
    let config = kms.sdk_config().await;
    let arn = "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000";
    let key = KmsKey::new(arn).unwrap().with_sdk_config(config);
    let err = blocking(move || key.wrap(&DataKey::generate()).unwrap_err()).await;
    assert!(
        matches!(
            err,
            Error::KmsEncrypt {
                failure: RemoteFailure::NotFound,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains(arn), "{err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn closed_port_fails_quickly_as_unreachable() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let config = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .load()
        .await;
    let arn = "arn:aws:kms:us-east-1:123456789012:key/1234";
    let key = KmsKey::new(arn)
        .unwrap()
        .with_sdk_config(config)
        .with_endpoint(format!("http://127.0.0.1:{port}"));
    let started = Instant::now();
    let data_key = DataKey::generate();
    let (wrap_err, unwrap_err, data_key) = blocking(move || {
        let wrap_err = key.wrap(&data_key).unwrap_err();
        let unwrap_err = key.unwrap(&WrappedKey("AAAA".into())).unwrap_err();
        (wrap_err, unwrap_err, data_key)
    })
    .await;
    let elapsed = started.elapsed();
    println!("closed port: two calls failed in {elapsed:?}: {wrap_err}");
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
    for err in [&wrap_err, &unwrap_err] {
        assert!(err.to_string().contains(arn), "{err}");
        assert!(err.to_string().contains("unreachable"), "{err}");
        assert_no_leak(err, &data_key);
    }
}

/// A credential chain that found nothing, as on a machine with no AWS setup at all.
#[derive(Debug)]
struct NoCredentials;

impl ProvideCredentials for NoCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::ready(Err(CredentialsError::not_loaded(
            "no providers in chain",
        )))
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn no_credentials_is_not_mine_for_unwrap_and_an_error_for_wrap() {
    let kms = need!(Kms::start().await);
    let (arn, config) = moto_key(&kms).await;
    let uncredentialed = config
        .into_builder()
        .credentials_provider(SharedCredentialsProvider::new(NoCredentials))
        .build();
    let key = KmsKey::new(&arn).unwrap().with_sdk_config(uncredentialed);
    let (unwrapped, wrap_err) = blocking(move || {
        let unwrapped = key.unwrap(&WrappedKey("AAAA".into())).unwrap().is_none();
        (unwrapped, key.wrap(&DataKey::generate()).unwrap_err())
    })
    .await;
    assert!(unwrapped, "no credentials must be Ok(None)");
    assert!(
        matches!(
            wrap_err,
            Error::KmsEncrypt {
                failure: RemoteFailure::Denied,
                ..
            }
        ),
        "{wrap_err:?}"
    );
    println!("wrap without credentials: {wrap_err}");
}

#[tokio::test(flavor = "multi_thread")]
async fn assumes_the_role_through_sts() {
    let kms = need!(Kms::start().await);
    let (arn, config) = moto_key(&kms).await;
    let key = KmsKey::parse(&format!("{arn}+arn:aws:iam::123456789012:role/sops"))
        .unwrap()
        .with_sdk_config(config);
    assert_eq!(key.role(), Some("arn:aws:iam::123456789012:role/sops"));
    blocking(move || {
        let data_key = DataKey::generate();
        let wrapped = key.wrap(&data_key).unwrap();
        let back = key.unwrap(&wrapped).unwrap().unwrap();
        assert_eq!(back.expose_secret(), data_key.expose_secret());
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn shares_round_trip() {
    let kms = need!(Kms::start().await);
    let (arn, config) = moto_key(&kms).await;
    let key = KmsKey::new(&arn).unwrap().with_sdk_config(config);
    blocking(move || {
        let share = [7u8; 33];
        let wrapped = key.wrap_share(&share).unwrap();
        assert_eq!(
            key.unwrap_share(&wrapped).unwrap().unwrap().as_slice(),
            &share
        );
    })
    .await;
}

/// The CLI's case: plain synchronous code with no runtime around it.
#[test]
fn works_from_plain_sync_code_and_reports_latency() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let kms = need!(runtime.block_on(Kms::start()));
    let (arn, config) = runtime.block_on(moto_key(&kms));
    drop(runtime);
    let key = KmsKey::new(&arn).unwrap().with_sdk_config(config);
    let data_key = DataKey::generate();
    let started = Instant::now();
    let wrapped = key.wrap(&data_key).unwrap();
    println!("moto first wrap (client built): {:?}", started.elapsed());
    const ROUNDS: u32 = 20;
    let started = Instant::now();
    for _ in 0..ROUNDS {
        key.wrap(&data_key).unwrap();
    }
    let wrap = started.elapsed() / ROUNDS;
    let started = Instant::now();
    for _ in 0..ROUNDS {
        let back = key.unwrap(&wrapped).unwrap().unwrap();
        assert_eq!(back.expose_secret(), data_key.expose_secret());
    }
    let unwrap = started.elapsed() / ROUNDS;
    println!("moto latency: wrap {wrap:?}, unwrap {unwrap:?} (mean of {ROUNDS})");
}

/// Called straight from an async task (not `spawn_blocking`) it must not panic either.
#[tokio::test]
async fn does_not_panic_inside_an_async_task() {
    let kms = need!(Kms::start().await);
    let (arn, config) = moto_key(&kms).await;
    let key = KmsKey::new(&arn).unwrap().with_sdk_config(config);
    let data_key = DataKey::generate();
    let wrapped = key.wrap(&data_key).unwrap();
    let back = key.unwrap(&wrapped).unwrap().unwrap();
    assert_eq!(back.expose_secret(), data_key.expose_secret());
    // Dropping the key (and its client) inside the task must not panic either.
    drop(key);
}

/// The default chain, as the CLI and controller use it (no injected SDK config): the
/// endpoint from `AWS_ENDPOINT_URL_KMS`, credentials from the `aws_profile` of the entry in
/// a shared credentials file, the region from the ARN. The environment cannot be changed
/// inside this process, so the test runs [`default_chain_child`] in a child process.
#[test]
fn default_chain_honours_endpoint_variable_and_profile() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let kms = need!(runtime.block_on(Kms::start()));
    let arn = runtime.block_on(kms.create_key()).unwrap();
    let home = tempfile::tempdir().unwrap();
    let credentials = home.path().join("credentials");
    std::fs::write(
        &credentials,
        "[lockstep-test]\naws_access_key_id = test\naws_secret_access_key = test\n",
    )
    .unwrap();
    let config = home.path().join("config");
    std::fs::write(&config, "").unwrap();
    let output = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "kms::default_chain_child",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", home.path())
        .env("AWS_ENDPOINT_URL_KMS", kms.endpoint())
        .env("AWS_SHARED_CREDENTIALS_FILE", &credentials)
        .env("AWS_CONFIG_FILE", &config)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("LOCKSTEP_KMS_CHILD_ARN", &arn)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "child failed:\n{stdout}\n{stderr}");
    assert!(
        stdout.contains("default chain: ok"),
        "child did not run:\n{stdout}\n{stderr}"
    );
    for line in stdout.lines().filter(|l| l.contains("decided")) {
        println!("child: {line}");
    }
}

/// The child half of [`default_chain_honours_endpoint_variable_and_profile`]; does nothing
/// unless that test started it.
#[test]
fn default_chain_child() {
    let Ok(arn) = std::env::var("LOCKSTEP_KMS_CHILD_ARN") else {
        return;
    };
    let key = KmsKey::new(&arn).unwrap().with_profile("lockstep-test");
    let data_key = DataKey::generate();
    let wrapped = key.wrap(&data_key).unwrap();
    let back = key.unwrap(&wrapped).unwrap().unwrap();
    assert_eq!(back.expose_secret(), data_key.expose_secret());
    // Without the profile this environment has no credentials at all: "not mine".
    let started = Instant::now();
    let anonymous = KmsKey::new(&arn).unwrap();
    assert!(anonymous.unwrap(&wrapped).unwrap().is_none());
    println!("no credentials decided in {:?}", started.elapsed());
    println!("default chain: ok");
}
