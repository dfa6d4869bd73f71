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
    /// An entry is not UTF-8.
    #[error("credential entry {entry} is not text")]
    NotText {
        /// The entry's name.
        entry: &'static str,
    },
    /// None of `username`+`password`, `bearerToken`.
    #[error("no credentials: expected username and password, or bearerToken")]
    Missing,
}

impl Credentials {
    /// Reads `username`/`password` or `bearerToken` from a Secret's entries.
    ///
    /// # Errors
    /// [`CredentialsError`]; never holds a value.
    pub fn from_entries<'a>(
        entries: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<Self, CredentialsError> {
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
            (_, _, Some(token)) => Ok(Self::Bearer(token)),
            (Some(username), Some(password), None) => Ok(Self::Basic { username, password }),
            _ if identity => Err(CredentialsError::Ssh),
            _ => Err(CredentialsError::Missing),
        }
    }
}

type Connection<'remote, 'repo> = gix::remote::Connection<
    'remote,
    'static,
    'repo,
    Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>,
>;

/// Connects `remote` for fetching with `credentials` (or explicitly none).
pub(super) fn connect<'remote, 'repo>(
    remote: &'remote gix::Remote<'repo>,
    credentials: Option<&Credentials>,
) -> Result<Connection<'remote, 'repo>, super::BoxError> {
    let mut connection = remote.connect(gix::remote::Direction::Fetch)?;
    if let Some(Credentials::Bearer(token)) = credentials {
        let url = remote
            .url(gix::remote::Direction::Fetch)
            .map(|u| u.to_bstring())
            .unwrap_or_default();
        let mut options = remote
            .repo()
            .transport_options(url.as_slice(), None)
            .ok()
            .flatten()
            .and_then(|o| {
                o.downcast::<gix::protocol::transport::client::blocking_io::http::Options>()
                    .ok()
            })
            .map(|o| *o)
            .unwrap_or_default();
        options
            .extra_headers
            .push(format!("Authorization: Bearer {}", token.expose_secret()));
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
