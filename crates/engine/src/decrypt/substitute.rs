//! Putting decrypted values into rendered objects.
//!
//! Every SOPS value is an `ENC[AES256_GCM,data:…,iv:…,tag:…,type:…]` string with its own
//! random IV, so the string itself identifies one value of one file. Decrypting the source
//! files gives a table from those strings to their plaintext, and the rendered objects are
//! rewritten through it: whatever render or kustomize did around a value (labels, target
//! namespace, name prefixes, patches) is kept, and only the value changes. Generator output
//! is recognised the same way: an `envs:` source gives one `ENC[…]` string per key (in
//! `data` base64-encoded for Secrets), a `files:` source the whole encrypted file, which is
//! swapped for the whole decrypted file.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use lockstep_sops::{Item, Scalar, Tree, Value as SopsValue};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::redact::Redactor;

/// The marker every SOPS-encrypted value starts with.
const ENC: &str = "ENC[AES256_GCM,";

/// A decrypted scalar, typed as sops recorded it.
enum Plain {
    Str(Zeroizing<String>),
    Int(i64),
    Float(f64),
    Bool(bool),
    Null,
}

impl Plain {
    fn to_json(&self) -> Value {
        match self {
            Plain::Str(s) => Value::String(s.to_string()),
            Plain::Int(i) => Value::from(*i),
            Plain::Float(f) => serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Plain::Bool(b) => Value::Bool(*b),
            Plain::Null => Value::Null,
        }
    }

    fn to_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(match self {
            Plain::Str(s) => s.as_bytes().to_vec(),
            Plain::Int(i) => i.to_string().into_bytes(),
            Plain::Float(f) => f.to_string().into_bytes(),
            Plain::Bool(b) => b.to_string().into_bytes(),
            Plain::Null => Vec::new(),
        })
    }
}

/// The `ENC[…]` strings of a file, noted before it is decrypted (decrypting consumes the
/// loaded file): one slot per scalar, in the order [`Plaintexts::learn`] meets the
/// decrypted scalars (decryption keeps the tree's shape), `None` for a value in clear.
pub(super) struct Ciphertexts(Vec<Option<String>>);

impl Ciphertexts {
    pub fn of(encrypted: &Tree) -> Ciphertexts {
        let mut slots = Vec::new();
        let Ok(()) = scalars::<std::convert::Infallible>(encrypted, &mut |_, scalar| {
            slots.push(match scalar {
                Scalar::Str(e) if e.starts_with(b"ENC[") => {
                    Some(String::from_utf8_lossy(e).into_owned())
                }
                _ => None,
            });
            Ok(())
        });
        Ciphertexts(slots)
    }
}

/// Shows `visit` every scalar of `tree` in order, with its key path (`a:b:`).
fn scalars<E>(
    tree: &Tree,
    visit: &mut impl FnMut(&str, &Scalar) -> Result<(), E>,
) -> Result<(), E> {
    fn items<E>(
        items: &[Item],
        at: &str,
        visit: &mut impl FnMut(&str, &Scalar) -> Result<(), E>,
    ) -> Result<(), E> {
        for item in items {
            if let Item::Entry(key, value) = item {
                values(value, &format!("{at}{key}:"), visit)?;
            }
        }
        Ok(())
    }
    fn values<E>(
        value: &SopsValue,
        at: &str,
        visit: &mut impl FnMut(&str, &Scalar) -> Result<(), E>,
    ) -> Result<(), E> {
        match value {
            SopsValue::Map(map) => items(map, at, visit),
            SopsValue::List(list) => list.iter().try_for_each(|v| values(v, at, visit)),
            SopsValue::Scalar(scalar) => visit(at, scalar),
            SopsValue::Comment(_) => Ok(()),
        }
    }
    tree.branches
        .iter()
        .try_for_each(|branch| items(branch, "", visit))
}

/// Decrypted values by their ciphertext, and decrypted files by their encrypted bytes.
#[derive(Default)]
pub(super) struct Plaintexts {
    values: HashMap<String, Plain>,
    files: HashMap<Vec<u8>, Zeroizing<Vec<u8>>>,
}

impl Plaintexts {
    /// Learns every value of one file from its ciphertexts and its decrypted tree.
    /// Returns the key path of a string value that is not UTF-8, if any.
    pub fn learn(
        &mut self,
        ciphertexts: Ciphertexts,
        decrypted: &Tree,
        redactor: &mut Redactor,
    ) -> Result<(), String> {
        let mut slots = ciphertexts.0.into_iter();
        scalars(decrypted, &mut |at, p| {
            let Some(Some(e)) = slots.next() else {
                return Ok(());
            };
            let plain = match p {
                Scalar::Str(bytes) => {
                    let text = std::str::from_utf8(bytes)
                        .map_err(|_| at.trim_end_matches(':').to_owned())?;
                    redactor.add(bytes);
                    Plain::Str(Zeroizing::new(text.to_owned()))
                }
                Scalar::Time(text) => Plain::Str(Zeroizing::new(text.clone())),
                Scalar::Int(i) => Plain::Int(*i),
                Scalar::Float(f) => Plain::Float(*f),
                Scalar::Bool(b) => Plain::Bool(*b),
                Scalar::Null => Plain::Null,
            };
            if !matches!(p, Scalar::Str(_)) {
                // An API server that refuses a number where a string belongs quotes
                // it (`got &value.valueUnstructured{Value:73519046}`).
                redactor.add(&plain.to_bytes());
            }
            self.values.insert(e, plain);
            Ok(())
        })
    }

