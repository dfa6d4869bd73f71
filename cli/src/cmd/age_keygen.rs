//! `lockstep age-keygen`: a new age X25519 identity, in the format of `age-keygen`, so that
//! no other tool is needed to start; `-y` prints the recipients of an identity file.

use std::io::{BufRead as _, IsTerminal as _, Write as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::str::FromStr as _;

use anyhow::{Context as _, bail};
use clap::Args;
use secrecy::ExposeSecret as _;

use super::output::private_file;

/// Generate an age identity (like age-keygen).
#[derive(Debug, Args)]
pub struct AgeKeygenArgs {
    /// Write the identity to this file (created 0600; refuses to overwrite) instead of
    /// stdout.
    #[arg(short = 'o', long, value_name = "FILE")]
    output: Option<PathBuf>,
    /// Convert an identity file (or stdin) to its recipients instead.
    #[arg(short = 'y')]
    convert: bool,
    /// With -y: the identity file (default: stdin).
    input: Option<PathBuf>,
}

/// Runs `lockstep age-keygen`.
pub fn run(args: AgeKeygenArgs) -> anyhow::Result<ExitCode> {
    if args.convert {
        return convert(&args);
    }
    if args.input.is_some() {
        bail!("an input file is only read with -y");
    }
    let (recipient, secret) = lockstep_keys::age::generate();
    let created = jiff::Timestamp::now().strftime("%Y-%m-%dT%H:%M:%SZ");
    let text = zeroize::Zeroizing::new(format!(
        "# created: {created}\n# public key: {recipient}\n{}\n",
        secret.expose_secret()
    ));
    match &args.output {
        Some(path) => {
            private_file(path, text.as_bytes())?;
            eprintln!("Public key: {recipient}");
        }
        None => {
            if !std::io::stdout().is_terminal() {
                eprintln!("Public key: {recipient}");
            }
            let mut out = std::io::stdout().lock();
            out.write_all(text.as_bytes())?;
            out.flush()?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn convert(args: &AgeKeygenArgs) -> anyhow::Result<ExitCode> {
    let reader: Box<dyn std::io::BufRead> = match &args.input {
        Some(p) => Box::new(std::io::BufReader::new(
            std::fs::File::open(p).with_context(|| format!("cannot read {}", p.display()))?,
        )),
        None => Box::new(std::io::stdin().lock()),
    };
    let mut out = String::new();
    for (n, line) in reader.lines().enumerate() {
        let line = zeroize::Zeroizing::new(line.context("cannot read the identity file")?);
        let l = line.trim();
        if l.is_empty() || l.starts_with('#') {
            continue;
        }
        let id = age::x25519::Identity::from_str(l)
            .map_err(|_| anyhow::anyhow!("line {}: not an age X25519 identity", n + 1))?;
        out.push_str(&id.to_public().to_string());
        out.push('\n');
    }
    match &args.output {
        Some(p) => {
            std::fs::write(p, out).with_context(|| format!("cannot write {}", p.display()))?
        }
        None => std::io::stdout().lock().write_all(out.as_bytes())?,
    }
    Ok(ExitCode::SUCCESS)
}
