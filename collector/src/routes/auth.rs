//! Who is calling: a device, by its bearer token (ingest, heartbeat), or the operator, by the
//! admin token (fleet view). Every device endpoint admits through [`bearer`] and [`device`], so
//! they cannot drift apart; neither the device tokens nor the admin token is kept, only hashes.

use std::fmt;

use axum::http::{HeaderMap, header};
use sha2::{Digest, Sha256};

use super::AppState;
use crate::config::AdminToken;
use crate::devices;
use crate::error::ApiError;
use crate::store::DeviceRecord;

/// The request's bearer token: 401 when the header is missing or malformed. Nothing is looked up.
pub(crate) fn bearer(headers: &HeaderMap) -> Result<&str, ApiError> {
    bearer_of(headers).ok_or(ApiError::MissingToken)
}

/// The bearer token of the request's one `Authorization` header; none when there are two or
/// more (which one a proxy on the way would have checked is anybody's guess).
fn bearer_of(headers: &HeaderMap) -> Option<&str> {
    let mut all = headers.get_all(header::AUTHORIZATION).iter();
    let first = all.next();
    if all.next().is_some() {
        return None;
    }
    first
        .and_then(|v| v.to_str().ok())
        .and_then(devices::bearer_token)
}

/// The active device holding `token`: 401 when it is unknown or revoked. Records that the
/// device was seen (its `last_seen_at`).
pub(crate) async fn device(state: &AppState, token: &str) -> Result<DeviceRecord, ApiError> {
    state
        .store
        .authenticate(&devices::token_hash(token))
        .await?
        .ok_or(ApiError::BadToken)
}

/// The SHA-256 of the admin token: what the collector keeps in memory and compares against.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct AdminDigest([u8; 32]);

impl AdminDigest {
    pub fn of(token: &AdminToken) -> Self {
        Self(Sha256::digest(token.as_str().as_bytes()).into())
    }

    /// Whether `presented` is the admin token. Both sides are hashed to 32 bytes and every byte
    /// is compared, so the time taken says nothing about how much of the token was right.
    pub(crate) fn matches(&self, presented: &str) -> bool {
        let presented: [u8; 32] = Sha256::digest(presented.as_bytes()).into();
        self.0
            .iter()
            .zip(presented.iter())
            .fold(0_u8, |diff, (a, b)| diff | (a ^ b))
            == 0
    }
}

impl fmt::Debug for AdminDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("AdminDigest(<redacted>)")
    }
}

/// Admits the operator: with an admin token configured, the request must carry it (a device
/// token is refused like any other wrong token); without one, everyone is admitted.
pub(crate) fn admin(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    let Some(expected) = &state.admin else {
        return Ok(());
    };
    match bearer_of(headers) {
        Some(token) if expected.matches(token) => Ok(()),
        _ => Err(ApiError::AdminTokenRequired),
    }
}

/// Admits the operator as [`admin`] does, or a browser holding a live control-room session
/// (the page's own requests: its figures and its Ask box).
pub(crate) fn admin_or_session(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if state.sessions.admits(headers) {
        return Ok(());
    }
    admin(state, headers)
}

/// Admits a file upload: the admin token or the upload token, when either is configured; without
/// both, everyone is admitted (as the fleet view is).
pub(crate) fn uploader(state: &AppState, headers: &HeaderMap) -> Result<(), ApiError> {
    if state.admin.is_none() && state.upload.is_none() {
        return Ok(());
    }
    let presented = bearer_of(headers);
    let admitted = presented.is_some_and(|token| {
        [state.admin.as_ref(), state.upload.as_ref()]
            .into_iter()
            .flatten()
            .any(|digest| digest.matches(token))
    });
    if admitted {
        Ok(())
    } else {
        Err(ApiError::UploadTokenRequired)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_digest_matches_only_the_same_token() {
        let digest = AdminDigest::of(&AdminToken::new("an-admin-token-of-some-length"));
        assert!(digest.matches("an-admin-token-of-some-length"));
        assert!(!digest.matches("an-admin-token-of-some-lengtH"));
        assert!(!digest.matches(""));
        assert_eq!(format!("{digest:?}"), "AdminDigest(<redacted>)");
    }
}
