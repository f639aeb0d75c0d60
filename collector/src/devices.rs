//! Device tokens: issued once, shown once, stored only as a SHA-256 hash.
//!
//! A token is `scout_` followed by 64 hex characters (32 random bytes from the OS). The
//! collector looks a request's token up by its hash, so a leaked database does not leak tokens.

use sha2::{Digest, Sha256};

/// Prefix that makes Scout device tokens easy to recognise (and to scan for in leaks).
pub const TOKEN_PREFIX: &str = "scout_";

/// A failure to produce a token.
#[derive(Debug, thiserror::Error)]
#[error("the operating system could not provide random bytes for a token: {0}")]
pub struct TokenError(getrandom::Error);

/// Draws a fresh device token.
pub fn new_token() -> Result<String, TokenError> {
    let mut bytes = [0_u8; 32];
    getrandom::fill(&mut bytes).map_err(TokenError)?;
    Ok(format!("{TOKEN_PREFIX}{}", hex::encode(bytes)))
}

/// The stored form of a token.
pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

/// The token in an `Authorization: Bearer <token>` header value, if well-formed.
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.trim().split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_unique_prefixed_and_hash_stably() {
        let a = new_token().unwrap();
        let b = new_token().unwrap();
        assert_ne!(a, b);
        assert!(a.starts_with(TOKEN_PREFIX));
        assert_eq!(a.len(), TOKEN_PREFIX.len() + 64);
        assert_eq!(token_hash(&a), token_hash(&a));
        assert_ne!(token_hash(&a), token_hash(&b));
        assert_eq!(token_hash(&a).len(), 64);
    }

    #[test]
    fn bearer_header_parsing() {
        assert_eq!(bearer_token("Bearer abc"), Some("abc"));
        assert_eq!(bearer_token("bearer  abc "), Some("abc"));
        assert_eq!(bearer_token("Basic abc"), None);
        assert_eq!(bearer_token("Bearer "), None);
        assert_eq!(bearer_token("abc"), None);
    }
}
