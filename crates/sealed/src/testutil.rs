//! Keys shared by this crate's unit tests: the public test fixtures (see
//! `tests/testdata/INDEX.md`), loaded once.

use std::sync::OnceLock;

use lockstep_keys::sealing::SealingPrivateKey;

/// The 2048-bit PKCS#8 fixture key.
pub(crate) fn key_2048() -> &'static SealingPrivateKey {
    static KEY: OnceLock<SealingPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| {
        SealingPrivateKey::from_pem(include_bytes!(
            "../tests/testdata/bakito-keypair-pkcs8/key.pem"
        ))
        .expect("fixture key loads")
    })
}

/// The 4096-bit PKCS#1 controller key of the v0.14.1 fixture.
pub(crate) fn other_key() -> &'static SealingPrivateKey {
    static KEY: OnceLock<SealingPrivateKey> = OnceLock::new();
    KEY.get_or_init(|| {
        SealingPrivateKey::from_pem(include_bytes!(
            "../tests/testdata/wingkwong-v0.14.1-strict/tls.key"
        ))
        .expect("fixture key loads")
    })
}
