//! age recipients and identities, loaded the way sops loads them.
//!
//! A SOPS file stores, for each age recipient, the data key encrypted to that one recipient
//! as an ASCII-armored age file (the `enc` field). [`AgeKey`] is the [`KeyService`] for one
//! such entry: it wraps for its recipient (X25519 `age1…`, `ssh-ed25519 …`, `ssh-rsa …`)
//! and unwraps with the [`AgeIdentities`] it was given.
//!
//! Identities come from the same places as in sops ([`AgeIdentities::load`]): SSH keys
//! from `SOPS_AGE_SSH_PRIVATE_KEY_FILE`, the output of `SOPS_AGE_SSH_PRIVATE_KEY_CMD`,
//! `~/.ssh/id_ed25519` and `~/.ssh/id_rsa`,
//! `SOPS_AGE_KEY` (several keys per line allowed), `SOPS_AGE_KEY_FILE`, the output of
//! `SOPS_AGE_KEY_CMD` (run with `SOPS_AGE_RECIPIENT` set), and the default `keys.txt`
//! under the user's config directory. The environment is an explicit input
//! ([`AgeEnv`]) so tests never touch the process environment.
//!
//! Errors name the source (variable or path), the line and the recipient; never key
//! material or the content of a line.

use std::collections::HashMap;
use std::io::{BufReader, Read, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use age::armor::{ArmoredReader, ArmoredWriter, Format};
use zeroize::Zeroizing;

use crate::{DataKey, Error, KeyService, WrappedKey};

/// The environment the identity loaders read: variables and the home directory.
#[derive(Clone, Debug, Default)]
pub struct AgeEnv {
    vars: HashMap<String, String>,
    home: Option<PathBuf>,
}

impl AgeEnv {
    /// An environment made of the given variables; the home directory is `$HOME`.
    pub fn new<K: Into<String>, V: Into<String>>(vars: impl IntoIterator<Item = (K, V)>) -> Self {
        let vars: HashMap<String, String> = vars
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        let home = vars
            .get("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from);
        AgeEnv { vars, home }
    }

    /// The process environment.
    pub fn from_process() -> Self {
        Self::new(std::env::vars())
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.vars.get(name).map(String::as_str)
    }

    /// The directory that holds `sops/age/keys.txt`: `$XDG_CONFIG_HOME`, else the OS
    /// config directory (`~/.config` on Linux, `~/Library/Application Support` on macOS,
    /// `%AppData%` on Windows), as sops' `getUserConfigDir`.
    pub fn user_config_dir(&self) -> Option<PathBuf> {
        if let Some(x) = self.get("XDG_CONFIG_HOME").filter(|x| !x.is_empty()) {
            return Some(PathBuf::from(x));
        }
        if cfg!(windows) {
            return self
                .get("AppData")
                .or(self.get("APPDATA"))
                .map(PathBuf::from);
        }
        let home = self.home.as_ref()?;
        if cfg!(target_os = "macos") {
            Some(home.join("Library/Application Support"))
        } else {
            Some(home.join(".config"))
        }
    }
}

type BoxedIdentity = Box<dyn age::Identity + Send + Sync>;

/// The age identities available for unwrapping, and what went wrong loading the others.
pub struct AgeIdentities {
    identities: Vec<BoxedIdentity>,
    /// Sources that could not be read, reported only if nothing decrypts.
    problems: Vec<Error>,
    /// `SOPS_AGE_KEY_CMD`, run per recipient when unwrapping.
    key_cmd: Option<String>,
    /// `SOPS_AGE_SSH_PRIVATE_KEY_CMD`, likewise.
    ssh_key_cmd: Option<String>,
    cmd_cache: Mutex<HashMap<String, Arc<Vec<BoxedIdentity>>>>,
    sources: Vec<String>,
}

impl std::fmt::Debug for AgeIdentities {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgeIdentities")
            .field("count", &self.identities.len())
            .field("sources", &self.sources)
            .field("problems", &self.problems)
            .finish()
    }
}

fn parse_identity(word: &str, source: &str, line: usize) -> Result<BoxedIdentity, Error> {
    let err = |reason: &'static str| Error::AgeIdentity {
        origin: source.to_owned(),
        line,
        reason,
    };
    if word.starts_with("AGE-SECRET-KEY-PQ-1") {
        return Err(err(
            "post-quantum age identities (AGE-SECRET-KEY-PQ-1…) are not supported yet",
        ));
    }
    if word.starts_with("AGE-PLUGIN-") {
        return Err(err("age plugin identities are not supported"));
    }
    if word.starts_with("AGE-SECRET-KEY-1") {
        return age::x25519::Identity::from_str(word)
            .map(|i| Box::new(i) as BoxedIdentity)
            .map_err(|_| err("malformed age secret key"));
    }
    Err(err("unknown identity type"))
}

