//! Reading a whole file or stream, up to [`Limits::max_input_bytes`](crate::Limits).

use std::io::Read;
use std::path::Path;

use zeroize::{Zeroize as _, Zeroizing};

/// Reading an input failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The input is larger than the limit; reading stopped there.
    #[error("larger than {}", crate::bytes(*limit))]
    TooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// The reader failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl From<ReadError> for std::io::Error {
    /// For callers that report I/O errors: [`ReadError::TooLarge`] becomes
    /// [`std::io::ErrorKind::FileTooLarge`] with the same message.
    fn from(e: ReadError) -> Self {
        match e {
            ReadError::Io(e) => e,
            too_large => {
                std::io::Error::new(std::io::ErrorKind::FileTooLarge, too_large.to_string())
            }
        }
    }
}

/// Reads `reader` to its end, refusing more than `limit` bytes (normally
/// [`LIMITS.max_input_bytes`](crate::LIMITS)), into a buffer zeroized on drop. Each
/// intermediate buffer it outgrows is zeroized too: the input may be plaintext, and a plain
/// `read_to_end` would leave copies behind in freed memory.
///
/// # Errors
/// [`ReadError::TooLarge`] after `limit + 1` bytes, without reading further (an endless
/// stream like `/dev/zero` stops there); [`ReadError::Io`].
pub fn read_bounded(mut reader: impl Read, limit: usize) -> Result<Zeroizing<Vec<u8>>, ReadError> {
    let mut buf = vec![0u8; 8192.min(limit + 1)];
    let mut len = 0;
    let result = loop {
        if len == buf.len() {
            if len > limit {
                break Err(ReadError::TooLarge { limit });
            }
            let mut bigger = vec![0u8; (buf.len() * 2).min(limit + 1)];
            bigger[..len].copy_from_slice(&buf[..len]);
            wipe(std::mem::replace(&mut buf, bigger));
        }
        match reader.read(&mut buf[len..]) {
            Ok(0) => break Ok(Zeroizing::new(buf[..len].to_vec())),
            Ok(n) => len += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => break Err(e.into()),
        }
    };
    wipe(buf);
    result
}

/// [`read_bounded`] of a file: a regular file over `limit` is refused from its size, before
/// any of it is read.
///
/// # Errors
/// As [`read_bounded`], and opening the file.
pub fn read_file(path: &Path, limit: usize) -> Result<Zeroizing<Vec<u8>>, ReadError> {
    let file = std::fs::File::open(path)?;
    let meta = file.metadata()?;
    if meta.is_file() && meta.len() > limit as u64 {
        return Err(ReadError::TooLarge { limit });
    }
    read_bounded(file, limit)
}

/// Zeroizes a buffer as one slice: `Zeroizing<Vec<u8>>` goes element by element, which
/// unoptimised (tests, debug builds) takes half a minute for the 256 MiB of a refused
/// endless stream.
fn wipe(mut buf: Vec<u8>) {
    buf.as_mut_slice().zeroize();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_up_to_the_limit() {
        let data = vec![7u8; 100_000];
        let got = read_bounded(&data[..], 100_000).unwrap();
        assert_eq!(got.as_slice(), data.as_slice());
        assert!(read_bounded(&[][..], 0).unwrap().is_empty());
    }

    #[test]
    fn refuses_a_large_file_by_its_size() {
        let dir = std::env::temp_dir().join(format!("lockstep-limits-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("big");
        std::fs::write(&path, vec![1u8; 4097]).unwrap();
        assert_eq!(read_file(&path, 4097).unwrap().len(), 4097);
        let err = read_file(&path, 4096).unwrap_err();
        assert_eq!(err.to_string(), "larger than 4 KiB");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn stops_an_endless_stream() {
        let err = read_bounded(std::io::repeat(0), 1 << 20).unwrap_err();
        assert!(matches!(err, ReadError::TooLarge { .. }), "{err}");
        let err = read_bounded(&vec![1u8; 100_001][..], 100_000).unwrap_err();
        assert!(matches!(err, ReadError::TooLarge { .. }));
    }
}
