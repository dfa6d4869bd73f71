//! What the SOPS verbs share: the rule and key flags, reading input, atomic output, format
//! choice, tree paths (`["a"][0]`) and decrypting a file with the environment's keys.

use std::collections::BTreeMap;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::Args;
use lockstep_sops::config::{self, Config, CreationRule, KeySpec, KmsSpec};
use lockstep_sops::{DecryptOptions, Decrypted, EncryptedFile, Format, KeyType, Rule};

use super::keysource::CliResolver;
use super::sopserr::{Code, Coded, Hint, coded, hints};

/// `--config` (sops' global flag, accepted on every verb here).
#[derive(Debug, Args, Clone)]
pub struct ConfigFlag {
    /// Path to the .sops.yaml config file (default: .sops.yaml in the working directory or
    /// a parent).
    #[arg(long, env = "SOPS_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Key types to try first when decrypting, comma-separated (age, pgp, kms, gcp_kms,
    /// azure_kv, hc_vault, hckms).
    #[arg(long, env = "SOPS_DECRYPTION_ORDER", value_name = "TYPES")]
    pub decryption_order: Option<String>,
    /// Indent of YAML and JSON output, in spaces (default: the config's `stores`, else 4
    /// for YAML and a tab for JSON).
    #[arg(long, value_name = "N")]
    pub indent: Option<usize>,
}

impl ConfigFlag {
    /// `--indent` over `emit` (the config's `stores` settings).
    pub fn with_indent(&self, mut emit: lockstep_sops::EmitOptions) -> lockstep_sops::EmitOptions {
        if let Some(n) = self.indent {
            emit.yaml_indent = n;
            emit.json_indent = Some(n);
            emit.binary_indent = Some(n);
        }
        emit
    }

    /// The config named by `--config`/`SOPS_CONFIG`, else the nearest `.sops.yaml` from
    /// the working directory up; `None` when there is none. A `.sops.yml` on the way gets
    /// a warning, as in sops.
    pub fn load(&self) -> anyhow::Result<Option<Config>> {
        let cwd = std::env::current_dir().context("cannot read the working directory")?;
        let found = config::find(self.config.as_deref(), &cwd)?;
        if let Some(ignored) = &found.ignored {
            eprintln!(
                "lockstep: warning: ignoring {} (sops only reads {})",
                ignored.display(),
                config::FILE_NAME
            );
        }
        Ok(found.path.map(|p| Config::load(&p)).transpose()?)
    }

    /// Output settings: the `stores` section of the config (if one is found and reads)
    /// and `--indent`.
    pub fn emit_options(&self) -> lockstep_sops::EmitOptions {
        let stores = self
            .load()
            .ok()
            .flatten()
            .map(|c| c.emit)
            .unwrap_or_default();
        self.with_indent(stores)
    }

    /// `--decryption-order` as key types; a type named twice is exit 112, and names of no
    /// known type are ignored, as in sops.
    pub fn order(&self) -> anyhow::Result<Vec<KeyType>> {
        let mut out = Vec::new();
        let mut seen = Vec::new();
        for name in self
            .decryption_order
            .as_deref()
            .map(config::split_list)
            .unwrap_or_default()
        {
            if seen.contains(&name) {
                return Err(coded(
                    Code::DuplicateDecryptionKeyType,
                    format!("duplicate decryption key type: {name}"),
                ));
            }
            if let Some(t) = KeyType::ALL.into_iter().find(|t| t.field() == name) {
                out.push(t);
            }
            seen.push(name);
        }
        Ok(out)
    }
}

/// `--input-type`/`--output-type`.
#[derive(Debug, Args, Clone)]
pub struct TypeFlags {
    /// Input format: yaml, json, dotenv, ini or binary (default: from the file extension).
    #[arg(long, value_name = "TYPE", value_parser = parse_format)]
    pub input_type: Option<Format>,
    /// Output format: yaml, json, dotenv, ini or binary (default: the input format).
    #[arg(long, value_name = "TYPE", value_parser = parse_format)]
    pub output_type: Option<Format>,
}

fn parse_format(s: &str) -> Result<Format, String> {
    Format::from_name(s)
        .ok_or_else(|| format!("unknown type {s:?}: expected yaml, json, dotenv, ini or binary"))
}

