//! The login's counts in Redis, shared by every instance that uses it.

use std::fmt::Write as _;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sha1::{Digest as _, Sha1};
use towerkit_core::redis::{RedisConnection, RedisFailure};

use super::{LoginState, StateError, StateFuture};
use crate::throttle::{
    attempt_delay, keys, seconds, Attempt, Client, Key, Limits, Reason, Refused,
};

/// The global budget, shared by the two scripts that change it: a hash
/// (KEYS[4]) of the tokens left and when, by Redis's own clock (the same
/// for every instance), refilled at ARGV[1] a second up to ARGV[2]; it
/// expires once it would be full again.
macro_rules! budget {
    () => {
        r"
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local function refilled()
  local time = redis.call('TIME')
  local now = tonumber(time[1]) * 1000 + math.floor(tonumber(time[2]) / 1000)
  local budget = redis.call('HMGET', KEYS[4], 'tokens', 'at')
  local tokens = tonumber(budget[1]) or burst
  local at = tonumber(budget[2]) or now
  return math.min(burst, tokens + math.max(0, now - at) * rate / 1000), now
end
local function keep(tokens, now)
  redis.call('HSET', KEYS[4], 'tokens', tostring(tokens), 'at', now)
  redis.call('PEXPIRE', KEYS[4], math.ceil(burst * 1000 / math.max(rate, 1)) + 1000)
end
"
    };
}

/// Reserves an attempt, as `Throttle::reserve` does, in one step.
///
/// KEYS: the pair's count, the address's count, the pair's trust, the
/// global budget. ARGV: budget rate (a second), budget size, pair
/// lockout, address lockout, window (ms).
///
/// A count is a number whose TTL is the window, renewed at each counted
/// attempt: it lasts 15 minutes after the last one, and its PTTL is how
/// long a lock has left. Returns `{1, pair_before, address_before,
/// trusted, took_token}`, or `{0, reason, retry_after_ms}` (1 pair, 2
/// address, 3 budget) with nothing counted.
const RESERVE: &str = concat!(
    budget!(),
    r"
local pair = tonumber(redis.call('GET', KEYS[1]) or '0')
if pair >= tonumber(ARGV[3]) then
  return {0, 1, redis.call('PTTL', KEYS[1])}
end
local trusted = redis.call('EXISTS', KEYS[3]) == 1
local client = tonumber(redis.call('GET', KEYS[2]) or '0')
local tokens, now = refilled()
local took = 0
if not trusted then
  if client >= tonumber(ARGV[4]) then
    return {0, 2, redis.call('PTTL', KEYS[2])}
  end
  if tokens < 1 then
    keep(tokens, now)
    return {0, 3, math.ceil((1 - tokens) * 1000 / math.max(rate, 1))}
  end
  tokens = tokens - 1
  took = 1
end
keep(tokens, now)
redis.call('INCR', KEYS[1])
redis.call('PEXPIRE', KEYS[1], ARGV[5])
redis.call('INCR', KEYS[2])
redis.call('PEXPIRE', KEYS[2], ARGV[5])
return {1, pair, client, trusted and 1 or 0, took}
"
);

/// Takes an attempt back, as `Throttle::succeeded_at` does.
///
/// KEYS: the pair's count, the address's count, the pair's trust, the
/// global budget. ARGV: budget rate, budget size, whether it took a token,
/// trust (ms).
const SUCCEEDED: &str = concat!(
    budget!(),
    r"
if ARGV[3] == '1' then
  local tokens, now = refilled()
  keep(math.min(burst, tokens + 1), now)
end
if tonumber(redis.call('GET', KEYS[2]) or '0') > 0 then
  redis.call('DECR', KEYS[2])
end
redis.call('DEL', KEYS[1])
redis.call('SET', KEYS[3], '1', 'PX', ARGV[4])
return {1}
"
);

/// Records a Digest `nc`. KEYS: the nonce's count. ARGV: the count, how
/// long the nonce is still good (ms). `{1}` if higher than any seen, else
/// `{0}`.
const COUNT_NONCE: &str = r"
local last = tonumber(redis.call('GET', KEYS[1]))
if last and tonumber(ARGV[1]) <= last then
  return {0}
