//! One way to talk to Redis for every layer that keeps state there (the
//! session store, the login's shared counts): a connection made on first
//! use and kept by the `redis` crate's connection manager, and every
//! operation bounded by one timeout. Feature `redis`.

use std::fmt;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use tokio::sync::OnceCell;

/// A Redis server, connected to on first use.
///
/// Every [`query`](Self::query), connecting and one retry on a broken
/// connection included, has [`timeout`](Self::timeout) to finish: when
/// Redis is down (refused at once) or hung (no answer), the caller has its
/// error within that time, and can answer 503. Once Redis answers again,
/// queries use it again by themselves, reconnecting if they must.
pub struct RedisConnection {
    client: redis::Client,
    timeout: Duration,
    manager: OnceCell<ConnectionManager>,
}

impl fmt::Debug for RedisConnection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConnection")
            .field("timeout", &self.timeout)
            .finish()
    }
}

/// Why a query failed.
#[derive(Debug)]
pub enum RedisFailure {
    /// Redis did not answer within the timeout.
    TimedOut(Duration),
    /// Redis could not be reached, or answered with an error.
    Failed(redis::RedisError),
}

impl fmt::Display for RedisFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RedisFailure::TimedOut(timeout) => {
                write!(f, "Redis did not answer within {timeout:?}")
            }
            RedisFailure::Failed(err) => write!(f, "{err}"),
        }
    }
}

impl std::error::Error for RedisFailure {}

impl RedisConnection {
    /// How long an operation has unless set: 2 seconds.
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

    /// Redis at `url` (`redis://127.0.0.1:6379/0`), with
    /// [`DEFAULT_TIMEOUT`](Self::DEFAULT_TIMEOUT). No connection is made
    /// yet; an error says why `url` is not a Redis URL.
    pub fn open(url: &str) -> Result<Self, String> {
        Ok(RedisConnection {
            client: redis::Client::open(url).map_err(|err| err.to_string())?,
            timeout: Self::DEFAULT_TIMEOUT,
            manager: OnceCell::new(),
        })
    }

    /// The same server, each operation given `timeout` (at least a
    /// millisecond), and a connection of its own.
    #[must_use]
    pub fn with_timeout(&self, timeout: Duration) -> Self {
        RedisConnection {
            client: self.client.clone(),
            timeout: timeout.max(Duration::from_millis(1)),
            manager: OnceCell::new(),
        }
    }

    /// How long each operation has.
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    async fn connection(&self) -> Result<ConnectionManager, RedisFailure> {
        self.manager
            .get_or_try_init(|| async {
                // The whole operation is bounded by `timeout` (see `query`);
                // these bound the parts, so that a connection attempt or a
                // command never outlives it in the background.
                let config = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(self.timeout))
                    .set_response_timeout(Some(self.timeout))
                    .set_number_of_retries(1)
                    .set_min_delay(Duration::from_millis(50))
                    .set_max_delay(Duration::from_millis(500));
                ConnectionManager::new_lazy_with_config(self.client.clone(), config)
                    .map_err(RedisFailure::Failed)
            })
            .await
            .cloned()
    }

    /// Runs `command` within the timeout; a connection that broke since its
    /// last use (Redis restarted) is made anew and the command tried once
    /// more, within the same timeout.
    pub async fn query<T: redis::FromRedisValue>(
        &self,
        command: &redis::Cmd,
    ) -> Result<T, RedisFailure> {
        match tokio::time::timeout(self.timeout, self.query_once_more(command)).await {
            Ok(result) => result,
            Err(_) => Err(RedisFailure::TimedOut(self.timeout)),
        }
    }

    async fn query_once_more<T: redis::FromRedisValue>(
        &self,
        command: &redis::Cmd,
    ) -> Result<T, RedisFailure> {
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
                    .map_err(RedisFailure::Failed)
            }
            result => result.map_err(RedisFailure::Failed),
        }
    }
}
