//! Go duration strings (`1m`, `1h30m`, `250ms`), the syntax of every interval and timeout
//! field, as Flux and the Bitnami controller take them.

use std::time::Duration;

/// Why a duration did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {text:?}: {reason} (expected e.g. 10m, 1h30m, 45s or 250ms)")]
pub struct DurationError {
    /// The text given.
    pub text: String,
    /// What is wrong with it.
    pub reason: String,
}

/// Parses a Go duration: a sequence of decimal numbers with a unit each (`h`, `m`, `s`,
/// `ms`), or `0`.
///
/// # Errors
/// [`DurationError`] for a missing or unknown unit or a malformed number.
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let fail = |reason: String| DurationError {
        text: text.to_owned(),
        reason,
    };
    if text == "0" {
        return Ok(Duration::ZERO);
    }
    if text.is_empty() {
        return Err(fail("empty".into()));
    }
    let mut total = 0f64;
    let mut number = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        if c.is_ascii_digit() || c == '.' {
            number.push(c);
            continue;
        }
        let mut unit = c.to_string();
        if c == 'm' && chars.peek() == Some(&'s') {
            unit.push(chars.next().unwrap_or('s'));
        }
        let value: f64 = number
            .parse()
            .map_err(|_| fail(format!("no number before {unit:?}")))?;
        number.clear();
        total += value
            * match unit.as_str() {
                "h" => 3600.0,
                "m" => 60.0,
                "s" => 1.0,
                "ms" => 0.001,
                _ => return Err(fail(format!("unknown unit {unit:?}"))),
            };
    }
    if !number.is_empty() {
        return Err(fail(format!("missing unit after {number}")));
    }
    Ok(Duration::from_secs_f64(total))
}

/// `duration` as Go writes a `time.Duration` (`String()`, the JSON of a Kubernetes
/// `metav1.Duration`): `0s`, `250ms`, `1.5s`, `2m3.25s`, `1h0m0s`; below a millisecond in
/// `µs` or `ns`.
pub fn format_duration(duration: Duration) -> String {
    let nanos = duration.as_nanos();
    if nanos == 0 {
        return "0s".into();
    }
    if nanos < 1_000_000_000 {
        let (unit, scale) = if nanos < 1_000 {
            ("ns", 1)
        } else if nanos < 1_000_000 {
            ("µs", 1_000)
        } else {
            ("ms", 1_000_000)
        };
        return format!("{}{unit}", decimal(nanos, scale));
    }
    let whole = duration.as_secs();
    let (hours, minutes) = (whole / 3600, whole / 60 % 60);
    let seconds = u128::from(whole % 60) * 1_000_000_000 + u128::from(duration.subsec_nanos());
    let seconds = decimal(seconds, 1_000_000_000);
    match (hours, minutes) {
        (0, 0) => format!("{seconds}s"),
        (0, _) => format!("{minutes}m{seconds}s"),
        _ => format!("{hours}h{minutes}m{seconds}s"),
    }
}

/// `value / scale` in decimal, without trailing zeros (`scale` a power of ten).
fn decimal(value: u128, scale: u128) -> String {
    let (whole, fraction) = (value / scale, value % scale);
    if fraction == 0 {
        return whole.to_string();
    }
    let width = scale.ilog10() as usize;
    let fraction = format!("{fraction:0width$}");
    format!("{whole}.{}", fraction.trim_end_matches('0'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_like_go() {
        assert_eq!(parse_duration("720h"), Ok(Duration::from_secs(720 * 3600)));
        assert_eq!(parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Ok(Duration::from_millis(1500)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("10").is_err());
        assert!(parse_duration("3d").is_err());
        assert!(parse_duration("").is_err());
        assert!(parse_duration("m").is_err());
    }

    /// What Go's `time.Duration.String()` prints for the same durations.
    #[test]
    fn durations_are_written_like_go() {
        let cases = [
            (Duration::ZERO, "0s"),
            (Duration::from_nanos(42), "42ns"),
            (Duration::from_nanos(1_500), "1.5µs"),
            (Duration::from_millis(250), "250ms"),
            (Duration::from_nanos(123_456_789), "123.456789ms"),
            (Duration::from_millis(1_500), "1.5s"),
            (Duration::from_secs(90), "1m30s"),
            (Duration::from_secs(3600), "1h0m0s"),
            (Duration::from_millis(3_723_250), "1h2m3.25s"),
        ];
        for (duration, go) in cases {
            assert_eq!(format_duration(duration), go);
            // Whole and binary-exact seconds read back as they were.
            if go.chars().nth_back(1).is_some_and(|c| c.is_ascii_digit()) {
                assert_eq!(parse_duration(go), Ok(duration), "{go}");
            }
        }
    }
}
