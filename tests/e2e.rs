//! End-to-end tests across crates, built as one test binary so they share one control
//! plane. Each module is one area; servers come from `lockstep-testenv`, and the binaries
//! under test (`lockstep`, `lockstep-controller`) are the ones cargo built for this run.

use std::path::PathBuf;

// The controller harness is shared with the controller's own tests (it allows the items
// each binary leaves unused).
#[path = "../controller/tests/support/mod.rs"]
mod support;

mod sealed;
mod secrets;

/// A binary of this workspace, from the target folder this test binary was built into.
/// `cargo test --workspace` builds every binary before it runs any test; running this
/// package alone needs `cargo build --workspace` first.
fn built_binary(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test binary's path");
    let dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("test binaries live in <target>/<profile>/deps");
    let path = dir.join(name);
    assert!(
        path.exists(),
        "{} is not built; run `cargo test --workspace` (or `cargo build --workspace` first)",
        path.display()
    );
    path
}

fn controller_binary() -> PathBuf {
    built_binary("lockstep-controller")
}
