//! The tree walk that encrypts or decrypts every leaf and computes the MAC on the way, as
//! sops' `Tree.Encrypt`/`Tree.Decrypt` do: depth first in document order, AAD = map keys
//! joined with `:` plus a trailing `:`, a comment stack per nesting level for the comment
//! rules, SHA-512 over the plaintext of every non-null, non-comment leaf (only encrypted
//! ones with `mac_only_encrypted`).

use lockstep_keys::DataKey;
use sha2::{Digest, Sha512};

use crate::cipher::{self, IvStash};
use crate::error::{DecryptError, EncryptError};
use crate::rules::Matcher;
use crate::tree::{Comment, Item, Scalar, Tree, Value};

/// `SHA-256("sops")`, fed first into the MAC when `mac_only_encrypted` is set.
const MAC_ONLY_ENCRYPTED_INIT: [u8; 32] = [
    0x8a, 0x3f, 0xd2, 0xad, 0x54, 0xce, 0x66, 0x52, 0x7b, 0x10, 0x34, 0xf3, 0xd1, 0x47, 0xbe, 0x0b,
    0x0b, 0x97, 0x5b, 0x3b, 0xf4, 0x4f, 0x72, 0xc6, 0xfd, 0xad, 0xec, 0x81, 0x76, 0xf2, 0x7d, 0x69,
];

enum Mode<'a> {
    Encrypt { stash: Option<&'a IvStash> },
    Decrypt { stash: Option<&'a mut IvStash> },
}

struct Walker<'a> {
    key: &'a DataKey,
    rule: &'a Matcher,
    mac_only_encrypted: bool,
    hash: Sha512,
    mode: Mode<'a>,
    path: Vec<String>,
    comments: Vec<Vec<String>>,
}

#[derive(Debug)]
enum WalkError {
    Decrypt(DecryptError),
    Encrypt(EncryptError),
}

fn aad(path: &[String]) -> String {
    let mut s = path.join(":");
    s.push(':');
    s
}