/// Parses an identity file: one identity per line (several per line when
/// `several_per_line`), blank lines and `#` comments skipped. Errors name `source` and
/// the 1-based line, never its content.
fn parse_identity_text(
    text: &str,
    source: &str,
    several_per_line: bool,
) -> Result<Vec<BoxedIdentity>, Error> {
    if text.starts_with("age-encryption.org/") || text.starts_with("-----BEGIN AGE") {
        return Err(Error::AgeIdentity {
            origin: source.to_owned(),
            line: 1,
            reason: "passphrase-protected identity files are not supported",
        });
    }
    let mut out = Vec::new();
    for (n, line) in text.lines().enumerate() {
        let line = Zeroizing::new(line.trim_end_matches('\r').to_owned());
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if several_per_line {
            for word in line.split_whitespace() {
                out.push(parse_identity(word, source, n + 1)?);
            }
        } else {
            out.push(parse_identity(&line, source, n + 1)?);
        }
    }
    Ok(out)
}

fn read_secret_file(path: &Path) -> Result<Zeroizing<String>, Error> {
    let mut text = Zeroizing::new(String::new());
    std::fs::File::open(path)
        .and_then(|mut f| f.read_to_string(&mut text))
        .map_err(|source| Error::AgeIdentitySource {
            source_name: path.display().to_string(),
            source,
        })?;
    Ok(text)
}

fn parse_ssh_identity(text: &str, source: &str) -> Result<BoxedIdentity, Error> {
    let err = |reason: &'static str| Error::AgeIdentity {
        origin: source.to_owned(),
        line: 1,
        reason,
    };
    match age::ssh::Identity::from_buffer(BufReader::new(text.as_bytes()), Some(source.to_owned()))
    {
        Ok(age::ssh::Identity::Unencrypted(k)) => Ok(Box::new(age::ssh::Identity::Unencrypted(k))),
        Ok(age::ssh::Identity::Encrypted(_)) => Err(err(
            "the SSH key is password protected, which is unsupported",
        )),
        Ok(age::ssh::Identity::Unsupported(_)) => Err(err("unsupported SSH key type")),
        Err(_) => Err(err("malformed SSH private key")),
    }
}

/// Splits a command line like a POSIX shell would split words (quotes and backslashes),
/// without running a shell, as sops' `shlex.Split`.
fn split_command(cmd: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut chars = cmd.chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => cur.push(c),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => cur.push(chars.next()?),
                        c => cur.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                cur.push(chars.next()?);
            }
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            c => {
                in_word = true;
                cur.push(c);
            }
        }
    }
    if in_word {
        words.push(cur);
    }
    Some(words)
}

fn run_key_cmd(cmd: &str, var: &'static str, recipient: &str) -> Result<Zeroizing<String>, Error> {
    let fail = |reason: String| Error::AgeKeyCommand {
        variable: var,
        reason,
    };
    let words = split_command(cmd)
        .filter(|w| !w.is_empty())
        .ok_or_else(|| fail("cannot parse the command".into()))?;
    let out = std::process::Command::new(&words[0])
        .args(&words[1..])
        .env("SOPS_AGE_RECIPIENT", recipient)
        .stderr(std::process::Stdio::inherit())
        .output()
        .map_err(|e| fail(format!("cannot run `{}`: {e}", words[0])))?;
    let stdout = Zeroizing::new(out.stdout);
    if !out.status.success() {
        return Err(fail(format!("`{}` exited with {}", words[0], out.status)));
    }
    String::from_utf8(stdout.to_vec())
        .map(Zeroizing::new)
        .map_err(|_| fail("output is not UTF-8".into()))
}

impl AgeIdentities {
    /// No identities (wrapping only).
    pub fn empty() -> Self {
        AgeIdentities {
            identities: Vec::new(),
            problems: Vec::new(),
            key_cmd: None,
            ssh_key_cmd: None,
            cmd_cache: Mutex::new(HashMap::new()),
            sources: Vec::new(),
        }
    }

    /// Identities parsed from the text of an identity file (`keys.txt` format).
    ///
    /// # Errors
    /// [`Error::AgeIdentity`] naming `source` and the line of the first bad identity.
    pub fn parse(text: &str, source: &str) -> Result<Self, Error> {
        let mut ids = Self::empty();
        ids.identities = parse_identity_text(text, source, false)?;
        ids.sources.push(source.to_owned());
        Ok(ids)
    }

