//! Where age identities come from, as sops finds them: SSH keys from
//! `SOPS_AGE_SSH_PRIVATE_KEY_FILE`/`_CMD` and `~/.ssh`, `SOPS_AGE_KEY`, `SOPS_AGE_KEY_FILE`,
//! `SOPS_AGE_KEY_CMD` and the default `keys.txt`. The environment is an explicit input
//! ([`AgeEnv`]) so tests never touch the process environment. Errors name the source and
//! the line, never the content of a line.

use std::collections::HashMap;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::{Arc, Mutex};

use zeroize::Zeroizing;

use crate::Error;

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

pub(super) type BoxedIdentity = Box<dyn age::Identity + Send + Sync>;

/// The age identities available for unwrapping, and what went wrong loading the others.
pub struct AgeIdentities {
    pub(super) identities: Vec<BoxedIdentity>,
    /// Sources that could not be read, reported only if nothing decrypts.
    problems: Vec<Error>,
    /// `SOPS_AGE_KEY_CMD`, run per recipient when unwrapping.
    key_cmd: Option<String>,
    /// `SOPS_AGE_SSH_PRIVATE_KEY_CMD`, likewise.
    ssh_key_cmd: Option<String>,
    cmd_cache: Mutex<HashMap<String, Arc<Vec<BoxedIdentity>>>>,
    sources: Vec<String>,
    /// Whether they were looked for where sops looks ([`AgeIdentities::load`]), not given.
    from_environment: bool,
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
pub(super) fn split_command(cmd: &str) -> Option<Vec<String>> {
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
            from_environment: false,
        }
    }

    /// Adds the identities of `other` (and its sources and problems), e.g. one set per key
    /// file of a decryption Secret.
    pub fn extend(&mut self, other: AgeIdentities) {
        self.identities.extend(other.identities);
        self.problems.extend(other.problems);
        self.sources.extend(other.sources);
        self.from_environment |= other.from_environment;
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
        ids.from_environment = true;
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

    /// Why no identity here unwraps an entry: none was found (and where sops looks), or
    /// those loaded, named by where they came from, are not its recipient.
    pub fn not_found(&self) -> String {
        let commands = [
            self.key_cmd.as_ref().map(|_| "SOPS_AGE_KEY_CMD"),
            self.ssh_key_cmd
                .as_ref()
                .map(|_| "SOPS_AGE_SSH_PRIVATE_KEY_CMD"),
        ];
        let commands: Vec<&str> = commands.into_iter().flatten().collect();
        if self.identities.is_empty() && commands.is_empty() {
            return if self.from_environment {
                "no age identity found (looked in SOPS_AGE_KEY, SOPS_AGE_KEY_FILE, \
                 SOPS_AGE_KEY_CMD, SOPS_AGE_SSH_PRIVATE_KEY_FILE, ~/.ssh/id_ed25519, \
                 ~/.ssh/id_rsa and sops/age/keys.txt in the user config directory)"
                    .to_owned()
            } else {
                "no age identity was given".to_owned()
            };
        }
        let mut from: Vec<&str> = self.sources.iter().map(String::as_str).collect();
        from.extend(commands);
        let from = from.join(", ");
        match self.identities.len() {
            0 => format!("{from} gave no identity that is a recipient of it"),
            1 => format!("the age identity loaded (from {from}) is not a recipient of it"),
            n => {
                format!("none of the {n} age identities loaded (from {from}) is a recipient of it")
            }
        }
    }

    /// Names of the sources identities came from (variables and paths, never keys).
    pub fn sources(&self) -> &[String] {
        &self.sources
    }

    /// Identities from `SOPS_AGE_SSH_PRIVATE_KEY_CMD` and `SOPS_AGE_KEY_CMD`, run once per
    /// recipient with `SOPS_AGE_RECIPIENT` set (as sops does).
    pub(super) fn cmd_identities(&self, recipient: &str) -> Result<Arc<Vec<BoxedIdentity>>, Error> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A missing identity and a wrong one read differently, each saying where it looked.
    #[test]
    fn not_found_tells_missing_from_wrong() {
        let home = tempfile::tempdir().unwrap();
        let home = home.path().to_str().unwrap();
        let none = AgeIdentities::load(&AgeEnv::new([("HOME", home), ("XDG_CONFIG_HOME", home)]));
        assert!(
            none.not_found()
                .starts_with("no age identity found (looked in SOPS_AGE_KEY")
        );
        assert_eq!(
            AgeIdentities::empty().not_found(),
            "no age identity was given"
        );
        let (_, identity) = crate::age::generate();
        let text = secrecy::ExposeSecret::expose_secret(&identity).to_owned();
        let wrong = AgeIdentities::parse(&text, "keys.txt").unwrap();
        assert_eq!(
            wrong.not_found(),
            "the age identity loaded (from keys.txt) is not a recipient of it"
        );
        let mut two = AgeIdentities::parse(&text, "a.txt").unwrap();
        two.extend(AgeIdentities::parse(&text, "b.txt").unwrap());
        assert_eq!(
            two.not_found(),
            "none of the 2 age identities loaded (from a.txt, b.txt) is a recipient of it"
        );
    }
}
