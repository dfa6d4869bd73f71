//! Replays refused: a signed webhook whose body this Receiver already accepted is refused,
//! so a request captured on its way (a proxy's log, a leaked delivery) cannot ask for
//! reconciles again.
//!
//! Only what a signature binds can tell a replay: the body. GitHub's and Bitbucket's
//! delivery ids are not signed — a replayer would send a new one — but their bodies always
//! differ (each push names its commits), so the same signed body twice is a replay. GitLab's
//! token header is a bearer secret, not a signature over the body, and an unsigned
//! `generic` webhook proves nothing: neither has anything to replay. A `generic-hmac`
//! sender often posts one fixed body for "reconcile now", so it is not checked either.
//!
//! Bodies are remembered by their SHA-256, in this process only, for [`WINDOW`] and at
//! most [`KEPT`] per Receiver: a replay after a restart, on another replica or later than
//! that is accepted, and asks only for a reconcile that changes nothing.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use aws_lc_rs::digest;
use lockstep_api::flux::ReceiverType;

/// How long an accepted body is remembered.
pub const WINDOW: Duration = Duration::from_secs(3600);

/// How many accepted bodies are remembered per Receiver (GitHub sends one per push).
pub const KEPT: usize = 4096;

/// The bodies each Receiver accepted lately, newest last.
#[derive(Default)]
pub struct Seen(Mutex<HashMap<String, VecDeque<(Instant, digest::Digest)>>>);

impl Seen {
    /// Whether a webhook of `kind` to `receiver` with `body` is a replay; if it is not and
    /// `kind` signs its body, the body is remembered.
    pub fn replayed(&self, receiver: &str, kind: ReceiverType, body: &[u8], now: Instant) -> bool {
        if !matches!(kind, ReceiverType::Github | ReceiverType::Bitbucket) {
            return false;
        }
        let sum = digest::digest(&digest::SHA256, body);
        let mut seen = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let bodies = seen.entry(receiver.to_owned()).or_default();
        while bodies
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > WINDOW)
            || bodies.len() >= KEPT
        {
            bodies.pop_front();
        }
        if bodies.iter().any(|(_, s)| s.as_ref() == sum.as_ref()) {
            return true;
        }
        bodies.push_back((now, sum));
        false
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signed_body_twice_is_a_replay_until_it_is_forgotten() {
        let seen = Seen::default();
        let now = Instant::now();
        let push = br#"{"after":"2f1c"}"#;
        assert!(!seen.replayed("ns/github", ReceiverType::Github, push, now));
        assert!(seen.replayed("ns/github", ReceiverType::Github, push, now));
        // Another Receiver, another body: not replays.
        assert!(!seen.replayed("ns/other", ReceiverType::Github, push, now));
        assert!(!seen.replayed("ns/github", ReceiverType::Github, b"{}", now));
        // Forgotten after the window.
        let later = now + WINDOW + Duration::from_secs(1);
        assert!(!seen.replayed("ns/github", ReceiverType::Github, push, later));
        // Bodies nothing signs are never replays.
        for kind in [
            ReceiverType::Gitlab,
            ReceiverType::Generic,
            ReceiverType::GenericHmac,
        ] {
            assert!(!seen.replayed("ns/r", kind, push, now));
            assert!(!seen.replayed("ns/r", kind, push, now));
        }
    }

    #[test]
    fn at_most_kept_bodies_are_remembered() {
        let seen = Seen::default();
        let now = Instant::now();
        for i in 0..=KEPT {
            let body = i.to_string();
            assert!(!seen.replayed("ns/r", ReceiverType::Bitbucket, body.as_bytes(), now));
        }
        // The first was dropped to keep the rest.
        assert!(!seen.replayed("ns/r", ReceiverType::Bitbucket, b"0", now));
        assert!(seen.replayed(
            "ns/r",
            ReceiverType::Bitbucket,
            KEPT.to_string().as_bytes(),
            now
        ));
    }
}
