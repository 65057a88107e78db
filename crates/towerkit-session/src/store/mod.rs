//! Where sessions are kept: one async trait, four stores.
//!
//! A store keeps [`Record`]s under keys, and a key is what the cookie
//! carries: an id for the server-side stores ([`MemoryStore`],
//! [`FileStore`], [`RedisStore`]), the whole session, encrypted, for
//! [`CookieStore`].

mod cookie;
mod file;
mod memory;
#[cfg(feature = "redis")]
mod redis;

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use towerkit_core::HttpException;

pub use self::cookie::{CookieStore, MIN_SECRET};
pub use self::file::FileStore;
pub use self::memory::MemoryStore;
#[cfg(feature = "redis")]
pub use self::redis::RedisStore;
use crate::record::Record;

/// The future a store returns.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send + 'a>>;

/// Keeps sessions.
pub trait SessionStore: Send + Sync + 'static {
    /// The record a cookie value names; `None` for an unknown, expired,
    /// malformed or forged one. A store that cannot tell (it cannot be
    /// reached, it did not answer in time) returns an error, never `None`:
    /// `None` would log the user out.
    fn load<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Record>>;

    /// Keeps `record` for `ttl` under `key`, or under a new key when `key` is
    /// `None`; returns the cookie value that names it.
    fn store<'a>(
        &'a self,
        key: Option<&'a str>,
        record: &'a Record,
        ttl: Duration,
    ) -> StoreFuture<'a, String>;

    /// Forgets the record under `key`.
    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()>;

    /// Whether the store can be used now, asked by a health check: a store
    /// kept by another server answers a ping within its timeout. Stores
    /// kept in this process are always ready.
    fn ready(&self) -> StoreFuture<'_, ()> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// How long a client is told to wait (`Retry-After`, seconds) when the
/// store is unavailable.
pub const RETRY_AFTER_SECONDS: u64 = 5;

/// Why a store failed.
///
/// As an answer ([`HttpException`]): a session too large for its store is
/// a 500 (waiting will not help); any other store error is a 503 with
/// `Retry-After: 5` ([`RETRY_AFTER_SECONDS`]), rendered by `Accept` like
/// every error. The session layer logs an outage once, when it begins and
/// when it ends, rather than once per request.
#[derive(Debug)]
pub enum StoreError {
    /// The store cannot be reached now, or did not answer in time (Redis
    /// down or hung): 503, and a later request may succeed.
    Unavailable(String),
    /// The session is too large for its store (a cookie past 4 KB): 500.
    TooLarge(usize),
    /// Anything else the store failed at (a full disk): 503.
    Failed(String),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::Unavailable(why) => write!(f, "the session store is unavailable: {why}"),
            StoreError::TooLarge(size) => write!(
                f,
                "the session is too large for its cookie ({size} bytes; the limit is 4096)"
            ),
            StoreError::Failed(why) => write!(f, "the session store failed: {why}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<StoreError> for HttpException {
    /// 500 for [`StoreError::TooLarge`], otherwise 503 with `Retry-After`.
    /// Nothing is logged here (the session layer logs outages).
    fn from(err: StoreError) -> Self {
        tracing::debug!("{err}");
        match err {
            StoreError::TooLarge(_) => HttpException::internal_server_error(),
            StoreError::Unavailable(_) | StoreError::Failed(_) => {
                HttpException::service_unavailable(Some(towerkit_core::RetryAfter::Seconds(
                    RETRY_AFTER_SECONDS,
                )))
                .with_detail("the session store is unavailable")
            }
        }
    }
}
