//! Integration tests of the sync engine, built as one binary: each file is a module, so the
//! crate and its dependencies are linked once, not once per file.

mod apply;
mod fetch;
mod fetch_auth;
mod fetch_refs;
mod fetch_ssh;
mod fetch_verify;
mod flux;
mod health;
mod helm;
mod helm_oci;
mod helm_repository;
mod ignore;
mod kustomize;
mod ownership;
mod pipeline;
mod prune;
mod render;
mod secrets;
