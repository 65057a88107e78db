//! Why a login layer could not be made.

use std::fmt;

/// Why [`LoginLayer::new`](crate::LoginLayer::new) refused to make a
/// layer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LoginError {
    /// The operating system gave no randomness for the key that signs
    /// Digest nonces. A key it did not choose at random (zeros, say)
    /// would let anyone forge nonces, so there is no layer instead.
    NoRandomness(getrandom::Error),
}

impl fmt::Display for LoginError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LoginError::NoRandomness(err) => write!(
                f,
                "the operating system gave no randomness for the login's Digest nonce key \
                 ({err}); refusing to start with a key that is not secret"
            ),
        }
    }
}

impl std::error::Error for LoginError {}
