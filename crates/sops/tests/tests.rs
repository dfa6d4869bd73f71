//! Integration tests of the SOPS format, built as one binary.

mod fixtures;
mod util;
