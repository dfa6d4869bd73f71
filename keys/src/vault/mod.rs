//! Vault (and OpenBao) transit master keys (sops `hc_vault` entries), through `vaultrs`.
//!
//! [`VaultTransitKey`] is the [`KeyService`] for one entry: `wrap` sends the base64 data
//! key to `<engine>/encrypt/<key>` and stores Vault's `vault:vN:…` ciphertext verbatim (the
//! `enc` field); `unwrap` sends it to `<engine>/decrypt/<key>` and base64-decodes the
//! answer. [`VaultTransitKey::rewrap`] moves an `enc` to the newest key version without the
//! data key leaving Vault.
//!
//! The key is named by a URI, `https://vault:8200/v1/<engine path>/keys/<key name>`; its
//! scheme and host are the server address, whatever `VAULT_ADDR` says (as in sops). The
//! token is the one given, else `VAULT_TOKEN`, else `~/.vault-token` ([`VaultEnv`]); the
//! client's other `VAULT_*` settings (`VAULT_CACERT`, `VAULT_SKIP_VERIFY`, client
//! certificates) are read by `vaultrs` from the process, and `VAULT_NAMESPACE` from
//! [`VaultEnv`]. Each request is bounded by [`REQUEST_TIMEOUT`].
//!
//! Errors name the key URI and what Vault said; `vaultrs`'s errors are not kept, since
//! some carry the response body, which for a decrypt holds the data key.
//!
//! KV reads (the sync engine's references) log in with a [`VaultSource`] and read through
//! a [`VaultSession`]; transit keys and KV reads build their client in one place.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use secrecy::SecretString;
use tokio::sync::OnceCell;
use vaultrs::client::VaultClient;
use vaultrs::error::ClientError;
use zeroize::Zeroizing;

use crate::remote::{RemoteFailure, block_on};
use crate::{DataKey, Error, KeyService, WrappedKey};

mod client;
mod env;

use client::describe_error;
pub use client::{KvDocument, KvFields, VaultAuth, VaultSession, VaultSource, wipe};
pub use env::VaultEnv;

/// Where a Pod's ServiceAccount token is mounted: the JWT of Vault's Kubernetes auth when
/// none is given.
pub const SERVICE_ACCOUNT_TOKEN: &str = "/var/run/secrets/kubernetes.io/serviceaccount/token";

/// Time limit for one Vault request, connection included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(15);

/// One Vault transit key as a sops `hc_vault` entry names it.
///
/// A sops metadata entry `{vault_address, engine_path, key_name, enc}` maps to
/// `VaultTransitKey::new(vault_address, engine_path, key_name)?` and a token
/// ([`VaultTransitKey::with_token`] or [`VaultTransitKey::with_token_from`]); `enc` is the
/// [`WrappedKey`]. `.sops.yaml`'s `hc_vault_transit_uri` and `--hc-vault-transit` use
/// [`VaultTransitKey::from_uri`].
///
/// # Runtime
/// As for `KmsKey` (feature `kms`): calls run on this crate's own small runtime while the
/// calling thread waits, so they work from plain code and from `spawn_blocking` and never
/// panic because of the calling context.
///
/// # `unwrap` outcomes
/// `Ok(None)` when there is no token at all. Every other failure is `Err`: denied, unknown
/// key, corrupt `enc`, sealed or unreachable server. Note that `wrap` to a key that does
/// not exist creates it when the token may (that is Vault's `encrypt`).
#[derive(Clone)]
pub struct VaultTransitKey {
    address: String,
    engine_path: String,
    key_name: String,
    token: Option<SecretString>,
    namespace: Option<String>,
    client: Arc<OnceCell<Result<Arc<VaultClient>, String>>>,
}

