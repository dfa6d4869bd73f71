//! Credentials for a remote, handed to gix (or a private `ssh-agent`) in memory and never
//! shown.
//!
//! No credential helper, prompt or user configuration is ever consulted: without
//! [`Credentials`] a server asking for authentication gets none, and the fetch fails; an
//! `ssh://` remote without an `identity` is refused.

use secrecy::{ExposeSecret, SecretString};

use super::ssh::Agent;
use crate::redact::Redactor;

/// Credentials for a remote, as a GitSource's `secretRef` holds them.
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
    /// An SSH key pair for `ssh://` remotes (`identity` + `known_hosts`).
    Ssh {
        /// The unencrypted OpenSSH private key.
        identity: SecretString,
        /// `known_hosts` lines: the only host keys the server may present.
        known_hosts: String,
    },
}

/// Why a Secret's entries are not usable credentials.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CredentialsError {
    /// An `identity` without `known_hosts`: the server could not be authenticated.
    #[error("SSH credentials need known_hosts besides identity")]
    KnownHostsMissing,
    /// A passphrase-protected `identity` (or one with a `password`).
    #[error("passphrase-protected SSH keys are not supported")]
    SshPassphrase,
    /// An `ssh://` remote without an `identity` in the Secret.
    #[error("an ssh:// remote needs a secretRef with identity and known_hosts")]
    SshNeedsIdentity,
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
    /// `.dockerconfigjson` is not a Docker config, or its registry entry is unreadable.
    #[error(".dockerconfigjson: {reason}")]
    DockerConfig {
        /// What is wrong, without content.
        reason: &'static str,
    },
}

impl Credentials {
    /// Reads `identity` (or Argo CD's `sshPrivateKey`)/`known_hosts`, `username`/`password`
    /// or `bearerToken` from a Secret's entries; `None` when it holds none of them (a
    /// Secret may hold only `ca.crt`).
    ///
    /// # Errors
    /// [`CredentialsError`]; never holds a value.
    pub fn from_entries<'a>(
        entries: impl IntoIterator<Item = (&'a str, &'a [u8])>,
    ) -> Result<Option<Self>, CredentialsError> {
        let (mut username, mut password, mut token) = (None, None, None);
        let (mut identity, mut known_hosts) = (None, None);
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
                "identity" => identity = Some(SecretString::from(text("identity")?)),
                // What Argo CD's repository Secrets call the identity.
                "sshPrivateKey" => {
                    identity = Some(SecretString::from(text("sshPrivateKey")?));
                }
                "known_hosts" => known_hosts = Some(text("known_hosts")?),
                _ => {}
            }
        }
        if let Some(identity) = identity {
            return match (known_hosts, password) {
                (_, Some(_)) => Err(CredentialsError::SshPassphrase),
                _ if is_encrypted(&identity) => Err(CredentialsError::SshPassphrase),
                (None, None) => Err(CredentialsError::KnownHostsMissing),
                (Some(known_hosts), None) => Ok(Some(Self::Ssh {
                    identity,
                    known_hosts,
                })),
            };
        }
        match (username, password, token) {
            (_, _, Some(token)) => Ok(Some(Self::Bearer(token))),
            (Some(username), Some(password), None) => Ok(Some(Self::Basic { username, password })),
            (None, None, None) => Ok(None),
            _ => Err(CredentialsError::Incomplete),
        }
    }
}

