//! Control-room sessions: after a login with the admin token, the browser holds a random
//! session id in an HttpOnly, SameSite=Strict cookie (Secure over TLS). The collector keeps only
//! the ids' SHA-256 with their expiry, in memory: a restart logs everyone out, and the cookie
//! never carries the token.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};

/// The cookie's name.
pub const COOKIE: &str = "scout_session";
/// How long a session lasts.
pub const LIFETIME: Duration = Duration::from_secs(12 * 3600);
/// Sessions kept at most; the oldest go first.
const MAX_SESSIONS: usize = 1024;

/// The live sessions.
#[derive(Debug, Default)]
pub struct Sessions {
    live: Mutex<HashMap<[u8; 32], Instant>>,
}

fn digest(id: &str) -> [u8; 32] {
    Sha256::digest(id.as_bytes()).into()
}

impl Sessions {
    /// Starts a session and returns its id (64 hex digits), or `None` when the system's random
    /// source fails.
    pub fn start(&self) -> Option<String> {
        let mut bytes = [0_u8; 32];
        getrandom::fill(&mut bytes).ok()?;
        let id = hex::encode(bytes);
        let now = Instant::now();
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.retain(|_, until| *until > now);
        if live.len() >= MAX_SESSIONS
            && let Some(oldest) = live
                .iter()
                .min_by_key(|(_, until)| **until)
                .map(|(k, _)| *k)
        {
            live.remove(&oldest);
        }
        live.insert(digest(&id), now + LIFETIME);
        Some(id)
    }

    /// Whether the request carries the cookie of a live session.
    pub fn admits(&self, headers: &HeaderMap) -> bool {
        let Some(id) = cookie(headers) else {
            return false;
        };
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.get(&digest(id))
            .is_some_and(|until| *until > Instant::now())
    }

    /// Ends the request's session, if any.
    pub fn end(&self, headers: &HeaderMap) {
        if let Some(id) = cookie(headers) {
            let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
            live.remove(&digest(id));
        }
    }
}

/// The session cookie's value in the request, if any.
fn cookie(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value)
}

/// The `Set-Cookie` value that stores `id` (`None`: clears the cookie).
pub fn set_cookie(id: Option<&str>, secure: bool) -> String {
    let secure = if secure { "; Secure" } else { "" };
    match id {
        Some(id) => format!(
            "{COOKIE}={id}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            LIFETIME.as_secs()
        ),
        None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0{secure}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_cookie(value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::COOKIE, value.parse().unwrap());
        h
    }

    #[test]
    fn a_started_session_admits_until_it_ends() {
        let sessions = Sessions::default();
        let id = sessions.start().unwrap();
        assert_eq!(id.len(), 64);
        let headers = with_cookie(&format!("other=1; {COOKIE}={id}"));
        assert!(sessions.admits(&headers));
        // The same id with its first digit changed (to another digit, whatever it was).
        let first = if id.starts_with('0') { '1' } else { '0' };
        let forged = format!("{COOKIE}={first}{}", &id[1..]);
        assert!(!sessions.admits(&with_cookie(&forged)));
        assert!(!sessions.admits(&HeaderMap::new()));
        sessions.end(&headers);
        assert!(!sessions.admits(&headers));
    }

    #[test]
    fn cookie_attributes() {
        let c = set_cookie(Some("abc"), true);
        assert!(c.starts_with("scout_session=abc; Path=/; HttpOnly; SameSite=Strict; Max-Age="));
        assert!(c.ends_with("; Secure"));
        assert!(!set_cookie(Some("abc"), false).contains("Secure"));
        assert!(set_cookie(None, false).contains("Max-Age=0"));
    }
}
