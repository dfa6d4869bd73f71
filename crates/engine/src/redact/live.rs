//! The values this process holds right now, scrubbed from every log line it writes.
//!
//! Messages we build go through a reconcile's [`Redactor`]. Log lines are different: any
//! crate can write one (kube-client logs a refused request's whole `Status` at debug, and
//! a response it cannot parse, body and all, at warn), and none of them knows what is
//! secret. So the scrubbing happens where the lines leave the process: the log subscriber
//! writes through [`ScrubbedWriter`], which replaces every value [`hold`] has registered.
//!
//! A reconcile holds its values from the moment it has them until it ends (the [`Held`]
//! guard); the values are in memory, and so can be logged, for exactly that long. Writing
//! a line costs one pass over it ([`Redactor`]'s index), and nothing while no value is held.

use std::borrow::Cow;
use std::io::{self, Write};
use std::sync::{Arc, PoisonError, RwLock};

use super::Redactor;

/// Every held set, and their union, built on the first line written after a change.
struct Live {
    next: u64,
    held: Vec<(u64, Arc<Redactor>)>,
    union: Option<Arc<Redactor>>,
}

static LIVE: RwLock<Live> = RwLock::new(Live {
    next: 0,
    held: Vec::new(),
    union: None,
});

/// Values held for log scrubbing until this is dropped.
#[must_use = "the values are scrubbed from log lines only while this is kept"]
#[derive(Debug)]
pub struct Held(u64);

/// Scrubs the values of `redactor` (copied: the caller keeps using its own) from every log
/// line written through [`ScrubbedWriter`] until the returned guard is dropped.
pub fn hold(redactor: &Redactor) -> Held {
    let mut copy = Redactor::new();
    copy.extend(redactor);
    let mut live = LIVE.write().unwrap_or_else(PoisonError::into_inner);
    let id = live.next;
    live.next += 1;
    if !copy.is_empty() {
        live.held.push((id, Arc::new(copy)));
        live.union = None;
    }
    Held(id)
}

impl Drop for Held {
    fn drop(&mut self) {
        let mut live = LIVE.write().unwrap_or_else(PoisonError::into_inner);
        let before = live.held.len();
        live.held.retain(|(id, _)| *id != self.0);
        if live.held.len() != before {
            live.union = None;
        }
    }
}

/// Every value held right now, as one redactor; `None` when nothing is held.
fn union() -> Option<Arc<Redactor>> {
    {
        let live = LIVE.read().unwrap_or_else(PoisonError::into_inner);
        if live.held.is_empty() {
            return None;
        }
        if let Some(union) = &live.union {
            return Some(union.clone());
        }
    }
    let mut live = LIVE.write().unwrap_or_else(PoisonError::into_inner);
    let union = match live.held.as_slice() {
        [] => return None,
        [(_, only)] => only.clone(),
        all => {
            let mut union = Redactor::new();
            all.iter().for_each(|(_, set)| union.extend(set));
            Arc::new(union)
        }
    };
    live.union = Some(union.clone());
    Some(union)
}

/// `text` without any value held right now.
fn scrub(text: &str) -> Cow<'_, str> {
    match union() {
        Some(redactor) if !redactor.find(text).is_empty() => Cow::Owned(redactor.scrub(text)),
        _ => Cow::Borrowed(text),
    }
}

/// A writer that scrubs every held value from what passes through it. Each `write` is
/// scrubbed on its own: `tracing-subscriber`'s formatters write one whole line per call,
/// so a value is never split between two.
#[derive(Debug)]
pub struct ScrubbedWriter<W>(W);

impl<W: Write> ScrubbedWriter<W> {
    /// Scrubs what is written to `inner`.
    pub fn new(inner: W) -> Self {
        Self(inner)
    }
}

impl<W: Write> Write for ScrubbedWriter<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let text = String::from_utf8_lossy(buf);
        match scrub(&text) {
            Cow::Borrowed(_) => self.0.write_all(buf)?,
            Cow::Owned(clean) => self.0.write_all(clean.as_bytes())?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

/// Standard output, scrubbed: the writer for the log subscriber
/// (`tracing_subscriber::fmt().with_writer(scrubbed_stdout)`).
pub fn scrubbed_stdout() -> ScrubbedWriter<io::Stdout> {
    ScrubbedWriter::new(io::stdout())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn written(text: &str) -> String {
        let mut out = ScrubbedWriter::new(Vec::new());
        out.write_all(text.as_bytes()).unwrap();
        String::from_utf8(out.0).unwrap()
    }

    #[test]
    fn held_values_are_scrubbed_until_released() {
        let line = r#"{"level":"DEBUG","message":"Unsuccessful: Status { message: \"CANARY-live-\\x01-9e1d\" }"}"#;
        let mut first = Redactor::new();
        first.add("CANARY-live-\x01-9e1d".as_bytes());
        let mut second = Redactor::new();
        second.add(b"CANARY-other-4c2b");
        let held = hold(&first);
        let other = hold(&second);
        let out = written(&format!("{line} CANARY-other-4c2b"));
        assert!(!out.contains("CANARY"), "{out}");
        drop(held);
        let out = written(&format!("{line} CANARY-other-4c2b"));
        assert!(
            out.contains("CANARY-live-"),
            "released values are not scrubbed: {out}"
        );
        assert!(!out.contains("CANARY-other"), "{out}");
        drop(other);
        assert_eq!(written("plain line\n"), "plain line\n");
    }
}
