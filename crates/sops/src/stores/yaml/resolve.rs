//! go-yaml v3's scalar resolution: which plain scalars are ints, floats, bools, nulls and
//! timestamps, and which strings must therefore be quoted when written back.
//!
//! sops types YAML values through go-yaml v3, so a plain `0x10` is the `int` 16 and a plain
//! `on` is the *string* `on` (YAML 1.1 booleans are not booleans in v3, but v3 still quotes
//! them on output, as it does strings that look like base-60 floats).

use crate::gofmt;
use crate::tree::Scalar;

/// Resolves a plain (unquoted, untagged) scalar as go-yaml v3 does.
pub fn resolve_plain(s: &str) -> Scalar {
    match s {
        "true" | "True" | "TRUE" => return Scalar::Bool(true),
        "false" | "False" | "FALSE" => return Scalar::Bool(false),
        "" | "~" | "null" | "Null" | "NULL" => return Scalar::Null,
        ".nan" | ".NaN" | ".NAN" => return Scalar::Float(f64::NAN),
        ".inf" | ".Inf" | ".INF" | "+.inf" | "+.Inf" | "+.INF" => {
            return Scalar::Float(f64::INFINITY);
        }
        "-.inf" | "-.Inf" | "-.INF" => return Scalar::Float(f64::NEG_INFINITY),
        _ => {}
    }
    let first = s.as_bytes()[0];
    if first == b'.' {
        if is_yaml_float(s)
            && let Ok(f) = s.parse()
        {
            return Scalar::Float(f);
        }
    } else if first.is_ascii_digit() || first == b'+' || first == b'-' {
        if let Some(t) = gofmt::parse_yaml_timestamp(s) {
            return Scalar::Time(t);
        }
        let plain: String = s.chars().filter(|&c| c != '_').collect();
        if let Some(i) = parse_go_int(&plain) {
            return Scalar::Int(i);
        }
        if is_yaml_float(&plain)
            && let Ok(f) = plain.parse()
        {
            return Scalar::Float(f);
        }
    }
    Scalar::str(s)
}

/// Whether go-yaml v3 must quote the string `s` to keep it a string.
pub fn needs_quotes(s: &str) -> bool {
    !matches!(resolve_plain(s), Scalar::Str(_)) || s == "<<" || is_old_bool(s) || is_base60(s)
}

fn is_old_bool(s: &str) -> bool {
    matches!(
        s,
        "y" | "Y"
            | "yes"
            | "Yes"
            | "YES"
            | "n"
            | "N"
            | "no"
            | "No"
            | "NO"
            | "on"
            | "On"
            | "ON"
            | "off"
            | "Off"
            | "OFF"
    )
}

/// `^[-+]?[0-9][0-9_]*(?::[0-5]?[0-9])+(?:\.[0-9_]*)?$`
fn is_base60(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (main, frac) = match s.split_once('.') {
        Some((m, f)) => (m, Some(f)),
        None => (s, None),
    };
    if let Some(f) = frac
        && !f.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    {
        return false;
    }
    let mut parts = main.split(':');
    let head = parts.next().unwrap_or("");
    if !head.starts_with(|c: char| c.is_ascii_digit())
        || !head.bytes().all(|b| b.is_ascii_digit() || b == b'_')
    {
        return false;
    }
    let mut any = false;
    for p in parts {
        any = true;
        let b = p.as_bytes();
        let ok = match b.len() {
            1 => b[0].is_ascii_digit(),
            2 => (b'0'..=b'5').contains(&b[0]) && b[1].is_ascii_digit(),
            _ => false,
        };
        if !ok {
            return false;
        }
    }
    any
}

/// `^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$`
fn is_yaml_float(s: &str) -> bool {
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mant, exp) = match s.find(['e', 'E']) {
        Some(i) => (&s[..i], Some(&s[i + 1..])),
        None => (s, None),
    };
    if let Some(e) = exp {
        let e = e.strip_prefix(['-', '+']).unwrap_or(e);
        if e.is_empty() || !e.bytes().all(|b| b.is_ascii_digit()) {
            return false;
        }
    }
    let digits = |x: &str| x.bytes().all(|b| b.is_ascii_digit());
    match mant.split_once('.') {
        Some(("", f)) => !f.is_empty() && digits(f),
        Some((i, f)) => !i.is_empty() && digits(i) && digits(f),
        None => !mant.is_empty() && digits(mant),
    }
}

/// Go's `strconv.ParseInt(s, 0, 64)` with the explicit `0b`/`0o` forms go-yaml adds.
fn parse_go_int(s: &str) -> Option<i64> {
    let (neg, body) = match s.as_bytes().first()? {
        b'-' => (true, &s[1..]),
        b'+' => (false, &s[1..]),
        _ => (false, s),
    };
    let (radix, digits) = if let Some(d) = body.strip_prefix("0x").or(body.strip_prefix("0X")) {
        (16, d)
    } else if let Some(d) = body.strip_prefix("0b").or(body.strip_prefix("0B")) {
        (2, d)
    } else if let Some(d) = body.strip_prefix("0o").or(body.strip_prefix("0O")) {
        (8, d)
    } else if body.len() > 1 && body.starts_with('0') {
        (8, &body[1..])
    } else {
        (10, body)
    };
    if digits.is_empty() || !digits.chars().all(|c| c.is_digit(radix)) {
        return None;
    }
    let magnitude = u64::from_str_radix(digits, radix).ok()?;
    if neg {
        if magnitude <= i64::MAX as u64 + 1 {
            Some((magnitude as i64).wrapping_neg())
        } else {
            None
        }
    } else {
        i64::try_from(magnitude).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(s: &str) -> &'static str {
        match resolve_plain(s) {
            Scalar::Null => "null",
            other => other.type_name(),
        }
    }

    #[test]
    fn resolves_like_go_yaml_v3() {
        for (s, k) in [
            ("on", "str"),
            ("yes", "str"),
            ("NO", "str"),
            ("0755", "int"),
            ("0o755", "int"),
            ("0x10", "int"),
            ("1_000", "int"),
            ("1.10", "float"),
            ("1e3", "float"),
            (".inf", "float"),
            ("~", "null"),
            ("True", "bool"),
            ("tRUE", "str"),
            ("2024-01-01", "time"),
            ("08", "float"),
            ("1:20", "str"),
            ("-", "str"),
        ] {
            assert_eq!(kind(s), k, "{s}");
        }
        assert!(matches!(resolve_plain("0755"), Scalar::Int(493)));
        assert!(needs_quotes("on"));
        assert!(needs_quotes("1:20"));
        assert!(needs_quotes(""));
        assert!(needs_quotes("2024-11-12T13:33:42Z"));
        assert!(!needs_quotes("ENC[AES256_GCM,data:x]"));
    }
}