impl TypeFlags {
    /// Input and output formats for a file named `name`.
    pub fn formats(&self, name: Option<&Path>) -> (Format, Format) {
        let inferred = name.map_or(Format::Binary, Format::from_path);
        let input = self.input_type.unwrap_or(inferred);
        let output = self
            .output_type
            .unwrap_or(name.map_or(input, Format::from_path));
        (input, output)
    }
}

/// The six encryption rule flags and `--mac-only-encrypted`.
#[derive(Debug, Args, Clone, Default)]
pub struct RuleFlags {
    /// Leave values whose key ends with this suffix unencrypted (default `_unencrypted`).
    #[arg(long, value_name = "SUFFIX")]
    pub unencrypted_suffix: Option<String>,
    /// Encrypt only values whose key ends with this suffix.
    #[arg(long, value_name = "SUFFIX")]
    pub encrypted_suffix: Option<String>,
    /// Leave values unencrypted when a key on their path matches this regex.
    #[arg(long, value_name = "REGEX")]
    pub unencrypted_regex: Option<String>,
    /// Encrypt only values with a key on their path that matches this regex.
    #[arg(long, value_name = "REGEX")]
    pub encrypted_regex: Option<String>,
    /// Leave values unencrypted when a comment above them matches this regex.
    #[arg(long, value_name = "REGEX")]
    pub unencrypted_comment_regex: Option<String>,
    /// Encrypt only values with a comment above them that matches this regex.
    #[arg(long, value_name = "REGEX")]
    pub encrypted_comment_regex: Option<String>,
    /// Compute the MAC over encrypted values only.
    #[arg(long)]
    pub mac_only_encrypted: bool,
}

impl RuleFlags {
    /// The rule from the flags, each field overriding the creation rule's (sops'
    /// `getEncryptConfig`); more than one set is an error (exit 8).
    pub fn resolve(&self, config: Option<&CreationRule>) -> anyhow::Result<Option<Rule>> {
        let flags: Vec<Rule> = [
            ("unencrypted_suffix", &self.unencrypted_suffix),
            ("encrypted_suffix", &self.encrypted_suffix),
            ("unencrypted_regex", &self.unencrypted_regex),
            ("encrypted_regex", &self.encrypted_regex),
            ("unencrypted_comment_regex", &self.unencrypted_comment_regex),
            ("encrypted_comment_regex", &self.encrypted_comment_regex),
        ]
        .into_iter()
        .filter_map(|(field, flag)| {
            let value = flag.clone().filter(|s| !s.is_empty())?;
            Rule::from_field(field, value)
        })
        .collect();
        Ok(config::encryption_rule(&flags, config)?)
    }

    /// `mac_only_encrypted` from the flag or the creation rule.
    pub fn mac_only(&self, config: Option<&CreationRule>) -> bool {
        self.mac_only_encrypted || config.is_some_and(|c| c.mac_only_encrypted)
    }
}

/// The key flags of `encrypt` (and `edit` of a new file).
#[derive(Debug, Args, Clone, Default)]
pub struct KeyFlags {
    /// Comma-separated age recipients.
    #[arg(
        short = 'a',
        long,
        env = "SOPS_AGE_RECIPIENTS",
        value_name = "RECIPIENTS"
    )]
    pub age: Option<String>,
    /// Comma-separated AWS KMS ARNs (`arn[+role]`).
    #[arg(short = 'k', long, env = "SOPS_KMS_ARN", value_name = "ARNS")]
    pub kms: Option<String>,
    /// AWS profile for the KMS keys.
    #[arg(long, value_name = "PROFILE")]
    pub aws_profile: Option<String>,
    /// Comma-separated Vault transit key URIs
    /// (`https://vault:8200/v1/transit/keys/name`).
    #[arg(long, env = "SOPS_VAULT_URIS", value_name = "URIS")]
    pub hc_vault_transit: Option<String>,
    /// KMS encryption context: comma-separated `key:value` pairs.
    #[arg(long, value_name = "CONTEXT")]
    pub encryption_context: Option<String>,
    /// Number of key groups needed to decrypt (Shamir secret sharing).
    #[arg(long, value_name = "N")]
    pub shamir_secret_sharing_threshold: Option<usize>,
}

