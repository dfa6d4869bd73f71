//! Proof that a webhook comes from whoever holds a Receiver's token, checked as Flux's
//! notification-controller checks it, in constant time: the webhook path
//! ([`webhook_path`]), GitHub's and Bitbucket's `X-Hub-Signature-256`/`X-Hub-Signature`,
//! GitLab's `X-Gitlab-Token`, generic-hmac's `X-Signature`; then the event filter.

use aws_lc_rs::{constant_time, digest, hmac};
use axum::http::HeaderMap;
use lockstep_api::flux::ReceiverType;

/// Where Flux serves a Receiver's webhooks.
pub const HOOK_PREFIX: &str = "/hook/";

/// Why a webhook is refused. None of these carries the token or the expected signature.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum Refused {
    /// The header proving the token is absent.
    #[error("no {0} header")]
    Missing(&'static str),
    /// The signature header is not `<sha1|sha256|sha512>=<hex>`.
    #[error("the {0} header is not <algorithm>=<hex digest>")]
    Malformed(&'static str),
    /// The signature or token does not match.
    #[error("the {0} header does not match the token")]
    Mismatch(&'static str),
    /// The event is not one of `spec.events`.
    #[error("event {0:?} is not in spec.events")]
    Event(String),
}

impl Refused {
    /// Whether the sender failed to prove it holds the token (401), rather than sent an
    /// event the Receiver does not handle (400).
    pub fn unauthorized(&self) -> bool {
        !matches!(self, Self::Event(_))
    }
}

/// `/hook/<sha256 hex of token + name + namespace>`, as Flux's `Receiver.GetWebhookPath`.
pub fn webhook_path(token: &[u8], name: &str, namespace: &str) -> String {
    let mut sum = digest::Context::new(&digest::SHA256);
    sum.update(token);
    sum.update(name.as_bytes());
    sum.update(namespace.as_bytes());
    format!("{HOOK_PREFIX}{}", hex::encode(sum.finish()))
}

/// Whether `a` and `b` are equal, in time independent of where they differ.
pub fn same(a: &[u8], b: &[u8]) -> bool {
    constant_time::verify_slices_are_equal(a, b).is_ok()
}

/// Checks that a webhook with `headers` and `body` was sent by a `kind` sender holding
/// `token`, and that its event is one of `events` (any, when empty).
pub fn check(
    kind: ReceiverType,
    token: &[u8],
    events: &[String],
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), Refused> {
    let event_header = match kind {
        ReceiverType::Generic => None,
        ReceiverType::GenericHmac => {
            signed(headers, "X-Signature", token, body)?;
            None
        }
        ReceiverType::Github => {
            github(headers, token, body)?;
            Some("X-GitHub-Event")
        }
        ReceiverType::Bitbucket => {
            github(headers, token, body)?;
            Some("X-Event-Key")
        }
        ReceiverType::Gitlab => {
            let sent =
                header(headers, "X-Gitlab-Token").ok_or(Refused::Missing("X-Gitlab-Token"))?;
            if !same(sent.as_bytes(), token) {
                return Err(Refused::Mismatch("X-Gitlab-Token"));
            }
            Some("X-Gitlab-Event")
        }
    };
    match event_header {
        Some(name) if !events.is_empty() => {
            let event = header(headers, name).unwrap_or_default();
            if events.iter().any(|e| e.eq_ignore_ascii_case(event)) {
                Ok(())
            } else {
                Err(Refused::Event(event.chars().take(64).collect()))
            }
        }
        _ => Ok(()),
    }
}

/// GitHub's signature: `X-Hub-Signature-256` when sent, else the SHA-1 `X-Hub-Signature`,
/// as go-github's `ValidatePayload` that Flux calls.
fn github(headers: &HeaderMap, token: &[u8], body: &[u8]) -> Result<(), Refused> {
    if headers.contains_key("X-Hub-Signature-256") {
        signed(headers, "X-Hub-Signature-256", token, body)
    } else {
        signed(headers, "X-Hub-Signature", token, body)
    }
}

/// Checks header `name`, `<algorithm>=<hex HMAC of body keyed with token>`.
fn signed(
    headers: &HeaderMap,
    name: &'static str,
    token: &[u8],
    body: &[u8],
) -> Result<(), Refused> {
    let value = header(headers, name).ok_or(Refused::Missing(name))?;
    let (algorithm, hex_tag) = value.split_once('=').ok_or(Refused::Malformed(name))?;
    let algorithm = match algorithm {
        "sha1" => hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY,
        "sha256" => hmac::HMAC_SHA256,
        "sha512" => hmac::HMAC_SHA512,
        _ => return Err(Refused::Malformed(name)),
    };
    let tag = hex::decode(hex_tag).map_err(|_| Refused::Malformed(name))?;
    hmac::verify(&hmac::Key::new(algorithm, token), body, &tag).map_err(|_| Refused::Mismatch(name))
}

fn header<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &[u8] = b"s3cr3t-token";
    const BODY: &[u8] = br#"{"ref":"refs/heads/main"}"#;

    fn headers(pairs: &[(&'static str, String)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    fn sign(algorithm: hmac::Algorithm, prefix: &str, key: &[u8], body: &[u8]) -> String {
        let tag = hmac::sign(&hmac::Key::new(algorithm, key), body);
        format!("{prefix}={}", hex::encode(tag.as_ref()))
    }

    #[test]
    fn webhook_path_is_sha256_of_token_name_namespace() {
        // sha256("tokenreceiverns"), computed with sha256sum.
        assert_eq!(
            webhook_path(b"token", "receiver", "ns"),
            "/hook/a02c9330a19f5118e5ba023b53aa867c3da7ae58feb6cc42b684a7065f146387"
        );
    }

    #[test]
    fn github_sha256_and_sha1_signatures() {
        let events = ["push".to_owned()];
        let good = sign(hmac::HMAC_SHA256, "sha256", TOKEN, BODY);
        let ok = headers(&[
            ("X-Hub-Signature-256", good.clone()),
            ("X-GitHub-Event", "push".into()),
        ]);
        assert_eq!(
            check(ReceiverType::Github, TOKEN, &events, &ok, BODY),
            Ok(())
        );
        let sha1 = sign(hmac::HMAC_SHA1_FOR_LEGACY_USE_ONLY, "sha1", TOKEN, BODY);
        let ok = headers(&[("X-Hub-Signature", sha1), ("X-GitHub-Event", "Push".into())]);
        assert_eq!(
            check(ReceiverType::Github, TOKEN, &events, &ok, BODY),
            Ok(())
        );

        let other_key = sign(hmac::HMAC_SHA256, "sha256", b"other", BODY);
        let bad = headers(&[
            ("X-Hub-Signature-256", other_key),
            ("X-GitHub-Event", "push".into()),
        ]);
        let refused = check(ReceiverType::Github, TOKEN, &events, &bad, BODY).unwrap_err();
        assert_eq!(refused, Refused::Mismatch("X-Hub-Signature-256"));
        assert!(refused.unauthorized());
        // The right signature of another body.
        let ok = headers(&[
            ("X-Hub-Signature-256", good),
            ("X-GitHub-Event", "push".into()),
        ]);
        assert!(check(ReceiverType::Github, TOKEN, &events, &ok, b"{}").is_err());
        let unsigned = headers(&[("X-GitHub-Event", "push".into())]);
        assert_eq!(
            check(ReceiverType::Github, TOKEN, &events, &unsigned, BODY),
            Err(Refused::Missing("X-Hub-Signature"))
        );
        let garbled = headers(&[("X-Hub-Signature-256", "sha256=zz".into())]);
        assert_eq!(
            check(ReceiverType::Github, TOKEN, &events, &garbled, BODY),
            Err(Refused::Malformed("X-Hub-Signature-256"))
        );
    }

    #[test]
    fn events_filter_after_the_signature() {
        let events = ["push".to_owned()];
        let good = sign(hmac::HMAC_SHA256, "sha256", TOKEN, BODY);
        let ping = headers(&[
            ("X-Hub-Signature-256", good.clone()),
            ("X-GitHub-Event", "ping".into()),
        ]);
        let refused = check(ReceiverType::Github, TOKEN, &events, &ping, BODY).unwrap_err();
        assert_eq!(refused, Refused::Event("ping".into()));
        assert!(!refused.unauthorized());
        assert_eq!(check(ReceiverType::Github, TOKEN, &[], &ping, BODY), Ok(()));
    }

    #[test]
    fn bitbucket_server_signature_and_event_key() {
        let events = ["repo:refs_changed".to_owned()];
        let signature = sign(hmac::HMAC_SHA256, "sha256", TOKEN, BODY);
        let push = headers(&[
            ("X-Hub-Signature", signature.clone()),
            ("X-Event-Key", "repo:refs_changed".into()),
        ]);
        assert_eq!(
            check(ReceiverType::Bitbucket, TOKEN, &events, &push, BODY),
            Ok(())
        );
        let comment = headers(&[
            ("X-Hub-Signature", signature),
            ("X-Event-Key", "pr:comment:added".into()),
        ]);
        assert_eq!(
            check(ReceiverType::Bitbucket, TOKEN, &events, &comment, BODY),
            Err(Refused::Event("pr:comment:added".into()))
        );
    }

    #[test]
    fn gitlab_token_and_event() {
        let events = ["Push Hook".to_owned()];
        let ok = headers(&[
            ("X-Gitlab-Token", "s3cr3t-token".into()),
            ("X-Gitlab-Event", "Push Hook".into()),
        ]);
        assert_eq!(
            check(ReceiverType::Gitlab, TOKEN, &events, &ok, BODY),
            Ok(())
        );
        let bad = headers(&[
            ("X-Gitlab-Token", "s3cr3t-tokem".into()),
            ("X-Gitlab-Event", "Push Hook".into()),
        ]);
        assert_eq!(
            check(ReceiverType::Gitlab, TOKEN, &events, &bad, BODY),
            Err(Refused::Mismatch("X-Gitlab-Token"))
        );
        let tag = headers(&[
            ("X-Gitlab-Token", "s3cr3t-token".into()),
            ("X-Gitlab-Event", "Tag Push Hook".into()),
        ]);
        assert!(check(ReceiverType::Gitlab, TOKEN, &events, &tag, BODY).is_err());
    }

    #[test]
    fn generic_hmac_and_generic() {
        let sha512 = sign(hmac::HMAC_SHA512, "sha512", TOKEN, BODY);
        let ok = headers(&[("X-Signature", sha512)]);
        assert_eq!(
            check(ReceiverType::GenericHmac, TOKEN, &[], &ok, BODY),
            Ok(())
        );
        let md5 = headers(&[("X-Signature", "md5=00".into())]);
        assert_eq!(
            check(ReceiverType::GenericHmac, TOKEN, &[], &md5, BODY),
            Err(Refused::Malformed("X-Signature"))
        );
        assert_eq!(
            check(
                ReceiverType::GenericHmac,
                TOKEN,
                &[],
                &HeaderMap::new(),
                BODY
            ),
            Err(Refused::Missing("X-Signature"))
        );
        assert_eq!(
            check(ReceiverType::Generic, TOKEN, &[], &HeaderMap::new(), BODY),
            Ok(())
        );
    }
}
