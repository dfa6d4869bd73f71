//! Integration tests of the test environment, built as one binary: each file is a module, so the
//! crate and its dependencies are linked once, not once per file.

mod browser;
mod node;
mod smoke;
