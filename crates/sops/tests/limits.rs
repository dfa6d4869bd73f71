//! Hostile input stays within `lockstep_limits::LIMITS`: an alias bomb, deep nesting and
//! alias floods are refused with a `LoadError::Limit` naming the line, before memory grows;
//! large files without aliases are not limited.

use lockstep_limits::{Exceeded, LIMITS};
use lockstep_sops::{EncryptedFile, Format, LoadError, stores};

/// The reliability probe's 559-byte bomb (defect 1).
const BOMB: &[u8] = include_bytes!("../../limits/testdata/alias-bomb.yaml");

#[test]
fn alias_bomb_is_refused_at_its_line() {
    let err = stores::load(BOMB, Format::Yaml).unwrap_err();
    let msg = err.to_string();
    // a1..a5 copy about 100,000 nodes; the third alias of a6 (line 7) breaks the limit.
    assert!(
        matches!(
            err,
            LoadError::Limit {
                line: 7,
                exceeded: Exceeded::AliasNodes,
                ..
            }
        ),
        "{msg}"
    );
    assert!(msg.starts_with("YAML at line 7, column "), "{msg}");
    assert!(msg.contains("excessive aliasing"), "{msg}");
    assert!(!msg.contains("lol"), "{msg}");
    // As a SOPS file (the metadata is there) and for filestatus: an error, not "plain".
    let err = EncryptedFile::load(BOMB, Format::Yaml).unwrap_err();
    assert!(matches!(err, LoadError::Limit { .. }), "{err}");
    let err = lockstep_sops::file::is_encrypted(BOMB, Format::Yaml).unwrap_err();
    assert!(matches!(err, LoadError::Limit { .. }), "{err}");
}

#[test]
fn aliases_within_the_limits_expand() {
    let mut text = String::from("base: &base {image: nginx, replicas: 2, ports: [80, 443]}\n");
    for i in 0..200 {
        text.push_str(&format!("app{i}: *base\n"));
    }
    let tree = stores::load(text.as_bytes(), Format::Yaml).unwrap();
    assert_eq!(tree.branches[0].len(), 201);
    let out =
        String::from_utf8(stores::emit(&tree, Format::Yaml, &Default::default()).unwrap()).unwrap();
    assert_eq!(out.matches("image: nginx").count(), 201, "{out}");
}

#[test]
fn alias_text_is_counted() {
    // 64 KiB copied 1,025 times is past the 64 MiB limit on alias-copied text.
    let mut text = format!("big: &big \"{}\"\nall:\n", "x".repeat(64 << 10));
    for _ in 0..(LIMITS.max_scalar_bytes / (64 << 10)) + 1 {
        text.push_str("  - *big\n");
    }
    let err = stores::load(text.as_bytes(), Format::Yaml).unwrap_err();
    assert!(
        matches!(
            err,
            LoadError::Limit {
                exceeded: Exceeded::AliasBytes,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn alias_count_is_limited() {
    let mut text = String::from("a: &a 1\nall: [");
    for _ in 0..=LIMITS.max_aliases {
        text.push_str("*a,");
    }
    text.push_str("]\n");
    let err = stores::load(text.as_bytes(), Format::Yaml).unwrap_err();
    assert!(
        matches!(
            err,
            LoadError::Limit {
                line: 2,
                exceeded: Exceeded::Aliases,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn nesting_is_limited() {
    let deep = |n: usize| format!("a: {}{}\n", "[".repeat(n), "]".repeat(n));
    stores::load(deep(LIMITS.max_depth - 1).as_bytes(), Format::Yaml).unwrap();
    let err = stores::load(deep(LIMITS.max_depth).as_bytes(), Format::Yaml).unwrap_err();
    assert!(
        matches!(
            err,
            LoadError::Limit {
                line: 1,
                exceeded: Exceeded::Depth,
                ..
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("deeper than 64 levels"), "{err}");
}

#[test]
fn large_files_without_aliases_are_not_limited() {
    // More keys than the alias-expansion limit: size alone is bounded by the input size.
    let n = LIMITS.max_nodes + 1;
    let mut text = String::with_capacity(n * 16);
    for i in 0..n {
        text.push_str(&format!("k{i}: {i}\n"));
    }
    let tree = stores::load(text.as_bytes(), Format::Yaml).unwrap();
    assert_eq!(tree.branches[0].len(), n);
}

/// A dotenv file whose metadata is hostile: `sops_…` keys are read back into nested
/// metadata, which must stay linear in time and bounded in depth.
fn dotenv_with_metadata(keys: &str) -> Vec<u8> {
    format!(
        "A=1\n{keys}sops_age__list_0__map_recipient=age1l44xcng8dqj32nlv6d930qvvrny05hglzcv9qpc7kxjc6902ma4qufys29\nsops_age__list_0__map_enc=x\nsops_mac=ENC[AES256_GCM,data:x,iv:x,tag:x,type:str]\nsops_version=3.9.0\nsops_lastmodified=2026-01-01T00:00:00Z\n"
    )
        .into_bytes()
}

#[test]
fn dotenv_metadata_nesting_is_limited() {
    let deep = format!("sops_zz{}=x\n", "__map_b".repeat(100_000));
    let started = std::time::Instant::now();
    let err = EncryptedFile::load(&dotenv_with_metadata(&deep), Format::Dotenv).unwrap_err();
    assert!(
        matches!(
            &err,
            LoadError::MetadataLimit {
                exceeded: Exceeded::Depth,
                path,
            } if path.starts_with("zz__map_b") && path.chars().count() == 81
        ),
        "{err}"
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    let ok = format!("sops_zz{}=x\n", "__map_b".repeat(LIMITS.max_depth));
    EncryptedFile::load(&dotenv_with_metadata(&ok), Format::Dotenv).unwrap();
}

#[test]
fn wide_dotenv_metadata_is_read_in_linear_time() {
    let mut wide = String::new();
    for i in 0..100_000 {
        wide.push_str(&format!("sops_k{i}=x\n"));
    }
    for i in 0..100_000 {
        wide.push_str(&format!("B{i}=x\n"));
    }
    let started = std::time::Instant::now();
    let file = EncryptedFile::load(&dotenv_with_metadata(&wide), Format::Dotenv).unwrap();
    assert_eq!(file.tree.branches[0].len(), 100_001);
    // Quadratic took minutes; linear takes well under a second even unoptimised.
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

/// `.sops.yaml` is a repository file too (`lockstep rotate` reads the repository's): the
/// bomb there is an error naming the file, within the same limits.
#[test]
fn alias_bomb_in_sops_yaml_is_refused() {
    let text = std::str::from_utf8(BOMB)
        .unwrap()
        .replace("sops:", "creation_rules: [{age: x}]\nx:");
    let path = std::path::Path::new("repo/.sops.yaml");
    let Err(err) = lockstep_sops::config::Config::parse(&text, path) else {
        panic!("the bomb was accepted");
    };
    let msg = err.to_string();
    assert!(msg.contains("repo/.sops.yaml"), "{msg}");
    assert!(
        msg.contains("line 7") && msg.contains("budget breached"),
        "{msg}"
    );
}
