//! The SOPS verbs of `lockstep` against the real `sops` 3.13.3: differential round trips in
//! both directions for every format, Shamir key groups, bad input (exit codes compared
//! with sops', nothing written, no plaintext in messages) and `edit`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use assert_cmd::cargo::CommandCargoExt as _;
use regex::Regex;

#[path = "sops/hints.rs"]
mod hints;
#[path = "sops/paths.rs"]
mod paths;

/// A value that must never appear in an error message.
const CANARY: &str = "CANARY-s3cr3t-0xDEADBEEF";

const YAML: &str = "\
# A Secret-like document
apiVersion: v1
kind: Secret
metadata:
    name: app
data:
    # the database password
    password: CANARY-s3cr3t-0xDEADBEEF
    port: 5432
    ratio: 0.25
    enabled: true
    empty: ''
    list:
        - one
        - 2
    nested:
        deeper: value
public_unencrypted: visible
";

const JSON: &str = r#"{
	"password": "CANARY-s3cr3t-0xDEADBEEF",
	"port": 5432,
	"ratio": 0.5,
	"enabled": false,
	"nested": {
		"list": [
			"a",
			1,
			{
				"k": "v"
			}
		]
	},
	"nothing": null
}
"#;

const DOTENV: &str = "\
# database
PASSWORD=CANARY-s3cr3t-0xDEADBEEF
PORT=5432
EMPTY=
WITH_SPACES=a b c
";

const INI: &str = "\
[database]
password = CANARY-s3cr3t-0xDEADBEEF
port     = 5432

[server]
name = web
";

const BINARY: &[u8] = b"\x00\x01binary CANARY-s3cr3t-0xDEADBEEF \xff\xfe\n";

struct Env {
    dir: tempfile::TempDir,
    sops: PathBuf,
    /// Identity file and its recipient.
    keys: Vec<(PathBuf, String)>,
}

fn lockstep_bin() -> Command {
    Command::cargo_bin("lockstep").expect("the lockstep binary")
}

