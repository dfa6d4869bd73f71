//! The SOPS stores (YAML, JSON, dotenv, INI, TOML, binary) and the `sops` metadata block: any
//! bytes load or fail with an error, never a panic, an abort or unbounded memory; a tree
//! that loads is emitted again in its own format without a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lockstep_sops::{EmitOptions, EncryptedFile, Format, stores};

const FORMATS: [Format; 6] = [
    Format::Yaml,
    Format::Json,
    Format::Dotenv,
    Format::Ini,
    Format::Binary,
    Format::Toml,
];

fuzz_target!(|input: &[u8]| {
    let Some((&selector, data)) = input.split_first() else {
        return;
    };
    let format = FORMATS[usize::from(selector) % FORMATS.len()];
    if let Ok(tree) = stores::load(data, format) {
        let _ = stores::emit(&tree, format, &EmitOptions::default());
    }
    let _ = EncryptedFile::load(data, format);
});
