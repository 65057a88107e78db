//! Where the login's counts are kept: in this process, or in Redis for
//! many instances behind one load balancer.
//!
//! The state is what requests change: the throttle's counts (see the
//! `throttle` module for what they mean) and the highest Digest `nc` seen
//! per nonce. [`LoginState`] is the one interface the layer uses, so that
//! the throttle and the nonce checks are written once, whatever keeps them:
//!
//! - [`MemoryState`], the default: this process's own tables, as fast as
//!   they were (no I/O, no lock held across an await);
//! - `RedisState` (feature `redis`): the same counts in Redis, each
//!   decision and its update made at once by a Lua script, every key with a
//!   TTL. Instances that share the Redis share the budgets: ten wrong
//!   passwords spread across three instances lock the pair as ten at one
//!   would, and a Digest `nc` used at one is refused at the others.
//!
//! What Redis holds is bounded the way the in-process table is, by what
//! may enter and for how long: a count lives its 15-minute window after
//! its last attempt, a pair's trust a day after its login, the budget
//! until it would be full again, and a nonce's count the nonce's five
//! minutes; counts of pairs not trusted enter only through the global
//! budget, and a nonce's count only with a right answer (a client without
//! the password records nothing). So the Redis state never refuses for a
//! full table, the one answer it does not share with the in-process one.
//!
//! A state that cannot answer (Redis down, or no answer within its
//! timeout) is a [`StateError`]: the request is answered 503 with
//! `Retry-After: 5`, as a session store's outage is. It is neither a free
//! pass (the password unchecked by the throttle) nor a refusal that looks
//! like a wrong password.

#[cfg(feature = "redis")]
pub(crate) mod redis;

use std::collections::HashMap;
use std::fmt;
use std::future::Future;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use towerkit_core::{HttpException, RetryAfter};

use crate::throttle::{Attempt, Refused, Throttle};

/// How long a client is told to wait (`Retry-After`, seconds) when the
/// state cannot answer: as long as for a session store's outage.
pub(crate) const RETRY_AFTER_SECONDS: u64 = 5;

/// The future a [`LoginState`] returns.
pub(crate) type StateFuture<'a, T> =
    Pin<Box<dyn Future<Output = Result<T, StateError>> + Send + 'a>>;

/// The state could not answer: nothing was decided.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct StateError(pub(crate) String);

impl fmt::Display for StateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "the login state is unavailable: {}", self.0)
    }
}

impl std::error::Error for StateError {}

impl From<StateError> for HttpException {
    /// 503 with `Retry-After: 5`: who asks cannot be decided now.
    fn from(err: StateError) -> Self {
        tracing::debug!("{err}");
        HttpException::service_unavailable(Some(RetryAfter::Seconds(RETRY_AFTER_SECONDS)))
            .with_detail("the login state is unavailable; try again shortly")
    }
}

/// Keeps the login's counts. See the [module documentation](self).
pub(crate) trait LoginState: Send + Sync + 'static {
    /// Counts an attempt of `user` from `client` (None: unknown) as a
    /// failure before its password is checked, or says why it may not be
    /// made (then nothing is counted).
    fn reserve<'a>(
        &'a self,
        user: &'a str,
        client: Option<IpAddr>,
    ) -> StateFuture<'a, Result<Attempt, Refused>>;

    /// Takes back `attempt`: its password was right.
    fn succeeded(&self, attempt: Attempt) -> StateFuture<'_, ()>;

    /// Records `nc` for `nonce` (valid until the Unix time `until`): true
    /// if it is higher than any count seen for that nonce, false if it was
    /// used already (a replay).
    fn count_nonce<'a>(&'a self, nonce: &'a str, nc: u32, until: u64) -> StateFuture<'a, bool>;

    /// Whether the state can be used now, for a health check: a state kept
    /// by another server answers a ping within its timeout; one kept in
    /// this process always can.
    fn ready(&self) -> StateFuture<'_, ()> {
        Box::pin(std::future::ready(Ok(())))
    }
}

/// The most nonces [`MemoryState`] remembers before it drops the expired.
const MAX_NONCES: usize = 100_000;

/// The state of one process: a [`Throttle`] and a table of nonce counts.
#[derive(Default)]
pub(crate) struct MemoryState {
    throttle: Throttle,
    /// The highest `nc` per nonce, and until when the nonce is good.
    nonces: Mutex<HashMap<String, (u32, u64)>>,
}

