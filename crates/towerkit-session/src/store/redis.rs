//! Sessions in Redis, shared by every instance of an app.

use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

use super::{SessionStore, StoreError, StoreFuture};
use crate::id::{is_valid_id, new_id};
use crate::record::Record;

/// Sessions in Redis under `PREFIX` + id, with the TTL kept by Redis: any
/// number of servers can share them.
///
/// The connection is made on first use and managed by the `redis` crate's
/// connection manager. When Redis cannot be reached, the request that
/// needs its session gets 503 (and a log line) after at most about three
/// seconds; once Redis is back, the next request reconnects by itself.
pub struct RedisStore {
    client: redis::Client,
    prefix: String,
    manager: OnceCell<ConnectionManager>,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("prefix", &self.prefix)
            .finish()
    }
}

impl RedisStore {
    /// A store at `url` (`redis://127.0.0.1:6379/0`), keys starting with
    /// `prefix`. No connection is made yet.
    pub fn new(url: &str, prefix: &str) -> Result<Self, String> {
        let client = redis::Client::open(url).map_err(|err| format!("{err}"))?;
        Ok(RedisStore {
            client,
            prefix: prefix.to_owned(),
            manager: OnceCell::new(),
        })
    }

    async fn connection(&self) -> Result<ConnectionManager, StoreError> {
        self.manager
            .get_or_try_init(|| async {
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(Duration::from_secs(1)))
                    .set_response_timeout(Some(Duration::from_secs(2)))
                    .set_number_of_retries(1)
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(Duration::from_millis(500));
                ConnectionManager::new_lazy_with_config(self.client.clone(), config)
                    .map_err(unavailable)
            })
            .await
            .cloned()
    }

    fn key(&self, id: &str) -> String {
        format!("{}{id}", self.prefix)
    }

    /// Runs a command; a connection that broke since its last use (Redis
    /// restarted) is made anew and the command tried once more.
    async fn query<T: redis::FromRedisValue>(&self, command: &redis::Cmd) -> Result<T, StoreError> {
        let mut connection = self.connection().await?;
        match command.query_async(&mut connection).await {
            Err(err)
                if err.is_io_error()
                    || err.is_connection_dropped()
                    || err.is_connection_refusal() =>
            {
                tracing::debug!(error = %err, "the Redis connection broke; trying again");
                command
                    .query_async(&mut connection)
                    .await
                    .map_err(unavailable)
            }
            result => result.map_err(unavailable),
        }
    }
}

fn unavailable(err: redis::RedisError) -> StoreError {
    StoreError::Unavailable(err.to_string())
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
}
