//! [`Redactor`]: plaintext values, found in free text in every spelling and by any prefix.

use std::ops::Range;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::Value;
use zeroize::Zeroizing;

use super::index::Index;
use super::spell::spellings;
use super::{REDACTED, SECRET_FIELDS, is_secret};

/// Every plaintext value seen in one reconcile, to scrub from free text.
///
/// Each value is held in every form it can take in text: as is, standard base64 (how
/// `data` travels), each spelling other programs quote it in ([`spellings`]: JSON, Go's
/// `strconv.Quote`/`%#v`, Rust's `Debug`, and quotes of quotes), and each line of a
/// multi-line value (a PEM key quoted in part). A form is found whole, and a form of
/// [`Redactor::PREFIX_LEN`] bytes or more is also found by any prefix of that length or
/// longer: a message cut short, by us or by anyone, still hides what it holds.
///
/// The forms are zeroized on drop and never printed: `Debug` shows only how many there
/// are. The index that finds them holds keyed hashes, not the forms' bytes.
pub struct Redactor {
    forms: Vec<Zeroizing<String>>,
    index: Index,
}

impl Default for Redactor {
    fn default() -> Self {
        Self::new()
    }
}

impl std::fmt::Debug for Redactor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Redactor {{ {} forms }}", self.forms.len())
    }
}

impl Redactor {
    /// Values shorter than this (in bytes) are not scrubbed from free text: they would
    /// match all over ordinary words and numbers. Structural redaction has no such limit.
    pub const MIN_LEN: usize = 4;

    /// A form at least this long (in bytes) is also scrubbed where only its first
    /// `PREFIX_LEN` or more bytes appear.
    pub const PREFIX_LEN: usize = 8;

    /// An empty redactor.
    pub fn new() -> Self {
        Self {
            forms: Vec::new(),
            index: Index::new(),
        }
    }

    /// Adds one plaintext value (bytes: a value need not be UTF-8; its base64 form is
    /// still scrubbed).
    pub fn add(&mut self, plaintext: &[u8]) {
        if plaintext.len() < Self::MIN_LEN {
            return;
        }
        self.push(Zeroizing::new(STANDARD.encode(plaintext)));
        let Ok(text) = std::str::from_utf8(plaintext) else {
            return;
        };
        for form in spellings(text) {
            self.push(form);
        }
        if text.contains('\n') {
            for line in text.lines().map(str::trim) {
                if line.len() >= Self::PREFIX_LEN {
                    spellings(line).into_iter().for_each(|f| self.push(f));
                }
            }
        }
    }

    /// Adds a decrypted scalar: a string's bytes, a number as it is written. Booleans and
    /// null are too short to scrub.
    pub fn add_scalar(&mut self, value: &Value) {
        match value {
            Value::String(text) => self.add(text.as_bytes()),
            Value::Number(number) => self.add(Zeroizing::new(number.to_string()).as_bytes()),
            _ => {}
        }
    }

    /// Adds every value under a Secret's `data` (base64-decoded when it decodes) and
    /// `stringData`, whatever their shape (a map, as the API wants, or a string or list
    /// the API server will refuse, quoting it); does nothing for other objects.
    pub fn add_secret(&mut self, object: &Value) {
        if !is_secret(object) {
            return;
        }
        for field in SECRET_FIELDS {
            if let Some(value) = object.get(field) {
                self.add_tree(value, field == "data");
            }
        }
    }

    fn add_tree(&mut self, value: &Value, base64: bool) {
        match value {
            Value::Object(map) => map.values().for_each(|v| self.add_tree(v, base64)),
            Value::Array(items) => items.iter().for_each(|v| self.add_tree(v, base64)),
            Value::String(text) => {
                if base64 && let Ok(bytes) = STANDARD.decode(text) {
                    self.add(&Zeroizing::new(bytes));
                }
                self.add(text.as_bytes());
            }
            other => self.add_scalar(other),
        }
    }

    /// Adds every value `other` holds.
    pub fn extend(&mut self, other: &Redactor) {
        for form in &other.forms {
            self.push(form.clone());
        }
    }

    /// Whether no value is held.
    pub fn is_empty(&self) -> bool {
        self.forms.is_empty()
    }

