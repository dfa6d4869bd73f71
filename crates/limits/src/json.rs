//! JSON without duplicate keys. serde_json keeps the last of two equal keys; Go's
//! `encoding/json` does too, but sops and Kubernetes' strict decoding refuse them, and so
//! does every YAML parser here: a file whose reader sees one value and whose consumer gets
//! another is refused instead.

/// The message [`Unique`] fails with; fixed, so that no input text is in it.
pub const DUPLICATE_KEY: &str = "duplicate key in an object";

/// A JSON value whose objects have no key twice.
struct Unique(serde_json::Value);

impl<'de> serde::Deserialize<'de> for Unique {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(UniqueVisitor).map(Unique)
    }
}

struct UniqueVisitor;

impl<'de> serde::de::Visitor<'de> for UniqueVisitor {
    type Value = serde_json::Value;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(serde_json::Value::Null)
    }
    fn visit_bool<E>(self, b: bool) -> Result<Self::Value, E> {
        Ok(b.into())
    }
    fn visit_i64<E>(self, n: i64) -> Result<Self::Value, E> {
        Ok(n.into())
    }
    fn visit_u64<E>(self, n: u64) -> Result<Self::Value, E> {
        Ok(n.into())
    }
    fn visit_f64<E>(self, n: f64) -> Result<Self::Value, E> {
        Ok(serde_json::Number::from_f64(n).map_or(serde_json::Value::Null, Into::into))
    }
    fn visit_str<E>(self, s: &str) -> Result<Self::Value, E> {
        Ok(s.into())
    }
    fn visit_string<E>(self, s: String) -> Result<Self::Value, E> {
        Ok(s.into())
    }
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let mut items = Vec::new();
        while let Some(Unique(v)) = seq.next_element()? {
            items.push(v);
        }
        Ok(serde_json::Value::Array(items))
    }
    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut object = serde_json::Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if object.contains_key(&key) {
                return Err(serde::de::Error::custom(DUPLICATE_KEY));
            }
            let Unique(v) = map.next_value()?;
            object.insert(key, v);
        }
        Ok(serde_json::Value::Object(object))
    }
}

/// Parses `text` as JSON, refusing an object with the same key twice (the error is
/// serde_json's, at the second key; [`is_duplicate_key`] tells it apart). Nesting is
/// bounded by serde_json's recursion limit (128).
///
/// # Errors
/// Invalid JSON, or a duplicate key.
pub fn from_str(text: &str) -> serde_json::Result<serde_json::Value> {
    serde_json::from_str::<Unique>(text).map(|u| u.0)
}

/// Whether `e` is [`from_str`]'s refusal of a duplicate key.
pub fn is_duplicate_key(e: &serde_json::Error) -> bool {
    e.classify() == serde_json::error::Category::Data && e.to_string().starts_with(DUPLICATE_KEY)
}

#[cfg(test)]
mod tests {
    #[test]
    fn refuses_duplicate_keys_at_any_depth_and_keeps_order() {
        let err = super::from_str("{\"a\": {\"b\": 1,\n \"b\": 2}}").unwrap_err();
        assert!(super::is_duplicate_key(&err), "{err}");
        assert_eq!(err.line(), 2);
        let v = super::from_str("{\"z\": [1, 2.5, null, true], \"a\": {\"k\": \"v\"}}").unwrap();
        assert_eq!(
            v.to_string(),
            "{\"z\":[1,2.5,null,true],\"a\":{\"k\":\"v\"}}"
        );
    }
}
