//! Integration tests of the key services, built as one binary: each file is a module, so the
//! crate and its dependencies are linked once, not once per file.

mod kms;
mod openpgp;
mod vault;