    /// Loads identities from every source sops reads, in sops' order. A source that fails
    /// does not stop the others; its error is kept and reported when nothing decrypts
    /// (see [`AgeIdentities::problems`]).
    pub fn load(env: &AgeEnv) -> Self {
        let mut ids = Self::empty();
        let add = |ids: &mut Self, name: String, result: Result<Vec<BoxedIdentity>, Error>| {
            match result {
                Ok(found) => {
                    if !found.is_empty() {
                        ids.sources.push(name);
                    }
                    ids.identities.extend(found);
                }
                Err(e) => ids.problems.push(e),
            }
        };
        // SSH keys: the variable, else the default files.
        if let Some(path) = env.get("SOPS_AGE_SSH_PRIVATE_KEY_FILE") {
            let name = format!("SOPS_AGE_SSH_PRIVATE_KEY_FILE ({path})");
            let r = read_secret_file(Path::new(path))
                .and_then(|t| parse_ssh_identity(&t, path))
                .map(|i| vec![i]);
            add(&mut ids, name, r);
        }
        if let Some(home) = &env.home {
            for name in ["id_ed25519", "id_rsa"] {
                let path = home.join(".ssh").join(name);
                if path.is_file() {
                    let shown = path.display().to_string();
                    let r = read_secret_file(&path)
                        .and_then(|t| parse_ssh_identity(&t, &shown))
                        .map(|i| vec![i]);
                    add(&mut ids, shown, r);
                }
            }
        }
        if let Some(text) = env.get("SOPS_AGE_KEY") {
            let r = parse_identity_text(text, "SOPS_AGE_KEY", true);
            add(&mut ids, "SOPS_AGE_KEY".into(), r);
        }
        if let Some(path) = env.get("SOPS_AGE_KEY_FILE") {
            let r = read_secret_file(Path::new(path))
                .and_then(|t| parse_identity_text(&t, path, false));
            add(&mut ids, format!("SOPS_AGE_KEY_FILE ({path})"), r);
        }
        ids.key_cmd = env.get("SOPS_AGE_KEY_CMD").map(str::to_owned);
        ids.ssh_key_cmd = env.get("SOPS_AGE_SSH_PRIVATE_KEY_CMD").map(str::to_owned);
        if let Some(dir) = env.user_config_dir() {
            let path = dir.join("sops").join("age").join("keys.txt");
            if path.is_file() {
                let shown = path.display().to_string();
                let r =
                    read_secret_file(&path).and_then(|t| parse_identity_text(&t, &shown, false));
                add(&mut ids, shown, r);
            }
        }
        ids
    }

    /// [`AgeIdentities::load`] over the process environment.
    pub fn from_process_env() -> Self {
        Self::load(&AgeEnv::from_process())
    }

    /// How many identities were loaded (the command source not counted).
    pub fn len(&self) -> usize {
        self.identities.len()
    }

    /// Whether no identity was loaded and no key command is set.
    pub fn is_empty(&self) -> bool {
        self.identities.is_empty() && self.key_cmd.is_none() && self.ssh_key_cmd.is_none()
    }

    /// Errors of sources that could not be read or parsed.
    pub fn problems(&self) -> &[Error] {
        &self.problems
    }

    /// Names of the sources identities came from (variables and paths, never keys).
    pub fn sources(&self) -> &[String] {
        &self.sources
    }

    /// Identities from `SOPS_AGE_SSH_PRIVATE_KEY_CMD` and `SOPS_AGE_KEY_CMD`, run once per
    /// recipient with `SOPS_AGE_RECIPIENT` set (as sops does).
    fn cmd_identities(&self, recipient: &str) -> Result<Arc<Vec<BoxedIdentity>>, Error> {
        if self.key_cmd.is_none() && self.ssh_key_cmd.is_none() {
            return Ok(Arc::new(Vec::new()));
        }
        let mut cache = self.cmd_cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(found) = cache.get(recipient) {
            return Ok(found.clone());
        }
        let mut found = Vec::new();
        if let Some(cmd) = &self.ssh_key_cmd {
            let text = run_key_cmd(cmd, "SOPS_AGE_SSH_PRIVATE_KEY_CMD", recipient)?;
            found.push(parse_ssh_identity(&text, "SOPS_AGE_SSH_PRIVATE_KEY_CMD")?);
        }
        if let Some(cmd) = &self.key_cmd {
            let text = run_key_cmd(cmd, "SOPS_AGE_KEY_CMD", recipient)?;
            found.extend(parse_identity_text(&text, "SOPS_AGE_KEY_CMD", false)?);
        }
        let found = Arc::new(found);
        cache.insert(recipient.to_owned(), found.clone());
        Ok(found)
    }
}

