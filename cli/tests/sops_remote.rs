//! `lockstep encrypt/decrypt/rotate` with Vault transit (OpenBao) and AWS KMS (moto),
//! against the real `sops` 3.13.3 in both directions, and with the server gone.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use assert_cmd::cargo::CommandCargoExt as _;
use lockstep_testenv::{Kms, Vault, need, tool};
use regex::Regex;

const CANARY: &str = "CANARY-remote-0xFEEDFACE";

fn plain() -> String {
    format!(
        "apiVersion: v1\nkind: Secret\nmetadata:\n    name: app\nstringData:\n    password: {CANARY}\n    port: 5432\n"
    )
}

struct Env {
    dir: tempfile::TempDir,
    sops: PathBuf,
    vars: Vec<(String, String)>,
}

impl Env {
    fn new(vars: &[(&str, &str)]) -> Option<Env> {
        let sops = need_sops()?;
        let dir = tempfile::tempdir().unwrap();
        let vars = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Some(Env { dir, sops, vars })
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    fn run(&self, mut cmd: Command, args: &[&str]) -> Output {
        cmd.current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .envs(self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .args(args)
            .output()
            .unwrap()
    }

    fn ours(&self, args: &[&str]) -> Output {
        self.run(Command::cargo_bin("lockstep").unwrap(), args)
    }

    fn sops(&self, args: &[&str]) -> Output {
        self.run(Command::new(&self.sops), args)
    }
}

/// The real sops; missing: skip loudly, or fail under `LOCKSTEP_REQUIRE_SERVERS=1`.
fn need_sops() -> Option<PathBuf> {
    match tool("sops") {
        Ok(p) => Some(p),
        Err(e) => match lockstep_testenv::skip_reason(&e) {
            Some(message) => {
                eprintln!("{message}");
                None
            }
            None => panic!("sops: {e}"),
        },
    }
}

fn ok(out: Output, what: &str) -> Vec<u8> {
    assert!(
        out.status.success(),
        "{what} failed ({:?}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn normalise(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let enc = Regex::new(r"ENC\[AES256_GCM,data:([^,]*),iv:[^,]*,tag:[^,]*,type:(\w+)\]").unwrap();
    let text = enc.replace_all(&text, |c: &regex::Captures<'_>| {
        format!("ENC[len:{},type:{}]", c[1].len(), &c[2])
    });
    let vault = Regex::new(r"vault:v\d+:[A-Za-z0-9+/=]+").unwrap();
    let text = vault.replace_all(&text, "<VAULT>");
    let kms = Regex::new(r"(enc: )[A-Za-z0-9+/=]{20,}").unwrap();
    let text = kms.replace_all(&text, "${1}<KMS>");
    let time = Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").unwrap();
    time.replace_all(&text, "<TIME>").into_owned()
}

/// Both directions with the key flags `flags`; returns the env with `ours.enc.yaml`.
fn both_ways(env: &Env, flags: &[&str]) {
    env.write("plain.yaml", plain().as_bytes());
    let mut args = vec!["encrypt"];
    args.extend_from_slice(flags);
    args.push("plain.yaml");
    let ours = ok(env.ours(&args), "lockstep encrypt");
    let theirs = ok(env.sops(&args), "sops encrypt");
    assert!(!String::from_utf8_lossy(&ours).contains(CANARY));
    env.write("ours.enc.yaml", &ours);
    env.write("theirs.enc.yaml", &theirs);
    assert_eq!(normalise(&ours), normalise(&theirs));
    let reference = ok(env.sops(&["decrypt", "theirs.enc.yaml"]), "sops -d theirs");
    assert_eq!(
        ok(env.sops(&["decrypt", "ours.enc.yaml"]), "sops -d ours"),
        reference
    );
    assert_eq!(
        ok(
            env.ours(&["decrypt", "theirs.enc.yaml"]),
            "lockstep -d theirs"
        ),
        reference
    );
    assert!(String::from_utf8_lossy(&reference).contains(CANARY));
}

/// The other stores with the same key flags: each tool opens the other's file, and both
/// print the same plaintext. (The YAML case above also compares the encrypted files.)
fn other_formats_both_ways(env: &Env, flags: &[&str]) {
    let inputs: [(&str, String); 4] = [
        (
            "json",
            format!("{{\"password\": \"{CANARY}\", \"port\": 5432}}\n"),
        ),
        ("env", format!("PASSWORD={CANARY}\nPORT=5432\n")),
        ("ini", format!("[db]\npassword = {CANARY}\nport = 5432\n")),
        ("bin", format!("raw bytes {CANARY}\n")),
    ];
    for (ext, text) in inputs {
        let plain = format!("plain.{ext}");
        env.write(&plain, text.as_bytes());
        let mut args = vec!["encrypt"];
        args.extend_from_slice(flags);
        if ext == "bin" {
            args.extend_from_slice(&["--input-type", "binary", "--output-type", "binary"]);
        }
        args.push(&plain);
        let ours = ok(env.ours(&args), &format!("lockstep encrypt .{ext}"));
        let theirs = ok(env.sops(&args), &format!("sops encrypt .{ext}"));
        assert!(!String::from_utf8_lossy(&ours).contains(CANARY));
        let (ours_file, theirs_file) = (format!("ours.enc.{ext}"), format!("theirs.enc.{ext}"));
        env.write(&ours_file, &ours);
        env.write(&theirs_file, &theirs);
        let mut decrypt = vec!["decrypt"];
        if ext == "bin" {
            decrypt.extend_from_slice(&["--input-type", "binary", "--output-type", "binary"]);
        }
        let run = |tool: &dyn Fn(&[&str]) -> Output, file: &str, what: &str| {
            let mut args = decrypt.clone();
            args.push(file);
            ok(tool(&args), what)
        };
        let reference = run(&|a| env.sops(a), &theirs_file, "sops -d theirs");
        assert!(
            String::from_utf8_lossy(&reference).contains(CANARY),
            ".{ext}"
        );
        assert_eq!(
            run(&|a| env.sops(a), &ours_file, "sops -d ours"),
            reference,
            ".{ext}"
        );
        assert_eq!(
            run(&|a| env.ours(a), &theirs_file, "lockstep -d theirs"),
            reference,
            ".{ext}"
        );
    }
}

/// With the server gone: 128 from both, the key named, nothing written, no plaintext.
fn server_down(env: &Env, file: &str, key_name: &str) {
    let path: &Path = &env.dir.path().join(file);
    let before = std::fs::read(path).unwrap();
    let out = env.ours(&["decrypt", "-i", file]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(128), "{stderr}");
    assert!(stderr.contains(key_name), "{stderr}");
    assert!(!stderr.contains(CANARY));
    assert_eq!(std::fs::read(path).unwrap(), before);
    assert_eq!(
        env.sops(&["decrypt", "ours.enc.yaml"]).status.code(),
        Some(128)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn vault_transit_both_ways_and_server_down() {
    let vault = need!(Vault::start().await);
    vault.post("/v1/transit/keys/sops", "{}").await.unwrap();
    let uri = format!("{}/v1/transit/keys/sops", vault.addr());
    let Some(env) = Env::new(&[("VAULT_TOKEN", vault.token()), ("VAULT_ADDR", vault.addr())])
    else {
        return;
    };
    both_ways(&env, &["--hc-vault-transit", &uri]);
    other_formats_both_ways(&env, &["--hc-vault-transit", &uri]);
    // rotate: add an age key, then (server gone) that key still opens the file.
    let key = env.dir.path().join("age.txt");
    ok(
        env.ours(&["age-keygen", "-o", key.to_str().unwrap()]),
        "age-keygen",
    );
    let text = std::fs::read_to_string(&key).unwrap();
    let recipient = text
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap();
    let rotated = ok(
        env.ours(&["rotate", "--add-age", recipient, "ours.enc.yaml"]),
        "rotate --add-age",
    );
    env.write("rotated.enc.yaml", &rotated);
    drop(vault);
    server_down(&env, "theirs.enc.yaml", "transit");
    let mut with_age = Env::new(&[("SOPS_AGE_KEY_FILE", key.to_str().unwrap())]).unwrap();
    with_age.dir = env.dir;
    let plain = ok(
        with_age.sops(&["decrypt", "rotated.enc.yaml"]),
        "sops -d rotated with age",
    );
    assert!(String::from_utf8_lossy(&plain).contains(CANARY));
}

#[tokio::test(flavor = "multi_thread")]
async fn kms_both_ways_with_context_and_server_down() {
    let kms = need!(Kms::start().await);
    let arn = kms.create_key().await.unwrap();
    let Some(env) = Env::new(&[
        ("AWS_ENDPOINT_URL", kms.endpoint()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ]) else {
        return;
    };
    let flags = [
        "--kms",
        &arn,
        "--encryption-context",
        "app:lockstep,env:test",
    ];
    both_ways(&env, &flags);
    other_formats_both_ways(&env, &flags);
    let text = std::fs::read_to_string(env.dir.path().join("ours.enc.yaml")).unwrap();
    assert!(text.contains("app: lockstep"), "{text}");
    drop(kms);
    server_down(&env, "ours.enc.yaml", &arn);
}
