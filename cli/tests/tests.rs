//! Integration tests of the `lockstep` binary, built as one binary: each file is a module, so the
//! crate and its dependencies are linked once, not once per file.

mod rotate_support;
#[path = "../../controller/tests/support/mod.rs"]
mod support;

mod completion;
mod git_merge;
mod hostile_input;
mod invocation;
mod keys;
mod rotate;
mod rotate_crash;
mod rotate_sealed;
mod sealed_cli;
mod sops_cli;
mod sops_remote;
mod sync_cli;

/// The controller binary, next to this test's own target folder (build it with
/// `cargo build -p lockstep-controller` when running this package alone).
fn controller_binary() -> std::path::PathBuf {
    rotate_support::built_binary("lockstep-controller")
}
