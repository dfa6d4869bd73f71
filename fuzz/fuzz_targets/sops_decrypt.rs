//! Decryption of a SOPS file with the right age keys: `ENC[…]` values, the MAC, key groups
//! and Shamir shares, mutated from files the real sops made (the corpus). Any input
//! decrypts or fails with an error.
#![no_main]

use std::sync::{Arc, LazyLock};

use libfuzzer_sys::fuzz_target;
use lockstep_keys::age::AgeIdentities;
use lockstep_sops::{AgeResolver, DecryptOptions, EncryptedFile, Format};

const KEYS: &str = concat!(
    include_str!("../../crates/sops/tests/testdata/sops/keys/fluxcd-age.txt"),
    "\n",
    include_str!("../../crates/sops/tests/testdata/sops/keys/lockstep-shamir-1.txt"),
    "\n",
    include_str!("../../crates/sops/tests/testdata/sops/keys/lockstep-shamir-2.txt"),
);

static RESOLVER: LazyLock<AgeResolver> = LazyLock::new(|| {
    AgeResolver::new(Arc::new(
        AgeIdentities::parse(KEYS, "fuzz").expect("the fixture keys parse"),
    ))
});

fuzz_target!(|input: &[u8]| {
    let format = if input.first() == Some(&b'{') {
        Format::Json
    } else {
        Format::Yaml
    };
    if let Ok(file) = EncryptedFile::load(input, format) {
        let _ = lockstep_sops::decrypt(file, &*RESOLVER, &DecryptOptions::default());
    }
});