impl MemoryState {
    /// The decision, at once (the futures below are ready when made).
    fn count_nonce_now(&self, nonce: &str, nc: u32, until: u64) -> bool {
        let mut seen = self.nonces.lock().unwrap_or_else(PoisonError::into_inner);
        if seen.len() > MAX_NONCES {
            let now = unix_now();
            seen.retain(|_, (_, good_until)| now <= *good_until);
        }
        match seen.get_mut(nonce) {
            Some((last, _)) if nc <= *last => false,
            Some((last, _)) => {
                *last = nc;
                true
            }
            None => {
                seen.insert(nonce.to_owned(), (nc, until));
                true
            }
        }
    }
}

impl LoginState for MemoryState {
    fn reserve<'a>(
        &'a self,
        user: &'a str,
        client: Option<IpAddr>,
    ) -> StateFuture<'a, Result<Attempt, Refused>> {
        let decided = self.throttle.reserve(user, client);
        Box::pin(std::future::ready(Ok(decided)))
    }

    fn succeeded(&self, attempt: Attempt) -> StateFuture<'_, ()> {
        self.throttle.succeeded_at(&attempt, Instant::now());
        Box::pin(std::future::ready(Ok(())))
    }

    fn count_nonce<'a>(&'a self, nonce: &'a str, nc: u32, until: u64) -> StateFuture<'a, bool> {
        let fresh = self.count_nonce_now(nonce, nc, until);
        Box::pin(std::future::ready(Ok(fresh)))
    }
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// What every [`LoginState`] must do, run against each one (the Redis one
/// in `redis`'s tests): the same answers in the same cases.
#[cfg(test)]
pub(crate) mod contract {
    use std::time::Duration;

    use super::*;
    use crate::throttle::Reason;

    fn addr(text: &str) -> Option<IpAddr> {
        text.parse().ok()
    }

    /// A pair waits after 3 attempts and is refused after 10, for 15
    /// minutes; the owner from elsewhere is not; a success resets its
    /// pair, trusts it, and gives back only its own attempt of its
    /// address's count.
    pub(crate) async fn pairs_and_addresses(state: &dyn LoginState) {
        let mut delays = Vec::new();
        for _ in 0..10 {
            let attempt = state.reserve("ada", addr("192.0.2.1")).await.unwrap();
            delays.push(attempt.unwrap().delay.as_millis());
        }
        assert_eq!(delays, [0, 0, 0, 100, 200, 400, 800, 1600, 3200, 3200]);
        let refused = state.reserve("ada", addr("192.0.2.1")).await.unwrap();
        let refused = refused.unwrap_err();
        assert_eq!(refused.reason, Reason::Pair);
        assert!(
            (14 * 60..=15 * 60).contains(&refused.retry_after),
            "{refused:?}"
        );
        // The owner, from another address.
        let owner = state.reserve("ada", addr("198.51.100.7")).await.unwrap();
        let owner = owner.unwrap();
        assert_eq!(owner.delay, Duration::ZERO);
        state.succeeded(owner).await.unwrap();
        // An address across users: 10 free, refused after 30.
        for n in 0..29 {
            let user = format!("user{n}");
            let attempt = state.reserve(&user, addr("203.0.113.9")).await.unwrap();
            let attempt = attempt.unwrap();
            let expected = if n < 10 { 0 } else { 100 << (n - 10).min(5) };
            assert_eq!(attempt.delay.as_millis(), expected, "attempt {n}");
        }
        // The attacker's own account between guesses: its success takes
        // back its own attempt only.
        for _ in 0..3 {
            let own = state.reserve("mallory", addr("203.0.113.9")).await.unwrap();
            state.succeeded(own.unwrap()).await.unwrap();
        }
        let attempt = state.reserve("user29", addr("203.0.113.9")).await;
        assert!(attempt.unwrap().is_ok());
        let refused = state.reserve("user30", addr("203.0.113.9")).await.unwrap();
        assert_eq!(refused.unwrap_err().reason, Reason::Client);
        // The trusted pair is not held to its address's lock.
        let own = state.reserve("mallory", addr("203.0.113.9")).await.unwrap();
        assert_eq!(own.unwrap().delay, Duration::ZERO);
        // IPv6 by /64.
        for n in 0..10 {
            let client = format!("2001:db8:1:2::{n:x}");
            assert!(state.reserve("bob", addr(&client)).await.unwrap().is_ok());
        }
        let refused = state.reserve("bob", addr("2001:db8:1:2:ffff::1")).await;
        assert_eq!(refused.unwrap().unwrap_err().reason, Reason::Pair);
    }