/// Parses a recipient as sops does (`age1…` X25519, `ssh-ed25519 …`, `ssh-rsa …`).
///
/// # Errors
/// [`Error::AgeRecipient`] naming the recipient: malformed, or a kind this build does not
/// support (post-quantum `age1pq1…`, plugins).
pub fn parse_recipient(recipient: &str) -> Result<Box<dyn age::Recipient + Send + Sync>, Error> {
    let r = recipient.trim();
    let err = |reason: &'static str| Error::AgeRecipient {
        recipient: r.to_owned(),
        reason,
    };
    if r.starts_with("age1pq1") {
        Err(err("post-quantum age recipients are not supported yet"))
    } else if r.starts_with("age1") && r.matches('1').count() > 1 {
        Err(err("age plugin recipients are not supported"))
    } else if r.starts_with("age1") {
        age::x25519::Recipient::from_str(r)
            .map(|x| Box::new(x) as _)
            .map_err(|_| err("malformed age recipient"))
    } else if r.starts_with("ssh-") {
        age::ssh::Recipient::from_str(r)
            .map(|x| Box::new(x) as _)
            .map_err(|_| err("malformed SSH recipient"))
    } else {
        Err(err("unknown recipient type"))
    }
}

/// A new X25519 identity: its recipient (`age1…`) and its secret key
/// (`AGE-SECRET-KEY-1…`), for `age-keygen`-like commands and tests.
pub fn generate() -> (String, secrecy::SecretString) {
    use age::secrecy::ExposeSecret;
    let id = age::x25519::Identity::generate();
    let secret = id.to_string();
    (
        id.to_public().to_string(),
        secrecy::SecretString::from(secret.expose_secret().to_owned()),
    )
}

/// One age entry of a SOPS file: a recipient, and the identities to try on its `enc`.
pub struct AgeKey {
    recipient: String,
    identities: Arc<AgeIdentities>,
}

impl AgeKey {
    /// The service for `recipient`, unwrapping with `identities`.
    pub fn new(recipient: &str, identities: Arc<AgeIdentities>) -> Self {
        AgeKey {
            recipient: recipient.trim().to_owned(),
            identities,
        }
    }

    /// A service that only wraps (no identities).
    ///
    /// # Errors
    /// [`Error::AgeRecipient`] when the recipient does not parse.
    pub fn recipient_only(recipient: &str) -> Result<Self, Error> {
        parse_recipient(recipient)?;
        Ok(Self::new(recipient, Arc::new(AgeIdentities::empty())))
    }

    /// The recipient string as stored in the file.
    pub fn recipient(&self) -> &str {
        &self.recipient
    }
}

impl KeyService for AgeKey {
    fn describe(&self) -> String {
        self.recipient.clone()
    }

    fn wrap(&self, key: &DataKey) -> Result<WrappedKey, Error> {
        self.wrap_share(key.expose_secret())
    }

    fn unwrap(&self, wrapped: &WrappedKey) -> Result<Option<DataKey>, Error> {
        match self.unwrap_share(wrapped)? {
            None => Ok(None),
            Some(bytes) => DataKey::try_from_slice(&bytes).map(Some),
        }
    }

    fn wrap_share(&self, plain: &[u8]) -> Result<WrappedKey, Error> {
        let recipient = parse_recipient(&self.recipient)?;
        let fail = |reason: String| Error::AgeWrap {
            recipient: self.recipient.clone(),
            reason,
        };
        let encryptor =
            age::Encryptor::with_recipients(std::iter::once(&*recipient as &dyn age::Recipient))
                .map_err(|e| fail(e.to_string()))?;
        let mut out = Vec::new();
        let armor = ArmoredWriter::wrap_output(&mut out, Format::AsciiArmor)
            .map_err(|e| fail(e.to_string()))?;
        let mut writer = encryptor
            .wrap_output(armor)
            .map_err(|e| fail(e.to_string()))?;
        writer.write_all(plain).map_err(|e| fail(e.to_string()))?;
        writer
            .finish()
            .and_then(|a| a.finish())
            .map_err(|e| fail(e.to_string()))?;
        let mut text = String::from_utf8(out).map_err(|_| fail("armor is not UTF-8".into()))?;
        if !text.ends_with('\n') {
            text.push('\n');
        }
        Ok(WrappedKey(text))
    }

