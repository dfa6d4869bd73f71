//! Integration tests of `lockstep-controller`, built as one binary: each file is a module, so the
//! crate and its dependencies are linked once, not once per file.

mod support;

mod alerts;
mod argocd;
mod argocd_cluster;
mod argocd_example;
mod argocd_helm;
mod argocd_options;
mod drift;
mod externalsecret;
mod externalsecret_aws;
mod externalsecret_faults;
mod externalsecret_sync;
mod faults;
mod flux;
mod flux_helm;
mod flux_oci;
mod flux_overlay;
mod flux_postbuild;
mod flux_switch;
mod fronts;
mod helm;
mod hooks;
mod hostile;
mod incidents;
mod receiver;
mod sealed;
mod source;
mod sync;
mod tenancy;

/// The controller binary under test, built by cargo for this package's tests.
fn controller_binary() -> std::path::PathBuf {
    env!("CARGO_BIN_EXE_lockstep-controller").into()
}
