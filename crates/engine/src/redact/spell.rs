//! How a value is spelled when another program quotes it.
//!
//! The API server quotes a rejected value the way Go prints it: `strconv.Quote` and `%q`
//! (`\x01`, `\u00a0`, `\"`), `%#v` (the same, inside `map[string]interface {}{…}`), or
//! `encoding/json` (`\u0001`, `\u003c`). Our log lines quote it again: `{:?}` of an error
//! is Rust's escaping (`\u{1}`, `\\x01`), and the JSON log format escapes the whole line
//! once more. A value is only found in such text if the scrubber looks for each of those
//! spellings, and for spellings of spellings.

use std::fmt::Write as _;

use zeroize::Zeroizing;

/// Every spelling of `text` a message or a log line can hold: as is; JSON-escaped (ours
/// and Go's, which also escapes `<`, `>`, `&`); Go-quoted (`strconv.Quote` and its ASCII
/// form); Rust's `Debug`; and each of these escaped once or twice more by JSON or `Debug`.
/// Text with nothing to escape has one spelling, itself.
pub(super) fn spellings(text: &str) -> Vec<Zeroizing<String>> {
    let mut out = vec![Zeroizing::new(text.to_owned())];
    if !text.chars().any(escaped_anywhere) {
        return out;
    }
    out.extend([
        json(text),
        go_json(text),
        go_quote(text, false),
        go_quote(text, true),
        debug(text),
    ]);
    let quoters: [fn(&str) -> Zeroizing<String>; 2] = [json, debug];
    let mut layered = Vec::new();
    for form in &out {
        for outer in quoters {
            let once = outer(form);
            for outermost in quoters {
                layered.push(outermost(&once));
            }
            layered.push(once);
        }
    }
    out.extend(layered);
    out.sort_unstable_by(|a, b| a.as_str().cmp(b.as_str()));
    out.dedup_by(|a, b| a.as_str() == b.as_str());
    out
}

/// Whether some quoting changes `c`: anything but printable ASCII, the quotes and
/// backslash, and the characters Go's JSON escapes for HTML.
fn escaped_anywhere(c: char) -> bool {
    !(c == ' ' || c.is_ascii_graphic()) || matches!(c, '"' | '\\' | '<' | '>' | '&')
}

/// JSON string contents (serde_json, which escapes as Go's encoder does but for HTML).
fn json(text: &str) -> Zeroizing<String> {
    let quoted = Zeroizing::new(serde_json::to_string(text).unwrap_or_default());
    inner(&quoted)
}

/// JSON string contents as Go's `encoding/json` writes them (the API server's bodies).
fn go_json(text: &str) -> Zeroizing<String> {
    let plain = json(text);
    let mut out = Zeroizing::new(String::with_capacity(plain.len()));
    for c in plain.chars() {
        match c {
            '<' | '>' | '&' | '\u{2028}' | '\u{2029}' => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    out
}

/// String contents as Go's `strconv.Quote` (or `QuoteToASCII`) writes them, which is also
/// `%q` and, for strings, `%#v`.
fn go_quote(text: &str, ascii: bool) -> Zeroizing<String> {
    let mut out = Zeroizing::new(String::with_capacity(text.len() + 8));
    for c in text.chars() {
        let code = u32::from(c);
        let _ = match c {
            '"' | '\\' => write!(out, "\\{c}"),
            c if go_printable(c) && (c.is_ascii() || !ascii) => write!(out, "{c}"),
            '\x07' => write!(out, "\\a"),
            '\x08' => write!(out, "\\b"),
            '\x0c' => write!(out, "\\f"),
            '\n' => write!(out, "\\n"),
            '\r' => write!(out, "\\r"),
            '\t' => write!(out, "\\t"),
            '\x0b' => write!(out, "\\v"),
            c if code < 0x20 || c == '\x7f' => write!(out, "\\x{code:02x}"),
            _ if code < 0x1_0000 => write!(out, "\\u{code:04x}"),
            _ => write!(out, "\\U{code:08x}"),
        };
    }
    out
}

/// Go's `unicode.IsPrint`: letters, marks, numbers, punctuation, symbols and the ASCII
/// space. Rust's `escape_debug` keeps exactly those categories as they are, but escapes a
/// combining mark at the start of a string, so the probe puts one character before it.
fn go_printable(c: char) -> bool {
    if matches!(c, '"' | '\'' | '\\') {
        return true;
    }
    let mut probe = [0u8; 8];
    probe[0] = b'a';
    let len = 1 + c.encode_utf8(&mut probe[1..]).len();
    std::str::from_utf8(&probe[..len]).is_ok_and(|s| s.escape_debug().count() == 2)
}

/// String contents as Rust's `{:?}` writes them.
fn debug(text: &str) -> Zeroizing<String> {
    let quoted = Zeroizing::new(format!("{text:?}"));
    inner(&quoted)
}

/// `quoted` without its first and last character (the quotes).
fn inner(quoted: &str) -> Zeroizing<String> {
    let mut chars = quoted.chars();
    chars.next();
    chars.next_back();
    Zeroizing::new(chars.as_str().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn has(text: &str, form: &str) -> bool {
        spellings(text).iter().any(|s| s.as_str() == form)
    }

    #[test]
    fn go_spells_as_the_api_server_quotes() {
        // As in the probe's status messages (Go 1.24 strconv.Quote, %#v).
        assert!(has("CANARY C7label \x01 d4", r"CANARY C7label \x01 d4"));
        assert!(has(
            "CANARY-C9nbsp-\u{a0}-zw\u{200b}-e5",
            r"CANARY-C9nbsp-\u00a0-zw\u200b-e5"
        ));
        assert!(has("tab\tquote\"back\\", r#"tab\tquote\"back\\"#));
        assert!(has("bell\x07del\x7f", r"bell\adel\x7f"));
        assert!(has("émoji 😀", "émoji 😀"));
        assert!(has("émoji 😀", r"\u00e9moji \U0001f600"));
        assert!(has("a<b&c", r"a\u003cb\u0026c"));
        assert!(has("ctl\x01", r"ctl\u0001"));
    }

    #[test]
    fn quotes_of_quotes_are_spelled_too() {
        // A Rust `{:?}` of a Go-quoted value, then the JSON log format around it.
        assert!(has("v\x01", r"v\\x01"));
        assert!(has("v\x01", r"v\\\\x01"));
        assert!(has("v\u{a0}", r"v\u{a0}"));
        assert!(has("say \"hi\"", r#"say \\\"hi\\\""#));
    }

    #[test]
    fn plain_text_is_one_spelling() {
        assert_eq!(spellings("hunter2-canary").len(), 1);
    }

    #[test]
    fn printable_follows_go() {
        for c in ['a', ' ', 'é', '\u{301}', '€', '😀', '"'] {
            assert!(go_printable(c), "{c:?}");
        }
        for c in ['\x01', '\u{a0}', '\u{200b}', '\u{2028}', '\u{feff}', '\n'] {
            assert!(!go_printable(c), "{c:?}");
        }
    }
}
