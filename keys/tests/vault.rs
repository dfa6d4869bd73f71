//! The Vault transit key service against OpenBao: round trip, rewrap after a key rotation,
//! every failure a user can meet (wrong token, unknown key, sealed or stopped server) as a
//! clear error naming the key URI and never the data key or the token, the token lookup
//! order, and the calling contexts the controller and the CLI use.
#![cfg(feature = "vault")]

use std::time::{Duration, Instant};

use base64::Engine as _;
use lockstep_keys::{
    DataKey, Error, KeyService, RemoteFailure, VaultEnv, VaultTransitKey, WrappedKey,
};
use lockstep_testenv::{Vault, need};
use secrecy::{ExposeSecret, SecretString};

/// Every rendering of an error, checked for the data key (hex, base64) and a token.
fn assert_no_leak(err: &Error, key: &DataKey, token: &str) {
    let bytes = key.expose_secret();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    let b64 = base64::engine::general_purpose::STANDARD.encode(bytes);
    for text in [err.to_string(), format!("{err:?}"), format!("{err:#?}")] {
        assert!(
            !text.to_lowercase().contains(&hex),
            "hex data key in {text}"
        );
        assert!(!text.contains(&b64[..20]), "base64 data key in {text}");
        assert!(!text.contains(token), "token in {text}");
    }
}

async fn transit_key(vault: &Vault, name: &str) -> VaultTransitKey {
    vault
        .post(&format!("/v1/transit/keys/{name}"), "{}")
        .await
        .unwrap();
    VaultTransitKey::from_uri(&format!("{}/v1/transit/keys/{name}", vault.addr()))
        .unwrap()
        .with_token(SecretString::from(vault.token()))
}

