//! Leak checks: a test's secret values, looked for in every form a leak can take.
//!
//! A value rarely escapes as is. The API server quotes a refused value in Go
//! (`strconv.Quote`, `%#v`: `\x01`, `\u00a0`), a log line quotes it again (Rust's `{:?}`, a
//! JSON log format), a message cut short shows only its start, and a generated Secret or a
//! JSON patch carries it base64-encoded inside a larger blob. [`Canaries`] searches for all
//! of those, so a test that says "nothing leaked" means it. The quoting is written here,
//! not taken from the product's redactor, so that the two are checked against each other.

use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE};

/// Values that must never appear outside where they belong.
#[derive(Debug)]
pub struct Canaries(Vec<String>);

/// How many leading bytes of a value are a leak on their own: a message cut short shows
/// a prefix, and the redactor hides any prefix this long.
pub const PREFIX: usize = 8;

impl Canaries {
    /// The values to look for.
    pub fn new<S: Into<String>>(values: impl IntoIterator<Item = S>) -> Canaries {
        Canaries(values.into_iter().map(Into::into).collect())
    }

    /// The first form of a canary that `text` holds; base64 is also looked for with line
    /// breaks removed (kustomize wraps it at 76 columns).
    pub fn found(&self, text: &str) -> Option<String> {
        let unwrapped = text.replace("\\n", "").replace(['\n', '\r'], "");
        self.0
            .iter()
            .flat_map(|canary| needles(canary))
            .find(|needle| text.contains(needle) || unwrapped.contains(needle))
    }

    /// Fails, naming `what` and the form found (never the text around it), when `text`
    /// holds a canary.
    #[track_caller]
    pub fn assert_absent(&self, what: &str, text: &str) {
        if let Some(needle) = self.found(text) {
            panic!("{what} holds a plaintext value (as {needle:?})");
        }
    }

    /// [`Canaries::assert_absent`] over every file under `dir`; returns how many it read.
    #[track_caller]
    pub fn assert_absent_in_files(&self, dir: &Path) -> usize {
        let mut stack = vec![dir.to_owned()];
        let mut files = 0;
        while let Some(dir) = stack.pop() {
            for entry in std::fs::read_dir(&dir).unwrap().flatten() {
                let path = entry.path();
                if path.is_dir() {
                    stack.push(path);
                } else if let Ok(bytes) = std::fs::read(&path) {
                    files += 1;
                    self.assert_absent(
                        &path.display().to_string(),
                        &String::from_utf8_lossy(&bytes),
                    );
                }
            }
        }
        files
    }
}

/// Everything a leaked `value` may look like:
/// - as is, and quoted the way the API server quotes a refused value (Go's
///   `strconv.Quote`, `%#v`, JSON) and log lines quote it again (Rust's `{:?}`, a JSON
///   log format), in any nesting of those;
/// - the first [`PREFIX`] bytes of each of those (a message cut short);
/// - the stretch of its standard and URL-safe base64 that is the same at each of the
///   three byte alignments it can have inside a larger encoded blob, when that stretch is
///   at least [`PREFIX`] characters long, and the first [`PREFIX`] characters of it.
fn needles(value: &str) -> Vec<String> {
    let mut quoted = vec![value.to_owned(), go_quote(value)];
    for _ in 0..3 {
        let deeper: Vec<String> = quoted
            .iter()
            .flat_map(|q| [json_quote(q), format!("{q:?}").trim_matches('"').to_owned()])
            .collect();
        quoted.extend(deeper);
    }
    for engine in [&STANDARD, &URL_SAFE] {
        for shift in 0..3 {
            let mut bytes = vec![0u8; shift];
            bytes.extend_from_slice(value.as_bytes());
            let encoded = engine.encode(&bytes);
            let start = if shift == 0 { 0 } else { 4 };
            let end = encoded.len().saturating_sub(4).max(start);
            let stretch = &encoded[start..end];
            // A shorter stretch is no evidence: random base64 (a SOPS ciphertext, an age
            // stanza) holds a given 4 characters about once in 16 million, and the
            // checked folders hold kilobytes of it.
            if stretch.len() >= PREFIX {
                quoted.push(stretch.to_owned());
            }
        }
    }
    let mut needles = Vec::new();
    for form in quoted.into_iter().filter(|form| !form.is_empty()) {
        if let Some((at, _)) = form.char_indices().find(|(at, _)| *at >= PREFIX) {
            needles.push(form[..at].to_owned());
        }
        needles.push(form);
    }
    needles.sort();
    needles.dedup();
    needles
}

/// String contents as Go's `strconv.Quote` writes them, for the characters canaries use.
fn go_quote(text: &str) -> String {
    let mut out = String::new();
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 || c == '\x7f' => out.push_str(&format!("\\x{:02x}", c as u32)),
            '\u{a0}' | '\u{2000}'..='\u{200f}' | '\u{2028}' | '\u{2029}' | '\u{feff}' => {
                out.push_str(&format!("\\u{:04x}", c as u32));
            }
            c => out.push(c),
        }
    }
    out
}

/// String contents as JSON writes them.
fn json_quote(text: &str) -> String {
    let quoted = serde_json::to_string(text).unwrap();
    quoted[1..quoted.len() - 1].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_form_is_found_and_only_those() {
        let canaries = Canaries::new(["CANARY-\u{1}-\u{a0}-tail"]);
        for leak in [
            "CANARY-\u{1}-\u{a0}-tail",
            r#"got "CANARY-\x01-\u00a0-tail""#,
            r#"{"msg":"Invalid value: \"CANARY-\\x01-\\u00a0-tail\""}"#,
            "message cut after CANARY-\\x0…",
            &STANDARD.encode(b"xCANARY-\x01-\xc2\xa0-tail and more"),
        ] {
            assert!(canaries.found(leak).is_some(), "{leak:?} not found");
        }
        assert_eq!(canaries.found("CANARY- and [redacted]"), None);
        // A value shorter than a base64 block still yields its own forms.
        assert_eq!(Canaries::new(["ab"]).found("xaby"), Some("ab".to_owned()));
        // An 8-digit value's base64 stretch at one alignment is 4 characters ("NTE5", for
        // "519"): a SOPS ciphertext once held it by chance. Too short to be a needle; the
        // other alignments still are.
        let pin = Canaries::new(["73519046"]);
        assert_eq!(pin.found("ENC[AES256_GCM,data:q8NTE5xw==]"), None);
        assert!(pin.found(&STANDARD.encode(b"xy73519046z")).is_some());
    }
}