    /// With a global budget that does not refill (rate 0), the 101st
    /// untrusted attempt is refused with `Retry-After: 1`, and a success
    /// gives its token back.
    pub(crate) async fn the_global_budget(state: &dyn LoginState) {
        let mut last = None;
        for n in 0..100u32 {
            let client = format!("10.0.{}.{}", n >> 8, n & 255);
            let attempt = state.reserve(&format!("u{n}"), addr(&client)).await;
            last = Some(attempt.unwrap().unwrap());
        }
        let refused = state.reserve("x", addr("10.1.0.1")).await.unwrap();
        let refused = refused.unwrap_err();
        assert_eq!((refused.reason, refused.retry_after), (Reason::Global, 1));
        // The last one was right after all: its token comes back.
        state.succeeded(last.unwrap()).await.unwrap();
        let one = state.reserve("y", addr("10.1.0.2")).await.unwrap();
        assert!(one.is_ok());
        let refused = state.reserve("z", addr("10.1.0.3")).await.unwrap();
        assert_eq!(refused.unwrap_err().reason, Reason::Global);
        // A trusted pair needs no token.
        let trusted = state.reserve("u99", addr("10.0.0.99")).await.unwrap();
        assert!(trusted.is_ok(), "{trusted:?}");
    }

    /// Each nonce's counts must grow.
    pub(crate) async fn nonce_counts(state: &dyn LoginState) {
        let until = unix_now() + 60;
        assert!(state.count_nonce("n1", 1, until).await.unwrap());
        assert!(state.count_nonce("n1", 2, until).await.unwrap());
        assert!(!state.count_nonce("n1", 2, until).await.unwrap(), "replay");
        assert!(!state.count_nonce("n1", 1, until).await.unwrap(), "older");
        assert!(state.count_nonce("n1", 7, until).await.unwrap());
        assert!(state.count_nonce("n2", 1, until).await.unwrap(), "its own");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::throttle::Limits;

    #[tokio::test]
    async fn memory_pairs_and_addresses() {
        contract::pairs_and_addresses(&MemoryState::default()).await;
    }

    #[tokio::test]
    async fn memory_global_budget() {
        let limits = Limits {
            global_rate: 0,
            ..Limits::default()
        };
        let state = MemoryState {
            throttle: Throttle::new(limits),
            nonces: Mutex::default(),
        };
        contract::the_global_budget(&state).await;
    }

    #[tokio::test]
    async fn memory_nonce_counts() {
        contract::nonce_counts(&MemoryState::default()).await;
    }

    /// The layer with shared secrets and states, as a client sees it.
    mod layer {
        use http::StatusCode;
        use tower_layer::Layer;
        use towerkit_core::app::Text;
        use towerkit_core::recursive::BoxFuture;
        use towerkit_core::TestClient;

        use crate::digest::{expected_response, hex_hash};
        use crate::{Authenticator, Login, LoginError, LoginLayer, LoginMethod};

        const SECRET: &str = "a secret of the tests, 32 bytes or more";

        /// `ada`, password `secret`, for Basic and Digest.
        struct Ada;

        impl Authenticator for Ada {
            fn check(&self, user: &str, password: &str) -> BoxFuture<bool> {
                let ok = user == "ada" && password == "secret";
                Box::pin(async move { ok })
            }

            fn digest_secret(&self, user: &str, realm: &str, algorithm: &str) -> Option<String> {
                (user == "ada").then(|| hex_hash(algorithm, &format!("ada:{realm}:secret")))
            }
        }

        fn instance(secret: Option<&str>) -> TestClient<Login<Text>> {
            let mut layer = LoginLayer::new(Ada, &[LoginMethod::Digest, LoginMethod::Basic])
                .unwrap()
                .protect(vec!["/".to_owned()]);
            if let Some(secret) = secret {
                layer = layer.secret(secret).unwrap();
            }
            TestClient::new(layer.layer(Text::new("hello")))
        }

        /// A first challenge's nonce (SHA-256), and the answer with `nc`.
        fn answer(challenge: &str, nc: u32) -> String {
            let start = challenge.find("nonce=\"").unwrap() + 7;
            let nonce = &challenge[start..start + challenge[start..].find('"').unwrap()];
            let ha1 = hex_hash("SHA-256", "ada:towerkit:secret");
            let nc = format!("{nc:08x}");
            let response = expected_response("SHA-256", &ha1, nonce, &nc, "c0ffee", "GET", "/");
            format!(
                "Digest username=\"ada\", realm=\"towerkit\", nonce=\"{nonce}\", uri=\"/\", \
                 algorithm=SHA-256, qop=auth, nc={nc}, cnonce=\"c0ffee\", response=\"{response}\""
            )
        }

        async fn challenge(client: &mut TestClient<Login<Text>>) -> String {
            let res = client.get("/").send().await.unwrap();
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
            res.header("www-authenticate").unwrap().to_owned()
        }

        #[tokio::test]
        async fn a_nonce_of_one_instance_passes_at_another_with_the_same_secret() {
            let mut a = instance(Some(SECRET));
            let mut b = instance(Some(SECRET));
            let challenge = challenge(&mut a).await;
            let res = b
                .get("/")
                .header("authorization", &answer(&challenge, 1))
                .send()
                .await
                .unwrap();
            assert_eq!((res.status(), res.text()), (StatusCode::OK, "hello".into()));
            // Another secret, or none: not a nonce of theirs (no `stale`:
            // the user is asked).
            for mut other in [
                instance(Some("another secret of the tests, 32 bytes")),
                instance(None),
            ] {
                let res = other
                    .get("/")
                    .header("authorization", &answer(&challenge, 2))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
                let challenge = res.header("www-authenticate").unwrap();
                assert!(!challenge.contains("stale"), "{challenge}");
            }
        }

        #[tokio::test]
        async fn only_a_right_answer_uses_its_count() {
            let mut client = instance(Some(SECRET));
            let challenge = challenge(&mut client).await;
            let right = answer(&challenge, 1);
            let wrong = right.replace("response=\"", "response=\"0");
            // A wrong answer records nothing of its nonce: the state holds
            // only what the password's owner sent.
            let wrong = sent(&mut client, &wrong).await;
            assert_eq!(wrong, (StatusCode::UNAUTHORIZED, false));
            assert_eq!(sent(&mut client, &right).await, (StatusCode::OK, false));
            // The same count again is a replay.
            let replay = sent(&mut client, &right).await;
            assert_eq!(replay, (StatusCode::UNAUTHORIZED, true));
        }

        /// The status of `GET /` with `authorization`, and whether a
        /// challenge says `stale=true`.
        async fn sent(
            client: &mut TestClient<Login<Text>>,
            authorization: &str,
        ) -> (StatusCode, bool) {
            let res = client.get("/").header("authorization", authorization);
            let res = res.send().await.unwrap();
            let challenge = res.header("www-authenticate").unwrap_or("");
            (res.status(), challenge.contains("stale=true"))
        }

        #[test]
        fn a_short_secret_is_refused() {
            let layer = LoginLayer::new(Ada, &[LoginMethod::Digest]).unwrap();
            let Err(err) = layer.secret("thirty-one bytes, one too few..") else {
                panic!("a 31-byte secret was taken");
            };
            assert_eq!(err, LoginError::ShortSecret(31));
            assert!(err.to_string().contains("at least 32 bytes"), "{err}");
        }

        #[cfg(feature = "redis")]
        #[tokio::test]
        async fn no_redis_is_a_503_not_a_login_and_not_a_refusal() {
            let layer = LoginLayer::new(Ada, &[LoginMethod::Digest, LoginMethod::Basic]).unwrap();
            assert!(matches!(
                layer.clone().state("http://127.0.0.1/"),
                Err(LoginError::StateUrl(_))
            ));
            // A port nothing listens on.
            let port = std::net::TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .map(|a| a.port())
                .unwrap();
            let layer = layer
                .secret(SECRET)
                .unwrap()
                .state_timeout(std::time::Duration::from_millis(500))
                .state(&format!("redis://127.0.0.1:{port}/0"))
                .unwrap()
                .protect(vec!["/private".to_owned()]);
            let mut client = TestClient::new(layer.layer(Text::new("hello")));
            // What needs no count needs no Redis.
            let open = client.get("/").send().await.unwrap();
            assert_eq!(open.status(), StatusCode::OK);
            let challenge = client.get("/private").send().await.unwrap();
            assert_eq!(challenge.status(), StatusCode::UNAUTHORIZED);
            let nonce_challenge = challenge.header("www-authenticate").unwrap().to_owned();
            let digest = answer(&nonce_challenge, 1);
            let basic = "Basic YWRhOnNlY3JldA=="; // ada:secret
            for authorization in [basic, digest.as_str()] {
                let res = client
                    .get("/")
                    .header("authorization", authorization)
                    .send()
                    .await
                    .unwrap();
                assert_eq!(
                    res.status(),
                    StatusCode::SERVICE_UNAVAILABLE,
                    "{authorization}"
                );
                assert_eq!(res.header("retry-after"), Some("5"));
            }
        }
    }

    #[test]
    fn a_state_error_is_a_503_to_retry_in_5_seconds() {
        let answer = HttpException::from(StateError("down".into()));
        assert_eq!(answer.status(), http::StatusCode::SERVICE_UNAVAILABLE);
    }
}
