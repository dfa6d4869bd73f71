//! Helpers shared by the integration tests: fixture paths, key loading, decryption.

use std::path::PathBuf;
use std::sync::Arc;

use lockstep_keys::age::AgeIdentities;
use lockstep_sops::{
    AgeResolver, DecryptError, DecryptOptions, Decrypted, EmitOptions, EncryptedFile, Format,
};

/// Path of a file under `tests/testdata/sops/`.
pub fn testdata(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/testdata/sops")
        .join(rel)
}

/// Reads a fixture.
pub fn read(rel: &str) -> Vec<u8> {
    std::fs::read(testdata(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// A resolver over the identities of `keys/<key>`.
pub fn resolver(key: &str) -> AgeResolver {
    let text = String::from_utf8(read(&format!("keys/{key}"))).unwrap();
    AgeResolver::new(Arc::new(AgeIdentities::parse(&text, key).unwrap()))
}

/// The format sops would pick for a fixture name.
pub fn format_of(rel: &str) -> Format {
    if rel.ends_with(".txt") || rel.ends_with(".bin") {
        Format::Binary
    } else {
        Format::from_path(std::path::Path::new(rel))
    }
}

/// Loads and decrypts a fixture with a key file.
pub fn decrypt(rel: &str, key: &str) -> Result<Decrypted, DecryptError> {
    let file = EncryptedFile::load(&read(rel), format_of(rel)).unwrap();
    lockstep_sops::decrypt(file, &resolver(key), &DecryptOptions::default())
}

/// The plaintext as JSON (tab indent), the form the expectations are written in.
pub fn as_json(d: &Decrypted) -> String {
    String::from_utf8(
        lockstep_sops::stores::emit(&d.tree, Format::Json, &EmitOptions::default()).unwrap(),
    )
    .unwrap()
}

/// A fresh age identity: its recipient and a resolver that holds it.
pub fn fresh_age() -> (String, AgeResolver) {
    let (recipient, identity) = fresh_identity();
    (recipient, resolver_for(&identity))
}

/// A fresh age identity: its recipient and its secret key text.
pub fn fresh_identity() -> (String, String) {
    use secrecy::ExposeSecret;
    let (recipient, identity) = lockstep_keys::age::generate();
    (recipient, identity.expose_secret().to_owned())
}

/// A resolver over the identities in `text` (an identity file).
pub fn resolver_for(text: &str) -> AgeResolver {
    AgeResolver::new(Arc::new(AgeIdentities::parse(text, "generated").unwrap()))
}

/// Options that encrypt to one age recipient with the default rule.
pub fn to_recipient(recipient: &str) -> lockstep_sops::EncryptOptions {
    lockstep_sops::EncryptOptions {
        key_groups: vec![vec![lockstep_sops::Recipient::age(recipient).unwrap()]],
        shamir_threshold: 0,
        rule: None,
        mac_only_encrypted: false,
    }
}
