//! Times encrypt, emit, load and decrypt of a generated YAML file of N string values
//! (default 10,000) to one age recipient: `cargo run --release --example measure -- [N]`.
//! A measurement, not a test; the CLI benchmark against sops lives elsewhere.

use std::sync::Arc;
use std::time::Instant;

use lockstep_keys::age::{AgeIdentities, generate};
use lockstep_sops::{
    AgeResolver, EmitOptions, EncryptOptions, EncryptedFile, Format, Recipient, stores,
};
use secrecy::ExposeSecret;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(10_000);
    let mut yaml = String::from("data:\n");
    for i in 0..n {
        yaml.push_str(&format!("    key{i}: value-{i}-CANARY\n"));
    }
    let (recipient, identity) = generate();
    let ids =
        Arc::new(AgeIdentities::parse(identity.expose_secret(), "generated").expect("identity"));

    let t = Instant::now();
    let tree = stores::load(yaml.as_bytes(), Format::Yaml).expect("load plain");
    let load_plain = t.elapsed();
    let t = Instant::now();
    let opts = EncryptOptions {
        key_groups: vec![vec![Recipient::age(&recipient).expect("recipient")]],
        shamir_threshold: 0,
        rule: None,
        mac_only_encrypted: false,
    };
    let file = lockstep_sops::encrypt(tree, Format::Yaml, opts).expect("encrypt");
    let bytes = file
        .emit(Format::Yaml, &EmitOptions::default())
        .expect("emit");
    let encrypt = t.elapsed();
    let t = Instant::now();
    let file = EncryptedFile::load(&bytes, Format::Yaml).expect("load encrypted");
    let d =
        lockstep_sops::decrypt(file, &AgeResolver::new(ids), &Default::default()).expect("decrypt");
    let out = stores::emit(&d.tree, Format::Yaml, &EmitOptions::default()).expect("emit plain");
    let decrypt = t.elapsed();
    assert_eq!(out, yaml.as_bytes());
    println!(
        "{n} values, {} bytes encrypted: load plain {load_plain:?}, encrypt+emit {encrypt:?}, load+decrypt+emit {decrypt:?}",
        bytes.len()
    );
}
