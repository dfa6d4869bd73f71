//! OpenPGP with rPGP (the `pgp` crate), pure Rust: no `gpg` binary, no C library.
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
mod verify;

pub use cert::KeyProblem;
pub use verify::{CertificateError, SignatureError, TrustedCertificates};

/// A key's fingerprint as GnuPG prints it: upper-case hex without spaces.
fn hex(fingerprint: &pgp::types::Fingerprint) -> String {
    format!("{fingerprint:X}")
}