    /// `text` with every held value replaced by [`REDACTED`].
    pub fn scrub(&self, text: &str) -> String {
        let spans = self.find(text);
        if spans.is_empty() {
            return text.to_owned();
        }
        let mut out = String::with_capacity(text.len());
        let mut at = 0;
        for span in spans {
            out.push_str(&text[at..span.start]);
            out.push_str(REDACTED);
            at = span.end;
        }
        out.push_str(&text[at..]);
        out
    }

    /// Scrubs every string (keys too) of a JSON value in place, for status and events built
    /// as JSON.
    pub fn scrub_value(&self, value: &mut Value) {
        match value {
            Value::String(s) if !self.find(s).is_empty() => *s = self.scrub(s),
            Value::Array(items) => items.iter_mut().for_each(|v| self.scrub_value(v)),
            Value::Object(map) => {
                let old = std::mem::take(map);
                for (key, mut v) in old {
                    self.scrub_value(&mut v);
                    map.insert(self.scrub(&key), v);
                }
            }
            _ => {}
        }
    }

    /// The byte ranges of `text` that hold a form or a long enough prefix of one, in order,
    /// overlapping and touching ranges merged.
    pub(super) fn find(&self, text: &str) -> Vec<Range<usize>> {
        let mut spans: Vec<Range<usize>> = Vec::new();
        if self.forms.is_empty() {
            return spans;
        }
        let bytes = text.as_bytes();
        for start in (0..bytes.len()).filter(|&i| text.is_char_boundary(i)) {
            let rest = &bytes[start..];
            let mut end = start;
            for key in self.index.keys(rest) {
                let Some(bucket) = self.index.heads.get(&key) else {
                    continue;
                };
                // The bucket is sorted, so the forms that agree longest with `rest` sit on
                // either side of where `rest` would go.
                let at = bucket.partition_point(|&i| self.forms[i].as_bytes() < rest);
                for &form in &bucket[at.saturating_sub(1)..(at + 1).min(bucket.len())] {
                    end = end.max(start + self.found(text, start, form));
                }
            }
            if end == start {
                continue;
            }
            match spans.last_mut() {
                Some(last) if start <= last.end => last.end = last.end.max(end),
                _ => spans.push(start..end),
            }
        }
        spans
    }

    /// How many bytes of `text` from `start` form `form` is found in: all of it, or a
    /// prefix of [`Self::PREFIX_LEN`] bytes or more that ends on a character boundary.
    fn found(&self, text: &str, start: usize, form: usize) -> usize {
        let form = self.forms[form].as_bytes();
        let rest = &text.as_bytes()[start..];
        let same = rest.iter().zip(form).take_while(|(a, b)| a == b).count();
        if same == form.len() {
            return same;
        }
        let cut = text.floor_char_boundary(start + same) - start;
        if cut >= Self::PREFIX_LEN { cut } else { 0 }
    }

