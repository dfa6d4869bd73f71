//! Differential checks against files made here by sops 3.13.3 (the version this crate
//! emulates; see testdata/sops/INDEX.md, "sops-3.13.3"): we read them byte for byte, decrypt
//! them to what `sops decrypt` printed, and our own encryption of the same plaintext
//! differs from sops' only in random bytes (data key, IVs, age stanzas, timestamps).

use lockstep_sops::{
    DecryptError, DecryptOptions, EmitOptions, EncryptOptions, EncryptedFile, Format, Recipient,
    Rule, stores,
};
use regex::Regex;

use crate::util::*;

const DIR: &str = "sops-3.13.3";
const R1: &str = "age1635utf8528j5rgq9qpnacdef37ar8ueswtrg0ztqg4h80atrucqqwggwyx";
const R2: &str = "age17k7m06zkzq4lxm2djx4dkhqxw6m3t0fj4j7m4r3larw7rde69ujqheyscm";
const R3: &str = "age13wc50lw3gpghecjhyrjcvntecwgst4zq3glnsrpeqvy5fdryqsqq28psu0";

fn format_of_ext(ext: &str) -> Format {
    match ext {
        "yaml" => Format::Yaml,
        "json" => Format::Json,
        "env" => Format::Dotenv,
        "ini" => Format::Ini,
        _ => Format::Binary,
    }
}

fn keys(names: &[&str]) -> lockstep_sops::AgeResolver {
    let text: String = names
        .iter()
        .map(|n| String::from_utf8(read(&format!("keys/lockstep-shamir-{n}.txt"))).unwrap())
        .collect();
    resolver_for(&text)
}

/// Replaces what is random in a sops file so two encryptions of one plaintext compare.
fn normalize(text: &str) -> String {
    let enc = Regex::new(r"ENC\[AES256_GCM,data:[^,]*,iv:[^,]*,tag:[^,]*,type:").unwrap();
    let armor =
        Regex::new(r"(?s)-----BEGIN AGE ENCRYPTED FILE-----.*?-----END AGE ENCRYPTED FILE-----")
            .unwrap();
    let time = Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").unwrap();
    let text = enc.replace_all(text, "ENC[AES256_GCM,data:…,iv:…,tag:…,type:");
    let text = armor.replace_all(&text, "AGE");
    time.replace_all(&text, "TIME").into_owned()
}

fn check(ext: &str) {
    check_named("age", ext);
}

fn check_named(name: &str, ext: &str) {
    check_with(name, ext, None, false);
}

fn check_with(name: &str, ext: &str, rule: Option<Rule>, mac_only_encrypted: bool) {
    let format = format_of_ext(ext);
    let enc = read(&format!("{DIR}/{name}.enc.{ext}"));
    // 1. Re-emitting sops' file gives its bytes back.
    let file = EncryptedFile::load(&enc, format).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&file.emit(format, &EmitOptions::default()).unwrap()),
        String::from_utf8_lossy(&enc)
    );
    // 2. It decrypts (MAC verified) to exactly what `sops decrypt` printed.
    let d = lockstep_sops::decrypt(file, &keys(&["1"]), &DecryptOptions::default()).unwrap();
    let out = stores::emit(&d.tree, format, &EmitOptions::default()).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out),
        String::from_utf8_lossy(&read(&format!("{DIR}/{name}.expected.{ext}")))
    );
    // 3. Our encryption of the same plaintext has sops' layout.
    let plain = stores::load(&read(&format!("{DIR}/{name}.plain.{ext}")), format).unwrap();
    let opts = EncryptOptions {
        rule,
        mac_only_encrypted,
        ..to_recipient(R1)
    };
    let ours = lockstep_sops::encrypt(plain, format, opts).unwrap();
    let ours = ours.emit(format, &EmitOptions::default()).unwrap();
    assert_eq!(
        normalize(&String::from_utf8_lossy(&ours)),
        normalize(&String::from_utf8_lossy(&enc))
    );
}

#[test]
fn yaml() {
    check("yaml");
}

/// Head, inline, foot and list comments: kept inline when encrypted, moved above on
/// decrypt, list comments stored as `- ENC[…,type:comment]` elements.
#[test]
fn yaml_comments() {
    check_named("comments", "yaml");
}

/// Strings that need quoting or escapes, YAML 1.1 booleans, numbers in every notation,
/// times, non-BMP characters: `sops decrypt` output reproduced byte for byte.
#[test]
fn yaml_scalar_styles() {
    check_named("tricky", "yaml");
}

/// Go `json.Marshal` escapes (HTML characters, controls, U+2028), float and int forms.
#[test]
fn json_scalar_forms() {
    check_named("trickyj", "json");
}

/// dotenv without quoting or trimming: `=` and `#` in values, spaces, `\n` escapes.
#[test]
fn dotenv_value_forms() {
    check_named("trickyd", "env");
}

/// INI: keys before any section, section and key comments, inline `;` comments, quoted,
/// backticked and `"""` values, `=` alignment.
#[test]
fn ini_value_forms() {
    check_named("trickyi", "ini");
}

/// Two documents: each gets the metadata block.
#[test]
fn yaml_multi_document() {
    check_named("multidoc", "yaml");
}

#[test]
fn encrypted_comment_regex() {
    check_with(
        "ecr",
        "yaml",
        Some(Rule::EncryptedCommentRegex("sops:enc".into())),
        false,
    );
}

