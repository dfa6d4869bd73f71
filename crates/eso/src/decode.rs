//! `decodingStrategy` and `conversionStrategy`, and the key rules of a Secret, as ESO's
//! `utils.Decode`, `utils.ConvertKeys` and `utils.ValidateKeys` apply them.

use std::collections::BTreeMap;
use std::sync::LazyLock;

use base64::Engine as _;
use base64::alphabet;
use base64::engine::{GeneralPurpose, GeneralPurposeConfig};
use lockstep_api::external_secrets::{ConversionStrategy, DecodingStrategy};
use regex::Regex;
use zeroize::Zeroizing;

use crate::value::Bytes;

/// Why a value or key was refused. Names the key or the strategy, never a value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The value is not valid for the decoding strategy.
    #[error("the value is not valid {strategy}")]
    Decode {
        /// `base64` or `base64url`.
        strategy: &'static str,
    },
    /// Two remote keys became the same Secret key.
    #[error("keys collide after conversion: {key:?}")]
    Collision {
        /// The key both became.
        key: String,
    },
    /// A key a Secret cannot hold.
    #[error("key {key:?} is not a valid Secret key: {reason}")]
    InvalidKey {
        /// The key (truncated to 253 characters).
        key: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

/// Go's `base64.StdEncoding`/`URLEncoding`: padded, lenient about the unused bits.
const fn engine(alphabet: &alphabet::Alphabet) -> GeneralPurpose {
    GeneralPurpose::new(
        alphabet,
        GeneralPurposeConfig::new().with_decode_allow_trailing_bits(true),
    )
}
const STD: GeneralPurpose = engine(&alphabet::STANDARD);
const URL: GeneralPurpose = engine(&alphabet::URL_SAFE);

/// Applies `strategy` to one value.
///
/// # Errors
/// [`DecodeError::Decode`] for `Base64`/`Base64URL` of a value that is not.
pub fn decode(strategy: DecodingStrategy, value: Bytes) -> Result<Bytes, DecodeError> {
    // Go's decoder skips line breaks.
    let decode_with = |engine: &GeneralPurpose| {
        let clean: Zeroizing<Vec<u8>> = Zeroizing::new(
            value
                .iter()
                .copied()
                .filter(|b| *b != b'\r' && *b != b'\n')
                .collect(),
        );
        engine.decode(&*clean).map(Zeroizing::new)
    };
    match strategy {
        DecodingStrategy::None => Ok(value),
        DecodingStrategy::Base64 => {
            decode_with(&STD).map_err(|_| DecodeError::Decode { strategy: "base64" })
        }
        DecodingStrategy::Base64Url => decode_with(&URL).map_err(|_| DecodeError::Decode {
            strategy: "base64url",
        }),
        DecodingStrategy::Auto => Ok(decode_with(&STD)
            .or_else(|_| decode_with(&URL))
            .unwrap_or(value)),
    }
}

/// `conversionStrategy` over the keys of an extracted map: every character a Secret key
/// refuses becomes `_` (`Default`) or `_U<hex>_` (`Unicode`).
///
/// # Errors
/// [`DecodeError::Collision`] when two keys convert to one.
pub fn convert_keys(
    strategy: ConversionStrategy,
    map: BTreeMap<String, Bytes>,
) -> Result<BTreeMap<String, Bytes>, DecodeError> {
    let mut out = BTreeMap::new();
    for (key, value) in map {
        let converted: String = key
            .chars()
            .map(|c| match (allowed(c), strategy) {
                (true, _) => c.to_string(),
                (false, ConversionStrategy::Default) => "_".to_owned(),
                (false, ConversionStrategy::Unicode) => format!("_U{:04x}_", c as u32),
            })
            .collect();
        if out.contains_key(&converted) {
            return Err(DecodeError::Collision { key: converted });
        }
        out.insert(converted, value);
    }
    Ok(out)
}

/// ESO's `ValidateKeys`: empty keys are dropped; a key longer than 253 bytes or with a
/// character other than letters, digits, `-`, `.` and `_` is refused.
///
/// # Errors
/// [`DecodeError::InvalidKey`].
pub fn validate_keys(map: &mut BTreeMap<String, Bytes>) -> Result<(), DecodeError> {
    map.remove("");
    for key in map.keys() {
        let invalid = |reason| DecodeError::InvalidKey {
            key: key.chars().take(253).collect(),
            reason,
        };
        if key.len() > 253 {
            return Err(invalid("longer than 253 characters"));
        }
        if !key.chars().all(allowed) {
            return Err(invalid(
                "only letters, digits, '-', '.' and '_' are allowed (use conversionStrategy)",
            ));
        }
    }
    Ok(())
}

/// Go's `unicode.IsLetter`/`IsNumber`, `-`, `.` and `_`.
///
/// Go's `IsLetter` is the general category L, which `\p{L}` matches; Rust's
/// `char::is_alphabetic` is wider (it also takes the marks and symbols Unicode counts as
/// alphabetic, such as `Ⓐ`), so a key ESO converts would be kept and then refused by the
/// API server. `IsNumber` is the category N, as `char::is_numeric`.
fn allowed(c: char) -> bool {
    static LETTER: LazyLock<Regex> =
        LazyLock::new(|| Regex::new(r"^\p{L}$").expect("a valid class"));
    c.is_numeric() || matches!(c, '-' | '.' | '_') || LETTER.is_match(c.encode_utf8(&mut [0; 4]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(s: &str) -> Bytes {
        Zeroizing::new(s.as_bytes().to_vec())
    }

    #[test]
    fn decoding_strategies() {
        let d = |strategy, s| decode(strategy, bytes(s)).map(|b| b.to_vec());
        assert_eq!(d(DecodingStrategy::Base64, "aGk+Pz8=").unwrap(), b"hi>??");
        assert_eq!(
            d(DecodingStrategy::Base64Url, "aGk-Pz8=").unwrap(),
            b"hi>??"
        );
        assert_eq!(d(DecodingStrategy::Auto, "aGk-Pz8=").unwrap(), b"hi>??");
        assert_eq!(
            d(DecodingStrategy::Auto, "plain text").unwrap(),
            b"plain text"
        );
        assert_eq!(d(DecodingStrategy::None, "aGk=").unwrap(), b"aGk=");
        assert_eq!(
            d(DecodingStrategy::Base64, "not base64!"),
            Err(DecodeError::Decode { strategy: "base64" })
        );
    }

    #[test]
    fn keys_are_converted_and_checked() {
        let map: BTreeMap<String, Bytes> = [("a/b", "1"), ("c d", "2"), ("ok", "3")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), bytes(v)))
            .collect();
        let converted = convert_keys(ConversionStrategy::Default, map.clone()).unwrap();
        assert_eq!(converted.keys().collect::<Vec<_>>(), ["a_b", "c_d", "ok"]);
        let unicode = convert_keys(ConversionStrategy::Unicode, map.clone()).unwrap();
        assert_eq!(
            unicode.keys().collect::<Vec<_>>(),
            ["a_U002f_b", "c_U0020_d", "ok"]
        );

        // Go's IsLetter, not Rust's is_alphabetic: a circled letter is a symbol (So).
        let symbols: BTreeMap<String, Bytes> = [("Ⓐ", "1"), ("ключ", "2"), ("Ⅻ", "3")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), bytes(v)))
            .collect();
        let converted = convert_keys(ConversionStrategy::Unicode, symbols).unwrap();
        assert_eq!(
            converted.keys().collect::<Vec<_>>(),
            ["_U24b6_", "ключ", "Ⅻ"]
        );

        let mut raw = map;
        raw.insert(String::new(), bytes("dropped"));
        let err = validate_keys(&mut raw).unwrap_err();
        assert!(
            matches!(err, DecodeError::InvalidKey { ref key, .. } if key == "a/b"),
            "{err}"
        );
        assert!(!raw.contains_key(""));

        let clash: BTreeMap<String, Bytes> = [("a/b", "1"), ("a_b", "2")]
            .into_iter()
            .map(|(k, v)| (k.to_owned(), bytes(v)))
            .collect();
        assert_eq!(
            convert_keys(ConversionStrategy::Default, clash),
            Err(DecodeError::Collision { key: "a_b".into() })
        );
    }
}
