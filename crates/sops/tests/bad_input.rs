//! Each kind of bad input gives its own error variant, with a location and never a value.

use lockstep_sops::{
    DecryptError, EmitOptions, EncryptError, EncryptedFile, Format, LoadError, stores,
};

use crate::util::*;

const FLUX: &str = "fluxcd-age.txt";
const FILE: &str = "age/fluxcd_v3.7.0.enc.yaml";

/// Display and Debug of `err` contain none of `secrets`.
fn assert_no_leak(err: &dyn std::fmt::Debug, display: &str, secrets: &[&str]) {
    let debug = format!("{err:?}");
    for s in secrets {
        assert!(
            !display.contains(s) && !debug.contains(s),
            "{s:?} leaked in {display} / {debug}"
        );
    }
}

fn decrypt_text(text: &str, key: &str) -> Result<lockstep_sops::Decrypted, DecryptError> {
    let file = EncryptedFile::load(text.as_bytes(), Format::Yaml).unwrap();
    lockstep_sops::decrypt(file, &resolver(key), &Default::default())
}

#[test]
fn tampered_value_names_its_path() {
    let text = String::from_utf8(read(FILE)).unwrap();
    // Flip one base64 character of the encrypted `stringData.secret`.
    let start =
        text.find("secret: ENC[AES256_GCM,data:").unwrap() + "secret: ENC[AES256_GCM,data:".len();
    let mut bytes = text.into_bytes();
    bytes[start] = if bytes[start] == b'A' { b'B' } else { b'A' };
    let err = decrypt_text(std::str::from_utf8(&bytes).unwrap(), FLUX).unwrap_err();
    assert!(
        matches!(&err, DecryptError::Value { path, .. } if path == "stringData:secret"),
        "{err}"
    );
    assert_eq!(u8::from(err.code()), 25);
    assert_no_leak(&err, &err.to_string(), &["my-sops-age-secret"]);
}

#[test]
fn value_moved_to_another_key_fails() {
    let text = String::from_utf8(read(FILE))
        .unwrap()
        .replace("    secret: ENC", "    moved: ENC");
    let err = decrypt_text(&text, FLUX).unwrap_err();
    assert!(
        matches!(&err, DecryptError::Value { path, .. } if path == "stringData:moved"),
        "{err}"
    );
}

#[test]
fn changed_clear_value_is_a_mac_mismatch() {
    // `metadata.name` is not encrypted (encrypted_regex) but is part of the MAC.
    let text = String::from_utf8(read(FILE))
        .unwrap()
        .replace("name: sops-age", "name: other");
    let err = decrypt_text(&text, FLUX).unwrap_err();
    assert!(matches!(err, DecryptError::MacMismatch), "{err}");
    assert_eq!(u8::from(err.code()), 51);
    // --ignore-mac lets it through.
    let file = EncryptedFile::load(text.as_bytes(), Format::Yaml).unwrap();
    let opts = lockstep_sops::DecryptOptions {
        ignore_mac: true,
        ..Default::default()
    };
    lockstep_sops::decrypt(file, &resolver(FLUX), &opts).unwrap();
}

#[test]
fn tampered_mac_is_undecryptable() {
    let text = String::from_utf8(read(FILE)).unwrap();
    let start = text.find("mac: ENC[AES256_GCM,data:").unwrap() + "mac: ENC[AES256_GCM,data:".len();
    let mut bytes = text.into_bytes();
    bytes[start] = if bytes[start] == b'A' { b'B' } else { b'A' };
    let err = decrypt_text(std::str::from_utf8(&bytes).unwrap(), FLUX).unwrap_err();
    assert!(
        matches!(err, DecryptError::MacUndecryptable { .. }),
        "{err}"
    );
    assert_eq!(u8::from(err.code()), 51);
}

#[test]
fn missing_mac_is_its_own_error() {
    let text = String::from_utf8(read(FILE)).unwrap();
    let mac_line = text
        .lines()
        .find(|l| l.trim_start().starts_with("mac: "))
        .unwrap()
        .to_owned();
    let err = decrypt_text(&text.replace(&format!("{mac_line}\n"), ""), FLUX).unwrap_err();
    assert!(matches!(err, DecryptError::MacMissing), "{err}");
}