/// sops' `--encryption-context` parser: `k1:v1,k2:v2` (exit 6 when malformed).
pub fn parse_context(s: Option<&str>) -> anyhow::Result<BTreeMap<String, String>> {
    let mut out = BTreeMap::new();
    let Some(s) = s.filter(|s| !s.is_empty()) else {
        return Ok(out);
    };
    for pair in s.split(',') {
        let Some((k, v)) = pair.split_once(':') else {
            return Err(coded(
                Code::InvalidKmsContext,
                "invalid KMS encryption context format (expected key:value,key:value)",
            ));
        };
        out.insert(k.to_owned(), v.to_owned());
    }
    Ok(out)
}

impl KeyFlags {
    /// The key group given on the command line, if any key flag is set.
    pub fn group(&self) -> anyhow::Result<Option<Vec<KeySpec>>> {
        let context = parse_context(self.encryption_context.as_deref())?;
        let mut group = Vec::new();
        if let Some(a) = &self.age {
            group.extend(config::split_list(a).into_iter().map(KeySpec::Age));
        }
        if let Some(k) = &self.kms {
            group.extend(config::split_list(k).iter().map(|arn| {
                KeySpec::Kms(KmsSpec::from_arn(
                    arn,
                    &context,
                    self.aws_profile.as_deref(),
                ))
            }));
        }
        if let Some(v) = &self.hc_vault_transit {
            group.extend(config::split_list(v).into_iter().map(KeySpec::Vault));
        }
        Ok((!group.is_empty()).then_some(group))
    }
}

/// Where the plaintext or ciphertext comes from.
pub struct Input {
    /// The file's bytes.
    pub bytes: Vec<u8>,
    /// The file read, or `None` for stdin.
    pub path: Option<PathBuf>,
}

/// Reads `file`, or stdin when it is `None` or `-`. A missing file is exit 100.
pub fn read_input(file: Option<&Path>) -> anyhow::Result<Input> {
    match file.filter(|f| f.as_os_str() != "-") {
        None => {
            let mut bytes = Vec::new();
            std::io::stdin()
                .read_to_end(&mut bytes)
                .context("cannot read stdin")
                .map_err(|e| e.context(Coded::new(Code::CannotReadInput, "cannot read input")))?;
            Ok(Input { bytes, path: None })
        }
        Some(path) => {
            if !path.exists() {
                return Err(Coded::new(
                    Code::NoFileSpecified,
                    format!("cannot operate on non-existent file {}", path.display()),
                )
                .hint(hints::EXISTING_FILE)
                .into());
            }
            let bytes = std::fs::read(path).map_err(|e| {
                anyhow::Error::new(e).context(Coded::new(
                    Code::CannotReadInput,
                    format!("cannot read {}", path.display()),
                ))
            })?;
            Ok(Input {
                bytes,
                path: Some(path.to_owned()),
            })
        }
    }
}

/// Where to write: in place, to a file, or to stdout.
pub enum Output<'a> {
    /// Replace this file atomically, keeping its permissions.
    InPlace(&'a Path),
    /// Write this file (atomically).
    File(&'a Path),
    /// Standard output.
    Stdout,
}

impl<'a> Output<'a> {
    /// From `-i`, `--output` and the input path; both flags together are exit 8, `-i` on
    /// stdin too.
    pub fn choose(
        in_place: bool,
        output: Option<&'a Path>,
        input: Option<&'a Path>,
    ) -> anyhow::Result<Output<'a>> {
        match (in_place, output, input) {
            (true, Some(_), _) => Err(Coded::new(
                Code::ConflictingParameters,
                "cannot operate on both --output and --in-place",
            )
            .hint(hints::CONFLICTING_FLAGS)
            .into()),
            (true, None, None) => Err(Coded::new(
                Code::ConflictingParameters,
                "cannot use --in-place when reading from stdin",
            )
            .hint(Hint::new(
                "name the file to change in place, or drop --in-place",
            ))
            .into()),
            (true, None, Some(p)) => Ok(Output::InPlace(p)),
            (false, Some(p), _) => Ok(Output::File(p)),
            (false, None, _) => Ok(Output::Stdout),
        }
    }

    /// Writes `bytes`; nothing is left behind on failure.
    pub fn write(&self, bytes: &[u8]) -> anyhow::Result<()> {
        match self {
            Output::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(bytes)?;
                out.flush()?;
                Ok(())
            }
            Output::InPlace(p) | Output::File(p) => write_atomic(p, bytes),
        }
    }
}

