//! One encrypted file through the SOPS verbs: reading it (a file or stdin), loading and
//! decrypting it with the environment's keys, writing it back re-encrypted, and private
//! temporary copies for the verbs that hand plaintext to another program.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use lockstep_sops::{DecryptOptions, Decrypted, EncryptedFile, Format};
use zeroize::Zeroizing;

use super::flags::{ConfigFlag, OpenFlags};
use super::keysource::CliResolver;
use crate::cmd::output::write_atomic;
use crate::cmd::report::{Code, Coded, hints};

/// Where the plaintext or ciphertext comes from.
pub struct Input {
    /// The file's bytes (zeroized on drop: they may be plaintext).
    pub bytes: Zeroizing<Vec<u8>>,
    /// The file read, or `None` for stdin.
    pub path: Option<PathBuf>,
}

/// Reads `file`, or stdin when it is `None` or `-` ([`crate::cmd::input::read`]). A
/// missing file is exit 100; one that cannot be read, or is over the input limit, exit 2.
pub fn read_input(file: Option<&Path>) -> anyhow::Result<Input> {
    let path = file.filter(|f| f.as_os_str() != "-");
    if let Some(path) = path
        && !path.exists()
    {
        return Err(Coded::new(
            Code::NoFileSpecified,
            format!("cannot operate on non-existent file {}", path.display()),
        )
        .hint(hints::EXISTING_FILE)
        .into());
    }
    let bytes = crate::cmd::input::read(path)
        .map_err(|e| e.context(Coded::new(Code::CannotReadInput, "cannot read input")))?;
    Ok(Input {
        bytes,
        path: path.map(Path::to_owned),
    })
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
pub fn open_encrypted(path: &Path, format: Format, open: &OpenFlags) -> anyhow::Result<Decrypted> {
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
    decrypt_file(file, open.ignore_mac, &open.config)
        .with_context(|| format!("cannot decrypt {name}"))
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
