//! Why a login layer could not be made.

use std::fmt;

/// Why [`LoginLayer::new`](crate::LoginLayer::new) refused to make a
/// layer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoginError {
    /// The operating system gave no randomness for the key that signs
    /// Digest nonces. A key it did not choose at random (zeros, say)
    /// would let anyone forge nonces, so there is no layer instead.
    NoRandomness(getrandom::Error),
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
