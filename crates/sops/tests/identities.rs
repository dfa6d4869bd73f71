//! age identities loaded from the places sops reads them (environment given explicitly),
//! against sops-made files: X25519 keys and an `ssh-ed25519` key.

use std::sync::Arc;

use lockstep_keys::age::{AgeEnv, AgeIdentities};
use lockstep_sops::{AgeResolver, DecryptOptions, EmitOptions, EncryptedFile, Format, stores};

use crate::util::*;

fn path(rel: &str) -> String {
    testdata(rel).to_str().unwrap().to_owned()
}

/// Decrypts a YAML fixture with the identities `vars` point at (and an empty home).
fn decrypt_with_env(rel: &str, vars: &[(&str, String)]) -> String {
    let home = tempfile::tempdir().unwrap();
    let mut all: Vec<(String, String)> =
        vec![("HOME".into(), home.path().to_str().unwrap().into())];
    all.extend(vars.iter().map(|(k, v)| (k.to_string(), v.clone())));
    let ids = AgeIdentities::load(&AgeEnv::new(all));
    assert!(ids.problems().is_empty(), "{:?}", ids.problems());
    let file = EncryptedFile::load(&read(rel), Format::Yaml).unwrap();
    let d = lockstep_sops::decrypt(
        file,
        &AgeResolver::new(Arc::new(ids)),
        &DecryptOptions::default(),
    )
    .unwrap_or_else(|e| panic!("{rel}: {e}"));
    String::from_utf8(stores::emit(&d.tree, Format::Yaml, &EmitOptions::default()).unwrap())
        .unwrap()
}

const SSH_FILE: &str = "sops-3.13.3/ssh.enc.yaml";
const X_FILE: &str = "sops-3.13.3/age.enc.yaml";

fn expected(rel: &str) -> String {
    String::from_utf8(read(&rel.replace(".enc.", ".expected."))).unwrap()
}

#[test]
fn ssh_private_key_file() {
    let got = decrypt_with_env(
        SSH_FILE,
        &[(
            "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
            path("keys/lockstep-ssh-ed25519"),
        )],
    );
    assert_eq!(got, expected(SSH_FILE));
}

#[test]
fn ssh_private_key_cmd() {
    let cmd = format!("cat '{}'", path("keys/lockstep-ssh-ed25519"));
    assert_eq!(
        decrypt_with_env(SSH_FILE, &[("SOPS_AGE_SSH_PRIVATE_KEY_CMD", cmd)]),
        expected(SSH_FILE)
    );
}

#[test]
fn ssh_default_id_ed25519() {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir(home.path().join(".ssh")).unwrap();
    std::fs::copy(
        testdata("keys/lockstep-ssh-ed25519"),
        home.path().join(".ssh/id_ed25519"),
    )
    .unwrap();
    let ids = AgeIdentities::load(&AgeEnv::new([("HOME", home.path().to_str().unwrap())]));
    let file = EncryptedFile::load(&read(SSH_FILE), Format::Yaml).unwrap();
    lockstep_sops::decrypt(
        file,
        &AgeResolver::new(Arc::new(ids)),
        &DecryptOptions::default(),
    )
    .unwrap();
}

#[test]
fn age_key_file_inline_and_cmd() {
    let key_path = path("keys/lockstep-shamir-1.txt");
    let key_text = String::from_utf8(read("keys/lockstep-shamir-1.txt")).unwrap();
    let want = expected(X_FILE);
    assert_eq!(
        decrypt_with_env(X_FILE, &[("SOPS_AGE_KEY_FILE", key_path.clone())]),
        want
    );
    assert_eq!(
        decrypt_with_env(X_FILE, &[("SOPS_AGE_KEY", key_text)]),
        want
    );
    assert_eq!(
        decrypt_with_env(X_FILE, &[("SOPS_AGE_KEY_CMD", format!("cat {key_path}"))]),
        want
    );
    // The command sees the recipient it is asked for.
    let cmd = format!(
        "sh -c 'test \"$SOPS_AGE_RECIPIENT\" = {} && cat {key_path}'",
        "age1635utf8528j5rgq9qpnacdef37ar8ueswtrg0ztqg4h80atrucqqwggwyx"
    );
    assert_eq!(decrypt_with_env(X_FILE, &[("SOPS_AGE_KEY_CMD", cmd)]), want);
}

#[test]
fn default_keys_txt_under_xdg_config_home() {
    let cfg = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(cfg.path().join("sops/age")).unwrap();
    std::fs::copy(
        testdata("keys/lockstep-shamir-1.txt"),
        cfg.path().join("sops/age/keys.txt"),
    )
    .unwrap();
    let got = decrypt_with_env(
        X_FILE,
        &[("XDG_CONFIG_HOME", cfg.path().to_str().unwrap().into())],
    );
    assert_eq!(got, expected(X_FILE));
}

#[test]
fn failing_key_cmd_is_reported_without_output() {
    let file = EncryptedFile::load(&read(X_FILE), Format::Yaml).unwrap();
    let ids = AgeIdentities::load(&AgeEnv::new([(
        "SOPS_AGE_KEY_CMD",
        "sh -c 'echo CANARY-out; exit 3'",
    )]));
    let err = lockstep_sops::decrypt(
        file,
        &AgeResolver::new(Arc::new(ids)),
        &DecryptOptions::default(),
    )
    .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains("SOPS_AGE_KEY_CMD") && !msg.contains("CANARY"),
        "{msg}"
    );
}

/// Our encryption to an `ssh-ed25519` recipient (with its comment, as sops stores it) has
/// sops' layout and decrypts with the SSH key.
#[test]
fn encrypt_to_ssh_recipient() {
    let recipient = String::from_utf8(read("keys/lockstep-ssh-ed25519.pub")).unwrap();
    let plain = stores::load(&read("sops-3.13.3/ssh.plain.yaml"), Format::Yaml).unwrap();
    let file = lockstep_sops::encrypt(plain, Format::Yaml, to_recipient(recipient.trim())).unwrap();
    let text =
        String::from_utf8(file.emit(Format::Yaml, &EmitOptions::default()).unwrap()).unwrap();
    assert!(
        text.contains(&format!("recipient: {}\n", recipient.trim())),
        "{text}"
    );
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ours.yaml");
    std::fs::write(&out, &text).unwrap();
    let ids = AgeIdentities::load(&AgeEnv::new([(
        "SOPS_AGE_SSH_PRIVATE_KEY_FILE",
        path("keys/lockstep-ssh-ed25519"),
    )]));
    let d = lockstep_sops::decrypt(
        EncryptedFile::load(text.as_bytes(), Format::Yaml).unwrap(),
        &AgeResolver::new(Arc::new(ids)),
        &Default::default(),
    )
    .unwrap();
    assert_eq!(
        String::from_utf8(stores::emit(&d.tree, Format::Yaml, &Default::default()).unwrap())
            .unwrap(),
        expected(SSH_FILE)
    );
}
