//! Key material and the services that wrap and unwrap data keys.
//!
//! A SOPS file is encrypted with one random 32-byte [`DataKey`]; each recipient (an age
//! identity, a KMS key, a Vault transit key) stores its own wrapped copy of it. This crate
//! owns that key and the services that wrap it, so the format crates never see a KMS
//! client or an age stanza.