#[test]
fn unencrypted_comment_regex() {
    check_with(
        "ucr",
        "yaml",
        Some(Rule::UnencryptedCommentRegex("nosops".into())),
        false,
    );
}

#[test]
fn mac_only_encrypted_with_encrypted_regex() {
    check_with(
        "maconly",
        "yaml",
        Some(Rule::EncryptedRegex("^data$".into())),
        true,
    );
}

#[test]
fn json() {
    check("json");
}

#[test]
fn dotenv() {
    check("env");
}

#[test]
fn ini() {
    check("ini");
}

#[test]
fn binary() {
    check("bin");
}

#[test]
fn shamir_three_groups_threshold_two() {
    let enc = read(&format!("{DIR}/shamir_3groups.enc.yaml"));
    let file = EncryptedFile::load(&enc, Format::Yaml).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&file.emit(Format::Yaml, &EmitOptions::default()).unwrap()),
        String::from_utf8_lossy(&enc)
    );
    let expected = String::from_utf8(read(&format!("{DIR}/shamir_3groups.expected.yaml"))).unwrap();
    for pair in [["1", "2"], ["2", "3"], ["1", "3"]] {
        let file = EncryptedFile::load(&enc, Format::Yaml).unwrap();
        let d = lockstep_sops::decrypt(file, &keys(&pair), &DecryptOptions::default()).unwrap();
        let out = stores::emit(&d.tree, Format::Yaml, &EmitOptions::default()).unwrap();
        assert_eq!(String::from_utf8_lossy(&out), expected, "{pair:?}");
    }
    let file = EncryptedFile::load(&enc, Format::Yaml).unwrap();
    let err = lockstep_sops::decrypt(file, &keys(&["3"]), &DecryptOptions::default()).unwrap_err();
    assert!(
        matches!(
            err,
            DecryptError::NoKey {
                recovered: 1,
                needed: 2,
                ..
            }
        ),
        "{err}"
    );

    // Our own three-group file has sops' layout.
    let plain = stores::load(
        &read(&format!("{DIR}/shamir_3groups.plain.yaml")),
        Format::Yaml,
    )
    .unwrap();
    let opts = EncryptOptions {
        key_groups: [R1, R2, R3]
            .iter()
            .map(|r| vec![Recipient::age(r).unwrap()])
            .collect(),
        shamir_threshold: 2,
        rule: None,
        mac_only_encrypted: false,
    };
    let ours = lockstep_sops::encrypt(plain, Format::Yaml, opts)
        .unwrap()
        .emit(Format::Yaml, &EmitOptions::default())
        .unwrap();
    assert_eq!(
        normalize(&String::from_utf8_lossy(&ours)),
        normalize(&String::from_utf8_lossy(&enc))
    );
}

/// `edit` without changes: decrypting a sops file and encrypting it again with its data key
/// and the IV stash reproduces every value's ciphertext byte for byte; only `lastmodified`
/// and the MAC (new IV, new AAD) change.
#[test]
fn reencrypt_unchanged_keeps_every_ciphertext() {
    let mac_line = Regex::new(r"(?m)^.*(lastmodified|mac).*$").unwrap();
    for (name, ext) in [
        ("age", "yaml"),
        ("age", "json"),
        ("age", "env"),
        ("age", "ini"),
        // Not comments.yaml: decrypting drops the inline mark of its end-of-line comments
        // (sops does too), so they come back above their keys, as after `sops edit`. Not
        // tricky.yaml: two equal values under one key path (`[true, …, True]`) share one
        // stash entry, so both get the IV of the last (sops' stash does the same).
        ("trickyd", "env"),
        ("trickyi", "ini"),
        ("multidoc", "yaml"),
        ("maconly", "yaml"),
        ("ecr", "yaml"),
    ] {
        let format = format_of_ext(ext);
        let enc = String::from_utf8(read(&format!("{DIR}/{name}.enc.{ext}"))).unwrap();
        let file = EncryptedFile::load(enc.as_bytes(), format).unwrap();
        let d = lockstep_sops::decrypt(file, &keys(&["1"]), &DecryptOptions::default()).unwrap();
        let again =
            lockstep_sops::reencrypt(d.tree, &d.data_key, d.metadata, Some(&d.stash)).unwrap();
        let again =
            String::from_utf8(again.emit(format, &EmitOptions::default()).unwrap()).unwrap();
        assert_eq!(
            mac_line.replace_all(&again, "MAC"),
            mac_line.replace_all(&enc, "MAC"),
            "{name}.{ext}"
        );
        assert_ne!(again, enc, "{name}.{ext}: lastmodified and MAC are renewed");
    }
}

/// `sops decrypt --output-type X` of a file of another format: same bytes.
#[test]
fn conversions_match_sops() {
    for (name, from, to) in [
        ("trickyi", "ini", "yaml"),
        ("trickyj", "json", "yaml"),
        ("trickyd", "env", "json"),
        ("multidoc", "yaml", "json"),
    ] {
        let file = EncryptedFile::load(
            &read(&format!("{DIR}/{name}.enc.{from}")),
            format_of_ext(from),
        )
        .unwrap();
        let d = lockstep_sops::decrypt(file, &keys(&["1"]), &DecryptOptions::default()).unwrap();
        let out = stores::emit(&d.tree, format_of_ext(to), &EmitOptions::default()).unwrap();
        let want = read(&format!("{DIR}/{name}.expected-as.{to}"));
        assert_eq!(
            String::from_utf8_lossy(&out),
            String::from_utf8_lossy(&want),
            "{name}: {from} -> {to}"
        );
    }
}
