//! Why a session layer or store could not be made as asked.

use std::fmt;

/// Why a builder of this crate refused a setting: the same check, and the
/// same message, whether the layer is built in Rust or from a TOML file.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionError {
    /// Not a cookie name (RFC 6265's token: visible ASCII but separators).
    InvalidCookieName(String),
    /// A [`CookieStore`](crate::CookieStore) secret shorter than
    /// [`MIN_SECRET`](crate::store::MIN_SECRET) bytes.
    SecretTooShort(usize),
    /// A [`RedisStore`](crate::RedisStore) URL the Redis client refused.
    InvalidRedisUrl(String),
}

impl fmt::Display for SessionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SessionError::InvalidCookieName(name) => write!(
                f,
                "`{name}` is not a cookie name (letters, digits and !#$%&'*+-.^_`|~ only)"
            ),
            SessionError::SecretTooShort(len) => write!(
                f,
                "the secret must be at least {} bytes (it is {len})",
                crate::store::MIN_SECRET
            ),
            SessionError::InvalidRedisUrl(why) => write!(f, "not a Redis URL: {why}"),
        }
    }
}

impl std::error::Error for SessionError {}

/// Whether `name` may name a cookie: a non-empty RFC 6265 token.
pub(crate) fn is_cookie_name(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}