impl std::fmt::Debug for VaultTransitKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("VaultTransitKey")
            .field("uri", &self.uri())
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl VaultTransitKey {
    /// A key from its parts: the server address (`https://vault:8200`), the transit
    /// engine's mount path (`transit`, may contain `/`) and the key name. No token yet.
    ///
    /// # Errors
    /// [`Error::VaultKeyUri`] when the address is not `http(s)://host[:port]` or a part is
    /// empty.
    pub fn new(address: &str, engine_path: &str, key_name: &str) -> Result<Self, Error> {
        let address = address.trim_end_matches('/').to_owned();
        let engine_path = engine_path.trim_matches('/').to_owned();
        let key = Self {
            address,
            engine_path,
            key_name: key_name.to_owned(),
            token: None,
            namespace: None,
            client: Default::default(),
        };
        let bad = |reason| Error::VaultKeyUri {
            uri: key.uri(),
            reason,
        };
        let host = key
            .address
            .strip_prefix("https://")
            .or_else(|| key.address.strip_prefix("http://"))
            .ok_or_else(|| bad("the address must start with https:// or http://"))?;
        if host.is_empty() || host.contains('/') {
            return Err(bad("the address must be scheme://host[:port] with no path"));
        }
        if key.engine_path.is_empty() || key.key_name.is_empty() || key.key_name.contains('/') {
            return Err(bad(
                "the engine path and key name must not be empty, and the key name has no `/`",
            ));
        }
        Ok(key)
    }

    /// A key from its URI, `https://vault:8200/v1/<engine path>/keys/<key name>`, split as
    /// sops splits it (URIs with a path before `/v1/` are refused).
    ///
    /// # Errors
    /// [`Error::VaultKeyUri`] when the URI does not have that form.
    pub fn from_uri(uri: &str) -> Result<Self, Error> {
        let bad = |reason| Error::VaultKeyUri {
            uri: uri.to_owned(),
            reason,
        };
        let (scheme, rest) = uri
            .split_once("://")
            .ok_or_else(|| bad("not a URL (https://vault:8200/v1/transit/keys/<name>)"))?;
        let (host, path) = rest.split_once('/').unwrap_or((rest, ""));
        let dirs: Vec<&str> = path.trim_matches('/').split('/').collect();
        let versioned = |d: &str| {
            d.strip_prefix('v')
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        };
        if dirs.len() > 4 && !versioned(dirs[0]) && dirs.iter().skip(1).any(|d| versioned(d)) {
            return Err(bad(
                "a path before /v1/ (Vault behind a prefixed URL) is not supported",
            ));
        }
        if dirs.len() < 4 || !versioned(dirs[0]) || dirs.iter().any(|d| d.is_empty()) {
            return Err(bad(
                "expected https://vault:8200/v1/<engine path>/keys/<name>",
            ));
        }
        let engine_path = dirs[1..dirs.len() - 2].join("/");
        Self::new(
            &format!("{scheme}://{host}"),
            &engine_path,
            dirs[dirs.len() - 1],
        )
    }

    /// Uses this token.
    pub fn with_token(mut self, token: SecretString) -> Self {
        self.token = Some(token);
        self.reset()
    }

    /// Uses the token of `env` (`VAULT_TOKEN`, else `~/.vault-token`) unless one was given
    /// already, and `VAULT_NAMESPACE`. Without any token, `unwrap` answers `Ok(None)` and
    /// `wrap` fails with [`Error::VaultNoToken`].
    ///
    /// # Errors
    /// [`Error::VaultTokenFile`] when `~/.vault-token` exists but cannot be read.
    pub fn with_token_from(mut self, env: &VaultEnv) -> Result<Self, Error> {
        if self.token.is_none() {
            self.token = env.token()?;
        }
        if self.namespace.is_none() {
            self.namespace = env.namespace().map(str::to_owned);
        }
        Ok(self.reset())
    }

    /// [`VaultTransitKey::with_token_from`] the process environment.
    ///
    /// # Errors
    /// As [`VaultTransitKey::with_token_from`].
    pub fn with_process_token(self) -> Result<Self, Error> {
        self.with_token_from(&VaultEnv::from_process())
    }

    fn reset(mut self) -> Self {
        self.client = Default::default();
        self
    }

    /// The server address (sops `vault_address`).
    pub fn address(&self) -> &str {
        &self.address
    }

    /// The transit engine's mount path (sops `engine_path`).
    pub fn engine_path(&self) -> &str {
        &self.engine_path
    }

    /// The key name (sops `key_name`).
    pub fn key_name(&self) -> &str {
        &self.key_name
    }

    /// The key URI: `<address>/v1/<engine path>/keys/<key name>`.
    pub fn uri(&self) -> String {
        format!(
            "{}/v1/{}/keys/{}",
            self.address, self.engine_path, self.key_name
        )
    }

    /// Re-encrypts `wrapped` under the newest version of the transit key (`rewrap`); the
    /// data key never leaves Vault. Use after rotating the transit key.
    ///
    /// # Errors
    /// [`Error::VaultNoToken`] without a token, [`Error::VaultRewrap`] when Vault refuses.
    pub fn rewrap(&self, wrapped: &WrappedKey) -> Result<WrappedKey, Error> {
        let failed = |failure, detail| Error::VaultRewrap {
            uri: self.uri(),
            failure,
            detail,
        };
        let ciphertext = wrapped.0.trim().to_owned();
        let answer = self.call(move |client, mount, name| async move {
            vaultrs::transit::data::rewrap(&*client, &mount, &name, &ciphertext, None)
                .await
                .map(|r| r.ciphertext)
        })?;
        match answer {
            Some(Ok(ciphertext)) => Ok(WrappedKey(ciphertext)),
            Some(Err(err)) => Err(classify(&err, failed)),
            None => Err(Error::VaultNoToken { uri: self.uri() }),
        }
    }

    fn encrypt(&self, plaintext: &[u8]) -> Result<WrappedKey, Error> {
        let failed = |failure, detail| Error::VaultEncrypt {
            uri: self.uri(),
            failure,
            detail,
        };
        let encoded = Zeroizing::new(STANDARD.encode(plaintext));
        let answer = self.call(move |client, mount, name| async move {
            vaultrs::transit::data::encrypt(&*client, &mount, &name, &encoded, None)
                .await
                .map(|r| r.ciphertext)
        })?;
        match answer {
            Some(Ok(ciphertext)) => Ok(WrappedKey(ciphertext)),
            Some(Err(err)) => Err(classify(&err, failed)),
            None => Err(Error::VaultNoToken { uri: self.uri() }),
        }
    }

    fn decrypt(&self, wrapped: &WrappedKey) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        let failed = |failure, detail| Error::VaultDecrypt {
            uri: self.uri(),
            failure,
            detail,
        };
        let ciphertext = wrapped.0.trim().to_owned();
        let answer = self.call(move |client, mount, name| async move {
            vaultrs::transit::data::decrypt(&*client, &mount, &name, &ciphertext, None)
                .await
                .map(|r| Zeroizing::new(r.plaintext))
        })?;
        match answer {
            Some(Ok(encoded)) => STANDARD
                .decode(encoded.as_bytes())
                .map(|bytes| Some(Zeroizing::new(bytes)))
                .map_err(|_| failed(RemoteFailure::Other, "the plaintext is not base64".into())),
            Some(Err(err)) => Err(classify(&err, failed)),
            None => Ok(None),
        }
    }

    /// Runs one request on the shared runtime; `Ok(None)` when there is no token.
    fn call<T, F, Fut>(&self, request: F) -> Result<Option<Result<T, ClientError>>, Error>
    where
        T: Send + 'static,
        F: FnOnce(Arc<VaultClient>, String, String) -> Fut + Send + 'static,
        Fut: Future<Output = Result<T, ClientError>> + Send,
    {
        let Some(token) = self.token.clone() else {
            return Ok(None);
        };
        let cell = self.client.clone();
        let (address, namespace) = (self.address.clone(), self.namespace.clone());
        let (mount, name) = (self.engine_path.clone(), self.key_name.clone());
        let answer = block_on(async move {
            let client = cell
                .get_or_init(|| async move { build_client(address, token, namespace) })
                .await
                .clone()?;
            Ok(request(client, mount, name).await)
        })?;
        answer.map(Some).map_err(|detail| Error::VaultClient {
            uri: self.uri(),
            detail,
        })
    }
}

