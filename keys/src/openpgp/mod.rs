//! OpenPGP with rPGP (the `pgp` crate), pure Rust: no `gpg` binary, no C library. Two
//! jobs: commit and tag signatures checked against trusted certificates ([`verify`]), and
//! SOPS `pgp` entries unwrapped with private keys ([`decrypt`]) — or, for the CLI, wrapped
//! and unwrapped by the user's own gpg ([`gpg`]), as sops does.
//!
//! Why rPGP and not Sequoia: `sequoia-openpgp`'s default backend is Nettle (a C library
//! built through bindgen, which needs libclang); its pure-Rust backend is marked
//! experimental and variable-time. rPGP is built on the RustCrypto crates the workspace
//! already uses (`rsa`, `sha2`, `aes`, `curve25519-dalek`).
//!
//! rPGP parses and checks signatures, but leaves policy to its user: which self-signature
//! counts, whether a key is revoked or expired. [`cert`] holds that policy, as GnuPG applies
//! it when `git verify-commit` asks it: a key signs only while it is bound to its
//! certificate by a valid self-signature, is not revoked and has not expired — judged now,
//! not at the time the signature claims.

mod cert;
mod decrypt;
mod gpg;
mod verify;

pub use cert::KeyProblem;
pub use decrypt::{PgpKey, SecretKeys};
pub use gpg::{GpgKey, gpg_program};
pub use verify::{CertificateError, SignatureError, TrustedCertificates};

/// A key's fingerprint as GnuPG prints it: upper-case hex without spaces.
fn hex(fingerprint: &pgp::types::Fingerprint) -> String {
    format!("{fingerprint:X}")
}

/// The armoured blocks of `data`, each from its `-----BEGIN PGP` line: files and Secret
/// entries often hold several keys exported one after another, and rPGP reads one block.
fn blocks(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    const BEGIN: &[u8] = b"-----BEGIN PGP ";
    let starts: Vec<usize> = (0..data.len())
        .filter(|&i| data[i..].starts_with(BEGIN))
        .collect();
    let ends: Vec<usize> = starts.iter().skip(1).copied().chain([data.len()]).collect();
    starts
        .into_iter()
        .zip(ends)
        .map(move |(start, end)| &data[start..end])
}
