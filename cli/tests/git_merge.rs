//! `lockstep merge-driver` and `lockstep textconv` under real `git merge` and `git diff`
//! runs in temporary repositories, checked with the real `sops` 3.13.3.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A value that must never reach the disk in plaintext, nor any output.
const CANARY: &str = "CANARY-merge-0xC0FFEE";

/// A repository with the driver and textconv registered, and an age key.
struct Repo {
    dir: tempfile::TempDir,
    sops: PathBuf,
    key_file: PathBuf,
    recipient: String,
}

fn lockstep() -> PathBuf {
    assert_cmd::cargo::cargo_bin("lockstep")
}

fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({:?}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

impl Repo {
    fn new(pattern: &str) -> Option<Repo> {
        let sops = crate::sops_cli::sops_tool()?;
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("work")).unwrap();
        let key_file = dir.path().join("key.txt");
        let out = Command::new(lockstep())
            .args(["age-keygen", "-o"])
            .arg(&key_file)
            .output()
            .unwrap();
        ok(out, "age-keygen");
        let recipient = std::fs::read_to_string(&key_file)
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("# public key: "))
            .unwrap()
            .to_owned();
        let repo = Repo {
            dir,
            sops,
            key_file,
            recipient,
        };
        let bin = lockstep().display().to_string();
        repo.git(&["init", "-q", "-b", "main"]);
        repo.git(&["config", "user.email", "t@example.com"]);
        repo.git(&["config", "user.name", "t"]);
        let driver = format!("{bin} merge-driver %O %A %B %P");
        repo.git(&["config", "merge.sops.driver", &driver]);
        repo.git(&["config", "diff.sops.textconv", &format!("{bin} textconv")]);
        repo.write(
            ".gitattributes",
            &format!("{pattern} merge=sops diff=sops\n"),
        );
        Some(repo)
    }

    fn work(&self) -> PathBuf {
        self.dir.path().join("work")
    }

    fn write(&self, name: &str, text: &str) {
        std::fs::write(self.work().join(name), text).unwrap();
    }

    /// A command in the work tree with only this repository's key and no user config.
    fn command(&self, program: &Path, key_file: &Path) -> Command {
        let mut cmd = Command::new(program);
        cmd.current_dir(self.work())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path())
            .env("XDG_CONFIG_HOME", self.dir.path().join("xdg"))
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("SOPS_AGE_KEY_FILE", key_file);
        cmd
    }

    fn run_git(&self, args: &[&str]) -> Output {
        self.command(Path::new("git"), &self.key_file)
            .args(args)
            .output()
            .unwrap()
    }

    fn git(&self, args: &[&str]) -> String {
        ok(self.run_git(args), &format!("git {args:?}"))
    }

    fn lockstep(&self, args: &[&str]) -> String {
        let out = self
            .command(&lockstep(), &self.key_file)
            .args(args)
            .output()
            .unwrap();
        ok(out, &format!("lockstep {args:?}"))
    }

    fn set(&self, file: &str, path: &str, json: &str) {
        self.lockstep(&["set", file, path, json]);
    }

    fn commit(&self, message: &str) {
        self.git(&["add", "-A"]);
        self.git(&["commit", "-q", "-m", message]);
    }

    /// An encrypted `file` from `plain`, committed on `main` with a `feature` branch.
    fn start(&self, file: &str, plain: &str) {
        self.write(file, plain);
        let encrypted = self.lockstep(&["encrypt", "--age", &self.recipient, file]);
        self.write(file, &encrypted);
        self.commit("add");
        self.git(&["branch", "feature"]);
    }

    fn sops_decrypt(&self, file: &str) -> String {
        let out = self
            .command(&self.sops, &self.key_file)
            .args(["decrypt", file])
            .output()
            .unwrap();
        ok(out, "sops decrypt")
    }

    /// Every byte the repository holds on disk, and every object of its database
    /// uncompressed, contain no `CANARY`.
    fn assert_no_canary_stored(&self) {
        fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
            for entry in std::fs::read_dir(dir).unwrap() {
                let path = entry.unwrap().path();
                if path.is_dir() {
                    walk(&path, found);
                } else if std::fs::read(&path)
                    .unwrap()
                    .windows(CANARY.len())
                    .any(|w| w == CANARY.as_bytes())
                {
                    found.push(path);
                }
            }
        }
        let mut found = Vec::new();
        walk(&self.work(), &mut found);
        assert!(found.is_empty(), "plaintext on disk: {found:?}");
        let objects = self.run_git(&["cat-file", "--batch-all-objects", "--batch"]);
        assert!(objects.status.success());
        assert!(!objects.stdout.is_empty());
        assert!(
            !String::from_utf8_lossy(&objects.stdout).contains(CANARY),
            "plaintext in a Git object"
        );
    }
}