impl KeyService for VaultTransitKey {
    fn describe(&self) -> String {
        self.uri()
    }

    fn not_found(&self) -> String {
        "no Vault token found (VAULT_TOKEN, ~/.vault-token)".to_owned()
    }

    fn wrap(&self, key: &DataKey) -> Result<WrappedKey, Error> {
        self.encrypt(key.expose_secret())
    }

    fn unwrap(&self, wrapped: &WrappedKey) -> Result<Option<DataKey>, Error> {
        match self.decrypt(wrapped)? {
            Some(bytes) => DataKey::try_from_slice(&bytes).map(Some),
            None => Ok(None),
        }
    }

    fn wrap_share(&self, share: &[u8]) -> Result<WrappedKey, Error> {
        self.encrypt(share)
    }

    fn unwrap_share(&self, wrapped: &WrappedKey) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        self.decrypt(wrapped)
    }
}

fn build_client(
    address: String,
    token: SecretString,
    namespace: Option<String>,
) -> Result<Arc<VaultClient>, String> {
    client::build(&address, Some(&token), namespace.as_deref()).map(Arc::new)
}

fn classify(err: &ClientError, failed: impl FnOnce(RemoteFailure, String) -> Error) -> Error {
    let (kind, detail) = describe_error(err);
    failed(kind, detail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_is_split_as_sops_splits_it() {
        let key =
            VaultTransitKey::from_uri("https://vault.example:8200/v1/transit/keys/sops").unwrap();
        assert_eq!(key.address(), "https://vault.example:8200");
        assert_eq!(key.engine_path(), "transit");
        assert_eq!(key.key_name(), "sops");
        assert_eq!(key.uri(), "https://vault.example:8200/v1/transit/keys/sops");

        let nested =
            VaultTransitKey::from_uri("http://127.0.0.1:8200/v1/team/a/transit/keys/k/").unwrap();
        assert_eq!(nested.engine_path(), "team/a/transit");
        assert_eq!(nested.key_name(), "k");
        assert_eq!(
            nested.uri(),
            "http://127.0.0.1:8200/v1/team/a/transit/keys/k"
        );

        let parts = VaultTransitKey::new("https://vault:8200/", "/transit/", "k").unwrap();
        assert_eq!(parts.uri(), "https://vault:8200/v1/transit/keys/k");

        for bad in [
            "vault:8200/v1/transit/keys/k",
            "https://vault:8200/v1/transit/keys",
            "https://vault:8200/transit/keys/k",
            "https://vault:8200/prefix/v1/transit/keys/k",
            "ftp://vault/v1/transit/keys/k",
        ] {
            let err = VaultTransitKey::from_uri(bad).unwrap_err();
            assert!(matches!(err, Error::VaultKeyUri { .. }), "{bad}: {err}");
            assert!(err.to_string().contains(bad), "{err}");
        }
    }
}