end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return {1}
";

/// A Lua script, sent by its SHA-1 (`EVALSHA`), and whole once when Redis
/// does not know it yet (after a restart).
struct Script {
    code: &'static str,
    sha: String,
}

impl Script {
    fn new(code: &'static str) -> Script {
        let sha = hex(&Sha1::digest(code.as_bytes()));
        Script { code, sha }
    }

    fn command(&self, by_sha: bool, keys: &[String], args: &[u64]) -> redis::Cmd {
        let mut command = if by_sha {
            let mut c = redis::cmd("EVALSHA");
            c.arg(&self.sha);
            c
        } else {
            let mut c = redis::cmd("EVAL");
            c.arg(self.code);
            c
        };
        command.arg(keys.len()).arg(keys).arg(args);
        command
    }
}

/// The login's counts in Redis (see the [`state`](super) module), under
/// keys that start with `towerkit:login:`.
///
/// The connection is made on first use and kept by the `redis` crate's
/// connection manager, as the session store's is ([`RedisConnection`]).
/// Every operation, connecting, one retry on a broken connection and
/// sending a script Redis forgot included, has `timeout` to finish (2
/// seconds unless set); when Redis is down or hung the request is answered
/// 503 within that time, and the outage is logged once, when it begins,
/// and once when Redis answers again.
pub(crate) struct RedisState {
    connection: RedisConnection,
    prefix: String,
    limits: Limits,
    reserve: Script,
    succeeded: Script,
    count_nonce: Script,
    /// Whether the last operation failed: outages are logged at their
    /// edges.
    down: AtomicBool,
}

impl RedisState {
    /// How long an operation has unless set.
    pub(crate) const DEFAULT_TIMEOUT: Duration = RedisConnection::DEFAULT_TIMEOUT;

    /// The state at `url` (`redis://127.0.0.1:6379/0`); no connection is
    /// made yet.
    pub(crate) fn new(url: &str, timeout: Duration) -> Result<Self, String> {
        Ok(RedisState {
            connection: RedisConnection::open(url)?.with_timeout(timeout),
            prefix: "towerkit:login:".to_owned(),
            limits: Limits::default(),
            reserve: Script::new(RESERVE),
            succeeded: Script::new(SUCCEEDED),
            count_nonce: Script::new(COUNT_NONCE),
            down: AtomicBool::new(false),
        })
    }

    /// Runs `script` within the timeout, and notes whether Redis answered.
    async fn run(
        &self,
        script: &Script,
        keys: &[String],
        args: &[u64],
    ) -> Result<Vec<i64>, StateError> {
        let timeout = self.connection.timeout();
        let result = match tokio::time::timeout(timeout, self.eval(script, keys, args)).await {
            Ok(result) => result.map_err(|failure| StateError(failure.to_string())),
            Err(_) => Err(StateError(RedisFailure::TimedOut(timeout).to_string())),
        };
        if result.is_err() {
            // Counted for whatever `metrics` recorder the program installed.
            metrics::counter!("towerkit_login_state_errors_total").increment(1);
        }
        match &result {
            Ok(_) if self.down.swap(false, Ordering::AcqRel) => {
                tracing::info!("the login state in Redis answers again");
            }
            Err(err) if !self.down.swap(true, Ordering::AcqRel) => tracing::warn!(
                error = %err,
                "logins that need their state are answered 503 until Redis answers again"
            ),
            Err(err) => tracing::debug!(error = %err, "the login state is still unavailable"),
            Ok(_) => {}
        }
        result
    }

    /// `EVALSHA`, and `EVAL` when Redis does not know the script (it
    /// restarted since it last ran).
    async fn eval(
        &self,
        script: &Script,
        keys: &[String],
        args: &[u64],
    ) -> Result<Vec<i64>, RedisFailure> {
        match self
            .connection
            .query(&script.command(true, keys, args))
            .await
        {
            Err(RedisFailure::Failed(err)) if err.code() == Some("NOSCRIPT") => {
                self.connection
                    .query(&script.command(false, keys, args))
                    .await
            }
            result => result,
        }
    }

