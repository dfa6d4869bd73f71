//! sops' verbs, with sops' flags, output and exit codes: each module is a clap `Args` and a
//! `run` that turns the flags into library options and calls `lockstep_sops`.
//!
//! [`flags`] holds the flags they share, [`file`] one encrypted file's way in and out,
//! [`keysource`] the key services of the environment, and [`args`] moves sops' global
//! flags (`sops --config c.yaml encrypt …`) after the verb.

pub mod args;
pub mod decrypt;
pub mod edit;
pub mod encrypt;
pub mod exec_env;
pub mod exec_file;
pub mod file;
pub mod filestatus;
pub mod flags;
pub mod keysource;
pub mod merge_driver;
pub mod set;
pub mod textconv;
pub mod unset;
pub mod updatekeys;
