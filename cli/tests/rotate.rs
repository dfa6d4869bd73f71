//! `lockstep rotate` over a repository: 200 SOPS files in every format with age, KMS
//! (moto) and Vault transit (OpenBao) keys, some made by the real `sops`; `--dry-run`
//! changes nothing; `--rm-age` locks the removed identity out; `--rewrap` moves Vault
//! data keys to the newest transit key version; `--update-keys` applies `.sops.yaml`. (A
//! run killed at random points: `rotate_crash.rs`.)

#[allow(dead_code)]
use crate::rotate_support;

use std::path::Path;
use std::process::Command;
use std::time::Instant;

use lockstep_sops::Format;
use lockstep_testenv::{Kms, Vault, need};
use rotate_support::{
    CANARY, File, Identity, encrypt, lockstep, need_sops, ok, refresh, sample, snapshot,
};

fn git_init(dir: &Path) {
    let status = Command::new("git")
        .args(["init", "-q"])
        .current_dir(dir)
        .status()
        .unwrap();
    assert!(status.success());
}

#[tokio::test(flavor = "multi_thread")]
async fn repository_of_200_files_rotates_and_rm_age_locks_the_identity_out() {
    let vault = need!(Vault::start().await);
    let kms = need!(Kms::start().await);
    let Some(sops) = need_sops() else { return };
    vault.post("/v1/transit/keys/rot", "{}").await.unwrap();
    let transit = format!("{}/v1/transit/keys/rot", vault.addr());
    let arn = kms.create_key().await.unwrap();

    let keys = tempfile::tempdir().unwrap();
    let a = Identity::new(keys.path(), "a");
    let x = Identity::new(keys.path(), "x");
    let repo = tempfile::tempdir().unwrap();
    let root = repo.path();
    git_init(root);
    let vars = [
        ("SOPS_AGE_KEY_FILE", a.file.to_str().unwrap()),
        ("VAULT_ADDR", vault.addr()),
        ("VAULT_TOKEN", vault.token()),
        ("AWS_ENDPOINT_URL", kms.endpoint()),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
    ];
    let both = format!("{},{}", a.recipient, x.recipient);

    // 170 files from the library, 20 from `lockstep encrypt` with KMS or Vault, 10 from sops.
    let mut files = Vec::new();
    for i in 0..200 {
        let (format, ext, plain) = sample(i);
        let dir = root.join(format!("apps/team-{}", i % 7));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("s{i}.enc.{ext}"));
        if i < 170 {
            std::fs::write(
                &path,
                encrypt(&plain, format, &[&a.recipient, &x.recipient]),
            )
            .unwrap();
        } else {
            std::fs::write(&path, &plain).unwrap();
            let file = path.to_str().unwrap();
            let out = match i {
                170..180 => lockstep(
                    root,
                    &vars,
                    &["encrypt", "-i", "--age", &both, "--kms", &arn, file],
                )
                .output(),
                180..190 => lockstep(
                    root,
                    &vars,
                    &[
                        "encrypt",
                        "-i",
                        "--age",
                        &both,
                        "--hc-vault-transit",
                        &transit,
                        file,
                    ],
                )
                .output(),
                190..195 => Command::new(&sops)
                    .envs(vars)
                    .args(["encrypt", "-i", "--age", &both, file])
                    .output(),
                _ => Command::new(&sops)
                    .envs(vars)
                    .args(["encrypt", "-i", "--age", &both, "--kms", &arn, file])
                    .output(),
            };
            ok(out.unwrap(), &format!("encrypt {file}"));
        }
        files.push(File::new(path, format));
    }
    refresh(&mut files, &a);
    let originals: Vec<([u8; 32], Vec<u8>)> =
        files.iter().map(|f| (f.key, f.plain.clone())).collect();
    // Not rotated: ignored, plain, and a private file keeps its mode.
    std::fs::write(root.join(".gitignore"), "ignored/\n").unwrap();
    std::fs::create_dir(root.join("ignored")).unwrap();
    std::fs::copy(&files[0].path, root.join("ignored/copy.enc.yaml")).unwrap();
    std::fs::write(root.join("apps/plain.yaml"), "sops: not really\n").unwrap();
    set_mode(&files[1].path, 0o600);

    // --dry-run: a plan line per file, the tree byte for byte as it was.
    let before = snapshot(root);
    let plan = ok(
        lockstep(
            root,
            &vars,
            &["rotate", "--dry-run", "--rm-age", &x.recipient],
        )
        .output()
        .unwrap(),
        "rotate --dry-run",
    );
    assert_eq!(plan.lines().count(), 200, "{plan}");
    assert!(
        plan.lines()
            .all(|l| l.contains(&format!("-age:{}", x.recipient))),
        "{plan}"
    );
    assert_eq!(snapshot(root), before);

    // Without a terminal and without --yes, nothing is rewritten (UX review D25).
    let refused = lockstep(root, &vars, &["rotate"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success(), "{stderr}");
    assert!(
        stderr.contains("not confirmed") && stderr.contains("--yes"),
        "{stderr}"
    );
    assert_eq!(snapshot(root), before);

    // rotate (no path: the work tree): every file gets a new data key, same plaintext.
    let started = Instant::now();
    let out = ok(
        lockstep(root, &vars, &["rotate", "--yes"])
            .output()
            .unwrap(),
        "rotate",
    );
    eprintln!("rotating 200 files took {:?}", started.elapsed());
    assert_eq!(out.lines().count(), 200, "{out}");
    let after = snapshot(root);
    refresh(&mut files, &a);
    for (f, (old_key, old_plain)) in files.iter().zip(&originals) {
        assert_ne!(after[&f.path], before[&f.path], "{}", f.path.display());
        assert_ne!(&f.key, old_key, "{} kept its data key", f.path.display());
        assert_eq!(&f.plain, old_plain, "{}", f.path.display());
        assert!(!String::from_utf8_lossy(&after[&f.path]).contains(CANARY));
    }
    let kms_file = String::from_utf8_lossy(&after[&files[175].path]).into_owned();
    assert!(kms_file.contains(&arn), "KMS key kept: {kms_file}");
    let ignored = root.join("ignored/copy.enc.yaml");
    assert_eq!(after[&ignored], before[&ignored]);
    assert_eq!(
        after[&root.join("apps/plain.yaml")],
        before[&root.join("apps/plain.yaml")]
    );
    assert_eq!(mode(&files[1].path), 0o600);

    // The real sops opens every rotated file.
    sops_opens_all(&sops, &files, &vars);

    // --rm-age X: X opens nothing, A still opens everything.
    ok(
        lockstep(
            root,
            &vars,
            &["rotate", "--yes", "--rm-age", &x.recipient, "apps"],
        )
        .output()
        .unwrap(),
        "rotate --rm-age",
    );
    for f in &files {
        let bytes = std::fs::read(&f.path).unwrap();
        assert!(
            x.open(&bytes, f.format).is_err(),
            "{} still opens with X",
            f.path.display()
        );
        assert!(!String::from_utf8_lossy(&bytes).contains(&x.recipient));
    }
    let keys_before: Vec<[u8; 32]> = files.iter().map(|f| f.key).collect();
    refresh(&mut files, &a);
    for ((f, (_, plain)), old) in files.iter().zip(&originals).zip(&keys_before) {
        assert_eq!(&f.plain, plain);
        assert_ne!(&f.key, old);
    }
    let x_vars = [("SOPS_AGE_KEY_FILE", x.file.to_str().unwrap())];
    for f in files.iter().take(5) {
        let out = Command::new(&sops)
            .env_clear()
            .envs(x_vars)
            .args(["decrypt", f.path.to_str().unwrap()])
            .output()
            .unwrap();
        assert!(
            !out.status.success(),
            "sops opened {} with X",
            f.path.display()
        );
    }

    // --rewrap: Vault files move to transit key version 2, no new data key.
    vault
        .post("/v1/transit/keys/rot/rotate", "{}")
        .await
        .unwrap();
    let out = ok(
        lockstep(root, &vars, &["rotate", "--yes", "--rewrap"])
            .output()
            .unwrap(),
        "rotate --rewrap",
    );
    assert_eq!(
        out.lines().count(),
        10,
        "only the Vault files change: {out}"
    );
    let keys_before: Vec<[u8; 32]> = files.iter().map(|f| f.key).collect();
    refresh(&mut files, &a);
    for (i, (f, old)) in files.iter().zip(&keys_before).enumerate() {
        assert_eq!(&f.key, old, "{}", f.path.display());
        let text = std::fs::read_to_string(&f.path).unwrap_or_default();
        if (180..190).contains(&i) {
            assert!(text.contains("vault:v2:"), "{text}");
        }
    }
    sops_opens_all(&sops, &files[180..190], &vars);
}

