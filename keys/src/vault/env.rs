//! The environment a Vault token is looked up in, as sops looks: `VAULT_TOKEN`, else
//! `~/.vault-token`; and `VAULT_NAMESPACE`.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::Error;

/// The environment the token lookup reads: `VAULT_TOKEN`, `VAULT_NAMESPACE` and the home
/// directory holding `.vault-token`.
#[derive(Clone, Debug, Default)]
pub struct VaultEnv {
    token: Option<SecretString>,
    namespace: Option<String>,
    home: Option<PathBuf>,
}

impl VaultEnv {
    /// An environment made of the given variables (`VAULT_TOKEN`, `VAULT_NAMESPACE`,
    /// `HOME`; empty values count as unset).
    pub fn new<K: Into<String>, V: Into<String>>(vars: impl IntoIterator<Item = (K, V)>) -> Self {
        let mut vars: HashMap<String, String> = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .filter(|(_, v)| !v.is_empty())
            .collect();
        let token = vars.remove("VAULT_TOKEN").map(SecretString::from);
        let home = vars
            .remove("HOME")
            .or_else(|| vars.remove("USERPROFILE"))
            .map(PathBuf::from);
        VaultEnv {
            token,
            namespace: vars.remove("VAULT_NAMESPACE"),
            home,
        }
    }

    /// The process environment.
    pub fn from_process() -> Self {
        Self::new(std::env::vars().filter(|(k, _)| {
            matches!(
                k.as_str(),
                "VAULT_TOKEN" | "VAULT_NAMESPACE" | "HOME" | "USERPROFILE"
            )
        }))
    }

    /// `VAULT_NAMESPACE`, if set.
    pub fn namespace(&self) -> Option<&str> {
        self.namespace.as_deref()
    }

    /// The token sops would use: `VAULT_TOKEN`, else the trimmed content of
    /// `~/.vault-token`; `None` when neither exists.
    ///
    /// # Errors
    /// [`Error::VaultTokenFile`] when `~/.vault-token` exists but cannot be read.
    pub fn token(&self) -> Result<Option<SecretString>, Error> {
        if let Some(token) = &self.token {
            return Ok(Some(token.clone()));
        }
        match &self.home {
            Some(home) => read_token_file(&home.join(".vault-token")),
            None => Ok(None),
        }
    }
}

fn read_token_file(path: &Path) -> Result<Option<SecretString>, Error> {
    match std::fs::read_to_string(path) {
        Ok(text) => {
            let text = Zeroizing::new(text);
            let token = text.trim();
            Ok((!token.is_empty()).then(|| SecretString::from(token)))
        }
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(Error::VaultTokenFile {
            path: path.to_owned(),
            source,
        }),
    }
}