/// Runs the blocking call the way the controller does.
async fn blocking<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    tokio::task::spawn_blocking(f).await.unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn round_trip_and_rewrap_after_rotation() {
    let vault = need!(Vault::start().await);
    let key = transit_key(&vault, "sops").await;
    assert_eq!(key.uri(), format!("{}/v1/transit/keys/sops", vault.addr()));
    let data_key = DataKey::generate();
    let expected = *data_key.expose_secret();
    let (wrapped, key) = blocking(move || {
        let wrapped = key.wrap(&data_key).unwrap();
        let back = key.unwrap(&wrapped).unwrap().expect("my key");
        assert_eq!(back.expose_secret(), data_key.expose_secret());
        (wrapped, key)
    })
    .await;
    assert!(wrapped.0.starts_with("vault:v1:"), "{}", wrapped.0);

    vault
        .post("/v1/transit/keys/sops/rotate", "{}")
        .await
        .unwrap();
    let (rewrapped, back) = blocking(move || {
        let rewrapped = key.rewrap(&wrapped).unwrap();
        let back = key.unwrap(&rewrapped).unwrap().unwrap();
        (rewrapped, *back.expose_secret())
    })
    .await;
    assert!(rewrapped.0.starts_with("vault:v2:"), "{}", rewrapped.0);
    assert_eq!(back, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_token_is_denied_naming_the_uri() {
    let vault = need!(Vault::start().await);
    let key = transit_key(&vault, "denied").await;
    let data_key = DataKey::generate();
    let wrapped = key.wrap(&data_key).unwrap();
    let bad_token = "s.not-the-right-token-canary";
    let wrong = key.clone().with_token(SecretString::from(bad_token));
    assert!(!format!("{wrong:?}").contains(bad_token));
    assert!(!format!("{key:?}").contains(vault.token()));
    let uri = wrong.uri();
    let (wrap_err, unwrap_err, data_key) = blocking(move || {
        (
            wrong.wrap(&data_key).unwrap_err(),
            wrong.unwrap(&wrapped).unwrap_err(),
            data_key,
        )
    })
    .await;
    println!("wrong token: {unwrap_err}");
    for err in [&wrap_err, &unwrap_err] {
        assert!(
            matches!(
                err,
                Error::VaultEncrypt {
                    failure: RemoteFailure::Denied,
                    ..
                } | Error::VaultDecrypt {
                    failure: RemoteFailure::Denied,
                    ..
                }
            ),
            "{err:?}"
        );
        assert!(err.to_string().contains(&uri), "{err}");
        assert!(err.to_string().contains("permission denied"), "{err}");
        assert_no_leak(err, &data_key, bad_token);
        assert_no_leak(err, &data_key, vault.token());
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_key_and_corrupt_ciphertext_fail_clearly() {
    let vault = need!(Vault::start().await);
    let key = transit_key(&vault, "known").await;
    let data_key = DataKey::generate();
    let wrapped = key.wrap(&data_key).unwrap();
    let unknown = VaultTransitKey::new(vault.addr(), "transit", "unknown")
        .unwrap()
        .with_token(SecretString::from(vault.token()));
    let uri = unknown.uri();
    let (unknown_err, corrupt_err, data_key) = blocking(move || {
        let unknown_err = unknown.unwrap(&wrapped).unwrap_err();
        let corrupt = WrappedKey("vault:v1:bm90IGEgY2lwaGVydGV4dA==".into());
        (unknown_err, key.unwrap(&corrupt).unwrap_err(), data_key)
    })
    .await;
    println!("unknown key: {unknown_err}\ncorrupt: {corrupt_err}");
    assert!(
        matches!(
            unknown_err,
            Error::VaultDecrypt {
                failure: RemoteFailure::NotFound,
                ..
            }
        ),
        "{unknown_err:?}"
    );
    assert!(unknown_err.to_string().contains(&uri), "{unknown_err}");
    assert!(
        matches!(corrupt_err, Error::VaultDecrypt { .. }),
        "{corrupt_err:?}"
    );
    assert_no_leak(&unknown_err, &data_key, vault.token());
    assert_no_leak(&corrupt_err, &data_key, vault.token());
}

#[tokio::test(flavor = "multi_thread")]
async fn sealed_then_stopped_server_fails_clearly() {
    let vault = need!(Vault::start().await);
    let key = transit_key(&vault, "sealme").await;
    let data_key = DataKey::generate();
    let wrapped = key.wrap(&data_key).unwrap();
    vault.post("/v1/sys/seal", "").await.unwrap();
    let (sealed, key, wrapped) =
        blocking(move || (key.unwrap(&wrapped).unwrap_err(), key, wrapped)).await;
    println!("sealed: {sealed}");
    assert!(
        matches!(
            sealed,
            Error::VaultDecrypt {
                failure: RemoteFailure::Sealed,
                ..
            }
        ),
        "{sealed:?}"
    );
    assert!(sealed.to_string().contains(&key.uri()), "{sealed}");

    drop(vault);
    let started = Instant::now();
    let stopped = blocking(move || key.unwrap(&wrapped).unwrap_err()).await;
    let elapsed = started.elapsed();
    println!("stopped, failed in {elapsed:?}: {stopped}");
    assert!(
        matches!(
            stopped,
            Error::VaultDecrypt {
                failure: RemoteFailure::Unreachable,
                ..
            }
        ),
        "{stopped:?}"
    );
    assert!(elapsed < Duration::from_secs(20), "took {elapsed:?}");
}

#[test]
fn token_lookup_order_is_explicit_then_env_then_file() {
    let home = tempfile::tempdir().unwrap();
    let home_str = home.path().to_str().unwrap();
    let uri = "https://vault.example:8200/v1/transit/keys/k";

    // No token anywhere: unwrap says "not mine", wrap says why it cannot.
    let env = VaultEnv::new([("HOME", home_str)]);
    assert!(env.token().unwrap().is_none());
    let key = VaultTransitKey::from_uri(uri)
        .unwrap()
        .with_token_from(&env)
        .unwrap();
    assert!(
        key.unwrap(&WrappedKey("vault:v1:x".into()))
            .unwrap()
            .is_none()
    );
    let err = key.wrap(&DataKey::generate()).unwrap_err();
    assert!(matches!(err, Error::VaultNoToken { .. }), "{err:?}");
    assert!(err.to_string().contains(uri), "{err}");

    // ~/.vault-token, trimmed.
    std::fs::write(home.path().join(".vault-token"), "  file-token\n").unwrap();
    let token = env.token().unwrap().unwrap();
    assert_eq!(token.expose_secret(), "file-token");

    // VAULT_TOKEN wins over the file; an empty VAULT_TOKEN counts as unset.
    let env = VaultEnv::new([("HOME", home_str), ("VAULT_TOKEN", "env-token")]);
    assert_eq!(env.token().unwrap().unwrap().expose_secret(), "env-token");
    let empty = VaultEnv::new([("HOME", home_str), ("VAULT_TOKEN", "")]);
    assert_eq!(
        empty.token().unwrap().unwrap().expose_secret(),
        "file-token"
    );
    assert!(!format!("{env:?}").contains("env-token"));

    // An explicit token wins over both.
    let key = VaultTransitKey::from_uri(uri)
        .unwrap()
        .with_token(SecretString::from("explicit-token"))
        .with_token_from(&env)
        .unwrap();
    assert!(!format!("{key:?}").contains("explicit-token"));

    // A token file that cannot be read is an error naming it.
    let dir_home = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir_home.path().join(".vault-token")).unwrap();
    let err = VaultEnv::new([("HOME", dir_home.path().to_str().unwrap())])
        .token()
        .unwrap_err();
    assert!(err.to_string().contains(".vault-token"), "{err}");
}

/// The CLI's case: plain synchronous code with no runtime around it.
#[test]
fn works_from_plain_sync_code_and_reports_latency() {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let vault = need!(runtime.block_on(Vault::start()));
    let key = runtime.block_on(transit_key(&vault, "sync"));
    let data_key = DataKey::generate();
    let started = Instant::now();
    let wrapped = key.wrap(&data_key).unwrap();
    println!("OpenBao first wrap (client built): {:?}", started.elapsed());
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
    println!("OpenBao latency: wrap {wrap:?}, unwrap {unwrap:?} (mean of {ROUNDS})");
    let share = [9u8; 33];
    let wrapped = key.wrap_share(&share).unwrap();
    assert_eq!(
        key.unwrap_share(&wrapped).unwrap().unwrap().as_slice(),
        &share
    );
}

/// Called straight from an async task (not `spawn_blocking`) it must not panic either.
#[tokio::test]
async fn does_not_panic_inside_an_async_task() {
    let vault = need!(Vault::start().await);
    let key = transit_key(&vault, "async").await;
    let data_key = DataKey::generate();
    let wrapped = key.wrap(&data_key).unwrap();
    let back = key.unwrap(&wrapped).unwrap().unwrap();
    assert_eq!(back.expose_secret(), data_key.expose_secret());
    drop(key);
}