/// `sops decrypt` of every file gives the same plaintext as our library.
fn sops_opens_all(sops: &Path, files: &[File], vars: &[(&str, &str)]) {
    std::thread::scope(|scope| {
        for chunk in files.chunks(files.len().div_ceil(4)) {
            scope.spawn(move || {
                for f in chunk {
                    let mut cmd = Command::new(sops);
                    cmd.env_clear().envs(vars.iter().copied()).arg("decrypt");
                    if f.format == Format::Binary {
                        cmd.args(["--input-type", "binary", "--output-type", "binary"]);
                    }
                    let out = cmd.arg(&f.path).output().unwrap();
                    assert!(
                        out.status.success(),
                        "sops decrypt {}: {}",
                        f.path.display(),
                        String::from_utf8_lossy(&out.stderr)
                    );
                    let text = String::from_utf8_lossy(&out.stdout);
                    assert!(text.contains(CANARY), "{}", f.path.display());
                }
            });
        }
    });
}

fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

#[test]
fn update_keys_applies_the_rules_and_a_failing_file_is_left_alone() {
    let keys = tempfile::tempdir().unwrap();
    let a = Identity::new(keys.path(), "a");
    let b = Identity::new(keys.path(), "b");
    let x = Identity::new(keys.path(), "x");
    let stranger = Identity::new(keys.path(), "stranger");
    let repo = tempfile::tempdir().unwrap();
    let root = repo.path();
    std::fs::write(
        root.join(".sops.yaml"),
        format!(
            "creation_rules:\n  - path_regex: .*\n    age: {},{}\n",
            a.recipient, b.recipient
        ),
    )
    .unwrap();
    let mut files = Vec::new();
    for i in 0..10 {
        let (format, ext, plain) = sample(i);
        let path = root.join(format!("s{i}.enc.{ext}"));
        std::fs::write(
            &path,
            encrypt(&plain, format, &[&a.recipient, &x.recipient]),
        )
        .unwrap();
        files.push(File::new(path, format));
    }
    refresh(&mut files, &a);
    // A file this environment cannot open: it fails, stays as it was, the others go on.
    let (format, _, plain) = sample(0);
    let locked = root.join("locked.enc.yaml");
    std::fs::write(&locked, encrypt(&plain, format, &[&stranger.recipient])).unwrap();
    let locked_before = std::fs::read(&locked).unwrap();

    let vars = [("SOPS_AGE_KEY_FILE", a.file.to_str().unwrap())];
    let out = lockstep(root, &vars, &["rotate", "--yes", "--update-keys", "."])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("FAILED  locked.enc.yaml"), "{stderr}");
    assert!(!stderr.contains(CANARY));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 10);
    assert_eq!(std::fs::read(&locked).unwrap(), locked_before);
    for f in &files {
        let bytes = std::fs::read(&f.path).unwrap();
        let (key, plain) = b.open(&bytes, f.format).unwrap();
        assert_eq!(plain, f.plain);
        assert_ne!(key, f.key, "{}", f.path.display());
        assert!(x.open(&bytes, f.format).is_err(), "{}", f.path.display());
    }
}
