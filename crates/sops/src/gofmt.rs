//! Go's text forms of numbers and times, as sops (through Go's `strconv`, `encoding/json`,
//! go-yaml v3 and `time`) writes them.
//!
//! The bytes that sops encrypts and hashes into the MAC are these text forms, and the
//! emitters must print decrypted numbers the way Go does, so the rules live in one place.

/// `strconv.FormatFloat(f, 'f', -1, 64)`: shortest round-trip digits, never an exponent.
/// This is the plaintext sops encrypts for a `float`.
pub fn float_plain(f: f64) -> String {
    if f.is_nan() {
        "NaN".to_owned()
    } else if f.is_infinite() {
        if f > 0.0 { "+Inf" } else { "-Inf" }.to_owned()
    } else {
        // Rust's Display is also shortest round-trip without exponent.
        format!("{f}")
    }
}

/// Shortest decimal digits and the decimal point position: `f = 0.d1d2… × 10^dp`.
fn digits(f: f64) -> (bool, String, i32) {
    let s = format!("{:e}", f.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    let exp: i32 = exp.parse().unwrap_or(0);
    let digs: String = mant.chars().filter(char::is_ascii_digit).collect();
    let digs = digs.trim_end_matches('0');
    let digs = if digs.is_empty() { "0" } else { digs };
    (f.is_sign_negative(), digs.to_owned(), exp + 1)
}

fn fmt_e(neg: bool, digs: &str, dp: i32, upper: bool) -> String {
    let mut out = String::new();
    if neg {
        out.push('-');
    }
    out.push_str(&digs[..1]);
    if digs.len() > 1 {
        out.push('.');
        out.push_str(&digs[1..]);
    }
    let exp = if digs == "0" { 0 } else { dp - 1 };
    out.push(if upper { 'E' } else { 'e' });
    out.push(if exp < 0 { '-' } else { '+' });
    let abs = exp.unsigned_abs();
    if abs < 10 {
        out.push('0');
    }
    out.push_str(&abs.to_string());
    out
}

/// `strconv.FormatFloat(f, 'g', -1, 64)` (or `'G'` when `upper`).
pub fn float_g(f: f64, upper: bool) -> String {
    if !f.is_finite() {
        return float_plain(f);
    }
    let (neg, digs, dp) = digits(f);
    let exp = if digs == "0" { 0 } else { dp - 1 };
    if !(-4..6).contains(&exp) {
        fmt_e(neg, &digs, dp, upper)
    } else {
        format!("{}{}", if neg { "-" } else { "" }, f.abs())
    }
}

/// go-yaml v3's text for a float: `'g'` formatting, `.inf`, `-.inf`, `.nan`.
pub fn float_yaml(f: f64) -> String {
    if f.is_nan() {
        ".nan".to_owned()
    } else if f.is_infinite() {
        if f > 0.0 { ".inf" } else { "-.inf" }.to_owned()
    } else {
        float_g(f, false)
    }
}

/// Go `encoding/json`'s text for a float (`'f'`, or `'e'` outside 1e-6..1e21), or `None`
/// for NaN and infinities, which JSON cannot hold.
pub fn float_json(f: f64) -> Option<String> {
    if !f.is_finite() {
        return None;
    }
    let abs = f.abs();
    if abs != 0.0 && !(1e-6..1e21).contains(&abs) {
        let (neg, digs, dp) = digits(f);
        let s = fmt_e(neg, &digs, dp, false);
        // Go cleans e-09 up to e-9.
        Some(s.replacen("e-0", "e-", 1).replacen("e+0", "e+", 1))
    } else {
        Some(float_plain(f))
    }
}

/// sops' `stores.ValToString` for a float in dotenv and INI output.
pub fn float_val_to_string(f: f64) -> String {
    let s = float_g(f, true);
    if f.is_finite() && !s.contains(['.', 'E']) {
        format!("{s}.0")
    } else {
        s
    }
}

/// Go's `strconv.ParseBool`.
pub fn parse_bool(s: &str) -> Option<bool> {
    match s {
        "1" | "t" | "T" | "TRUE" | "true" | "True" => Some(true),
        "0" | "f" | "F" | "FALSE" | "false" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseFloat(s, 64)` for the forms sops writes (decimal, exponent,
/// `+Inf`/`-Inf`/`NaN` in any case).
pub fn parse_float(s: &str) -> Option<f64> {
    let lower = s.to_ascii_lowercase();
    match lower.trim_start_matches(['+', '-']) {
        "inf" | "infinity" => {
            return Some(if s.starts_with('-') {
                f64::NEG_INFINITY
            } else {
                f64::INFINITY
            });
        }
        "nan" => return Some(f64::NAN),
        _ => {}
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
    {
        return None;
    }
    s.parse().ok()
}

/// Parses a YAML timestamp the way go-yaml v3 does (`2006-1-2T15:4:5.999999999Z07:00`,
/// lower-case `t`, `2006-1-2 15:4:5.999999999` in UTC, `2006-1-2`) and returns Go's
/// RFC 3339 text for it (`time.Time.MarshalText`).
pub fn parse_yaml_timestamp(s: &str) -> Option<String> {
    let b = s.as_bytes();
    if b.len() < 5 || !b[..4].iter().all(u8::is_ascii_digit) || b[4] != b'-' {
        return None;
    }
    let (date, rest) = match s.find(['T', 't', ' ']) {
        Some(i) => (&s[..i], Some((&s[i..i + 1], &s[i + 1..]))),
        None => (s, None),
    };
    let mut parts = date.split('-');
    let year = num(parts.next()?, 4, 4)?;
    let month = num(parts.next()?, 1, 2)?;
    let day = num(parts.next()?, 1, 2)?;
    if parts.next().is_some() || !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let Some((sep, time)) = rest else {
        return Some(format!("{year:04}-{month:02}-{day:02}T00:00:00Z"));
    };
    // Zone: `Z` or ±hh:mm, required with T, absent with a space.
    let (clock, zone) = if sep == " " {
        (time, "Z".to_owned())
    } else if let Some(c) = time.strip_suffix('Z') {
        (c, "Z".to_owned())
    } else {
        let i = time.rfind(['+', '-'])?;
        let z = &time[i..];
        let zb = z.as_bytes();
        if zb.len() != 6 || zb[3] != b':' {
            return None;
        }
        let (h, m) = (num(&z[1..3], 2, 2)?, num(&z[4..6], 2, 2)?);
        let zone = if h == 0 && m == 0 {
            "Z".to_owned()
        } else {
            z.to_owned()
        };
        (&time[..i], zone)
    };
    let (hms, frac) = match clock.split_once('.') {
        Some((a, f)) if !f.is_empty() && f.len() <= 9 && f.bytes().all(|c| c.is_ascii_digit()) => {
            (a, f.trim_end_matches('0'))
        }
        Some(_) => return None,
        None => (clock, ""),
    };
    let mut t = hms.split(':');
    let h = num(t.next()?, 1, 2)?;
    let m = num(t.next()?, 1, 2)?;
    let sec = num(t.next()?, 1, 2)?;
    if t.next().is_some() || h > 23 || m > 59 || sec > 59 {
        return None;
    }
    let frac = if frac.is_empty() {
        String::new()
    } else {
        format!(".{frac}")
    };
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{h:02}:{m:02}:{sec:02}{frac}{zone}"
    ))
}

fn num(s: &str, min: usize, max: usize) -> Option<u32> {
    if s.len() < min || s.len() > max || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_print_like_go() {
        assert_eq!(float_plain(1.0), "1");
        assert_eq!(float_plain(1e21), "1000000000000000000000");
        assert_eq!(float_plain(1.5e-7), "0.00000015");
        assert_eq!(float_plain(f64::INFINITY), "+Inf");
        assert_eq!(float_yaml(1234567.0), "1.234567e+06");
        assert_eq!(float_yaml(1.234568e9), "1.234568e+09");
        assert_eq!(float_yaml(100000.0), "100000");
        assert_eq!(float_yaml(0.0001), "0.0001");
        assert_eq!(float_yaml(0.00001), "1e-05");
        assert_eq!(float_yaml(25.4), "25.4");
        assert_eq!(float_json(1e21).as_deref(), Some("1e+21"));
        assert_eq!(float_json(1e-7).as_deref(), Some("1e-7"));
        assert_eq!(float_json(25.4).as_deref(), Some("25.4"));
        assert_eq!(float_val_to_string(3.0), "3.0");
    }

    #[test]
    fn timestamps_resolve_like_go_yaml() {
        assert_eq!(
            parse_yaml_timestamp("2002-12-14").as_deref(),
            Some("2002-12-14T00:00:00Z")
        );
        assert_eq!(
            parse_yaml_timestamp("2001-12-14t21:59:43.10-05:00").as_deref(),
            Some("2001-12-14T21:59:43.1-05:00")
        );
        assert_eq!(
            parse_yaml_timestamp("2024-11-12T13:33:42Z").as_deref(),
            Some("2024-11-12T13:33:42Z")
        );
        assert_eq!(parse_yaml_timestamp("2024-11-12T13:33:42"), None);
        assert_eq!(parse_yaml_timestamp("12024-11-12"), None);
    }
}
