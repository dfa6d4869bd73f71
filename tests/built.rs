//! The binaries under test, from the target folder the test binary was built into (shared
//! by the test binaries of this package).

use std::path::PathBuf;

/// A binary of this workspace, from the target folder this test binary was built into.
/// `cargo test --workspace` builds every binary before it runs any test; running this
/// package alone needs `cargo build --workspace` first.
pub fn built_binary(name: &str) -> PathBuf {
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

/// `lockstep-controller`, as the controller harness (`support`) asks for it.
pub fn controller_binary() -> PathBuf {
    built_binary("lockstep-controller")
}