impl Credentials {
    /// The credentials a Docker config (a `kubernetes.io/dockerconfigjson` Secret's
    /// `.dockerconfigjson`, as `docker login` writes it) holds for `registry`
    /// (`host[:port]`): its `auths` entry's `username`/`password`, else its `auth`
    /// (base64 of `username:password`); `None` when it has no entry for the registry. An
    /// entry may be named with a scheme and a path (`https://index.docker.io/v1/`).
    ///
    /// # Errors
    /// [`CredentialsError::DockerConfig`]; never holds a value.
    pub fn from_docker_config(
        json: &[u8],
        registry: &str,
    ) -> Result<Option<Self>, CredentialsError> {
        #[derive(serde::Deserialize)]
        struct Config {
            #[serde(default)]
            auths: std::collections::BTreeMap<String, Entry>,
        }
        #[derive(serde::Deserialize)]
        struct Entry {
            #[serde(default)]
            username: Option<String>,
            #[serde(default)]
            password: Option<zeroize::Zeroizing<String>>,
            #[serde(default)]
            auth: Option<zeroize::Zeroizing<String>>,
        }
        let invalid = |reason| CredentialsError::DockerConfig { reason };
        let config: Config =
            serde_json::from_slice(json).map_err(|_| invalid("not a Docker config JSON"))?;
        let host = |key: &str| {
            let key = key.split_once("://").map_or(key, |(_, rest)| rest);
            key.split('/').next().unwrap_or_default().to_owned()
        };
        let Some(entry) = config
            .auths
            .into_iter()
            .find_map(|(key, entry)| (host(&key) == registry).then_some(entry))
        else {
            return Ok(None);
        };
        if let (Some(username), Some(password)) = (entry.username, entry.password) {
            return Ok(Some(Self::Basic {
                username,
                password: SecretString::from(password.as_str()),
            }));
        }
        let Some(auth) = entry.auth else {
            return Err(invalid(
                "the registry's entry has neither username/password nor auth",
            ));
        };
        use base64::Engine as _;
        let decoded = zeroize::Zeroizing::new(
            base64::engine::general_purpose::STANDARD
                .decode(auth.trim())
                .map_err(|_| invalid("the registry's auth is not base64"))?,
        );
        let text = std::str::from_utf8(&decoded)
            .map_err(|_| invalid("the registry's auth is not text"))?;
        let (username, password) = text
            .split_once(':')
            .ok_or_else(|| invalid("the registry's auth is not username:password"))?;
        Ok(Some(Self::Basic {
            username: username.to_owned(),
            password: SecretString::from(password),
        }))
    }
}

/// Whether a private key needs a passphrase: `ssh-add` would ask for one on a terminal.
fn is_encrypted(identity: &SecretString) -> bool {
    let key = identity.expose_secret();
    // A PEM key says so in a header (`Proc-Type: 4,ENCRYPTED`, `ENCRYPTED PRIVATE KEY`).
    key.contains("ENCRYPTED")
        || ssh_key::PrivateKey::from_openssh(key).is_ok_and(|k| k.is_encrypted())
}

type Connection<'remote, 'repo> = gix::remote::Connection<
    'remote,
    'static,
    'repo,
    Box<dyn gix::protocol::transport::client::blocking_io::Transport + Send>,
>;