/// Writes `path` through a temporary file in the same directory and a rename, keeping the
/// permissions of an existing file (new files: 0600 unless umask says less).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    let fail = |e: std::io::Error| {
        anyhow::Error::new(e).context(Coded::new(
            Code::CannotWriteOutput,
            format!("could not write {}", path.display()),
        ))
    };
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    let mut tmp = tempfile::Builder::new()
        .prefix(".lockstep-")
        .tempfile_in(dir)
        .map_err(fail)?;
    tmp.write_all(bytes).map_err(fail)?;
    tmp.as_file().sync_all().map_err(fail)?;
    if let Ok(meta) = std::fs::metadata(path) {
        std::fs::set_permissions(tmp.path(), meta.permissions()).map_err(fail)?;
    } else {
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt as _;
            std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))
                .map_err(fail)?;
        }
    }
    tmp.persist(path).map_err(|e| fail(e.error))?;
    Ok(())
}

/// Loads an encrypted file; a file that does not parse is sops' generic error.
pub fn load_encrypted(bytes: &[u8], format: Format, name: &str) -> anyhow::Result<EncryptedFile> {
    EncryptedFile::load(bytes, format).with_context(|| format!("cannot load {name}"))
}

/// Decrypts with the keys of the environment.
pub fn decrypt_file(
    file: EncryptedFile,
    ignore_mac: bool,
    config: &ConfigFlag,
) -> anyhow::Result<Decrypted> {
    let resolver = CliResolver::from_env();
    let opts = DecryptOptions {
        ignore_mac,
        decryption_order: config.order()?,
    };
    let result = lockstep_sops::decrypt(file, &resolver, &opts);
    match result {
        Ok(d) => Ok(d),
        Err(e @ lockstep_sops::DecryptError::NoKey { .. }) => {
            let problems = resolver.problems();
            let mut err = anyhow::Error::new(e);
            if !problems.is_empty() {
                err = err.context(format!(
                    "failed to get the data key (identity sources with problems: {})",
                    problems.join("; ")
                ));
            }
            Err(err)
        }
        Err(e) => Err(e.into()),
    }
}

/// Re-encrypts an edited plaintext `tree` with the file's own data key, keeping the
/// ciphertext of every unchanged value (the IV stash), and writes it over `path` atomically:
/// the last step of `edit`, `set` and `unset`.
pub fn write_reencrypted(
    path: &Path,
    tree: lockstep_sops::Tree,
    decrypted: Decrypted,
    format: Format,
    emit: &lockstep_sops::EmitOptions,
    name: &str,
) -> anyhow::Result<()> {
    let out = lockstep_sops::reencrypt(
        tree,
        &decrypted.data_key,
        decrypted.metadata,
        Some(&decrypted.stash),
    )
    .with_context(|| format!("cannot encrypt {name}"))?;
    write_atomic(path, &out.emit(format, emit)?)
}

/// Reads, loads and decrypts the encrypted file at `path`: the first step of every verb
/// that works on one file in place (`set`, `unset`, `rotate`, `exec-env`, `exec-file`).
pub fn open_encrypted(
    path: &Path,
    format: Format,
    ignore_mac: bool,
    config: &ConfigFlag,
) -> anyhow::Result<Decrypted> {
    let name = path.display().to_string();
    // sops: "no file" (100) is for encrypt and decrypt; the verbs that change or run a
    // file cannot read it (2).
    if !path.exists() {
        return Err(Coded::new(
            Code::CannotReadInput,
            format!("cannot read {name}: the file does not exist"),
        )
        .hint(hints::EXISTING_FILE)
        .into());
    }
    let input = read_input(Some(path))?;
    let file = load_encrypted(&input.bytes, format, &name)?;
    decrypt_file(file, ignore_mac, config).with_context(|| format!("cannot decrypt {name}"))
}

/// A temporary directory only the user can enter, for decrypted copies (`edit`,
/// `exec-file`); removed when the returned handle drops.
pub fn private_temp_dir(prefix: &str) -> anyhow::Result<tempfile::TempDir> {
    let dir = tempfile::Builder::new()
        .prefix(prefix)
        .tempdir()
        .context("cannot create a private temporary directory")?;
    // Private before anything is written into it (tempfile leaves it to the umask).
    #[cfg(unix)]
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .context("cannot make the temporary directory private")?;
    Ok(dir)
}

/// The name to show for the input.
pub fn shown(path: Option<&Path>) -> String {
    path.map_or_else(|| "stdin".to_owned(), |p| p.display().to_string())
}
