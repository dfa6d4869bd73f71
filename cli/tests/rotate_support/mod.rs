//! What the rotation tests share: a repository of SOPS files made with our library (and a
//! few by the real `sops`), running `lockstep`, and checking files with a given identity.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::Arc;

use assert_cmd::cargo::CommandCargoExt as _;
use lockstep_keys::age::AgeIdentities;
use lockstep_sops::{AgeResolver, EmitOptions, EncryptOptions, EncryptedFile, Format, Recipient};
use secrecy::ExposeSecret as _;

/// Canary in every plaintext: it must never show up in a rotated file or in output.
pub const CANARY: &str = "CANARY-rotate-0xC0FFEE";

/// An age identity written to a key file.
pub struct Identity {
    /// `age1…`.
    pub recipient: String,
    /// The key file.
    pub file: PathBuf,
    secret: String,
}

impl Identity {
    /// A fresh identity whose key file lives in `dir`.
    pub fn new(dir: &Path, name: &str) -> Identity {
        let (recipient, secret) = lockstep_keys::age::generate();
        let file = dir.join(format!("{name}.txt"));
        std::fs::write(&file, format!("{}\n", secret.expose_secret())).unwrap();
        Identity {
            recipient,
            file,
            secret: secret.expose_secret().to_owned(),
        }
    }

    /// Decrypts `bytes` (a SOPS file in `format`) with this identity alone: the data key
    /// and the plaintext, or the error text.
    pub fn open(&self, bytes: &[u8], format: Format) -> Result<([u8; 32], Vec<u8>), String> {
        let ids = Arc::new(AgeIdentities::parse(&self.secret, "test").unwrap());
        let file = EncryptedFile::load(bytes, format).map_err(|e| e.to_string())?;
        let out = lockstep_sops::decrypt(file, &AgeResolver::new(ids), &Default::default())
            .map_err(|e| e.to_string())?;
        let plain = lockstep_sops::stores::emit(&out.tree, format, &EmitOptions::default())
            .map_err(|e| e.to_string())?;
        Ok((*out.data_key.expose_secret(), plain))
    }
}

/// One generated SOPS file: where, which format, its plaintext and its data key now.
pub struct File {
    /// Its path.
    pub path: PathBuf,
    /// Its format.
    pub format: Format,
    /// Its plaintext, as our store writes it.
    pub plain: Vec<u8>,
    /// Its data key when last read.
    pub key: [u8; 32],
}

impl File {
    /// A file not read yet.
    pub fn new(path: PathBuf, format: Format) -> File {
        File {
            path,
            format,
            plain: Vec::new(),
            key: [0; 32],
        }
    }
}

/// Reads every file's data key and plaintext with `id` (all must open).
pub fn refresh(files: &mut [File], id: &Identity) {
    for f in files {
        let (key, plain) = id
            .open(&std::fs::read(&f.path).unwrap(), f.format)
            .unwrap_or_else(|e| panic!("{}: {e}", f.path.display()));
        f.key = key;
        f.plain = plain;
    }
}

/// The formats of the generated files, with their extension and a plaintext.
pub fn sample(i: usize) -> (Format, &'static str, String) {
    match i % 5 {
        0 => (
            Format::Yaml,
            "yaml",
            format!("# comment {i}\napp:\n    password: {CANARY}-{i}\n    port: {i}\n"),
        ),
        1 => (
            Format::Json,
            "json",
            format!("{{\n\t\"password\": \"{CANARY}-{i}\",\n\t\"n\": {i}\n}}"),
        ),
        2 => (
            Format::Dotenv,
            "env",
            format!("PASSWORD={CANARY}-{i}\nN={i}\n"),
        ),
        3 => (
            Format::Ini,
            "ini",
            format!("[db]\npassword = {CANARY}-{i}\nn = {i}\n"),
        ),
        _ => (Format::Binary, "bin", format!("raw {CANARY}-{i}\n\0\x01")),
    }
}

/// Encrypts `plain` for age `recipients` with the library, as `lockstep encrypt` would.
pub fn encrypt(plain: &str, format: Format, recipients: &[&str]) -> Vec<u8> {
    let tree = lockstep_sops::stores::load(plain.as_bytes(), format).unwrap();
    let opts = EncryptOptions {
        key_groups: vec![
            recipients
                .iter()
                .map(|r| Recipient::age(r).unwrap())
                .collect(),
        ],
        shamir_threshold: 0,
        rule: None,
        mac_only_encrypted: false,
    };
    lockstep_sops::encrypt(tree, format, opts)
        .unwrap()
        .emit(format, &EmitOptions::default())
        .unwrap()
}

/// Every regular file under `dir` (not `.git`), with its bytes.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let path = entry.path();
            if entry.file_name() == ".git" {
                continue;
            }
            if entry.file_type().unwrap().is_dir() {
                stack.push(path);
            } else {
                out.insert(path.clone(), std::fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// `lockstep` with a clean environment plus `vars`, run in `dir`.
pub fn lockstep(dir: &Path, vars: &[(&str, &str)], args: &[&str]) -> Command {
    let mut cmd = Command::cargo_bin("lockstep").unwrap();
    cmd.current_dir(dir)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .envs(vars.iter().copied())
        .args(args);
    cmd
}

/// Asserts success; returns stdout.
pub fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({:?}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!String::from_utf8_lossy(&out.stdout).contains(CANARY));
    assert!(!String::from_utf8_lossy(&out.stderr).contains(CANARY));
    String::from_utf8(out.stdout).unwrap()
}

/// The real sops; missing: skip loudly, or fail under `LOCKSTEP_REQUIRE_SERVERS=1`.
pub fn need_sops() -> Option<PathBuf> {
    match lockstep_testenv::tool("sops") {
        Ok(p) => Some(p),
        Err(e) => match lockstep_testenv::skip_reason(&e) {
            Some(message) => {
                eprintln!("{message}");
                None
            }
            None => panic!("sops: {e}"),
        },
    }
}

/// A binary of this workspace from the target folder this test binary was built into.
pub fn built_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let path = exe
        .parent()
        .and_then(Path::parent)
        .expect("test binaries live in <target>/<profile>/deps")
        .join(name);
    assert!(path.exists(), "{} is not built", path.display());
    path
}
