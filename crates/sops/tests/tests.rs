//! Integration tests of the SOPS format, built as one binary.

mod bad_input;
mod fidelity;
mod fixtures;
mod identities;
mod layouts;
mod limits;
mod proptests;
mod roundtrip;
mod sops_latest;
mod util;
