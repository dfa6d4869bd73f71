//! A decrypted tree with its secrets replaced by fingerprints, for `git diff` (textconv):
//! the keys and the values the file stores in the clear are shown, every value or comment
//! the file stores encrypted becomes `<redacted TYPE FINGERPRINT>`.
//!
//! The fingerprint must change when the value changes, yet tell nothing about the value to
//! someone without the file's keys: a plain hash of a short secret (a PIN, a port, `true`)
//! is reversed by trying every candidate. So it is an HMAC-SHA256 under a key derived from
//! the data key, over the key path, the type and the plaintext, cut to 48 bits: only a
//! holder of the data key (who can decrypt anyway) can compute it, and the path in the
//! input keeps two keys with one value from showing as equal. Since sops keeps an
//! unchanged value's ciphertext, a changed fingerprint reveals no more than the changed
//! ciphertext already does. A new data key (`rotate`) changes every fingerprint.

use hmac::{Hmac, Mac};
use lockstep_keys::DataKey;
use sha2::Sha256;

use crate::cipher::{self, to_bytes};
use crate::tree::{Comment, Item, Scalar, Tree, Value, copy_value};

type HmacSha256 = Hmac<Sha256>;

/// What the key derived from the data key is for (HMAC's domain separation).
const PURPOSE: &[u8] = b"lockstep textconv value fingerprint v1";

/// `plain` with every value and comment that is encrypted in `encrypted` (the same file
/// before decryption) replaced by its fingerprint under `key`.
pub fn redacted(encrypted: &Tree, plain: &Tree, key: &DataKey) -> Tree {
    let mut derive = HmacSha256::new_from_slice(key.expose_secret()).expect("any key length");
    derive.update(PURPOSE);
    let walk = Walk {
        key: derive.finalize().into_bytes().into(),
    };
    Tree {
        branches: encrypted
            .branches
            .iter()
            .zip(&plain.branches)
            .map(|(e, p)| walk.items(&mut Vec::new(), e, p))
            .collect(),
    }
}

struct Walk {
    key: [u8; 32],
}

impl Walk {
    fn items(&self, path: &mut Vec<String>, enc: &[Item], plain: &[Item]) -> Vec<Item> {
        enc.iter()
            .zip(plain)
            .map(|pair| match pair {
                (Item::Entry(_, e), Item::Entry(k, p)) => {
                    path.push(k.clone());
                    let v = self.value(path, e, p);
                    path.pop();
                    Item::Entry(k.clone(), v)
                }
                (Item::Comment(e), Item::Comment(p)) => Item::Comment(self.comment(path, e, p)),
                // Decryption keeps the shape; a mismatch is impossible, but never show it.
                _ => Item::Comment(Comment::new("<redacted>")),
            })
            .collect()
    }

    fn value(&self, path: &mut Vec<String>, enc: &Value, plain: &Value) -> Value {
        match (enc, plain) {
            (Value::Map(e), Value::Map(p)) => Value::Map(self.items(path, e, p)),
            (Value::List(e), Value::List(p)) => Value::List(
                e.iter()
                    .zip(p)
                    .enumerate()
                    .map(|(i, (e, p))| {
                        path.push(i.to_string());
                        let v = self.value(path, e, p);
                        path.pop();
                        v
                    })
                    .collect(),
            ),
            (Value::Comment(e), Value::Comment(p)) => Value::Comment(self.comment(path, e, p)),
            (Value::Scalar(e), Value::Scalar(p)) if is_encrypted(e) => {
                Value::str(self.fingerprint(path, p.type_name(), &to_bytes(p).0))
            }
            (Value::Scalar(_), p @ Value::Scalar(_)) => copy_value(p),
            _ => Value::str("<redacted>"),
        }
    }

    fn comment(&self, path: &[String], enc: &Comment, plain: &Comment) -> Comment {
        let text = if cipher::is_encrypted(&enc.text) {
            self.fingerprint(path, "comment", plain.text.as_bytes())
        } else {
            plain.text.clone()
        };
        Comment {
            text,
            inline: plain.inline,
        }
    }

    fn fingerprint(&self, path: &[String], typ: &str, plain: &[u8]) -> String {
        let mut mac = HmacSha256::new_from_slice(&self.key).expect("any key length");
        for part in path
            .iter()
            .map(String::as_bytes)
            .chain([typ.as_bytes(), plain])
        {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        let tag = mac.finalize().into_bytes();
        format!("<redacted {typ} {}>", hex::encode(&tag[..6]))
    }
}

fn is_encrypted(s: &Scalar) -> bool {
    s.as_str().is_some_and(cipher::is_encrypted)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stores::{self, EmitOptions, Format};

    fn yaml(text: &str) -> Tree {
        stores::load(text.as_bytes(), Format::Yaml).unwrap()
    }

    #[test]
    fn fingerprints_follow_the_value_and_the_key() {
        let key = DataKey::generate();
        let enc = cipher::encrypt(&key, b"x", "str", "", None);
        let encrypted = yaml(&format!("a: {enc}\nb: {enc}\nc: clear\n"));
        let show = |plain: &str, key: &DataKey| {
            let tree = redacted(&encrypted, &yaml(plain), key);
            String::from_utf8(stores::emit(&tree, Format::Yaml, &EmitOptions::default()).unwrap())
                .unwrap()
        };
        let one = show("a: hunter2\nb: hunter2\nc: clear\n", &key);
        assert!(!one.contains("hunter2"), "{one}");
        assert!(one.contains("c: clear"), "{one}");
        let lines: Vec<&str> = one.lines().collect();
        assert_ne!(lines[0][3..], lines[1][3..], "same value, other key: {one}");
        let two = show("a: hunter3\nb: hunter2\nc: clear\n", &key);
        assert_ne!(one.lines().next(), two.lines().next());
        assert_eq!(one.lines().nth(1), two.lines().nth(1));
        let other_key = show("a: hunter2\nb: hunter2\nc: clear\n", &DataKey::generate());
        assert_ne!(one, other_key);
    }
}