fn clean_merge(file: &str, plain: &str, edits: [(&str, &str); 2], expect: &[&str]) {
    let Some(repo) = Repo::new(file) else { return };
    repo.start(file, plain);
    repo.set(file, edits[0].0, edits[0].1);
    repo.commit("ours");
    repo.git(&["checkout", "-q", "feature"]);
    repo.set(file, edits[1].0, edits[1].1);
    repo.commit("theirs");
    repo.git(&["checkout", "-q", "main"]);
    let before = std::fs::read_to_string(repo.work().join(file)).unwrap();

    repo.git(&["merge", "-q", "--no-edit", "feature"]);

    let merged = std::fs::read_to_string(repo.work().join(file)).unwrap();
    assert!(!merged.contains(CANARY), "plaintext in the merge: {merged}");
    // The value neither side changed kept its exact ciphertext.
    let unchanged = before
        .lines()
        .find(|l| l.contains("untouched"))
        .expect("the untouched value");
    assert!(merged.contains(unchanged.trim()), "{merged}");
    // Both decrypt it, which checks the MAC (sops has no TOML store: only lockstep then).
    let mut readers = vec![repo.lockstep(&["decrypt", file])];
    if !file.ends_with(".toml") {
        readers.push(repo.sops_decrypt(file));
    }
    for plain in readers {
        for want in expect {
            assert!(
                plain.contains(want),
                "{want} missing from the merge:\n{plain}"
            );
        }
    }
}

