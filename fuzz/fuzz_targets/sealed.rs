//! SealedSecret and Secret documents (what `lockstep seal/unseal`, the controller and the
//! `/v1/verify` and `/v1/rotate` bodies read) and unsealing with a real sealing key: any
//! bytes parse or fail with an error, and a parsed SealedSecret unseals or fails per item.
#![no_main]

use std::sync::LazyLock;

use libfuzzer_sys::fuzz_target;
use lockstep_keys::sealing::SealingPrivateKey;
use lockstep_sealed::{manifest, parse_sealed_secrets, unseal};

static KEY: LazyLock<SealingPrivateKey> = LazyLock::new(|| {
    SealingPrivateKey::from_pem(include_bytes!(
        "../../crates/sealed/tests/testdata/wingkwong-v0.14.1-strict/tls.key"
    ))
    .expect("the fixture key loads")
});

fuzz_target!(|input: &[u8]| {
    if let Ok(all) = parse_sealed_secrets(input) {
        for sealed in &all {
            let _ = unseal(sealed, std::slice::from_ref(&*KEY));
        }
    }
    let _ = manifest::parse_secrets(input);
    let _ = lockstep_sealed::load_private_keys(input);
});