    fn unwrap_share(&self, wrapped: &WrappedKey) -> Result<Option<Zeroizing<Vec<u8>>>, Error> {
        if self.recipient.starts_with("age1pq1") {
            return Err(Error::AgeRecipient {
                recipient: self.recipient.clone(),
                reason: "post-quantum age recipients are not supported yet",
            });
        }
        let fail = |reason: String| Error::AgeUnwrap {
            recipient: self.recipient.clone(),
            reason,
        };
        let from_cmd = self.identities.cmd_identities(&self.recipient)?;
        let all: Vec<&dyn age::Identity> = self
            .identities
            .identities
            .iter()
            .chain(from_cmd.iter())
            .map(|i| &**i as &dyn age::Identity)
            .collect();
        if all.is_empty() {
            return Ok(None);
        }
        let decryptor = age::Decryptor::new(ArmoredReader::new(wrapped.0.as_bytes()))
            .map_err(|e| fail(e.to_string()))?;
        let mut stream = match decryptor.decrypt(all.into_iter()) {
            Ok(s) => s,
            Err(age::DecryptError::NoMatchingKeys) => return Ok(None),
            Err(e) => return Err(fail(e.to_string())),
        };
        let mut plain = Zeroizing::new(Vec::new());
        stream
            .read_to_end(&mut plain)
            .map_err(|e| fail(e.to_string()))?;
        Ok(Some(plain))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wraps_and_unwraps_x25519() {
        let id = age::x25519::Identity::generate();
        let recipient = id.to_public().to_string();
        let text = {
            use age::secrecy::ExposeSecret;
            id.to_string().expose_secret().to_owned()
        };
        let ids = Arc::new(AgeIdentities::parse(&format!("# comment\n{text}\n"), "test").unwrap());
        let key = DataKey::generate();
        let svc = AgeKey::new(&recipient, ids);
        let wrapped = svc.wrap(&key).unwrap();
        assert!(
            wrapped
                .0
                .starts_with("-----BEGIN AGE ENCRYPTED FILE-----\n")
        );
        assert!(wrapped.0.ends_with("-----END AGE ENCRYPTED FILE-----\n"));
        let back = svc.unwrap(&wrapped).unwrap().unwrap();
        assert_eq!(back.expose_secret(), key.expose_secret());
        let other = AgeKey::new(
            &recipient,
            Arc::new(
                AgeIdentities::parse(
                    &{
                        use age::secrecy::ExposeSecret;
                        age::x25519::Identity::generate()
                            .to_string()
                            .expose_secret()
                            .to_owned()
                    },
                    "other",
                )
                .unwrap(),
            ),
        );
        assert!(other.unwrap(&wrapped).unwrap().is_none());
    }

    #[test]
    fn bad_identity_names_line_not_content() {
        let err =
            AgeIdentities::parse("# c\n\nAGE-SECRET-KEY-1NOTAKEYCANARY\n", "keys.txt").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("keys.txt") && msg.contains("line 3"), "{msg}");
        assert!(!msg.contains("CANARY") && !format!("{err:?}").contains("CANARY"));
    }

    #[test]
    fn env_sources_and_default_path() {
        let dir = tempfile::tempdir().unwrap();
        let text = {
            use age::secrecy::ExposeSecret;
            age::x25519::Identity::generate()
                .to_string()
                .expose_secret()
                .to_owned()
        };
        let text2 = {
            use age::secrecy::ExposeSecret;
            age::x25519::Identity::generate()
                .to_string()
                .expose_secret()
                .to_owned()
        };
        std::fs::create_dir_all(dir.path().join("cfg/sops/age")).unwrap();
        std::fs::write(
            dir.path().join("cfg/sops/age/keys.txt"),
            format!("{text}\n"),
        )
        .unwrap();
        let env = AgeEnv::new([
            ("HOME", dir.path().to_str().unwrap().to_owned()),
            (
                "XDG_CONFIG_HOME",
                dir.path().join("cfg").to_str().unwrap().to_owned(),
            ),
            ("SOPS_AGE_KEY", format!("{text} {text2}")),
        ]);
        let ids = AgeIdentities::load(&env);
        assert_eq!(ids.len(), 3, "{ids:?}");
        assert!(ids.problems().is_empty());
    }

    #[test]
    fn splits_commands_like_shlex() {
        assert_eq!(
            split_command("a 'b c' \"d\\\"e\" f\\ g").unwrap(),
            ["a", "b c", "d\"e", "f g"]
        );
    }
}
