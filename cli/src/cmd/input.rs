//! Reading the CLI's inputs: the one place a file or stdin is read whole.

use std::path::Path;

use lockstep_limits::{LIMITS, ReadError};
use zeroize::Zeroizing;

/// Reads `path`, or stdin when it is `None` or `-`, into a buffer zeroized on drop (inputs
/// may be plaintext), refusing more than [`LIMITS`]`.max_input_bytes`: `/dev/zero` or a
/// wrong path stop with an error naming the input and the limit instead of exhausting
/// memory.
///
/// # Errors
/// The file cannot be opened or read, or is over the limit.
pub fn read(path: Option<&Path>) -> anyhow::Result<Zeroizing<Vec<u8>>> {
    let (name, result) = match path.filter(|p| *p != Path::new("-")) {
        Some(path) => (
            path.display().to_string(),
            lockstep_limits::read_file(path, LIMITS.max_input_bytes),
        ),
        None => (
            "stdin".to_owned(),
            lockstep_limits::read_bounded(std::io::stdin().lock(), LIMITS.max_input_bytes),
        ),
    };
    result.map_err(|e| match e {
        ReadError::TooLarge { limit } => anyhow::anyhow!(
            "{name} is larger than {}, the limit for one input: check that it is the file you meant (sops files and SealedSecrets are far smaller)",
            lockstep_limits::bytes(limit)
        ),
        ReadError::Io(e) => anyhow::Error::new(e).context(format!("cannot read {name}")),
        e => anyhow::Error::new(e),
    })
}