    fn push(&mut self, form: Zeroizing<String>) {
        if form.len() < Self::MIN_LEN {
            return;
        }
        let head = &form.as_bytes()[..form.len().min(Self::PREFIX_LEN)];
        let key = self.index.key(head);
        let bucket = self.index.heads.get(&key).map_or(&[][..], Vec::as_slice);
        let Err(at) = bucket.binary_search_by(|&i| self.forms[i].as_bytes().cmp(form.as_bytes()))
        else {
            return;
        };
        self.index.insert(head, key, at, self.forms.len());
        self.forms.push(form);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn plain_base64_escaped_and_lines() {
        let mut r = Redactor::new();
        r.add(b"hunter2-canary");
        r.add(b"-----BEGIN KEY-----\nMIIEpAIBAAKCAQEA\n-----END KEY-----\n");
        r.add(b"ab");
        let text = "bad value \"hunter2-canary\" (aHVudGVyMi1jYW5hcnk=) MIIEpAIBAAKCAQEA \
                    -----BEGIN KEY-----\\nMIIEpAIBAAKCAQEA\\n-----END KEY-----\\n ab";
        let out = r.scrub(text);
        assert!(!out.contains("hunter2"), "{out}");
        assert!(!out.contains("aHVudGVy"), "{out}");
        assert!(!out.contains("MIIEpAIB"), "{out}");
        assert!(out.ends_with(" ab"), "short values stay: {out}");
        assert!(!format!("{r:?}").contains("hunter2"));
    }

    #[test]
    fn secret_objects_and_json() {
        let mut r = Redactor::new();
        r.add_secret(&json!({"apiVersion": "v1", "kind": "Secret",
            "data": {"a": "aHVudGVyMi1jYW5hcnk="}, "stringData": {"b": "s3cr3t-value"}}));
        let mut status = json!({"message": "x hunter2-canary y", "k": ["s3cr3t-value"]});
        r.scrub_value(&mut status);
        assert_eq!(
            status,
            json!({"message": "x [redacted] y", "k": ["[redacted]"]})
        );
    }

    #[test]
    fn secrets_of_any_shape_and_numbers() {
        let mut r = Redactor::new();
        for stray in [
            json!("CANARY-string-data"),
            json!(["CANARY-list-item"]),
            json!({"pin": 73_519_046}),
        ] {
            r.add_secret(&json!({"apiVersion": "v1", "kind": "Secret", "stringData": stray}));
        }
        let text = "CANARY-string-data CANARY-list-item valueUnstructured{Value:73519046}";
        assert_eq!(
            r.scrub(text),
            "[redacted] [redacted] valueUnstructured{Value:[redacted]}"
        );
    }

    #[test]
    fn go_quoted_values_are_found() {
        let mut r = Redactor::new();
        r.add("CANARY C7label \x01 d4".as_bytes());
        r.add("CANARY-C9nbsp-\u{a0}-zw\u{200b}-e5".as_bytes());
        r.add("CANARY-C6ctl-\x01-tail-b3".as_bytes());
        let api = r#"metadata.labels: Invalid value: "CANARY C7label \x01 d4": a valid label; "CANARY-C9nbsp-\u00a0-zw\u200b-e5"; got &value.valueUnstructured{Value:map[string]interface {}{"inner":"CANARY-C6ctl-\x01-tail-b3"}}"#;
        let out = r.scrub(api);
        assert!(!out.contains("CANARY"), "{out}");
        // The same message as kube-client logs it (`{:?}`), in a JSON log line.
        let logged = serde_json::to_string(&format!("Unsuccessful: {api:?}")).unwrap();
        let out = r.scrub(&logged);
        assert!(!out.contains("CANARY"), "{out}");
    }

    #[test]
    fn prefixes_of_eight_bytes_or_more_are_found() {
        let long: String = (0..60).map(|i| format!("-{i:03}")).collect();
        let value = format!("CANARY-C8long{long}");
        let mut r = Redactor::new();
        r.add(value.as_bytes());
        for cut in [8, 9, 100, value.len() - 1] {
            let text = format!("value \"{}…", &value[..cut]);
            assert_eq!(r.scrub(&text), "value \"[redacted]…", "cut at {cut}");
        }
        // Seven bytes are not a prefix worth hiding.
        assert_eq!(r.scrub("CANARY- x"), "CANARY- x");
        // Text that agrees with a value for eight bytes or more shows that much of it.
        assert_eq!(r.scrub("CANARY-C8lonG"), "[redacted]G");
        // A prefix that stops inside a multi-byte character keeps that character.
        let mut r = Redactor::new();
        r.add("prefixes-é-rest".as_bytes());
        assert_eq!(r.scrub("prefixes-è"), "[redacted]è");
    }

    #[test]
    fn overlapping_and_adjacent_values_make_one_span() {
        let mut r = Redactor::new();
        r.add(b"alpha-beta-gamma");
        r.add(b"beta-gamma-delta");
        assert_eq!(r.scrub("<alpha-beta-gamma-delta>"), "<[redacted]>");
        assert_eq!(r.scrub("<abcd>"), "<abcd>");
    }

    #[test]
    fn many_values_one_pass() {
        let mut r = Redactor::new();
        for i in 0..10_000 {
            r.add(format!("value-{i:05}-7f3a").as_bytes());
        }
        let text = format!("{} value-04242-7f3a end", "x".repeat(10_000));
        assert!(r.scrub(&text).ends_with(" [redacted] end"));
    }
}
