//! The SOPS file format.
