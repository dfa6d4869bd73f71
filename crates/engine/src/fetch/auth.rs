//! Credentials for a remote, handed to gix in memory and never shown.
//!
//! No credential helper, prompt or user configuration is ever consulted: without
//! [`Credentials`] a server asking for authentication gets none, and the fetch fails.

use secrecy::{ExposeSecret, SecretString};

/// Credentials for HTTP(S) remotes, as a GitSource's `secretRef` holds them.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum Credentials {
    /// HTTP basic authentication (`username` + `password`).
    Basic {
        /// The user name.
        username: String,
        /// The password or access token.
        password: SecretString,
    },
    /// An `Authorization: Bearer` token (`bearerToken`).
    Bearer(SecretString),
}

/// Why a Secret's entries are not usable credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// SSH keys (`identity`) are not supported.
    #[error(
        "SSH credentials (identity) are not supported: gix would need the private key in a file"
    )]
    Ssh,
    /// `ca.crt` holds no PEM certificate.
    #[error("ca.crt is not a PEM certificate bundle")]
    CaCertificate,
    /// An entry is not UTF-8.
    #[error("credential entry {entry} is not text")]
    NotText {
        /// The entry's name.
        entry: &'static str,
    },
    /// A user name without a password, or a password without a user name.
    #[error("incomplete credentials: username and password go together")]
    Incomplete,
}

impl Credentials {
    /// Reads `username`/`password` or `bearerToken` from a Secret's entries; `None` when
    /// it holds neither (a Secret may hold only `ca.crt`).
    ///
    /// # Errors
    /// [`CredentialsError`]; never holds a value.
    pub fn from_entries<'a>(
        entries: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<Option<Self>, CredentialsError> {
        let (mut username, mut password, mut token, mut identity) = (None, None, None, false);
        for (name, data) in entries {
            let text = |entry| {
                std::str::from_utf8(data)
                    .map(str::to_owned)
                    .map_err(|_| CredentialsError::NotText { entry })
            };
            match name {
                "username" => username = Some(text("username")?),
                "password" => password = Some(SecretString::from(text("password")?)),
                "bearerToken" => token = Some(SecretString::from(text("bearerToken")?)),
                "identity" => identity = true,
                _ => {}
            }
        }
        match (username, password, token) {
            (_, _, Some(token)) => Ok(Some(Self::Bearer(token))),
            (Some(username), Some(password), None) => Ok(Some(Self::Basic { username, password })),
            _ if identity => Err(CredentialsError::Ssh),
            (None, None, None) => Ok(None),
            _ => Err(CredentialsError::Incomplete),
        }
    }
}

type Connection<'remote, 'repo> = gix::remote::Connection<
    'remote,
    'static,
    'repo,
    Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>,
>;

/// Connects `remote` for fetching with `credentials` (or explicitly none), trusting the
/// PEM certificates of `ca` for HTTPS besides the system's roots.
pub(super) fn connect<'remote, 'repo>(
    remote: &'remote gix::Remote<'repo>,
    credentials: Option<&Credentials>,
    ca: Option<&[u8]>,
) -> Result<Connection<'remote, 'repo>, super::BoxError> {
    use gix::protocol::transport::client::blocking_io::http;

    let mut connection = remote.connect(gix::remote::Direction::Fetch)?;
    let bearer = match credentials {
        Some(Credentials::Bearer(token)) => Some(token),
        _ => None,
    };
    if bearer.is_some() || ca.is_some() {
        let url = remote
            .url(gix::remote::Direction::Fetch)
            .map(|u| u.to_bstring())
            .unwrap_or_default();
        let mut options = remote
            .repo()
            .transport_options(url.as_slice(), None)
            .ok()
            .flatten()
            .and_then(|o| o.downcast::<http::Options>().ok())
            .map(|o| *o)
            .unwrap_or_default();
        if let Some(token) = bearer {
            options
                .extra_headers
                .push(format!("Authorization: Bearer {}", token.expose_secret()));
        }
        if let Some(pem) = ca {
            let roots = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|_| CredentialsError::CaCertificate)?;
            let configure: Box<http::reqwest::ConfigureClientFn> = Box::new(move |builder| {
                Ok(roots
                    .iter()
                    .cloned()
                    .fold(builder, |b, cert| b.add_root_certificate(cert)))
            });
            let backend = http::reqwest::Options {
                configure_client: Some(configure),
                configure_request: None,
            };
            options.backend = Some(std::sync::Arc::new(std::sync::Mutex::new(backend)));
        }
        connection.set_transport_options(Box::new(options));
    }
    let basic = match credentials {
        Some(Credentials::Basic { username, password }) => {
            Some((username.clone(), password.clone()))
        }
        _ => None,
    };
    Ok(
        connection.with_credentials(move |action| match (action, &basic) {
            (gix::credentials::helper::Action::Get(ctx), Some((username, password))) => {
                Ok(Some(gix::credentials::protocol::Outcome {
                    identity: gix::sec::identity::Account {
                        username: username.clone(),
                        password: password.expose_secret().to_owned(),
                        oauth_refresh_token: None,
                    },
                    next: ctx.into(),
                }))
            }
            _ => Ok(None),
        }),
    )
}

/// The URL with any `user:password@` removed, for logs and errors.
pub fn redact_url(url: &str) -> String {
    match url.split_once("://") {
        Some((scheme, rest)) => {
            let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            match authority.rsplit_once('@') {
                Some((_, host)) => format!("{scheme}://{host}{path}"),
                None => url.to_owned(),
            }
        }
        None => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::redact_url;

    #[test]
    fn credentials_are_removed_from_urls() {
        assert_eq!(
            redact_url("https://user:s3cret@example.com/org/repo.git"),
            "https://example.com/org/repo.git"
        );
        assert_eq!(
            redact_url("git://127.0.0.1:9418/r.git"),
            "git://127.0.0.1:9418/r.git"
        );
        assert_eq!(redact_url("file:///tmp/a@b/r.git"), "file:///tmp/a@b/r.git");
    }
}