    /// The keys of an attempt's pair and address, the pair's trust and the
    /// global budget.
    fn attempt_keys(&self, pair: &Key, client: &Key) -> Vec<String> {
        let prefix = &self.prefix;
        let pair = name(pair);
        vec![
            format!("{prefix}pair:{pair}"),
            format!("{prefix}addr:{}", name(client)),
            format!("{prefix}trust:{pair}"),
            format!("{prefix}budget"),
        ]
    }
}

/// A key's name in Redis: the user's digest in hex and the address.
fn name(key: &Key) -> String {
    let client = |client: &Client| match client {
        Client::Addr(addr) => addr.to_string(),
        Client::Unknown => "unknown".to_owned(),
    };
    match key {
        Key::Pair(digest, who) => format!("{}:{}", hex(digest), client(who)),
        Key::Client(who) => client(who),
    }
}

/// Lower-case hex.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut hex, b| {
        let _ = write!(hex, "{b:02x}");
        hex
    })
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// A number Redis returned, as a count (a negative one is none).
fn count(value: i64) -> u32 {
    u32::try_from(value.max(0)).unwrap_or(u32::MAX)
}

impl LoginState for RedisState {
    fn reserve<'a>(
        &'a self,
        user: &'a str,
        client: Option<IpAddr>,
    ) -> StateFuture<'a, Result<Attempt, Refused>> {
        Box::pin(async move {
            let limits = self.limits;
            let (pair, client) = keys(user, client);
            let args = [
                u64::from(limits.global_rate),
                u64::from(limits.global_burst),
                u64::from(limits.pair_lockout),
                u64::from(limits.client_lockout),
                millis(limits.window),
            ];
            let answer = self
                .run(&self.reserve, &self.attempt_keys(&pair, &client), &args)
                .await?;
            match answer.as_slice() {
                [1, pair_before, client_before, trusted, took] => {
                    let (pair_before, client_before) = (count(*pair_before), count(*client_before));
                    Ok(Ok(Attempt {
                        pair,
                        client,
                        took_token: *took == 1,
                        delay: attempt_delay(&limits, pair_before, client_before, *trusted == 1),
                    }))
                }
                [0, reason, retry_ms] => {
                    let reason = match reason {
                        1 => Reason::Pair,
                        2 => Reason::Client,
                        _ => Reason::Global,
                    };
                    // A lock's key with no TTL left (-1, -2) has just
                    // expired: try again in a second.
                    let wait = Duration::from_millis(u64::try_from(*retry_ms).unwrap_or(0));
                    Ok(Err(Refused {
                        reason,
                        retry_after: seconds(wait),
                    }))
                }
                other => Err(StateError(format!(
                    "unexpected answer of the reserve script: {other:?}"
                ))),
            }
        })
    }

    fn succeeded(&self, attempt: Attempt) -> StateFuture<'_, ()> {
        Box::pin(async move {
            let limits = self.limits;
            let args = [
                u64::from(limits.global_rate),
                u64::from(limits.global_burst),
                u64::from(attempt.took_token),
                millis(limits.trust),
            ];
            let keys = self.attempt_keys(&attempt.pair, &attempt.client);
            self.run(&self.succeeded, &keys, &args).await.map(drop)
        })
    }

    fn ready(&self) -> StateFuture<'_, ()> {
        Box::pin(async move {
            let pong: String = self
                .connection
                .query(&redis::cmd("PING"))
                .await
                .map_err(|failure| StateError(failure.to_string()))?;
            match pong.as_str() {
                "PONG" => Ok(()),
                other => Err(StateError(format!("PING answered {other:?}"))),
            }
        })
    }

    fn count_nonce<'a>(&'a self, nonce: &'a str, nc: u32, until: u64) -> StateFuture<'a, bool> {
        Box::pin(async move {
            // Kept a little past the nonce's end: until then it is checked
            // here, and after it is stale whatever its count.
            let left = until.saturating_sub(super::unix_now()).saturating_add(2);
            let keys = [format!("{}nc:{nonce}", self.prefix)];
            let args = [u64::from(nc), left.saturating_mul(1000)];
            let answer = self.run(&self.count_nonce, &keys, &args).await?;
            Ok(answer.first() == Some(&1))
        })
    }
}

