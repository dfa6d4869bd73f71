//! Crash safety of `lockstep rotate`: a repository of SOPS files and SealedSecrets is
//! rotated by a process killed with SIGKILL at random points, several times; after every
//! kill each file is either byte for byte what it was or fully rotated, and opens.

// Shared with the other rotation tests; this file uses part of it.
#[allow(dead_code)]
use crate::rotate_support;

use std::time::{Duration, Instant};

use lockstep_keys::sealing::{GenerateOptions, RsaKeyBits, SealingKeyPair};
use lockstep_sealed::manifest::{self, Format as SealedFormat};
use lockstep_sealed::{
    Scope, SealOptions, SecretData, SecretInput, SecretValue, seal, sealing_key,
};
use rotate_support::{CANARY, File, Identity, encrypt, lockstep, ok, refresh, sample, snapshot};

fn pair() -> SealingKeyPair {
    let mut options = GenerateOptions::default();
    options.bits = RsaKeyBits::Rsa2048;
    SealingKeyPair::generate(&options).unwrap()
}

/// 20 SealedSecrets of every scope sealed to `pair`, one file each, under `dir`.
fn sealed_files(dir: &std::path::Path, pair: &SealingKeyPair) -> Vec<std::path::PathBuf> {
    let scopes = [Scope::Strict, Scope::NamespaceWide, Scope::ClusterWide];
    (0..20)
        .map(|i| {
            let input = SecretInput {
                metadata: k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta {
                    name: Some(format!("c{i}")),
                    namespace: Some("apps".into()),
                    ..Default::default()
                },
                type_: None,
                immutable: None,
                data: SecretData(
                    [(
                        "v".to_owned(),
                        SecretValue::new(format!("{CANARY}-{i}").into_bytes()),
                    )]
                    .into(),
                ),
            };
            let options = SealOptions::default().with_scope(Some(scopes[i % 3]));
            let sealed = seal(input, pair.certificate().public_key(), &options).unwrap();
            let path = dir.join(format!("c{i}.sealed.yaml"));
            let text = manifest::sealed_secrets_to_string(&[sealed], SealedFormat::Yaml).unwrap();
            std::fs::write(&path, text).unwrap();
            path
        })
        .collect()
}

#[test]
fn killed_rotation_leaves_every_file_old_or_new() {
    let keys = tempfile::tempdir().unwrap();
    let a = Identity::new(keys.path(), "a");
    let repo = tempfile::tempdir().unwrap();
    let root = repo.path();
    let mut files = Vec::new();
    for i in 0..80 {
        let (format, ext, plain) = sample(i);
        let path = root.join(format!("s{i}.enc.{ext}"));
        std::fs::write(&path, encrypt(&plain, format, &[&a.recipient])).unwrap();
        files.push(File::new(path, format));
    }
    refresh(&mut files, &a);
    let plains: Vec<Vec<u8>> = files.iter().map(|f| f.plain.clone()).collect();
    let (old, new) = (pair(), pair());
    let keys_dir = keys.path();
    std::fs::write(
        keys_dir.join("old.key"),
        old.tls_key_pem().unwrap().as_bytes(),
    )
    .unwrap();
    std::fs::write(
        keys_dir.join("new.key"),
        new.tls_key_pem().unwrap().as_bytes(),
    )
    .unwrap();
    std::fs::write(keys_dir.join("new.crt"), new.tls_crt_pem()).unwrap();
    let sealed = sealed_files(root, &old);
    // Re-sealing offline with both keys: a file already re-sealed stays openable.
    let private = format!(
        "{},{}",
        keys_dir.join("old.key").display(),
        keys_dir.join("new.key").display()
    );
    let cert = keys_dir.join("new.crt").display().to_string();
    let vars = [("SOPS_AGE_KEY_FILE", a.file.to_str().unwrap())];
    let root_arg = root.to_str().unwrap().to_owned();
    let args = [
        "rotate",
        "--yes",
        "--jobs",
        "2",
        "--recovery-private-key",
        &private,
        "--cert",
        &cert,
        root_arg.as_str(),
    ];

    // How long a whole run takes here, so the kills land inside one.
    let started = Instant::now();
    ok(lockstep(root, &vars, &args).output().unwrap(), "rotate");
    let full = started.elapsed().max(Duration::from_millis(50));
    refresh(&mut files, &a);

    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("crash test: full run {full:?}, seed {seed}");
    let mut saw_partial = false;
    for run in 0..8 {
        // xorshift: a different point of the run each time, reproducible from the seed.
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let delay = full.mul_f64((seed % 1000) as f64 / 1000.0);
        let before: Vec<Vec<u8>> = files
            .iter()
            .map(|f| std::fs::read(&f.path).unwrap())
            .collect();
        let sealed_before: Vec<Vec<u8>> =
            sealed.iter().map(|p| std::fs::read(p).unwrap()).collect();
        let mut child = lockstep(root, &vars, &args)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        std::thread::sleep(delay);
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        let (mut old_count, mut new_count) = (0, 0);
        for ((f, was), plain) in files.iter_mut().zip(&before).zip(&plains) {
            let now = std::fs::read(&f.path).unwrap();
            let (key, text) = a
                .open(&now, f.format)
                .unwrap_or_else(|e| panic!("run {run}, {}: {e}", f.path.display()));
            assert_eq!(&text, plain, "run {run}, {}", f.path.display());
            if &now == was {
                old_count += 1;
            } else {
                assert_ne!(
                    key,
                    f.key,
                    "run {run}, {} changed but kept its key",
                    f.path.display()
                );
                new_count += 1;
            }
            f.key = key;
        }
        for (path, was) in sealed.iter().zip(&sealed_before) {
            let now = std::fs::read(path).unwrap();
            let doc = lockstep_sealed::parse_sealed_secrets(&now)
                .unwrap_or_else(|e| panic!("run {run}, {}: {e}", path.display()));
            let by = sealing_key(&doc[0], [old.private_key(), new.private_key()]);
            if &now == was {
                assert!(by.is_some(), "run {run}, {}", path.display());
                old_count += 1;
            } else {
                assert_eq!(by, Some(1), "run {run}, {}", path.display());
                new_count += 1;
            }
        }
        eprintln!("run {run}: killed after {delay:?}: {old_count} old, {new_count} new");
        saw_partial |= old_count > 0 && new_count > 0;
        // Leftover temporary files hold ciphertext only, and are not picked up later.
        for (path, bytes) in snapshot(root) {
            assert!(
                !String::from_utf8_lossy(&bytes).contains(CANARY),
                "{}",
                path.display()
            );
        }
    }
    // A last, complete run rotates everything, leftovers notwithstanding.
    let out = ok(
        lockstep(root, &vars, &args).output().unwrap(),
        "rotate after kills",
    );
    assert_eq!(out.lines().count(), 100, "{out}");
    for path in &sealed {
        let doc = lockstep_sealed::parse_sealed_secrets(&std::fs::read(path).unwrap()).unwrap();
        assert_eq!(sealing_key(&doc[0], [new.private_key()]), Some(0));
    }
    if !saw_partial {
        eprintln!("note: no kill landed mid-run this time (timing)");
    }
}
