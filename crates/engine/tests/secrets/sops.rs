//! SOPS files in a render, decrypted in memory: age, Vault transit and KMS wrapped data
//! keys, a fully encrypted ConfigMap, and the failures (wrong key, tampered file, Vault
//! down) that must fail the whole render without a trace of plaintext.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use lockstep_engine::decrypt::{DecryptError, decrypt};
use lockstep_engine::keys::{Ambient, Keys};
use lockstep_testenv::{Kms, Vault, need};
use secrecy::ExposeSecret;
use serde_json::json;

use super::{Repo, all_text, assert_no_leak, find};

const ONLY_DATA: [&str; 2] = ["--encrypted-regex", "^(data|stringData)$"];

fn secret(name: &str, value: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  labels:\n    app: web\nstringData:\n  password: {value}\n"
    )
}

fn age_keys(identity: &str) -> Keys {
    Keys::from_secret([("identity.agekey", identity.as_bytes())], Ambient::none()).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn age_vault_and_kms_wrapped_files_and_an_encrypted_configmap_decrypt_in_memory() {
    let vault = need!(Vault::start().await);
    let kms = need!(Kms::start().await);
    vault.post("/v1/transit/keys/sops", "{}").await.unwrap();
    let arn = kms.create_key().await.unwrap();
    let (recipient, identity) = lockstep_keys::age::generate();
    let transit = format!("{}/v1/transit/keys/sops", vault.addr());
    let Some(repo) = Repo::new(&[
        ("VAULT_TOKEN", vault.token()),
        ("VAULT_ADDR", vault.addr()),
        ("AWS_ENDPOINT_URL", kms.endpoint()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ]) else {
        return;
    };
    let canaries = [
        "canary-age-7f3a",
        "canary-vault-91bd",
        "canary-kms-c2e4",
        "canary-config-55aa",
    ];
    repo.write("apps/age.yaml", &secret("by-age", canaries[0]));
    repo.write("apps/vault.yaml", &secret("by-vault", canaries[1]));
    repo.write("apps/kms.yaml", &secret("by-kms", canaries[2]));
    repo.write(
        "apps/config.yaml",
        &format!(
            "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: settings\ndata:\n  token: {}\n  mode: \"on\"\n",
            canaries[3]
        ),
    );
    repo.write(
        "apps/plain.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: plain}\ndata: {a: b}\n",
    );
    repo.encrypt(
        "apps/age.yaml",
        &[&ONLY_DATA[..], &["--age", &recipient]].concat(),
    );
    repo.encrypt(
        "apps/vault.yaml",
        &[&ONLY_DATA[..], &["--hc-vault-transit", &transit]].concat(),
    );
    repo.encrypt(
        "apps/kms.yaml",
        &[&ONLY_DATA[..], &["--kms", &arn]].concat(),
    );
    // Everything encrypted, kind and name included (sops' default).
    repo.encrypt("apps/config.yaml", &["--age", &recipient]);
    assert!(repo.read("apps/config.yaml").contains("kind: ENC["));

    let rendered = repo.render("apps");
    let keys = Keys::from_secret(
        [
            ("team.agekey", identity.expose_secret().as_bytes()),
            ("sops.vault-token", vault.token().as_bytes()),
            (
                "sops.aws-kms",
                b"aws_access_key_id: test\naws_secret_access_key: test\n".as_slice(),
            ),
        ],
        Ambient {
            kms_endpoint: Some(kms.endpoint().to_owned()),
            ..Ambient::none()
        },
    )
    .unwrap();
    let out = decrypt(rendered, keys).await.unwrap();

    assert_eq!(out.files.len(), 4, "{:?}", out.files);
    for (name, canary) in [("by-age", 0), ("by-vault", 1), ("by-kms", 2)] {
        let object = find(&out.manifests, "Secret", name);
        assert_eq!(object["stringData"], json!({"password": canaries[canary]}));
        assert!(object.get("sops").is_none());
        assert_eq!(object["metadata"]["namespace"], "team-a");
        assert_eq!(object["metadata"]["labels"]["lockstep.dev/name"], "apps");
        assert_eq!(object["metadata"]["labels"]["app"], "web");
    }
    let config = find(&out.manifests, "ConfigMap", "settings");
    assert_eq!(config["data"], json!({"token": canaries[3], "mode": "on"}));
    assert_eq!(config["apiVersion"], "v1");
    assert_eq!(config["metadata"]["namespace"], "team-a");
    assert_eq!(
        config["metadata"]["labels"]["lockstep.dev/namespace"],
        "tenant"
    );
    assert_eq!(
        find(&out.manifests, "ConfigMap", "plain")["data"],
        json!({"a": "b"})
    );
    // The objects that now hold plaintext are marked so that apply never quotes the API
    // server about them; the plain one is not.
    let mut marked: Vec<&str> = out
        .manifests
        .iter()
        .filter(|m| m.holds_secrets)
        .map(|m| m.name())
        .collect();
    marked.sort_unstable();
    assert_eq!(marked, ["by-age", "by-kms", "by-vault", "settings"]);

    // Everything decrypted is known to the redactor, and nothing prints it.
    let message = format!(
        "apply failed: {} / {}",
        canaries[1],
        STANDARD.encode(canaries[2])
    );
    assert_no_leak(&out.redactor.scrub(&message), &canaries);
    assert_no_leak(&format!("{out:?}"), &canaries);
}

#[tokio::test]
async fn a_wrong_age_key_fails_naming_the_file_and_the_recipient() {
    let Some(repo) = Repo::new(&[]) else { return };
    let (recipient, _) = lockstep_keys::age::generate();
    let (_, other) = lockstep_keys::age::generate();
    repo.write(
        "apps/ok.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: ok}\n",
    );
    repo.write("apps/db.yaml", &secret("db", "canary-wrong-key-3141"));
    repo.encrypt(
        "apps/db.yaml",
        &[&ONLY_DATA[..], &["--age", &recipient]].concat(),
    );
    let rendered = repo.render("apps");
    let err = decrypt(rendered, age_keys(other.expose_secret()))
        .await
        .unwrap_err();
    assert!(matches!(err, DecryptError::Decrypt { .. }), "{err:?}");
    let text = err.to_string();
    assert!(text.contains("apps/db.yaml"), "{text}");
    assert!(text.contains(&recipient), "{text}");
    assert_no_leak(&all_text(&err), &["canary-wrong-key-3141"]);
}

#[tokio::test]
async fn a_tampered_file_fails_its_mac_and_nothing_is_returned() {
    let Some(repo) = Repo::new(&[]) else { return };
    let (recipient, identity) = lockstep_keys::age::generate();
    repo.write("apps/db.yaml", &secret("db", "canary-tamper-2718"));
    repo.encrypt(
        "apps/db.yaml",
        &[&ONLY_DATA[..], &["--age", &recipient]].concat(),
    );
    // An unencrypted value is covered by the MAC too.
    let tampered = repo.read("apps/db.yaml").replace("app: web", "app: evil");
    repo.write("apps/db.yaml", &tampered);
    let rendered = repo.render("apps");
    let err = decrypt(rendered, age_keys(identity.expose_secret()))
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("apps/db.yaml") && text.contains("MAC"),
        "{text}"
    );
    assert_no_leak(&all_text(&err), &["canary-tamper-2718"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn vault_down_fails_naming_the_file_and_the_transit_key() {
    let vault = need!(Vault::start().await);
    vault.post("/v1/transit/keys/sops", "{}").await.unwrap();
    let transit = format!("{}/v1/transit/keys/sops", vault.addr());
    let Some(repo) = Repo::new(&[("VAULT_TOKEN", vault.token()), ("VAULT_ADDR", vault.addr())])
    else {
        return;
    };
    repo.write("apps/db.yaml", &secret("db", "canary-down-1618"));
    repo.encrypt(
        "apps/db.yaml",
        &[&ONLY_DATA[..], &["--hc-vault-transit", &transit]].concat(),
    );
    let rendered = repo.render("apps");
    let keys = Keys::from_secret(
        [("sops.vault-token", vault.token().as_bytes())],
        Ambient::none(),
    )
    .unwrap();
    drop(vault);
    let err = decrypt(rendered, keys).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("apps/db.yaml") && text.contains(&transit),
        "{text}"
    );
    assert_no_leak(&all_text(&err), &["canary-down-1618"]);
}

#[tokio::test]
async fn an_unusable_decryption_secret_names_the_entry_only() {
    let err = Keys::from_secret(
        [("team.agekey", b"AGE-SECRET-KEY-canary-not-a-key".as_slice())],
        Ambient::none(),
    )
    .unwrap_err();
    assert!(err.to_string().contains("team.agekey"), "{err}");
    assert_no_leak(&all_text(&err), &["canary-not-a-key"]);
    let err = Keys::from_secret(
        [("sops.aws-kms", b"canary-aws-9999".as_slice())],
        Ambient::none(),
    )
    .unwrap_err();
    assert_no_leak(&all_text(&err), &["canary-aws-9999"]);
}

#[tokio::test]
async fn an_encrypted_value_without_its_file_fails_as_unresolved() {
    let Some(repo) = Repo::new(&[]) else { return };
    let (_, identity) = lockstep_keys::age::generate();
    // A value copied out of some encrypted file, without the file's metadata.
    repo.write(
        "apps/copy.yaml",
        "apiVersion: v1\nkind: Secret\nmetadata: {name: copy}\nstringData:\n  k: ENC[AES256_GCM,data:AAAA,iv:BBBB,tag:CCCC,type:str]\n",
    );
    let rendered = repo.render("apps");
    let err = decrypt(rendered, age_keys(identity.expose_secret()))
        .await
        .unwrap_err();
    assert!(matches!(err, DecryptError::Unresolved { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("Secret/copy") && text.contains("copy.yaml"),
        "{text}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn vault_sealed_and_kms_refusing_fail_naming_the_file_and_the_cause() {
    let vault = need!(Vault::start().await);
    let kms = need!(Kms::start().await);
    vault.post("/v1/transit/keys/sops", "{}").await.unwrap();
    let transit = format!("{}/v1/transit/keys/sops", vault.addr());
    let arn = kms.create_key().await.unwrap();
    let Some(repo) = Repo::new(&[
        ("VAULT_TOKEN", vault.token()),
        ("VAULT_ADDR", vault.addr()),
        ("AWS_ENDPOINT_URL", kms.endpoint()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ]) else {
        return;
    };
    repo.write("vault/db.yaml", &secret("db", "canary-sealed-2323"));
    repo.encrypt(
        "vault/db.yaml",
        &[&ONLY_DATA[..], &["--hc-vault-transit", &transit]].concat(),
    );
    repo.write("kms/db.yaml", &secret("db", "canary-disabled-4545"));
    repo.encrypt(
        "kms/db.yaml",
        &[
            &ONLY_DATA[..],
            &["--kms", &arn, "--encryption-context", "app:web"],
        ]
        .concat(),
    );
    // The context is not covered by the MAC, but KMS checks it: it refuses to decrypt.
    let moved = repo.read("kms/db.yaml").replace("app: web", "app: evil");
    repo.write("kms/db.yaml", &moved);
    let keys = Keys::from_secret(
        [
            ("sops.vault-token", vault.token().as_bytes()),
            (
                "sops.aws-kms",
                b"aws_access_key_id: test\naws_secret_access_key: test\n".as_slice(),
            ),
        ],
        Ambient {
            kms_endpoint: Some(kms.endpoint().to_owned()),
            ..Ambient::none()
        },
    )
    .unwrap();
    let canaries = ["canary-sealed-2323", "canary-disabled-4545"];

    vault.post("/v1/sys/seal", "").await.unwrap();
    let rendered = repo.render("vault");
    let err = decrypt(rendered, keys.clone()).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("vault/db.yaml") && text.contains("sealed"),
        "{text}"
    );
    assert_no_leak(&all_text(&err), &canaries);

    let rendered = repo.render("kms");
    let err = decrypt(rendered, keys).await.unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("kms/db.yaml") && text.contains(&arn),
        "{text}"
    );
    assert!(text.contains("InvalidCiphertext"), "{text}");
    assert_no_leak(&all_text(&err), &canaries);
}

/// Files the real sops encrypted to gpg keys (an ed25519/cv25519 key and an RSA key),
/// decrypted with the private keys as `*.asc` entries of the decryption Secret (Flux's
/// format, `gpg --export-secret-keys --armor`).
#[tokio::test]
async fn files_sops_encrypted_to_gpg_keys_decrypt_with_asc_entries() {
    let gpg = need!(lockstep_testenv::Gpg::new());
    let modern = gpg
        .generate_with("ECC <ecc@lockstep.invalid>", "default", "default", "never")
        .unwrap();
    let rsa = gpg
        .generate_with(
            "RSA <rsa@lockstep.invalid>",
            "rsa3072",
            "sign,encr",
            "never",
        )
        .unwrap();
    let home = gpg.home().display().to_string();
    let program = gpg.program().display().to_string();
    let Some(repo) = Repo::new(&[("GNUPGHOME", &home), ("SOPS_GPG_EXEC", &program)]) else {
        return;
    };
    let canaries = ["canary-pgp-ecc-4e1d", "canary-pgp-rsa-9a0c"];
    repo.write("apps/ecc.yaml", &secret("by-ecc", canaries[0]));
    repo.write("apps/rsa.yaml", &secret("by-rsa", canaries[1]));
    repo.encrypt(
        "apps/ecc.yaml",
        &[&ONLY_DATA[..], &["--pgp", &modern]].concat(),
    );
    repo.encrypt(
        "apps/rsa.yaml",
        &[&ONLY_DATA[..], &["--pgp", &rsa]].concat(),
    );
    assert!(repo.read("apps/rsa.yaml").contains(&rsa));

    let (ecc_key, rsa_key) = (
        gpg.export_secret(&modern).unwrap(),
        gpg.export_secret(&rsa).unwrap(),
    );
    let keys = Keys::from_secret(
        [
            ("ecc.asc", ecc_key.as_bytes()),
            ("rsa.asc", rsa_key.as_bytes()),
        ],
        Ambient::none(),
    )
    .unwrap();
    let out = decrypt(repo.render("apps"), keys).await.unwrap();
    for (name, canary) in [("by-ecc", canaries[0]), ("by-rsa", canaries[1])] {
        let object = find(&out.manifests, "Secret", name);
        assert_eq!(object["stringData"], json!({"password": canary}));
    }

    // Only the ECC key: the RSA file fails, naming its key, and nothing is decrypted.
    let keys = Keys::from_secret([("ecc.asc", ecc_key.as_bytes())], Ambient::none()).unwrap();
    let err = decrypt(repo.render("apps"), keys).await.unwrap_err();
    let text = all_text(&err);
    assert!(text.contains("rsa.yaml") && text.contains(&rsa), "{text}");
    let key_line = rsa_key.lines().nth(3).unwrap();
    assert_no_leak(&text, &[canaries[0], canaries[1], key_line]);
}
