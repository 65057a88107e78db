//! Sessions in Redis, shared by every instance of an app.

use crate::SessionError;
use std::time::Duration;

use towerkit_core::redis::RedisConnection;

use super::{SessionStore, StoreError, StoreFuture};
use crate::id::{is_valid_id, new_id};
use crate::record::Record;

/// Sessions in Redis under `PREFIX` + id, with the TTL kept by Redis: any
/// number of servers can share them.
///
/// The connection is made on first use and managed by the `redis` crate's
/// connection manager ([`RedisConnection`]). Every operation (load, store, delete), connecting
/// and one retry on a broken connection included, has [`timeout`](Self::timeout)
/// to finish, 2 seconds by default ([`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT)):
/// when Redis is down (refused at once) or hung (no answer), the request
/// that needs its session gets 503 with `Retry-After` within that time,
/// and the outage is logged once by the layer. Once Redis answers again,
/// requests use it again by themselves, reconnecting if they must.
pub struct RedisStore {
    connection: RedisConnection,
    prefix: String,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .field("timeout", &self.connection.timeout())
            .finish()
    }
}

impl RedisStore {
    /// How long an operation has unless set: 2 seconds.
    pub const DEFAULT_TIMEOUT: Duration = RedisConnection::DEFAULT_TIMEOUT;

    /// A store at `url` (`redis://127.0.0.1:6379/0`), keys starting with
    /// `prefix`. No connection is made yet.
    pub fn new(url: &str, prefix: &str) -> Result<Self, SessionError> {
        Ok(RedisStore {
            connection: RedisConnection::open(url).map_err(SessionError::InvalidRedisUrl)?,
            prefix: prefix.to_owned(),
        })
    }

    /// How long each operation has, connecting included, before it fails
    /// as unavailable (a 503): default 2 seconds, at least a millisecond.
    /// Set it before the store is first used.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.connection = self.connection.with_timeout(timeout);
        self
    }

    fn key(&self, id: &str) -> String {
        format!("{}{id}", self.prefix)
    }

    /// Runs a command within the timeout (see [`RedisConnection::query`]).
    async fn query<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> Result<T, StoreError> {
        self.connection
            .query(command)
            .await
            .map_err(|failure| StoreError::Unavailable(failure.to_string()))
    }
}

impl SessionStore for RedisStore {
    fn load<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Record>> {
        Box::pin(async move {
            if !is_valid_id(key) {
                return Ok(None);
            }
            let value: Option<String> = self.query(redis::cmd("GET").arg(self.key(key))).await?;
            Ok(value.and_then(|json| serde_json::from_str(&json).ok()))
        })
    }

    fn store<'a>(
        &'a self,
        key: Option<&'a str>,
        record: &'a Record,
        ttl: Duration,
    ) -> StoreFuture<'a, String> {
        Box::pin(async move {
            let id = match key.filter(|k| is_valid_id(k)) {
                Some(key) => key.to_owned(),
                None => new_id().map_err(|err| StoreError::Failed(err.to_string()))?,
            };
            let json =
                serde_json::to_string(record).map_err(|err| StoreError::Failed(err.to_string()))?;
            let mut set = redis::cmd("SET");
            set.arg(self.key(&id))
                .arg(json)
                .arg("EX")
                .arg(ttl.as_secs().max(1));
            self.query::<()>(&set).await?;
            Ok(id)
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            if !is_valid_id(key) {
                return Ok(());
            }
            self.query::<()>(redis::cmd("DEL").arg(self.key(key))).await
        })
    }

    fn ready(&self) -> StoreFuture<'_, ()> {
        Box::pin(async move { self.query::<()>(&redis::cmd("PING")).await })
    }
}
