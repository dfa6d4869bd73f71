//! The [`Redactor`](super::Redactor)'s index: every form found in one pass over a text.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};

use super::Redactor;

/// Finds forms by their head (first [`Redactor::PREFIX_LEN`] bytes, or all of a shorter
/// form) in one pass over the text, however many forms there are: at each position the
/// bytes ahead are tried once per head length in use, first against a bit filter, then
/// against a map from a keyed hash of the head to the forms that start with it, sorted.
pub(super) struct Index {
    hasher: RandomState,
    pub heads: HashMap<u64, Vec<usize>>,
    /// Bit `n` set: some head is `n` bytes long.
    lengths: u16,
    filter: Vec<u64>,
}

/// Bits in the filter (8 KiB).
const FILTER_BITS: u32 = 16;

impl Index {
    pub fn new() -> Self {
        Self {
            hasher: RandomState::new(),
            heads: HashMap::new(),
            lengths: 0,
            filter: Vec::new(),
        }
    }

    /// Files `form` under `key`, at `at` in the key's sorted bucket.
    pub fn insert(&mut self, head: &[u8], key: u64, at: usize, form: usize) {
        if self.filter.is_empty() {
            self.filter = vec![0; 1 << (FILTER_BITS - 6)];
        }
        let bit = filter_bit(word(head), head.len());
        self.filter[bit >> 6] |= 1 << (bit & 63);
        self.lengths |= 1 << head.len();
        self.heads.entry(key).or_default().insert(at, form);
    }

    pub fn key(&self, head: &[u8]) -> u64 {
        self.hasher.hash_one((word(head), head.len()))
    }

    /// The key of each head length in use that may start `rest`.
    pub fn keys(&self, rest: &[u8]) -> impl Iterator<Item = u64> {
        let ahead = word(&rest[..rest.len().min(Redactor::PREFIX_LEN)]);
        (Redactor::MIN_LEN..=Redactor::PREFIX_LEN)
            .filter(move |&len| self.lengths & (1 << len) != 0 && len <= rest.len())
            .filter_map(move |len| {
                let head = ahead & mask(len);
                let bit = filter_bit(head, len);
                (self.filter[bit >> 6] & (1 << (bit & 63)) != 0)
                    .then(|| self.hasher.hash_one((head, len)))
            })
    }
}

/// Up to eight bytes as one little-endian word, zero-padded.
fn word(bytes: &[u8]) -> u64 {
    let mut buf = [0u8; 8];
    buf[..bytes.len()].copy_from_slice(bytes);
    u64::from_le_bytes(buf)
}

/// The low `len` bytes of a word.
fn mask(len: usize) -> u64 {
    if len >= 8 {
        u64::MAX
    } else {
        (1 << (8 * len)) - 1
    }
}

fn filter_bit(head: u64, len: usize) -> usize {
    let mixed = (head ^ len as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
    (mixed >> (64 - FILTER_BITS)) as usize
}
