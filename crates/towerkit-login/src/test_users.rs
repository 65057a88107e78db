//! The users the crate's own tests log in as.

use towerkit_core::recursive::BoxFuture;

use crate::Authenticator;

/// One user, `ada` with the password `secret`.
pub(crate) struct Ada;

impl Authenticator for Ada {
    fn check(&self, user: &str, password: &str) -> BoxFuture<bool> {
        let ok = user == "ada" && password == "secret";
        Box::pin(async move { ok })
    }
}