#[test]
fn wrong_key_lists_the_keys_tried() {
    let err = decrypt_text(
        &String::from_utf8(read(FILE)).unwrap(),
        "helm-secrets-age.txt",
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            DecryptError::NoKey {
                recovered: 0,
                needed: 1,
                ..
            }
        ),
        "{msg}"
    );
    assert!(
        msg.contains("age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29"),
        "{msg}"
    );
    // A wrong key reads as one: the identity loaded, and where from.
    assert!(
        msg.contains("the age identity loaded (from helm-secrets-age.txt) is not a recipient"),
        "{msg}"
    );
    assert_eq!(u8::from(err.code()), 128);
    assert_no_leak(&err, &msg, &["AGE-SECRET-KEY", "my-sops-age-secret"]);
}

#[test]
fn encrypting_an_encrypted_file_is_refused() {
    for rel in [
        FILE,
        "age/fluxcd_v3.9.0.enc.env",
        "unattributed/v3.12.2_age.enc.ini",
    ] {
        let format = format_of(rel);
        let tree = stores::load(&read(rel), format).unwrap();
        let (recipient, _) = fresh_age();
        let err = lockstep_sops::encrypt(tree, format, to_recipient(&recipient)).unwrap_err();
        assert!(
            matches!(err, EncryptError::AlreadyEncrypted),
            "{rel}: {err}"
        );
        assert_eq!(u8::from(err.code()), 203);
    }
}

#[test]
fn empty_input_is_refused() {
    let tree = stores::load(b"", Format::Yaml).unwrap();
    let (recipient, _) = fresh_age();
    let err = lockstep_sops::encrypt(tree, Format::Yaml, to_recipient(&recipient)).unwrap_err();
    assert!(matches!(err, EncryptError::Empty), "{err}");
    assert_eq!(u8::from(err.code()), 92);
}

#[test]
fn malformed_yaml_names_line_and_column() {
    let err = stores::load(b"a: 1\nb: [CANARY\nc: 3\n", Format::Yaml).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, LoadError::Syntax { line: 3, .. }), "{msg}");
    assert_no_leak(&err, &msg, &["CANARY"]);
    let err = stores::load(b"a: CANARY\na: CANARY2\n", Format::Yaml).unwrap_err();
    assert!(
        matches!(&err, LoadError::Structure { line: 2, path, .. } if path == "a"),
        "{err}"
    );
    assert_no_leak(&err, &err.to_string(), &["CANARY"]);
    let err = stores::load(b"- CANARY\n", Format::Yaml).unwrap_err();
    assert!(matches!(err, LoadError::Structure { line: 1, .. }), "{err}");
}

#[test]
fn malformed_json_names_line_and_column() {
    let err = stores::load(
        b"{\n  \"a\": \"CANARY\",\n  \"b\": CANARY\n}\n",
        Format::Json,
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        matches!(
            err,
            LoadError::Syntax {
                line: 3,
                column: 8,
                ..
            }
        ),
        "{msg}"
    );
    assert_no_leak(&err, &msg, &["CANARY"]);
}

#[test]
fn malformed_dotenv_and_ini_name_the_line() {
    let err = stores::load(b"A=1\nCANARY\n", Format::Dotenv).unwrap_err();
    assert!(matches!(err, LoadError::Syntax { line: 2, .. }), "{err}");
    assert_no_leak(&err, &err.to_string(), &["CANARY"]);
    let err = stores::load(b"[s]\nCANARY\n", Format::Ini).unwrap_err();
    assert!(matches!(err, LoadError::Syntax { line: 2, .. }), "{err}");
    assert_no_leak(&err, &err.to_string(), &["CANARY"]);
}