impl Walker<'_> {
    fn new_hash(mac_only_encrypted: bool) -> Sha512 {
        let mut h = Sha512::new();
        if mac_only_encrypted {
            h.update(MAC_ONLY_ENCRYPTED_INIT);
        }
        h
    }

    fn items(&mut self, items: &mut [Item]) -> Result<(), WalkError> {
        self.comments.push(Vec::new());
        for item in items.iter_mut() {
            match item {
                Item::Comment(c) => {
                    self.comments
                        .last_mut()
                        .expect("pushed above")
                        .push(c.text.clone());
                    self.comment(c)?;
                }
                Item::Entry(k, v) => {
                    self.path.push(k.clone());
                    let r = self.value(v);
                    self.path.pop();
                    r?;
                    self.comments.last_mut().expect("pushed above").clear();
                }
            }
        }
        self.comments.pop();
        Ok(())
    }

    fn value(&mut self, v: &mut Value) -> Result<(), WalkError> {
        match v {
            Value::Map(items) => self.items(items),
            Value::List(values) => {
                self.comments.push(Vec::new());
                for v in values.iter_mut() {
                    let is_comment = matches!(v, Value::Comment(_));
                    if let Value::Comment(c) = v {
                        self.comments
                            .last_mut()
                            .expect("pushed above")
                            .push(c.text.clone());
                    }
                    self.value(v)?;
                    if !is_comment {
                        self.comments.last_mut().expect("pushed above").clear();
                    }
                }
                self.comments.pop();
                Ok(())
            }
            Value::Comment(c) => {
                self.comment(c)?;
                // sops keeps an encrypted comment of a sequence as a plain string element
                // (`- ENC[…,type:comment]`), and turns it back into a comment on decrypt.
                if matches!(self.mode, Mode::Encrypt { .. }) && c.text.starts_with("ENC[") {
                    *v = Value::str(std::mem::take(&mut c.text));
                }
                Ok(())
            }
            Value::Scalar(Scalar::Null) => Ok(()),
            Value::Scalar(s) => {
                let encrypted_comment = matches!(self.mode, Mode::Decrypt { .. })
                    && s.as_str().and_then(IvStash::type_of).as_deref() == Some("comment");
                if encrypted_comment {
                    let mut c = Comment::new(s.as_str().unwrap_or_default().to_owned());
                    self.comment(&mut c)?;
                    *v = Value::Comment(c);
                    return Ok(());
                }
                self.leaf(s)
            }
        }
    }

    fn comment(&mut self, c: &mut Comment) -> Result<(), WalkError> {
        if !self.rule.should_encrypt(&self.path, &self.comments, true) {
            return Ok(());
        }
        let aad = aad(&self.path);
        match &mut self.mode {
            Mode::Encrypt { stash } => {
                let iv = stash.and_then(|s| s.lookup(&aad, "comment", c.text.as_bytes()));
                let enc = cipher::encrypt(self.key, c.text.as_bytes(), "comment", &aad, iv);
                if self.rule.unencrypted_comment_matches(&enc) {
                    return Err(WalkError::Encrypt(
                        EncryptError::CommentMatchesUnencryptedRegex {
                            path: self.path.join(":"),
                        },
                    ));
                }
                c.text = enc;
            }
            Mode::Decrypt { stash } => {
                // A comment that does not decrypt was written in clear by an old sops: keep it.
                if let Ok(Scalar::Str(b)) = cipher::decrypt(self.key, &c.text, &aad) {
                    let text = String::from_utf8_lossy(&b).into_owned();
                    if let Some(stash) = stash {
                        stash.remember(&c.text, &aad, "comment", text.as_bytes());
                    }
                    c.text = text;
                    // sops loses the inline mark on decrypt: the comment goes above.
                    c.inline = false;
                }
            }
        }
        Ok(())
    }

    fn leaf(&mut self, s: &mut Scalar) -> Result<(), WalkError> {
        let encrypted = self.rule.should_encrypt(&self.path, &self.comments, false);
        let hashed = !self.mac_only_encrypted || encrypted;
        let aad = aad(&self.path);
        match &mut self.mode {
            Mode::Encrypt { stash } => {
                let plain = cipher::to_bytes(s);
                if hashed {
                    self.hash.update(&*plain.0);
                }
                if encrypted {
                    let typ = s.type_name();
                    let iv = stash.and_then(|st| st.lookup(&aad, typ, &plain.0));
                    *s = Scalar::str(cipher::encrypt(self.key, &plain.0, typ, &aad, iv));
                }
            }
            Mode::Decrypt { stash } => {
                if encrypted {
                    let path = || self.path.join(":");
                    let Some(text) = s.as_str() else {
                        return Err(WalkError::Decrypt(DecryptError::Value {
                            path: path(),
                            reason: "expected an encrypted string",
                        }));
                    };
                    let plain = cipher::decrypt(self.key, text, &aad).map_err(|e| {
                        WalkError::Decrypt(DecryptError::Value {
                            path: path(),
                            reason: e.reason(),
                        })
                    })?;
                    if let Some(stash) = stash {
                        let typ = IvStash::type_of(text).unwrap_or_default();
                        stash.remember(text, &aad, &typ, &cipher::to_bytes(&plain).0);
                    }
                    *s = plain;
                }
                if hashed {
                    self.hash.update(&*cipher::to_bytes(s).0);
                }
            }
        }
        Ok(())
    }
}

/// Encrypts every leaf of `tree` in place and returns the MAC (upper-case hex SHA-512).
pub(crate) fn encrypt_tree(
    tree: &mut Tree,
    key: &DataKey,
    rule: &Matcher,
    mac_only_encrypted: bool,
    stash: Option<&IvStash>,
) -> Result<String, EncryptError> {
    let mut w = Walker {
        key,
        rule,
        mac_only_encrypted,
        hash: Walker::new_hash(mac_only_encrypted),
        mode: Mode::Encrypt { stash },
        path: Vec::new(),
        comments: Vec::new(),
    };
    for branch in &mut tree.branches {
        w.items(branch).map_err(|e| match e {
            WalkError::Encrypt(e) => e,
            WalkError::Decrypt(_) => unreachable!("encryption does not decrypt"),
        })?;
    }
    Ok(hex::encode_upper(w.hash.finalize()))
}

/// Decrypts every leaf of `tree` in place and returns the MAC of the plaintext.
pub(crate) fn decrypt_tree(
    tree: &mut Tree,
    key: &DataKey,
    rule: &Matcher,
    mac_only_encrypted: bool,
    stash: Option<&mut IvStash>,
) -> Result<String, DecryptError> {
    let mut w = Walker {
        key,
        rule,
        mac_only_encrypted,
        hash: Walker::new_hash(mac_only_encrypted),
        mode: Mode::Decrypt { stash },
        path: Vec::new(),
        comments: Vec::new(),
    };
    for branch in &mut tree.branches {
        w.items(branch).map_err(|e| match e {
            WalkError::Decrypt(e) => e,
            WalkError::Encrypt(_) => unreachable!("decryption does not encrypt"),
        })?;
    }
    Ok(hex::encode_upper(w.hash.finalize()))
}
