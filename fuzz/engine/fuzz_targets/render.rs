//! Rendering a repository folder: manifest files (YAML 1.1 as kubectl resolves it, anchors
//! and aliases, JSON, `v1 List`), the kustomization walk (every `resources`, `bases`,
//! `components`, patch and generator entry checked to stay inside the source), Argo CD's
//! directory rules. The input is a small repository: its chunks, split at NUL bytes, are
//! the contents of the files in `FILES`, in order (`fuzz/engine/seeds/` holds examples). Kustomize itself is a Go program run in
//! a sandbox; it is kept off this process's `PATH` so the walk, not kustomize, is fuzzed.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use lockstep_engine::render::{RenderOptions, render};

/// Where each chunk of the input is written, relative to the repository's root; an empty
/// chunk writes no file. The kustomizations come last, so a short input is a plain folder.
const FILES: [&str; 8] = [
    "apps/a.yaml",
    "apps/c.json",
    "apps/base/b.yaml",
    "apps/base/d.yml",
    "apps/patch.yaml",
    "apps/env.txt",
    "apps/base/kustomization.yaml",
    "apps/kustomization.yaml",
];

fuzz_target!(
    init: {
        // SAFETY: init runs once, before the fuzzing loop, on the only thread.
        unsafe {
            std::env::set_var("PATH", "/nonexistent");
            std::env::set_var("LOCKSTEP_CACHE", "/nonexistent");
        }
    },
    |input: &[u8]| {
        // In memory where there is a tmpfs: most of a run is writing and reading files.
        let shm = Path::new("/dev/shm");
        let repo = if shm.is_dir() {
            tempfile::tempdir_in(shm)
        } else {
            tempfile::tempdir()
        };
        let repo = repo.expect("a temporary folder");
        for (name, content) in FILES.iter().zip(input.split(|b| *b == 0)) {
            if content.is_empty() {
                continue;
            }
            let file = repo.path().join(name);
            std::fs::create_dir_all(file.parent().unwrap_or(Path::new("."))).expect("a folder");
            std::fs::write(&file, content).expect("a file");
        }
        let _ = render(repo.path(), "./apps", &RenderOptions::default());
    }
);