#[test]
fn clean_merge_yaml_takes_both_sides() {
    clean_merge(
        "secrets.enc.yaml",
        &format!("a: {CANARY}\nb: two\nuntouched: same\nnested:\n    x: 1\n"),
        [
            (r#"["a"]"#, r#""ours-a""#),
            (r#"["nested"]["z"]"#, r#""theirs-z""#),
        ],
        &["a: ours-a", "b: two", "z: theirs-z", "x: 1"],
    );
}

#[test]
fn clean_merge_json_takes_both_sides() {
    clean_merge(
        "secrets.enc.json",
        &format!("{{\"a\": \"{CANARY}\", \"b\": \"two\", \"untouched\": \"same\"}}\n"),
        [(r#"["b"]"#, r#""ours-b""#), (r#"["a"]"#, r#""theirs-a""#)],
        &[r#""a": "theirs-a""#, r#""b": "ours-b""#],
    );
}

#[test]
fn conflict_is_reported_by_path_and_stays_encrypted() {
    let file = "secrets.enc.yaml";
    let Some(repo) = Repo::new(file) else { return };
    repo.start(file, "db:\n    password: base\nother: x\n");
    repo.set(file, r#"["db"]["password"]"#, &format!("\"{CANARY}-ours\""));
    repo.commit("ours");
    let ours = std::fs::read(repo.work().join(file)).unwrap();
    repo.git(&["checkout", "-q", "feature"]);
    repo.set(
        file,
        r#"["db"]["password"]"#,
        &format!("\"{CANARY}-theirs\""),
    );
    repo.set(file, r#"["other"]"#, r#""y""#);
    repo.commit("theirs");
    repo.git(&["checkout", "-q", "main"]);

    let out = repo.run_git(&["merge", "--no-edit", "feature"]);

    assert!(!out.status.success(), "the merge must stop on the conflict");
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("CONFLICT"), "{said}");
    assert!(said.contains(r#"["db"]["password"]"#), "{said}");
    assert!(!said.contains(r#"["other"]"#), "not a conflict: {said}");
    assert!(!said.contains(CANARY), "{said}");
    assert_eq!(std::fs::read(repo.work().join(file)).unwrap(), ours);
    repo.assert_no_canary_stored();
}

#[test]
fn textconv_shows_the_changed_key_only() {
    let file = "app.enc.yaml";
    let Some(repo) = Repo::new(file) else { return };
    repo.start(
        file,
        &format!("a: {CANARY}\nb: {CANARY}\nc_unencrypted: clear\n"),
    );
    repo.set(file, r#"["b"]"#, &format!("\"{CANARY}-2\""));
    repo.commit("change b");

    let diff = repo.git(&["diff", "HEAD~1", "HEAD"]);

    assert!(!diff.contains(CANARY), "{diff}");
    let changed: Vec<&str> = diff
        .lines()
        .filter(|l| (l.starts_with('-') || l.starts_with('+')) && !l.starts_with("---"))
        .filter(|l| !l.starts_with("+++") && !l.contains("lastmodified"))
        .collect();
    assert_eq!(changed.len(), 2, "{diff}");
    assert!(
        changed
            .iter()
            .all(|l| l[1..].starts_with("b: <redacted str ")),
        "{diff}"
    );
    assert!(diff.contains(" c_unencrypted: clear"), "{diff}");
    assert!(
        diff.contains(&format!("# sops recipients: age {}", repo.recipient)),
        "{diff}"
    );
    assert!(!diff.contains("mac"), "{diff}");
    let shown = repo.lockstep(&["textconv", "--show-values", file]);
    assert!(shown.contains(&format!("b: {CANARY}-2")), "{shown}");
}

#[test]
fn merge_without_keys_names_the_file() {
    let file = "secrets.enc.yaml";
    let Some(repo) = Repo::new(file) else { return };
    repo.start(file, "a: 1\nb: 2\n");
    repo.set(file, r#"["a"]"#, "3");
    repo.commit("ours");
    repo.git(&["checkout", "-q", "feature"]);
    repo.set(file, r#"["b"]"#, "4");
    repo.commit("theirs");
    repo.git(&["checkout", "-q", "main"]);
    let ours = std::fs::read(repo.work().join(file)).unwrap();
    let other_key = repo.dir.path().join("other.txt");
    ok(
        Command::new(lockstep())
            .args(["age-keygen", "-o"])
            .arg(&other_key)
            .output()
            .unwrap(),
        "age-keygen",
    );

    let out = repo
        .command(Path::new("git"), &other_key)
        .args(["merge", "--no-edit", "feature"])
        .output()
        .unwrap();

    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains(&format!("cannot decrypt the base version (%O) of {file}")),
        "{said}"
    );
    assert_eq!(std::fs::read(repo.work().join(file)).unwrap(), ours);
}

#[test]
fn clean_merge_toml_takes_both_sides() {
    clean_merge(
        "app.enc.toml",
        &format!(
            "# settings\npassword = \"{CANARY}\"\nuntouched = \"same\"\n\n[web]\nname = \"one\"\nport = 80\n"
        ),
        [
            (r#"["password"]"#, r#""ours-p""#),
            (r#"["web"]["name"]"#, r#""theirs-n""#),
        ],
        &[
            "# settings",
            "password = \"ours-p\"",
            "name = \"theirs-n\"",
            "port = 80",
        ],
    );
}

#[test]
fn clean_merge_dotenv_and_ini_take_both_sides() {
    clean_merge(
        "app.enc.env",
        &format!("A={CANARY}\nB=two\nuntouched=same\n"),
        [(r#"["A"]"#, r#""ours-a""#), (r#"["B"]"#, r#""theirs-b""#)],
        &["A=ours-a", "B=theirs-b", "untouched=same"],
    );
    clean_merge(
        "app.enc.ini",
        &format!("[db]\npassword = {CANARY}\nuntouched = same\n\n[web]\nname = one\n"),
        [
            (r#"["db"]["password"]"#, r#""ours-p""#),
            (r#"["web"]["name"]"#, r#""theirs-n""#),
        ],
        &["password  = ours-p", "name = theirs-n", "untouched = same"],
    );
}
