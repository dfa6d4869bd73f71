//! `lockstep`: keeps Kubernetes clusters in lockstep with Git, with the secrets in Git
//! encrypted. This binary only parses flags and dispatches; every command is one module of
//! [`cmd`], and the work is done by the library crates.

mod cmd;

use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = cmd::parse();
    cmd::init_warnings();
    let verb = cli.verb().to_owned();
    match cmd::run(cli) {
        Ok(code) => code,
        Err(err) => cmd::report(&err, &verb),
    }
}