#[test]
fn plain_file_has_no_metadata() {
    for (text, format) in [
        (&b"a: CANARY\n"[..], Format::Yaml),
        (b"{\"a\": \"CANARY\"}", Format::Json),
        (b"A=CANARY\n", Format::Dotenv),
        (b"[s]\na = CANARY\n", Format::Ini),
        (b"CANARY", Format::Binary),
    ] {
        let err = EncryptedFile::load(text, format).unwrap_err();
        assert!(matches!(err, LoadError::NoMetadata), "{format}: {err}");
    }
}

/// sops decodes `version`, `mac`, `lastmodified`… into strings and refuses a mapping or a
/// list there (probe case A5); a scalar of another type is taken as its text, as sops does.
#[test]
fn metadata_text_fields_must_be_single_values() {
    let text = String::from_utf8(read(FILE)).unwrap();
    let version = text
        .lines()
        .find(|l| l.trim_start().starts_with("version:"))
        .unwrap()
        .to_owned();
    for (field, replacement) in [
        ("version", "    version: {x: 1}"),
        ("version", "    version: [1]"),
    ] {
        let bad = text.replace(&version, replacement);
        let err = EncryptedFile::load(bad.as_bytes(), Format::Yaml).unwrap_err();
        assert!(
            matches!(&err, LoadError::Metadata { path, .. } if path == field),
            "{replacement}: {err}"
        );
    }
    let numeric = text.replace(&version, "    version: 3.7");
    let file = EncryptedFile::load(numeric.as_bytes(), Format::Yaml).unwrap();
    assert_eq!(file.metadata.version, "3.7");
}

#[test]
fn debug_of_plaintext_is_redacted() {
    let d = decrypt(FILE, FLUX).unwrap();
    let debug = format!("{d:?}");
    assert!(!debug.contains("my-sops-age-secret"), "{debug}");
    assert!(
        debug.contains("stringData") && debug.contains("redacted"),
        "{debug}"
    );
    let tree = stores::load(b"k: CANARY\n", Format::Yaml).unwrap();
    assert!(!format!("{tree:?}").contains("CANARY"));
    let _ = EmitOptions::default();
}

#[test]
fn non_string_yaml_keys_are_refused() {
    for text in [
        &b"1: CANARY\n"[..],
        b"true: CANARY\n",
        b"a:\n    2.5: CANARY\n",
    ] {
        let err = stores::load(text, Format::Yaml).unwrap_err();
        assert!(matches!(err, LoadError::Structure { .. }), "{err}");
        assert_no_leak(&err, &err.to_string(), &["CANARY"]);
    }
    // Quoted, they are strings.
    stores::load(b"\"1\": x\n'true': y\n", Format::Yaml).unwrap();
}

#[test]
fn yaml_unexpected_character_is_not_quoted() {
    for text in [&b"a: @Z\n"[..], b"a: `Z\n", b"a: \"x\\Zy\"\n"] {
        let err = stores::load(text, Format::Yaml).unwrap_err();
        let msg = err.to_string();
        assert!(matches!(err, LoadError::Syntax { line: 1, .. }), "{msg}");
        assert!(
            !msg.contains('@') && !msg.contains('`') && !msg.contains('Z'),
            "{msg}"
        );
    }
}

#[test]
fn json_duplicate_keys_are_refused_with_their_place() {
    // sops 3.13 fails on this (rc 25); the last value winning would decrypt to something
    // a reader of the file never saw.
    for (text, line) in [
        ("{\"a\": \"first-v\", \"a\": \"second-v\"}", 1),
        ("{\"x\": {\n  \"b\": 1,\n  \"b\": \"second-v\"\n}}", 3),
    ] {
        let err = stores::load(text.as_bytes(), Format::Json).unwrap_err();
        assert!(
            matches!(&err, LoadError::Syntax { line: l, reason, .. } if *l == line && reason.contains("duplicate key")),
            "{err}"
        );
        assert_no_leak(&err, &err.to_string(), &["first-v", "second-v"]);
    }
    // The same keys in different objects are fine.
    stores::load(b"{\"a\": {\"k\": 1}, \"b\": {\"k\": 2}}", Format::Json).unwrap();
}