#[cfg(test)]
mod tests {
    use std::net::TcpListener;
    use std::process::{Child, Command, Stdio};
    use std::time::Instant;

    use super::super::contract;
    use super::*;

    /// A redis-server of the test's own on a free loopback port, killed
    /// when dropped.
    struct Server {
        child: Child,
        port: u16,
    }

    impl Server {
        /// None (and a loud message) when there is no redis-server, except
        /// in CI, which installs it: there the test fails.
        fn start() -> Option<Server> {
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .expect("a free port");
            let spawned = Command::new("redis-server")
                .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
                .args(["--save", "", "--appendonly", "no"])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn();
            let Ok(child) = spawned else {
                assert!(
                    std::env::var("CI").is_err(),
                    "redis-server is required in CI (.ci/run installs it)"
                );
                eprintln!("SKIPPED: no redis-server binary to test the Redis login state with");
                return None;
            };
            let deadline = Instant::now() + Duration::from_secs(10);
            while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
                assert!(Instant::now() < deadline, "redis-server did not start");
                std::thread::sleep(Duration::from_millis(20));
            }
            Some(Server { child, port })
        }

        fn state(&self, limits: Limits) -> RedisState {
            let url = format!("redis://127.0.0.1:{}/0", self.port);
            let mut state = RedisState::new(&url, RedisState::DEFAULT_TIMEOUT).unwrap();
            state.limits = limits;
            state
        }
    }

    impl Drop for Server {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    #[tokio::test]
    async fn redis_keeps_the_same_counts_as_memory() {
        let Some(server) = Server::start() else {
            return;
        };
        contract::pairs_and_addresses(&server.state(Limits::default())).await;
        contract::nonce_counts(&server.state(Limits::default())).await;
        // Every key expires.
        let state = server.state(Limits::default());
        let keys: Vec<String> = state
            .connection
            .query(redis::cmd("KEYS").arg("towerkit:login:*"))
            .await
            .unwrap();
        assert!(keys.len() > 30, "{keys:?}");
        for key in keys {
            let ttl: i64 = state
                .connection
                .query(redis::cmd("PTTL").arg(&key))
                .await
                .unwrap();
            assert!(ttl > 0, "{key} has no TTL ({ttl})");
        }
    }

    #[tokio::test]
    async fn redis_global_budget() {
        let Some(server) = Server::start() else {
            return;
        };
        let limits = Limits {
            global_rate: 0,
            ..Limits::default()
        };
        contract::the_global_budget(&server.state(limits)).await;
    }

    #[tokio::test]
    async fn instances_share_one_budget_and_one_nonce_table() {
        let Some(server) = Server::start() else {
            return;
        };
        let instances: Vec<_> = (0..3).map(|_| server.state(Limits::default())).collect();
        for n in 0..10 {
            let at = &instances[n % 3];
            let attempt = at.reserve("ada", "192.0.2.1".parse().ok()).await;
            assert!(attempt.unwrap().is_ok());
        }
        for at in &instances {
            let refused = at.reserve("ada", "192.0.2.1".parse().ok()).await.unwrap();
            assert_eq!(refused.unwrap_err().reason, Reason::Pair);
        }
        let until = super::super::unix_now() + 60;
        assert!(instances[0].count_nonce("n", 1, until).await.unwrap());
        assert!(!instances[1].count_nonce("n", 1, until).await.unwrap());
        assert!(instances[2].count_nonce("n", 2, until).await.unwrap());
        // Redis forgets its scripts (as when it restarts): they are sent
        // again.
        let flushed: String = instances[0]
            .connection
            .query(redis::cmd("SCRIPT").arg("FLUSH"))
            .await
            .unwrap();
        assert_eq!(flushed, "OK");
        assert!(instances[1].count_nonce("n", 3, until).await.unwrap());
        assert!(!instances[0].count_nonce("n", 3, until).await.unwrap());
        assert_eq!(instances[2].ready().await, Ok(()));
    }

    /// One step of a client: an attempt of `user` from `client`, whose
    /// password is right or not.
    #[derive(Clone, Debug)]
    struct Step {
        user: u8,
        client: u8,
        right: bool,
    }

    /// The in-process throttle is the model: for any sequence of attempts,
    /// the Redis state gives the same answers (the same delays, the same
    /// refusals for the same reasons, the same times to wait give or take
    /// the second a count's age is rounded to). Limits small enough that
    /// pairs, addresses and the budget (which does not refill here) all
    /// refuse within a sequence.
    #[test]
    fn redis_answers_as_the_in_process_throttle_does() {
        use proptest::prelude::*;

        let Some(server) = Server::start() else {
            return;
        };
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let limits = Limits {
            pair_free: 1,
            pair_lockout: 4,
            client_free: 2,
            client_lockout: 7,
            global_rate: 0,
            global_burst: 12,
            ..Limits::default()
        };
        let step =
            (0u8..3, 0u8..3, proptest::bool::weighted(0.3)).prop_map(|(user, client, right)| {
                Step {
                    user,
                    client,
                    right,
                }
            });
        let config = ProptestConfig::with_cases(48);
        proptest!(config, |(steps in proptest::collection::vec(step, 1..40))| {
            runtime.block_on(async {
                let redis = server.state(limits);
                let flushed: String = redis.connection.query(&redis::cmd("FLUSHALL")).await.unwrap();
                prop_assert_eq!(flushed, "OK");
                let memory = super::super::MemoryState {
                    throttle: crate::throttle::Throttle::new(limits),
                    nonces: std::sync::Mutex::default(),
                };
                for (n, step) in steps.iter().enumerate() {
                    let user = format!("user{}", step.user);
                    let client = Some(IpAddr::from([192, 0, 2, step.client]));
                    let model = memory.reserve(&user, client).await.unwrap();
                    let shared = redis.reserve(&user, client).await.unwrap();
                    match (model, shared) {
                        (Ok(model), Ok(shared)) => {
                            prop_assert_eq!(model.delay, shared.delay, "step {}", n);
                            prop_assert_eq!(model.took_token, shared.took_token, "step {}", n);
                            if step.right {
                                memory.succeeded(model).await.unwrap();
                                redis.succeeded(shared).await.unwrap();
                            }
                        }
                        (Err(model), Err(shared)) => {
                            prop_assert_eq!(model.reason, shared.reason, "step {}", n);
                            let apart = model.retry_after.abs_diff(shared.retry_after);
                            prop_assert!(apart <= 1, "step {}: {:?} {:?}", n, model, shared);
                        }
                        (model, shared) => {
                            prop_assert!(false, "step {}: memory {:?}, Redis {:?}", n, model, shared);
                        }
                    }
                }
                Ok(())
            })?;
        });
    }

    #[tokio::test]
    async fn no_redis_is_an_error_not_an_answer() {
        // A port nothing listens on: refused at once.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .unwrap();
        let state = RedisState::new(
            &format!("redis://127.0.0.1:{port}/0"),
            Duration::from_millis(500),
        )
        .unwrap();
        let reserved = state.reserve("ada", None).await;
        assert!(reserved.is_err(), "{reserved:?}");
        assert!(state.count_nonce("n", 1, 0).await.is_err());
        assert!(state.ready().await.is_err());
        // A server that accepts and never answers: the timeout.
        let hung = TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("redis://{}/0", hung.local_addr().unwrap());
        let state = RedisState::new(&url, Duration::from_millis(200)).unwrap();
        assert!(state.reserve("ada", None).await.is_err());
        assert!(RedisState::new("http://nowhere", Duration::from_secs(1)).is_err());
    }
}
