//! Encrypts a plaintext file to age recipients, for manual checks against `sops -d`:
//! `cargo run --example encrypt -- <yaml|json|dotenv|ini|binary> <in> <out> <recipient>...`
//! (several recipients after `--groups` form one key group each, threshold 2).

use lockstep_sops::{EmitOptions, EncryptOptions, Format, Recipient, stores};

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [format, input, output, rest @ ..] = args.as_slice() else {
        eprintln!("usage: encrypt <format> <in> <out> [--groups] <recipient>...");
        std::process::exit(2);
    };
    let format = Format::from_name(format).expect("unknown format");
    let (groups, recipients) = match rest {
        [flag, r @ ..] if flag == "--groups" => (true, r),
        r => (false, r),
    };
    let recipients: Vec<Recipient> = recipients
        .iter()
        .map(|r| Recipient::age(r).expect("recipient"))
        .collect();
    let key_groups = if groups {
        recipients.into_iter().map(|r| vec![r]).collect()
    } else {
        vec![recipients]
    };
    let tree =
        stores::load(&std::fs::read(input).expect("read input"), format).expect("parse input");
    let opts = EncryptOptions {
        key_groups,
        shamir_threshold: if groups { 2 } else { 0 },
        rule: None,
        mac_only_encrypted: false,
    };
    let file = lockstep_sops::encrypt(tree, format, opts).expect("encrypt");
    std::fs::write(
        output,
        file.emit(format, &EmitOptions::default()).expect("emit"),
    )
    .expect("write output");
}
