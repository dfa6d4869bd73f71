//! ESO's `filterPEM`: the PEM blocks of one type out of a bundle, each decoded and
//! written again as Go's `encoding/pem` writes it (64-character lines, `\n` endings).
//! Every copy of a block (a private key, often) is zeroized.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use zeroize::Zeroizing;

/// The blocks of `input` whose type is `kind` (case-insensitive), re-encoded.
///
/// # Errors
/// ESO's "found junk" when nothing matched and something other than PEM blocks is left,
/// or a matching block with headers (`Proc-Type`, …), which Lockstep does not rewrite.
pub fn filter(kind: &str, input: &str) -> Result<Zeroizing<String>, String> {
    let mut out = Zeroizing::new(String::new());
    let mut rest = input;
    while let Some(block) = next_block(rest) {
        rest = block.rest;
        if !block.kind.eq_ignore_ascii_case(kind) {
            continue;
        }
        if block.has_headers {
            return Err("error filtering pem: blocks with headers are not supported".into());
        }
        out.push_str("-----BEGIN ");
        out.push_str(block.kind);
        out.push_str("-----\n");
        let text = Zeroizing::new(STANDARD.encode(block.bytes.as_slice()));
        for line in text.as_bytes().chunks(64) {
            out.push_str(std::str::from_utf8(line).unwrap_or_default());
            out.push('\n');
        }
        out.push_str("-----END ");
        out.push_str(block.kind);
        out.push_str("-----\n");
    }
    if out.is_empty() && !rest.is_empty() {
        return Err("error filtering pem: found junk".into());
    }
    Ok(out)
}

struct Block<'a> {
    kind: &'a str,
    has_headers: bool,
    bytes: Zeroizing<Vec<u8>>,
    rest: &'a str,
}

/// Go's `pem.Decode`: the first well-formed block (a `-----BEGIN` at the start of a line,
/// its body valid base64, its `-----END` naming the same type) and what follows its END
/// line; a malformed block is skipped.
fn next_block(data: &str) -> Option<Block<'_>> {
    let mut from = 0;
    loop {
        let at = from + data[from..].find("-----BEGIN ")?;
        from = at + 1;
        if at > 0 && !data[..at].ends_with('\n') {
            continue;
        }
        let after = &data[at + "-----BEGIN ".len()..];
        let (line, body) = after.split_once('\n').unwrap_or((after, ""));
        let Some(kind) = line.trim_end().strip_suffix("-----") else {
            continue;
        };
        let end_marker = format!("-----END {kind}-----");
        let Some(end) = body.find(&end_marker) else {
            continue;
        };
        if end > 0 && !body[..end].ends_with('\n') {
            continue;
        }
        let payload = &body[..end];
        let (has_headers, payload) = match payload.split_once("\n\n") {
            Some((headers, rest)) if headers.contains(':') => (true, rest),
            _ => (false, payload),
        };
        let text: Zeroizing<String> =
            Zeroizing::new(payload.chars().filter(|c| !c.is_whitespace()).collect());
        let Ok(bytes) = STANDARD.decode(text.as_bytes()) else {
            continue;
        };
        let after_end = &body[end + end_marker.len()..];
        let rest = after_end.split_once('\n').map_or("", |(_, r)| r);
        return Some(Block {
            kind,
            has_headers,
            bytes: Zeroizing::new(bytes),
            rest,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_and_rewraps_as_go_does() {
        let body = STANDARD.encode([7u8; 60]);
        let bundle = format!(
            "junk before\n-----BEGIN CERTIFICATE-----\n{}\n{}\n-----END CERTIFICATE-----\n\
             -----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
            &body[..40],
            &body[40..],
            STANDARD.encode([1u8; 3]),
        );
        let cert = filter("certificate", &bundle).unwrap();
        assert_eq!(
            cert.as_str(),
            format!(
                "-----BEGIN CERTIFICATE-----\n{}\n{}\n-----END CERTIFICATE-----\n",
                &body[..64],
                &body[64..]
            )
        );
        assert_eq!(
            filter("PRIVATE KEY", &bundle).unwrap().as_str(),
            "-----BEGIN PRIVATE KEY-----\nAQEB\n-----END PRIVATE KEY-----\n"
        );
        // Nothing of that type: empty, unless something other than blocks is left.
        assert_eq!(filter("EC PRIVATE KEY", &bundle).unwrap().as_str(), "");
        assert_eq!(
            filter("CERTIFICATE", "not pem").unwrap_err(),
            "error filtering pem: found junk"
        );
        assert_eq!(filter("CERTIFICATE", "").unwrap().as_str(), "");
    }
}
