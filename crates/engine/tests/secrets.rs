//! Secrets during reconciliation: SOPS files decrypted in memory (`decrypt`), Vault and KMS
//! references resolved (`refs`), against the real `sops`, OpenBao and moto.

use std::path::{Path, PathBuf};
use std::process::Command;

use lockstep_engine::render::{Manifest, Owner, RenderOptions, Rendered, render};
use lockstep_testenv::Canaries;

#[path = "secrets/kustomize.rs"]
mod kustomize;
#[path = "secrets/refs.rs"]
mod refs;
#[path = "secrets/sops.rs"]
mod sops;
#[path = "secrets/vault_kubernetes.rs"]
mod vault_kubernetes;

/// An artifact folder, and the real `sops` to encrypt files in it.
struct Repo {
    dir: tempfile::TempDir,
    sops: PathBuf,
    vars: Vec<(String, String)>,
}

impl Repo {
    /// `None` (after a loud skip) without `sops`; `vars` are the environment `sops` runs in.
    fn new(vars: &[(&str, &str)]) -> Option<Repo> {
        let sops = match lockstep_testenv::tool("sops") {
            Ok(p) => p,
            Err(e) => match lockstep_testenv::skip_reason(&e) {
                Some(message) => {
                    eprintln!("{message}");
                    return None;
                }
                None => panic!("sops: {e}"),
            },
        };
        let vars = vars
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect();
        Some(Repo {
            dir: tempfile::tempdir().unwrap(),
            sops,
            vars,
        })
    }

    fn root(&self) -> &Path {
        self.dir.path()
    }

    fn write(&self, path: &str, text: &str) {
        let file = self.root().join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, text).unwrap();
    }

    fn read(&self, path: &str) -> String {
        std::fs::read_to_string(self.root().join(path)).unwrap()
    }

    /// `sops --encrypt --in-place <args> <path>`.
    fn encrypt(&self, path: &str, args: &[&str]) {
        let out = Command::new(&self.sops)
            .current_dir(self.root())
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.root())
            .envs(self.vars.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .args(["--encrypt", "--in-place"])
            .args(args)
            .arg(path)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "sops --encrypt {path}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn render(&self, path: &str) -> Rendered {
        let options = RenderOptions {
            owner: Some(Owner::lockstep("apps", "tenant")),
            target_namespace: Some("team-a".into()),
            overlay: None,
            directory: None,
        };
        render(self.root(), path, &options).unwrap()
    }
}

/// The object of `kind/name`.
fn find<'a>(manifests: &'a [Manifest], kind: &str, name: &str) -> &'a serde_json::Value {
    &manifests
        .iter()
        .find(|m| m.kind() == kind && m.name() == name)
        .unwrap_or_else(|| panic!("no {kind}/{name}"))
        .object
}

/// Fails when `text` holds any canary in any form a leak takes (quoted, escaped, cut
/// short, base64-encoded).
#[track_caller]
fn assert_no_leak(text: &str, canaries: &[&str]) {
    Canaries::new(canaries.iter().copied()).assert_absent("the text", text);
}

/// `text`, its Debug form and its whole source chain, for leak checks.
fn all_text(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = format!("{err} {err:?}");
    let mut source = err.source();
    while let Some(s) = source {
        text.push_str(&format!(" {s} {s:?}"));
        source = s.source();
    }
    text
}
