//! Decrypts a file with the age identities sops would load (`SOPS_AGE_KEY_FILE`, …), for
//! manual checks against `sops encrypt`:
//! `cargo run --example decrypt -- <yaml|json|dotenv|ini|binary> <file>`.

use std::io::Write;
use std::sync::Arc;

use lockstep_keys::age::AgeIdentities;
use lockstep_sops::{AgeResolver, EmitOptions, EncryptedFile, Format, stores};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [format, input] = args.as_slice() else {
        eprintln!("usage: decrypt <format> <file>");
        std::process::exit(2);
    };
    let format = Format::from_name(format).expect("unknown format");
    let file =
        EncryptedFile::load(&std::fs::read(input).expect("read input"), format).expect("load");
    let resolver = AgeResolver::new(Arc::new(AgeIdentities::from_process_env()));
    match lockstep_sops::decrypt(file, &resolver, &Default::default()) {
        Ok(d) => {
            let out = stores::emit(&d.tree, format, &EmitOptions::default()).expect("emit");
            std::io::stdout().write_all(&out).expect("write");
        }
        Err(e) => {
            eprintln!("error: {e}");
            std::process::exit(u8::from(e.code()).into());
        }
    }
}