/// The real sops from the test environment; missing: skip loudly, or fail under
/// `LOCKSTEP_REQUIRE_SERVERS=1`.
pub(crate) fn sops_tool() -> Option<PathBuf> {
    match lockstep_testenv::tool("sops") {
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

impl Env {
    fn new(n_keys: usize) -> Option<Env> {
        let sops = sops_tool()?;
        let dir = tempfile::tempdir().unwrap();
        let mut keys = Vec::new();
        for i in 0..n_keys {
            let path = dir.path().join(format!("key{i}.txt"));
            let out = lockstep_bin()
                .args(["age-keygen", "-o"])
                .arg(&path)
                .output()
                .unwrap();
            assert!(out.status.success(), "age-keygen: {out:?}");
            let text = std::fs::read_to_string(&path).unwrap();
            let recipient = text
                .lines()
                .find_map(|l| l.strip_prefix("# public key: "))
                .unwrap()
                .to_owned();
            keys.push((path, recipient));
        }
        Some(Env { dir, sops, keys })
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn write(&self, name: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    /// An environment with only the given identities, and no config or keys from the
    /// user's home.
    fn prepare(&self, cmd: &mut Command, keys: &[usize]) {
        let keyfile = self.path(&format!("identities-{keys:?}.txt"));
        let mut text = String::new();
        for &k in keys {
            text.push_str(&std::fs::read_to_string(&self.keys[k].0).unwrap());
        }
        std::fs::write(&keyfile, text).unwrap();
        cmd.current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join("xdg"))
            .env("SOPS_AGE_KEY_FILE", keyfile);
    }

    fn ours(&self, keys: &[usize], args: &[&str]) -> Output {
        let mut cmd = lockstep_bin();
        self.prepare(&mut cmd, keys);
        cmd.args(args).output().unwrap()
    }

    fn sops(&self, keys: &[usize], args: &[&str]) -> Output {
        let mut cmd = Command::new(&self.sops);
        self.prepare(&mut cmd, keys);
        cmd.args(args).output().unwrap()
    }

    fn recipient(&self, i: usize) -> &str {
        &self.keys[i].1
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

/// Replaces what is random in an encrypted file: value ciphertexts (keeping their length
/// and type), age stanzas and timestamps.
fn normalise(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    let enc = Regex::new(r"ENC\[AES256_GCM,data:([^,]*),iv:[^,]*,tag:[^,]*,type:(\w+)\]").unwrap();
    let text = enc.replace_all(&text, |c: &regex::Captures<'_>| {
        format!("ENC[len:{},type:{}]", c[1].len(), &c[2])
    });
    let age = Regex::new(
        r"-----BEGIN AGE ENCRYPTED FILE-----[\s\S]*?-----END AGE ENCRYPTED FILE-----(\\n|\n)?",
    )
    .unwrap();
    let text = age.replace_all(&text, "<AGE>");
    let time = Regex::new(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ").unwrap();
    time.replace_all(&text, "<TIME>").into_owned()
}

/// Both directions for one plaintext: ours decrypts with sops, sops' with ours, and the
/// two encrypted files are equal up to random bytes.
/// `global` flags go before the verb for sops (they are global flags there) and after it
/// for lockstep.
fn differential(name: &str, plain: &[u8], extra: &[&str], global: &[&str]) {
    let Some(env) = Env::new(1) else { return };
    env.write(name, plain);
    let r = env.recipient(0).to_owned();
    let mut enc_args = vec!["encrypt", "--age", &r];
    enc_args.extend_from_slice(extra);
    let mut sops_args: Vec<&str> = global.to_vec();
    sops_args.extend_from_slice(&enc_args);
    sops_args.push(name);
    enc_args.push(name);
    // lockstep takes the same arguments (sops' global flags before the verb)...
    let ours = ok(env.ours(&[0], &sops_args), "lockstep encrypt");
    // ...and after the verb.
    if !global.is_empty() {
        let mut after = enc_args.clone();
        after.splice(after.len() - 1.., global.iter().copied().chain([name]));
        let again = ok(
            env.ours(&[0], &after),
            "lockstep encrypt, flags after the verb",
        );
        assert_eq!(normalise(&again), normalise(&ours));
    }
    let theirs = ok(env.sops(&[0], &sops_args), "sops encrypt");
    let ext = Path::new(name)
        .extension()
        .map_or("bin".into(), |e| e.to_string_lossy().into_owned());
    let ours_file = format!("ours.enc.{ext}");
    let theirs_file = format!("theirs.enc.{ext}");
    env.write(&ours_file, &ours);
    env.write(&theirs_file, &theirs);
    assert!(
        !String::from_utf8_lossy(&ours).contains(CANARY),
        "plaintext in our output"
    );

    let reference = ok(
        env.sops(&[0], &["decrypt", &theirs_file]),
        "sops decrypt (sops file)",
    );
    let sops_reads_ours = ok(
        env.sops(&[0], &["decrypt", &ours_file]),
        "sops decrypt (our file)",
    );
    let we_read_theirs = ok(
        env.ours(&[0], &["decrypt", &theirs_file]),
        "lockstep decrypt (sops file)",
    );
    let we_read_ours = ok(
        env.ours(&[0], &["decrypt", &ours_file]),
        "lockstep decrypt (our file)",
    );
    assert_eq!(
        String::from_utf8_lossy(&sops_reads_ours),
        String::from_utf8_lossy(&reference)
    );
    assert_eq!(
        String::from_utf8_lossy(&we_read_theirs),
        String::from_utf8_lossy(&reference)
    );
    assert_eq!(
        String::from_utf8_lossy(&we_read_ours),
        String::from_utf8_lossy(&reference)
    );
    assert_eq!(
        normalise(&ours),
        normalise(&theirs),
        "encrypted files differ beyond random bytes"
    );
}

#[test]
fn differential_yaml() {
    differential("plain.yaml", YAML.as_bytes(), &[], &[]);
}

#[test]
fn differential_json() {
    differential("plain.json", JSON.as_bytes(), &[], &[]);
}

#[test]
fn differential_dotenv() {
    differential("plain.env", DOTENV.as_bytes(), &[], &[]);
}

#[test]
fn differential_ini() {
    differential("plain.ini", INI.as_bytes(), &[], &[]);
}

#[test]
fn differential_binary() {
    differential("plain.bin", BINARY, &[], &[]);
}

#[test]
fn differential_yaml_encrypted_regex() {
    differential(
        "plain.yaml",
        YAML.as_bytes(),
        &["--encrypted-regex", "^(data|stringData)$"],
        &[],
    );
}

#[test]
fn differential_yaml_mac_only_encrypted_suffix() {
    differential(
        "plain.yaml",
        YAML.as_bytes(),
        &["--unencrypted-suffix", "_unencrypted"],
        &["--mac-only-encrypted"],
    );
}

/// sops 3.13.3's `encrypt` verb ignores the global comment-regex flags, so this rule comes
/// from `.sops.yaml` for both.
#[test]
fn differential_yaml_comment_regex_from_config() {
    let Some(env) = Env::new(1) else { return };
    let config = format!(
        "creation_rules:\n  - age: {}\n    encrypted_comment_regex: password\n",
        env.recipient(0)
    );
    env.write(".sops.yaml", config.as_bytes());
    env.write("plain.yaml", YAML.as_bytes());
    let ours = ok(
        env.ours(&[0], &["encrypt", "plain.yaml"]),
        "lockstep encrypt",
    );
    let theirs = ok(env.sops(&[0], &["encrypt", "plain.yaml"]), "sops encrypt");
    assert!(String::from_utf8_lossy(&ours).contains("encrypted_comment_regex: password"));
    assert_eq!(normalise(&ours), normalise(&theirs));
    env.write("ours.enc.yaml", &ours);
    env.write("theirs.enc.yaml", &theirs);
    let reference = ok(env.sops(&[0], &["decrypt", "theirs.enc.yaml"]), "sops -d");
    assert_eq!(
        ok(
            env.sops(&[0], &["decrypt", "ours.enc.yaml"]),
            "sops -d ours"
        ),
        reference
    );
    assert_eq!(
        ok(
            env.ours(&[0], &["decrypt", "theirs.enc.yaml"]),
            "ours -d theirs"
        ),
        reference
    );
}

#[test]
fn differential_yaml_to_json_output_type() {
    differential(
        "plain.yaml",
        YAML.as_bytes(),
        &["--output-type", "json"],
        &[],
    );
}

#[test]
fn shamir_two_groups_both_ways() {
    let Some(env) = Env::new(2) else { return };
    let config = format!(
        "creation_rules:\n  - path_regex: \\.yaml$\n    shamir_threshold: 2\n    key_groups:\n      - age:\n          - {}\n      - age:\n          - {}\n",
        env.recipient(0),
        env.recipient(1)
    );
    env.write(".sops.yaml", config.as_bytes());
    env.write("plain.yaml", YAML.as_bytes());
    let ours = ok(
        env.ours(&[0, 1], &["encrypt", "plain.yaml"]),
        "lockstep encrypt",
    );
    let theirs = ok(
        env.sops(&[0, 1], &["encrypt", "plain.yaml"]),
        "sops encrypt",
    );
    env.write("ours.enc.yaml", &ours);
    env.write("theirs.enc.yaml", &theirs);
    assert_eq!(normalise(&ours), normalise(&theirs));
    let reference = ok(
        env.sops(&[0, 1], &["decrypt", "theirs.enc.yaml"]),
        "sops -d",
    );
    assert_eq!(
        ok(
            env.sops(&[0, 1], &["decrypt", "ours.enc.yaml"]),
            "sops -d ours"
        ),
        reference
    );
    assert_eq!(
        ok(
            env.ours(&[0, 1], &["decrypt", "theirs.enc.yaml"]),
            "ours -d theirs"
        ),
        reference
    );
    // One group's key is not enough for a threshold of 2: both say 128.
    for file in ["ours.enc.yaml", "theirs.enc.yaml"] {
        let a = env.ours(&[0], &["decrypt", file]);
        let b = env.sops(&[0], &["decrypt", file]);
        assert_eq!(
            a.status.code(),
            Some(128),
            "{}",
            String::from_utf8_lossy(&a.stderr)
        );
        assert_eq!(a.status.code(), b.status.code());
    }
}

/// An encrypted YAML file made by lockstep, and its bytes.
fn encrypted_yaml(env: &Env) -> (PathBuf, Vec<u8>) {
    env.write("plain.yaml", YAML.as_bytes());
    let r = env.recipient(0).to_owned();
    let bytes = ok(
        env.ours(&[0], &["encrypt", "--age", &r, "plain.yaml"]),
        "encrypt",
    );
    (env.write("secret.enc.yaml", &bytes), bytes)
}

/// Runs the same failing command with lockstep and sops; checks lockstep's exit code,
/// that sops agrees, that nothing was written and that no plaintext leaked.
fn fails_like_sops(env: &Env, keys: &[usize], args: &[&str], code: i32, watched: &Path) -> String {
    let before = std::fs::read(watched).unwrap();
    let ours = env.ours(keys, args);
    let after = std::fs::read(watched).unwrap();
    assert_eq!(before, after, "{args:?} changed {}", watched.display());
    let stderr = String::from_utf8_lossy(&ours.stderr).into_owned();
    assert_eq!(ours.status.code(), Some(code), "{args:?}: {stderr}");
    assert!(!stderr.contains(CANARY), "plaintext in stderr: {stderr}");
    assert!(
        !String::from_utf8_lossy(&ours.stdout).contains(CANARY),
        "plaintext in stdout"
    );
    assert_eq!(
        stderr.matches("lockstep:").count(),
        1,
        "error printed once: {stderr}"
    );
    std::fs::write(watched, &before).unwrap();
    let theirs = env.sops(keys, args);
    std::fs::write(watched, &before).unwrap();
    assert_eq!(
        ours.status.code(),
        theirs.status.code(),
        "sops disagrees on {args:?}: {}",
        String::from_utf8_lossy(&theirs.stderr)
    );
    stderr
}

#[test]
fn tampered_value_names_the_key_path() {
    let Some(env) = Env::new(1) else { return };
    let (path, bytes) = encrypted_yaml(&env);
    let text = String::from_utf8(bytes).unwrap();
    let re = Regex::new(r"password: ENC\[AES256_GCM,data:(.)").unwrap();
    let c = re.captures(&text).unwrap();
    let flipped = if &c[1] == "A" { "B" } else { "A" };
    let range = c.get(1).unwrap().range();
    let mut tampered = text.clone();
    tampered.replace_range(range, flipped);
    std::fs::write(&path, tampered).unwrap();
    let stderr = fails_like_sops(&env, &[0], &["decrypt", "-i", "secret.enc.yaml"], 25, &path);
    assert!(stderr.contains("data:password"), "{stderr}");
}

#[test]
fn tampered_mac_is_51() {
    let Some(env) = Env::new(1) else { return };
    let (path, bytes) = encrypted_yaml(&env);
    let text = String::from_utf8(bytes).unwrap();
    // Re-encrypting another file's MAC would be a real forgery; flipping the MAC's
    // ciphertext makes it undecryptable, which sops also reports as 51.
    let re = Regex::new(r"mac: ENC\[AES256_GCM,data:(.)").unwrap();
    let c = re.captures(&text).unwrap();
    let flipped = if &c[1] == "A" { "B" } else { "A" };
    let mut tampered = text.clone();
    tampered.replace_range(c.get(1).unwrap().range(), flipped);
    std::fs::write(&path, tampered).unwrap();
    fails_like_sops(&env, &[0], &["decrypt", "-i", "secret.enc.yaml"], 51, &path);
    // An unencrypted value changed: only the MAC catches it.
    let changed = text.replace("public_unencrypted: visible", "public_unencrypted: changed");
    assert_ne!(changed, text);
    std::fs::write(&path, &changed).unwrap();
    fails_like_sops(&env, &[0], &["decrypt", "secret.enc.yaml"], 51, &path);
    // --ignore-mac decrypts anyway.
    let out = env.ours(&[0], &["decrypt", "--ignore-mac", "secret.enc.yaml"]);
    assert!(out.status.success());
}

#[test]
fn wrong_key_is_128() {
    let Some(env) = Env::new(2) else { return };
    let (path, _) = encrypted_yaml(&env);
    let stderr = fails_like_sops(
        &env,
        &[1],
        &["decrypt", "-i", "secret.enc.yaml"],
        128,
        &path,
    );
    assert!(
        stderr.contains(env.recipient(0)),
        "the key tried is named: {stderr}"
    );
    // A wrong key is told apart from none: where the identities loaded came from.
    assert!(
        stderr.contains("the age identity loaded (from SOPS_AGE_KEY_FILE")
            && stderr.contains("is not a recipient of it"),
        "{stderr}"
    );
    let out = env.ours(&[], &["decrypt", "secret.enc.yaml"]);
    let none = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(128), "{none}");
    assert!(none.contains("no age identity found (looked in"), "{none}");
    // A key entry lockstep cannot use (malformed ARN) is named with the reason, and the
    // age key still opens the file.
    let text = std::fs::read_to_string(&path).unwrap();
    let with_kms = text.replacen(
        "sops:\n    age:",
        "sops:\n    kms:\n        - arn: not-an-arn\n          aws_profile: \"\"\n          created_at: \"2024-01-01T00:00:00Z\"\n          enc: AAAA\n    age:",
        1,
    );
    assert_ne!(with_kms, text);
    std::fs::write(&path, &with_kms).unwrap();
    let out = env.ours(&[1], &["decrypt", "secret.enc.yaml"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(128), "{stderr}");
    assert!(stderr.contains("not-an-arn"), "{stderr}");
    assert!(!stderr.contains(CANARY));
    ok(
        env.ours(&[0], &["decrypt", "secret.enc.yaml"]),
        "age key with a bad kms entry",
    );
}

#[test]
fn already_encrypted_is_203() {
    let Some(env) = Env::new(1) else { return };
    let (path, _) = encrypted_yaml(&env);
    let r = env.recipient(0).to_owned();
    fails_like_sops(
        &env,
        &[0],
        &["encrypt", "-i", "--age", &r, "secret.enc.yaml"],
        203,
        &path,
    );
}

#[test]
fn malformed_yaml_and_json_name_line_and_column() {
    let Some(env) = Env::new(1) else { return };
    let r = env.recipient(0).to_owned();
    let path = env.write(
        "bad.yaml",
        format!("a: {CANARY}\nb: [1, 2\nc: 3\n").as_bytes(),
    );
    let stderr = fails_like_sops(
        &env,
        &[0],
        &["encrypt", "-i", "--age", &r, "bad.yaml"],
        2,
        &path,
    );
    assert!(stderr.contains("line"), "{stderr}");
    let path = env.write(
        "bad.json",
        format!("{{\"a\": \"{CANARY}\",\n\"b\": }}\n").as_bytes(),
    );
    let stderr = fails_like_sops(
        &env,
        &[0],
        &["encrypt", "-i", "--age", &r, "bad.json"],
        2,
        &path,
    );
    assert!(stderr.contains("line 2"), "{stderr}");
    // Malformed encrypted input on decrypt.
    let path = env.write(
        "bad.enc.json",
        format!("{{\"a\": \"{CANARY}\",\n\"b\": }}\n").as_bytes(),
    );
    let stderr = fails_like_sops(&env, &[0], &["decrypt", "-i", "bad.enc.json"], 1, &path);
    assert!(stderr.contains("line 2"), "{stderr}");
}

#[test]
fn no_sops_block_and_empty_input() {
    let Some(env) = Env::new(1) else { return };
    let path = env.write("plain.yaml", YAML.as_bytes());
    let stderr = fails_like_sops(&env, &[0], &["decrypt", "-i", "plain.yaml"], 1, &path);
    assert!(stderr.contains("sops metadata not found"), "{stderr}");
    let r = env.recipient(0).to_owned();
    let path = env.write("empty.yaml", b"");
    fails_like_sops(
        &env,
        &[0],
        &["encrypt", "-i", "--age", &r, "empty.yaml"],
        92,
        &path,
    );
    // A malformed --encryption-context is 6 for both.
    env.write("ctx.yaml", YAML.as_bytes());
    let ctx = [
        "encrypt",
        "--age",
        &r,
        "--encryption-context",
        "nocolon",
        "ctx.yaml",
    ];
    assert_eq!(env.ours(&[0], &ctx).status.code(), Some(6));
    assert_eq!(env.sops(&[0], &ctx).status.code(), Some(6));
    // A missing file is 100 for both.
    let out = env.ours(&[0], &["decrypt", "missing.yaml"]);
    assert_eq!(out.status.code(), Some(100));
    assert_eq!(
        env.sops(&[0], &["decrypt", "missing.yaml"]).status.code(),
        Some(100)
    );
}

#[test]
fn in_place_keeps_permissions_and_round_trips() {
    let Some(env) = Env::new(1) else { return };
    let path = env.write("app.yaml", YAML.as_bytes());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
    }
    let r = env.recipient(0).to_owned();
    ok(
        env.ours(&[0], &["encrypt", "-i", "--age", &r, "app.yaml"]),
        "encrypt -i",
    );
    assert!(!std::fs::read_to_string(&path).unwrap().contains(CANARY));
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
    }
    let plain = ok(env.sops(&[0], &["decrypt", "app.yaml"]), "sops -d");
    ok(env.ours(&[0], &["decrypt", "-i", "app.yaml"]), "decrypt -i");
    assert_eq!(std::fs::read(&path).unwrap(), plain);
    // No temporary files left behind.
    let leftovers: Vec<_> = std::fs::read_dir(env.dir.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().starts_with(".lockstep-"))
        .collect();
    assert!(leftovers.is_empty());
}

#[test]
fn extract_and_output() {
    let Some(env) = Env::new(1) else { return };
    let (_, _) = encrypted_yaml(&env);
    let args = [
        "decrypt",
        "--extract",
        "[\"data\"][\"password\"]",
        "secret.enc.yaml",
    ];
    let ours = ok(env.ours(&[0], &args), "extract");
    assert_eq!(ours, ok(env.sops(&[0], &args), "sops extract"));
    let args = [
        "decrypt",
        "--extract",
        "[\"data\"][\"nested\"]",
        "secret.enc.yaml",
    ];
    assert_eq!(
        ok(env.ours(&[0], &args), "extract map"),
        ok(env.sops(&[0], &args), "sops")
    );
    for extra in [&[][..], &["--output-type", "json"]] {
        let mut args = vec!["decrypt", "--extract", "[\"data\"][\"list\"]"];
        args.extend_from_slice(extra);
        args.push("secret.enc.yaml");
        assert_eq!(
            String::from_utf8(ok(env.ours(&[0], &args), "extract list")).unwrap(),
            String::from_utf8(ok(env.sops(&[0], &args), "sops")).unwrap(),
        );
    }
    let args = [
        "decrypt",
        "--extract",
        "[\"data\"][\"list\"][1]",
        "secret.enc.yaml",
    ];
    assert_eq!(
        ok(env.ours(&[0], &args), "extract index"),
        ok(env.sops(&[0], &args), "sops")
    );
    let out = env.ours(
        &[0],
        &["decrypt", "--extract", "[\"data\"", "secret.enc.yaml"],
    );
    assert_eq!(out.status.code(), Some(91));
    ok(
        env.ours(
            &[0],
            &["decrypt", "--output", "out.yaml", "secret.enc.yaml"],
        ),
        "--output",
    );
    assert_eq!(
        std::fs::read(env.path("out.yaml")).unwrap(),
        ok(env.sops(&[0], &["decrypt", "secret.enc.yaml"]), "sops -d")
    );
}

#[test]
fn stdin_with_filename_override() {
    let Some(env) = Env::new(1) else { return };
    let r = env.recipient(0).to_owned();
    let mut cmd = lockstep_bin();
    env.prepare(&mut cmd, &[0]);
    let out = cmd
        .args(["encrypt", "--age", &r, "--filename-override", "x.json"])
        .write_stdin_bytes(JSON.as_bytes());
    let enc = ok(out, "encrypt stdin");
    env.write("x.enc.json", &enc);
    let plain = ok(env.sops(&[0], &["decrypt", "x.enc.json"]), "sops -d");
    assert_eq!(String::from_utf8_lossy(&plain), JSON);
}

trait WriteStdin {
    fn write_stdin_bytes(&mut self, bytes: &[u8]) -> Output;
}

impl WriteStdin for Command {
    fn write_stdin_bytes(&mut self, bytes: &[u8]) -> Output {
        use std::io::Write as _;
        let mut child = self
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(bytes).unwrap();
        child.wait_with_output().unwrap()
    }
}

#[test]
fn creation_rules_pick_keys_and_rules_by_path() {
    let Some(env) = Env::new(2) else { return };
    let config = format!(
        "creation_rules:\n  - path_regex: prod/.*\\.yaml$\n    age: {}\n    encrypted_regex: ^data$\n  - path_regex: \\.yaml$\n    age:\n      - {}\n",
        env.recipient(1),
        env.recipient(0)
    );
    env.write(".sops.yaml", config.as_bytes());
    std::fs::create_dir(env.path("prod")).unwrap();
    env.write("prod/app.yaml", YAML.as_bytes());
    env.write("dev.yaml", YAML.as_bytes());
    for file in ["prod/app.yaml", "dev.yaml"] {
        let ours = ok(env.ours(&[0, 1], &["encrypt", file]), "encrypt");
        let theirs = ok(env.sops(&[0, 1], &["encrypt", file]), "sops encrypt");
        assert_eq!(normalise(&ours), normalise(&theirs), "{file}");
    }
    let prod = ok(env.ours(&[], &["encrypt", "prod/app.yaml"]), "encrypt prod");
    let text = String::from_utf8_lossy(&prod);
    assert!(text.contains(env.recipient(1)) && !text.contains(env.recipient(0)));
    assert!(text.contains("encrypted_regex: ^data$"));
    // No matching rule: an error, like sops, with or without a key flag.
    env.write("other.json", JSON.as_bytes());
    let r0 = env.recipient(0).to_owned();
    for args in [
        &["encrypt", "other.json"][..],
        &["encrypt", "--age", &r0, "other.json"],
    ] {
        let out = env.ours(&[], args);
        assert_eq!(
            out.status.code(),
            env.sops(&[], args).status.code(),
            "{args:?}"
        );
        assert_eq!(out.status.code(), Some(1));
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("no matching creation rules"), "{stderr}");
    }
    // --config from elsewhere.
    std::fs::create_dir(env.path("conf")).unwrap();
    std::fs::rename(env.path(".sops.yaml"), env.path("conf/custom.yaml")).unwrap();
    let out = env.ours(
        &[],
        &["encrypt", "--config", "conf/custom.yaml", "dev.yaml"],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // In sops' position (a global flag before the verb), for both.
    let args = ["--config", "conf/custom.yaml", "encrypt", "dev.yaml"];
    let ours = ok(env.ours(&[], &args), "lockstep --config … encrypt");
    let theirs = ok(env.sops(&[], &args), "sops --config … encrypt");
    assert_eq!(normalise(&ours), normalise(&theirs));
}

/// `EDITOR` scripts: one that changes nothing, one that changes one value.
#[test]
fn edit_unchanged_is_200_and_one_change_touches_one_value() {
    let Some(env) = Env::new(1) else { return };
    let (path, before) = encrypted_yaml(&env);
    edit_checks(&env, &path, before);
    // The same on a file written by sops.
    let r = env.recipient(0).to_owned();
    let made = ok(
        env.sops(&[0], &["encrypt", "--age", &r, "plain.yaml"]),
        "sops",
    );
    let path = env.write("secret.enc.yaml", &made);
    edit_checks(&env, &path, made);
}

fn edit_checks(env: &Env, path: &Path, before: Vec<u8>) {
    let mut cmd = lockstep_bin();
    env.prepare(&mut cmd, &[0]);
    let out = cmd
        .env("EDITOR", "true")
        .args(["edit", "secret.enc.yaml"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(200),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(path).unwrap(), before);

    // lastmodified has a resolution of one second.
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let script = env.write(
        "ed.sh",
        b"#!/bin/sh\nsed -i 's/deeper: value/deeper: changed/' \"$1\"\n",
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let mut cmd = lockstep_bin();
    env.prepare(&mut cmd, &[0]);
    let out = cmd
        .env("EDITOR", script.to_str().unwrap())
        .args(["edit", "secret.enc.yaml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let after = std::fs::read_to_string(path).unwrap();
    let before = String::from_utf8(before).unwrap();
    let changed: Vec<(&str, &str)> = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(before.lines().count(), after.lines().count());
    let keys: Vec<&str> = changed
        .iter()
        .map(|(a, _)| a.trim_start().split(':').next().unwrap())
        .collect();
    assert_eq!(keys, ["deeper", "lastmodified", "mac"], "{changed:#?}");
    let plain = ok(
        env.sops(&[0], &["decrypt", "secret.enc.yaml"]),
        "sops -d after edit",
    );
    assert!(String::from_utf8_lossy(&plain).contains("deeper: changed"));

    // UX review D16: a failing editor is sops' 201; nothing is written.
    let unchanged = std::fs::read(path).unwrap();
    let mut cmd = lockstep_bin();
    env.prepare(&mut cmd, &[0]);
    let out = cmd
        .env("EDITOR", "false")
        .args(["edit", "secret.enc.yaml"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(201),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(path).unwrap(), unchanged);
}

/// UX review D16: on a terminal, a text that no longer parses goes back to the editor (as
/// sops does) instead of being thrown away. The editor breaks the YAML the first time and
/// fixes it the second; `script` gives the run a terminal.
#[test]
fn edit_on_a_terminal_returns_to_the_editor_until_the_text_parses() {
    let Some(env) = Env::new(1) else { return };
    let (path, _) = encrypted_yaml(&env);
    let script = env.write(
        "ed.sh",
        b"#!/bin/sh\nif [ -e ed.once ]; then sed -i '$d' \"$1\"; sed -i 's/deeper: value/deeper: fixed/' \"$1\"; else touch ed.once; echo 'broken: [' >> \"$1\"; fi\n",
    );
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let bin = assert_cmd::cargo::cargo_bin("lockstep");
    let mut cmd = Command::new("script");
    env.prepare(&mut cmd, &[0]);
    let out = cmd
        .env("EDITOR", script.to_str().unwrap())
        .args([
            "-qec",
            &format!("{} edit secret.enc.yaml", bin.display()),
            "/dev/null",
        ])
        .write_stdin_bytes(b"\n");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("does not parse"), "{shown}");
    assert!(shown.contains("return to the editor"), "{shown}");
    let plain = ok(
        env.sops(&[0], &["decrypt", path.to_str().unwrap()]),
        "sops -d after the second edit",
    );
    let plain = String::from_utf8_lossy(&plain);
    assert!(
        plain.contains("deeper: fixed") && !plain.contains("broken"),
        "{plain}"
    );
}

#[test]
fn set_unset_filestatus_exec() {
    let Some(env) = Env::new(1) else { return };
    let (path, _) = encrypted_yaml(&env);
    ok(
        env.ours(
            &[0],
            &["set", "secret.enc.yaml", "[\"data\"][\"token\"]", "\"abc\""],
        ),
        "set",
    );
    ok(
        env.ours(&[0], &["unset", "secret.enc.yaml", "[\"data\"][\"port\"]"]),
        "unset",
    );
    let plain = String::from_utf8(ok(
        env.sops(&[0], &["decrypt", "secret.enc.yaml"]),
        "sops -d",
    ))
    .unwrap();
    assert!(
        plain.contains("token: abc") && !plain.contains("port:"),
        "{plain}"
    );
    let before = std::fs::read(&path).unwrap();
    ok(
        env.ours(
            &[0],
            &[
                "set",
                "--idempotent",
                "secret.enc.yaml",
                "[\"data\"][\"token\"]",
                "\"abc\"",
            ],
        ),
        "set again",
    );
    assert_eq!(std::fs::read(&path).unwrap(), before);
    let out = env.ours(&[0], &["unset", "secret.enc.yaml", "[\"nope\"]"]);
    assert!(!out.status.success());
    assert_eq!(
        ok(
            env.ours(&[0], &["filestatus", "secret.enc.yaml"]),
            "filestatus"
        ),
        b"{\"encrypted\":true}\n"
    );
    assert_eq!(
        ok(env.ours(&[0], &["filestatus", "plain.yaml"]), "filestatus"),
        b"{\"encrypted\":false}\n"
    );
    // UX review D15: stdin and a name without a known extension are recognised.
    let encrypted = std::fs::read(&path).unwrap();
    env.write("secret-noext", &encrypted);
    let mut stdin = lockstep_bin();
    env.prepare(&mut stdin, &[0]);
    for (out, what) in [
        (
            env.ours(&[0], &["filestatus", "secret-noext"]),
            "no extension",
        ),
        (
            stdin
                .args(["filestatus", "-"])
                .write_stdin_bytes(&encrypted),
            "stdin",
        ),
    ] {
        assert_eq!(ok(out, what), b"{\"encrypted\":true}\n", "{what}");
    }
    let mut plain = lockstep_bin();
    env.prepare(&mut plain, &[0]);
    let out = plain.args(["filestatus", "-"]).write_stdin_bytes(b"a: b\n");
    assert_eq!(ok(out, "plain stdin"), b"{\"encrypted\":false}\n");
    env.write("plain.env", DOTENV.as_bytes());
    let enc = ok(
        env.ours(&[0], &["encrypt", "--age", env.recipient(0), "plain.env"]),
        "encrypt env",
    );
    env.write("env.enc.env", &enc);
    let out = ok(
        env.ours(&[0], &["exec-env", "env.enc.env", "printf %s \"$PORT\""]),
        "exec-env",
    );
    assert_eq!(out, b"5432");
    let out = ok(
        env.ours(
            &[0],
            &[
                "exec-file",
                "secret.enc.yaml",
                "test -p {} && grep -c token {}",
            ],
        ),
        "exec-file (a FIFO by default)",
    );
    assert_eq!(out, b"1\n");
    let modes = ok(
        env.ours(
            &[0],
            &[
                "exec-file",
                "secret.enc.yaml",
                "stat -c %a {} \"$(dirname {})\"",
            ],
        ),
        "exec-file modes",
    );
    assert_eq!(modes, b"600\n700\n");
    let out = ok(
        env.ours(
            &[0],
            &[
                "exec-file",
                "--no-fifo",
                "secret.enc.yaml",
                "test -f {} && grep -c token {} && stat -c %a {}",
            ],
        ),
        "exec-file --no-fifo",
    );
    assert_eq!(out, b"1\n600\n");
    // --value-stdin, and a value that is not JSON (exit 7, nothing written).
    let mut cmd = lockstep_bin();
    env.prepare(&mut cmd, &[0]);
    let out = cmd
        .args([
            "set",
            "--value-stdin",
            "secret.enc.yaml",
            "[\"data\"][\"token\"]",
        ])
        .write_stdin_bytes(b"\"from-stdin\"");
    ok(out, "set --value-stdin");
    let out = ok(
        env.ours(
            &[0],
            &[
                "decrypt",
                "--extract",
                "[\"data\"][\"token\"]",
                "secret.enc.yaml",
            ],
        ),
        "extract",
    );
    assert_eq!(out, b"from-stdin");
    let before = std::fs::read(&path).unwrap();
    let bad = [
        "set",
        "secret.enc.yaml",
        "[\"data\"][\"token\"]",
        "not json",
    ];
    assert_eq!(env.ours(&[0], &bad).status.code(), Some(7));
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

#[test]
fn rotate_and_updatekeys() {
    let Some(env) = Env::new(2) else { return };
    let (path, before) = encrypted_yaml(&env);
    let r1 = env.recipient(1).to_owned();
    ok(
        env.ours(&[0], &["rotate", "-i", "--add-age", &r1, "secret.enc.yaml"]),
        "rotate add",
    );
    let after = std::fs::read(&path).unwrap();
    assert_ne!(
        normalise(&after),
        normalise(&before),
        "the new recipient is listed"
    );
    let plain = ok(
        env.sops(&[1], &["decrypt", "secret.enc.yaml"]),
        "sops -d with the added key",
    );
    assert!(String::from_utf8_lossy(&plain).contains(CANARY));
    let r0 = env.recipient(0).to_owned();
    ok(
        env.ours(&[0], &["rotate", "-i", "--rm-age", &r0, "secret.enc.yaml"]),
        "rotate rm",
    );
    assert_eq!(
        env.sops(&[0], &["decrypt", "secret.enc.yaml"])
            .status
            .code(),
        Some(128)
    );
    // updatekeys: back to key 0 from the config; values and MAC stay.
    env.write(
        ".sops.yaml",
        format!("creation_rules:\n  - age: {r0}\n").as_bytes(),
    );
    let values_before: Vec<String> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .filter(|l| l.contains("ENC["))
        .map(str::to_owned)
        .collect();
    // Without a terminal and without -y: refused, and the count is of files (UX review D22).
    let refused = env.ours(&[1], &["updatekeys", "secret.enc.yaml"]);
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(stderr.contains("1 file(s) not updated"), "{stderr}");
    ok(
        env.ours(&[1], &["updatekeys", "-y", "secret.enc.yaml"]),
        "updatekeys",
    );
    let values_after: Vec<String> = std::fs::read_to_string(&path)
        .unwrap()
        .lines()
        .filter(|l| l.contains("ENC["))
        .map(str::to_owned)
        .collect();
    assert_eq!(values_before, values_after);
    ok(
        env.sops(&[0], &["decrypt", "secret.enc.yaml"]),
        "sops -d after updatekeys",
    );
    assert_eq!(
        env.sops(&[1], &["decrypt", "secret.enc.yaml"])
            .status
            .code(),
        Some(128)
    );
}

#[test]
fn decryption_order() {
    let Some(env) = Env::new(1) else { return };
    let (path, _) = encrypted_yaml(&env);
    let args = [
        "decrypt",
        "--decryption-order",
        "kms,nonsense,age",
        "secret.enc.yaml",
    ];
    assert_eq!(
        ok(env.ours(&[0], &args), "order"),
        ok(env.sops(&[0], &args), "sops")
    );
    fails_like_sops(
        &env,
        &[0],
        &[
            "decrypt",
            "--decryption-order",
            "age,age",
            "secret.enc.yaml",
        ],
        112,
        &path,
    );
}

/// `set`, `unset` and `updatekeys` on copies of one file, by lockstep and by sops: the
/// results decrypt to the same plaintext and differ only in random bytes.
#[test]
fn set_unset_updatekeys_like_sops() {
    let Some(env) = Env::new(2) else { return };
    env.write("plain.yaml", YAML.as_bytes());
    let r0 = env.recipient(0).to_owned();
    let sops_made = ok(
        env.sops(&[0], &["encrypt", "--age", &r0, "plain.yaml"]),
        "sops",
    );
    let steps: [&[&str]; 3] = [
        &[
            "set",
            "F",
            "[\"data\"][\"nested\"][\"new\"]",
            "{\"a\": [1, \"two\"]}",
        ],
        &["unset", "F", "[\"data\"][\"port\"]"],
        &["set", "F", "[\"data\"][\"list\"][5]", "true"],
    ];
    env.write("ours.enc.yaml", &sops_made);
    env.write("theirs.enc.yaml", &sops_made);
    for step in steps {
        for (file, sops) in [("ours.enc.yaml", false), ("theirs.enc.yaml", true)] {
            let args: Vec<&str> = step
                .iter()
                .map(|a| if *a == "F" { file } else { a })
                .collect();
            let out = if sops {
                env.sops(&[0], &args)
            } else {
                env.ours(&[0], &args)
            };
            ok(out, &format!("{args:?} (sops: {sops})"));
        }
        let ours = std::fs::read(env.path("ours.enc.yaml")).unwrap();
        let theirs = std::fs::read(env.path("theirs.enc.yaml")).unwrap();
        assert_eq!(normalise(&ours), normalise(&theirs), "after {step:?}");
        assert_eq!(
            ok(
                env.sops(&[0], &["decrypt", "ours.enc.yaml"]),
                "sops -d ours"
            ),
            ok(
                env.ours(&[0], &["decrypt", "theirs.enc.yaml"]),
                "ours -d theirs"
            ),
        );
    }
    let r1 = env.recipient(1).to_owned();
    env.write(
        ".sops.yaml",
        format!("creation_rules:\n  - age: {r0},{r1}\n").as_bytes(),
    );
    ok(
        env.ours(&[0], &["updatekeys", "-y", "ours.enc.yaml"]),
        "updatekeys",
    );
    ok(
        env.sops(&[0], &["updatekeys", "-y", "theirs.enc.yaml"]),
        "sops updatekeys",
    );
    let ours = std::fs::read(env.path("ours.enc.yaml")).unwrap();
    let theirs = std::fs::read(env.path("theirs.enc.yaml")).unwrap();
    assert_eq!(normalise(&ours), normalise(&theirs), "after updatekeys");
    ok(
        env.sops(&[1], &["decrypt", "ours.enc.yaml"]),
        "the added key opens ours",
    );
    ok(
        env.ours(&[1], &["decrypt", "theirs.enc.yaml"]),
        "the added key opens theirs",
    );
}

#[test]
fn differential_yaml_multi_document_and_block_scalars() {
    let plain = "\
first: doc
cert: |
    -----BEGIN CERTIFICATE-----
    MIIB
    -----END CERTIFICATE-----
unicode: \"h\u{e9}llo \u{1F512}\"
---
second: 2
nested:
    - a: 1
      b: [x, y]
";
    differential("multi.yaml", plain.as_bytes(), &[], &[]);
}

/// The editor sees a 0600 file in a 0700 directory that is gone afterwards; a new file is
/// created with the keys of the flags.
#[test]
fn edit_temp_file_is_private_and_new_files_are_created() {
    let Some(env) = Env::new(1) else { return };
    let log = env.path("seen.txt");
    let script = env.write(
        "ed.sh",
        format!(
            "#!/bin/sh\nstat -c '%a' \"$1\" > {log}\nstat -c '%a' \"$(dirname \"$1\")\" >> {log}\necho \"$1\" >> {log}\nprintf 'token: {CANARY}\\n' > \"$1\"\n",
            log = log.display()
        )
        .as_bytes(),
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    }
    let r = env.recipient(0).to_owned();
    let mut cmd = lockstep_bin();
    env.prepare(&mut cmd, &[0]);
    let out = cmd
        .env("EDITOR", script.to_str().unwrap())
        .args(["edit", "--age", &r, "new.yaml"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen = std::fs::read_to_string(&log).unwrap();
    let lines: Vec<&str> = seen.lines().collect();
    assert_eq!(&lines[..2], ["600", "700"], "{seen}");
    assert!(
        !Path::new(lines[2]).exists(),
        "the temporary file is removed"
    );
    let created = std::fs::read_to_string(env.path("new.yaml")).unwrap();
    assert!(!created.contains(CANARY));
    let plain = ok(env.sops(&[0], &["decrypt", "new.yaml"]), "sops -d new file");
    assert_eq!(
        String::from_utf8_lossy(&plain),
        format!("token: {CANARY}\n")
    );
}

#[test]
fn rotate_like_sops() {
    let Some(env) = Env::new(2) else { return };
    env.write("plain.yaml", YAML.as_bytes());
    let r0 = env.recipient(0).to_owned();
    let r1 = env.recipient(1).to_owned();
    let made = ok(
        env.sops(&[0], &["encrypt", "--age", &r0, "plain.yaml"]),
        "sops",
    );
    env.write("secret.enc.yaml", &made);
    let args = [
        "rotate",
        "--add-age",
        &r1,
        "--rm-age",
        &r0,
        "secret.enc.yaml",
    ];
    let ours = ok(env.ours(&[0], &args), "rotate");
    let theirs = ok(env.sops(&[0], &args), "sops rotate");
    assert_eq!(normalise(&ours), normalise(&theirs));
    env.write("ours.enc.yaml", &ours);
    assert_eq!(
        ok(
            env.sops(&[1], &["decrypt", "ours.enc.yaml"]),
            "sops -d rotated"
        ),
        ok(
            env.sops(&[0], &["decrypt", "secret.enc.yaml"]),
            "sops -d original"
        ),
    );
    // Every value has a new ciphertext (a new data key).
    let before: Vec<&str> = std::str::from_utf8(&made)
        .unwrap()
        .lines()
        .filter(|l| l.contains("ENC["))
        .collect();
    let after: Vec<&str> = std::str::from_utf8(&ours)
        .unwrap()
        .lines()
        .filter(|l| l.contains("ENC["))
        .collect();
    assert_eq!(before.len(), after.len());
    assert!(before.iter().zip(&after).all(|(a, b)| a != b));
}

#[test]
fn differential_indent() {
    differential("plain.yaml", YAML.as_bytes(), &[], &["--indent", "2"]);
    differential("plain.json", JSON.as_bytes(), &[], &["--indent", "2"]);
}

/// `--pgp` and `SOPS_PGP_FP` both ways with the real sops and gpg (a keyring of its own,
/// through `SOPS_GPG_EXEC` as a sops user sets it): ours decrypts with sops, sops' with
/// ours, and the files are equal up to random bytes.
#[test]
fn pgp_both_ways_with_sops_and_gpg() {
    let Some(env) = Env::new(0) else { return };
    let gpg = match lockstep_testenv::Gpg::new() {
        Ok(gpg) => gpg,
        Err(e) => match lockstep_testenv::skip_reason(&e) {
            Some(message) => return eprintln!("{message}"),
            None => panic!("gpg: {e}"),
        },
    };
    let fp = gpg
        .generate_with(
            "SOPS <sops@lockstep.invalid>",
            "default",
            "default",
            "never",
        )
        .unwrap();
    let run = |mut cmd: Command, args: &[&str], pgp_env: bool| {
        env.prepare(&mut cmd, &[]);
        cmd.env("GNUPGHOME", gpg.home())
            .env("SOPS_GPG_EXEC", gpg.program());
        if pgp_env {
            cmd.env("SOPS_PGP_FP", &fp);
        }
        cmd.args(args).output().unwrap()
    };
    env.write("secret.yaml", YAML.as_bytes());
    let ours = ok(
        run(
            lockstep_bin(),
            &["encrypt", "--pgp", &fp, "secret.yaml"],
            false,
        ),
        "lockstep encrypt --pgp",
    );
    let by_env = ok(
        run(lockstep_bin(), &["encrypt", "secret.yaml"], true),
        "lockstep encrypt with SOPS_PGP_FP",
    );
    let theirs = ok(
        run(
            Command::new(&env.sops),
            &["encrypt", "--pgp", &fp, "secret.yaml"],
            false,
        ),
        "sops encrypt --pgp",
    );
    let pgp = Regex::new(r"-----BEGIN PGP MESSAGE-----[\s\S]*?-----END PGP MESSAGE-----").unwrap();
    let shape = |bytes: &[u8]| pgp.replace_all(&normalise(bytes), "<PGP>").into_owned();
    assert!(String::from_utf8_lossy(&ours).contains(&fp));
    assert_eq!(
        shape(&ours),
        shape(&theirs),
        "encrypted files differ beyond random bytes"
    );
    assert_eq!(shape(&by_env), shape(&theirs));
    env.write("ours.enc.yaml", &ours);
    env.write("theirs.enc.yaml", &theirs);
    let sops = |args: &[&str]| run(Command::new(&env.sops), args, false);
    let reference = ok(
        sops(&["decrypt", "theirs.enc.yaml"]),
        "sops decrypt (sops file)",
    );
    assert!(String::from_utf8_lossy(&reference).contains(CANARY));
    let sops_reads_ours = ok(
        sops(&["decrypt", "ours.enc.yaml"]),
        "sops decrypt (our file)",
    );
    let we_read_theirs = ok(
        run(lockstep_bin(), &["decrypt", "theirs.enc.yaml"], false),
        "lockstep decrypt (sops file)",
    );
    assert_eq!(sops_reads_ours, reference);
    assert_eq!(we_read_theirs, reference);

    // A `.sops.yaml` creation rule with `pgp:` and no key flags.
    env.write(
        ".sops.yaml",
        format!("creation_rules:\n  - pgp: {fp}\n").as_bytes(),
    );
    let by_rule = ok(
        run(lockstep_bin(), &["encrypt", "secret.yaml"], false),
        "lockstep encrypt with a pgp creation rule",
    );
    assert_eq!(shape(&by_rule), shape(&theirs));
    env.write("rule.enc.yaml", &by_rule);
    assert_eq!(
        ok(
            sops(&["decrypt", "rule.enc.yaml"]),
            "sops decrypt (rule file)"
        ),
        reference
    );

    // A keyring without the secret key: the message names the key, and no plaintext.
    let empty = lockstep_testenv::Gpg::new().unwrap();
    let mut cmd = lockstep_bin();
    env.prepare(&mut cmd, &[]);
    let out = cmd
        .env("GNUPGHOME", empty.home())
        .env("SOPS_GPG_EXEC", empty.program())
        .args(["decrypt", "ours.enc.yaml"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&fp) && !stderr.contains(CANARY), "{stderr}");
}
