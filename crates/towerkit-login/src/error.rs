//! Why a login layer could not be made.

use std::fmt;

/// Why a builder of this crate refused: a layer, or a users file. The same
/// check, and the same message, whether built in Rust or from a TOML file.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoginError {
    /// The operating system gave no randomness for the key that signs
    /// Digest nonces (its error, as text). A key it did not choose at
    /// random (zeros, say) would let anyone forge nonces, so there is no
    /// layer instead.
    NoRandomness(String),
    /// A users file ([`HtpasswdFile`](crate::HtpasswdFile),
    /// [`HtdigestFile`](crate::HtdigestFile)) could not be read, or has a
    /// line in no format read here: where (path and line) and why.
    UsersFile(String),
    /// A login or logout path that does not start with `/`.
    NotAPath(String),
    /// A ticket secret shorter than
    /// [`MIN_TICKET_SECRET`](crate::MIN_TICKET_SECRET) bytes.
    TicketSecretTooShort(usize),
    /// Not a cookie name (RFC 6265's token: visible ASCII but separators).
    InvalidCookieName(String),
    /// The shared secret ([`LoginLayer::secret`](crate::LoginLayer::secret))
    /// is shorter than 32 bytes (its length).
    ShortSecret(usize),
    /// The shared state ([`LoginLayer::state`](crate::LoginLayer::state))
    /// is not a Redis URL (why).
    StateUrl(String),
}

impl fmt::Display for LoginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoginError::NoRandomness(err) => write!(
                f,
                "the operating system gave no randomness for the login's Digest nonce key \
                 ({err}); refusing to start with a key that is not secret"
            ),
            LoginError::UsersFile(why) => f.write_str(why),
            LoginError::NotAPath(path) => write!(f, "{path:?} is not a path starting with '/'"),
            LoginError::TicketSecretTooShort(len) => write!(
                f,
                "the ticket secret must be at least {} bytes (it is {len})",
                crate::MIN_TICKET_SECRET
            ),
            LoginError::InvalidCookieName(name) => write!(
                f,
                "`{name}` is not a cookie name (letters, digits and !#$%&'*+-.^_`|~ only)"
            ),
            LoginError::ShortSecret(len) => write!(
                f,
                "the secret must be at least 32 bytes, the same on every instance \
                 (it is {len}); e.g. the output of `openssl rand -base64 32`"
            ),
            LoginError::StateUrl(why) => write!(
                f,
                "the state must be a Redis URL such as redis://127.0.0.1:6379/0 ({why})"
            ),
        }
    }
}

impl std::error::Error for LoginError {}