    /// Learns a whole file read by a generator.
    pub fn learn_file(
        &mut self,
        encrypted: Vec<u8>,
        decrypted: Zeroizing<Vec<u8>>,
        redactor: &mut Redactor,
    ) {
        redactor.add(&decrypted);
        self.files.insert(encrypted, decrypted);
    }

    /// Rewrites `object` with the decrypted values; `true` when anything changed.
    pub fn apply(&self, object: &mut Value) -> bool {
        let mut changed = false;
        if let Some(map) = object.as_object_mut()
            && map.get("sops").is_some_and(|s| s.get("mac").is_some())
        {
            map.remove("sops");
            changed = true;
        }
        let kind = object["kind"].as_str().unwrap_or_default().to_owned();
        let (base64_fields, text_fields): (&[&str], &[&str]) = match kind.as_str() {
            "Secret" => (&["data"], &["stringData"]),
            "ConfigMap" => (&["binaryData"], &["data"]),
            _ => (&[], &[]),
        };
        for field in base64_fields {
            for value in fields(object, field) {
                let Some(bytes) = value.as_str().and_then(decode) else {
                    continue;
                };
                if let Some(plain) = self.lookup(&bytes) {
                    *value = Value::String(STANDARD.encode(plain.as_slice()));
                    changed = true;
                }
            }
        }
        for field in text_fields {
            for value in fields(object, field) {
                let Some(file) = value.as_str().and_then(|t| self.files.get(t.as_bytes())) else {
                    continue;
                };
                if let Ok(text) = std::str::from_utf8(file) {
                    *value = Value::String(text.to_owned());
                    changed = true;
                }
            }
        }
        for field in base64_fields.iter().chain(text_fields) {
            changed |= drop_env_metadata(object, field);
        }
        changed | self.walk(object)
    }

    /// The plaintext of a value that is an `ENC[…]` string or a whole encrypted file.
    fn lookup(&self, bytes: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        if bytes.starts_with(b"ENC[") {
            let text = std::str::from_utf8(bytes).ok()?;
            return self.values.get(text).map(Plain::to_bytes);
        }
        self.files.get(bytes).cloned()
    }

    fn walk(&self, value: &mut Value) -> bool {
        match value {
            Value::String(s) if s.starts_with("ENC[") => match self.values.get(s.as_str()) {
                Some(plain) => {
                    *value = plain.to_json();
                    true
                }
                None => false,
            },
            Value::Array(items) => items.iter_mut().fold(false, |c, v| self.walk(v) | c),
            Value::Object(map) => map.values_mut().fold(false, |c, v| self.walk(v) | c),
            _ => false,
        }
    }
}

fn fields<'a>(object: &'a mut Value, field: &str) -> impl Iterator<Item = &'a mut Value> {
    object
        .get_mut(field)
        .and_then(Value::as_object_mut)
        .into_iter()
        .flat_map(|m| m.values_mut())
}

/// An `envs:` generator copies the dotenv store's metadata keys (`sops_mac`,
/// `sops_version`, …) into the object; they go with the encryption.
fn drop_env_metadata(object: &mut Value, field: &str) -> bool {
    let Some(map) = object.get_mut(field).and_then(Value::as_object_mut) else {
        return false;
    };
    if !map.contains_key("sops_mac") {
        return false;
    }
    map.retain(|key, _| !key.starts_with("sops_"));
    true
}

/// Whether `object` still holds anything encrypted: a `sops` block, an `ENC[…]` value, or
/// base64 data that decodes to one (or to an encrypted file).
pub(super) fn still_encrypted(object: &Value) -> bool {
    if object.get("sops").is_some_and(|s| s.get("mac").is_some()) {
        return true;
    }
    let base64_holds = |field: &str| {
        object[field].as_object().is_some_and(|m| {
            m.values()
                .filter_map(Value::as_str)
                .filter_map(decode)
                .any(|b| b.windows(ENC.len()).any(|w| w == ENC.as_bytes()))
        })
    };
    let kind = object["kind"].as_str().unwrap_or_default();
    (kind == "Secret" && base64_holds("data"))
        || (kind == "ConfigMap" && base64_holds("binaryData"))
        || holds_enc(object)
}

/// Base64 as Kubernetes reads it: kustomize wraps long values over several lines, and Go's
/// decoder skips the line breaks.
fn decode(text: &str) -> Option<Zeroizing<Vec<u8>>> {
    let compact = Zeroizing::new(text.replace(['\n', '\r'], ""));
    STANDARD.decode(compact.as_bytes()).ok().map(Zeroizing::new)
}

fn holds_enc(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains(ENC),
        Value::Array(items) => items.iter().any(holds_enc),
        Value::Object(map) => map.values().any(holds_enc),
        _ => false,
    }
}