/// Connects `remote` for fetching with `credentials` (or explicitly none), trusting the
/// PEM certificates of `ca` for HTTPS besides the system's roots; an `ssh://` remote goes
/// through `agent`'s `ssh` command.
pub(super) fn connect<'remote, 'repo>(
    remote: &'remote gix::Remote<'repo>,
    credentials: Option<&Credentials>,
    ca: Option<&[u8]>,
    agent: Option<&Agent>,
) -> Result<Connection<'remote, 'repo>, super::BoxError> {
    use gix::protocol::transport::client::blocking_io::{http, ssh};

    let direction = gix::remote::Direction::Fetch;
    if remote.url(direction).map(|u| &u.scheme) == Some(&gix::url::Scheme::Ssh) {
        let agent = agent.ok_or(CredentialsError::SshNeedsIdentity)?;
        let (url, version) = remote.sanitized_url_and_version(direction)?;
        // The command is set per connection: nothing global (such as GIT_SSH_COMMAND)
        // is shared with concurrent fetches.
        let options = ssh::connect::Options {
            command: Some(agent.command()),
            disallow_shell: false,
            kind: Some(ssh::ProgramKind::Ssh),
        };
        let transport = ssh::connect(url, version, options, false)?;
        return Ok(remote.to_connection_with_transport(Box::new(transport)));
    }
    let mut connection = remote.connect(direction)?;
    let bearer = match credentials {
        Some(Credentials::Bearer(token)) => Some(token),
        _ => None,
    };
    if bearer.is_some() || ca.is_some() {
        let url = remote
            .url(direction)
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

/// The parts of a URL's `user:password@` that may be secret, to scrub wherever they
/// appear: over HTTP(S) the user and the password (a token often stands where the user
/// name goes, `https://TOKEN@host/repo`, or `https://TOKEN:x-oauth-basic@host/repo`), over
/// SSH only a password — `git@` or `root@` is a login name, and scrubbing it would mangle
/// every path that contains it.
pub fn url_secrets(url: &str) -> Vec<&str> {
    let Some((scheme, rest)) = url.split_once("://") else {
        return Vec::new();
    };
    let authority = rest.split('/').next().unwrap_or_default();
    let Some((userinfo, _)) = authority.rsplit_once('@') else {
        return Vec::new();
    };
    let (user, password) = match userinfo.split_once(':') {
        Some((user, password)) => (user, Some(password)),
        None => (userinfo, None),
    };
    let user = (scheme != "ssh").then_some(user);
    user.into_iter()
        .chain(password)
        .filter(|part| !part.is_empty())
        .collect()
}

/// `text` with `url` (as typed) shown as [`redact_url`] shows it, and its
/// [`url_secrets`] scrubbed by a [`Redactor`] wherever else they appear (an error chain may
/// quote the URL in another form, or the token alone) — the rule the controller follows by
/// adding [`url_secrets`] to its own redactor. The one scrubber of Git URLs in messages.
pub fn scrub_url(text: &str, url: &str) -> String {
    let mut redactor = Redactor::new();
    for secret in url_secrets(url) {
        redactor.add(secret.as_bytes());
    }
    redactor.scrub(&text.replace(url, &redact_url(url)))
}

#[cfg(test)]
mod tests {
    use super::{Credentials, CredentialsError, redact_url, scrub_url, url_secrets};

    /// A Docker config's entry for the registry, by `username`/`password` or `auth`,
    /// whatever scheme and path its key carries; another registry's entry is not used.
    #[test]
    fn docker_config_entries() {
        use secrecy::ExposeSecret;
        let config = br#"{"auths": {
            "https://ghcr.io/v1/": {"username": "u", "password": "p"},
            "127.0.0.1:5000": {"auth": "cHVzaGVyOnMzY3JldDpwYXJ0"}}}"#;
        let basic = |registry| match Credentials::from_docker_config(config, registry) {
            Ok(Some(Credentials::Basic { username, password })) => {
                (username, password.expose_secret().to_owned())
            }
            other => panic!("{registry}: {other:?}"),
        };
        assert_eq!(basic("ghcr.io"), ("u".into(), "p".into()));
        assert_eq!(
            basic("127.0.0.1:5000"),
            ("pusher".into(), "s3cret:part".into())
        );
        assert!(matches!(
            Credentials::from_docker_config(config, "quay.io"),
            Ok(None)
        ));
        let err = Credentials::from_docker_config(b"{", "ghcr.io").unwrap_err();
        assert!(matches!(err, CredentialsError::DockerConfig { .. }));
    }

    /// Argo CD's repository Secret entries read as Lockstep's: `sshPrivateKey` is the
    /// identity (and asks for `known_hosts`), `url` and `type` are not credentials.
    #[test]
    fn argo_cd_repository_secret_entries() {
        let ssh = [("sshPrivateKey", b"key".as_slice()), ("url", b"ssh://h/r")];
        assert!(matches!(
            Credentials::from_entries(ssh),
            Err(CredentialsError::KnownHostsMissing)
        ));
        let basic = [
            ("type", b"git".as_slice()),
            ("url", b"https://h/r"),
            ("username", b"u"),
            ("password", b"p"),
        ];
        assert!(matches!(
            Credentials::from_entries(basic),
            Ok(Some(Credentials::Basic { .. }))
        ));
    }

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

    #[test]
    fn only_what_may_be_secret_in_a_url_is_scrubbed() {
        let secrets = url_secrets;
        assert_eq!(secrets("https://tok3n@git.example.com/r.git"), ["tok3n"]);
        assert_eq!(
            secrets("https://bob:pw@git.example.com/r.git"),
            ["bob", "pw"]
        );
        assert!(secrets("ssh://git@git.example.com/r.git").is_empty());
        assert_eq!(secrets("ssh://root:pw@127.0.0.1:22/root/r.git"), ["pw"]);
        assert!(secrets("git://127.0.0.1/r.git").is_empty());
        assert!(secrets("file:///tmp/a@b/r.git").is_empty());
    }

    #[test]
    fn a_token_in_the_user_position_is_scrubbed_wherever_it_is_quoted() {
        for (url, secret) in [
            ("https://tok3n-canary@git.example.com/r.git", "tok3n-canary"),
            (
                "https://bob:hunter2-canary@git.example.com/r.git",
                "hunter2-canary",
            ),
        ] {
            let text = format!("credentials for {url} not accepted ({secret})");
            let scrubbed = scrub_url(&text, url);
            assert!(!scrubbed.contains(secret), "{scrubbed}");
            assert!(
                scrubbed.contains("https://git.example.com/r.git"),
                "{scrubbed}"
            );
        }
        let ssh = "ssh://git@git.example.com/git/r.git";
        assert_eq!(
            scrub_url(&format!("{ssh}: denied for git"), ssh),
            "ssh://git.example.com/git/r.git: denied for git"
        );
    }
}
