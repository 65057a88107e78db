//! Slowing down password guessing, fairly.
//!
//! **What is counted.** Every password check is an *attempt*, reserved
//! before the password is looked at ([`Throttle::reserve`]) and counted as
//! a failure at once: a burst of parallel guesses sees its own attempts
//! (the first ten are checked, the rest refused, however many arrive
//! together), and a client that goes away mid-check has still spent the
//! attempt. A successful login takes its own attempt back
//! ([`Throttle::succeeded_at`]).
//!
//! **What is keyed.** Three counters, none of them "the user everywhere"
//! (that let anyone lock anyone out):
//!
//! - the *pair* (user, client address): 3 free attempts, then each waits
//!   100 ms doubling (200, 400… up to 3.2 s), and after 10 the pair is
//!   refused (429 with `Retry-After`) until 15 minutes have passed since
//!   its last counted attempt. The owner logging in from another address
//!   is another pair, and is not refused.
//! - the *client address* across users: 10 free attempts, then the same
//!   doubling delay, and refused after 30, for the same 15 minutes. This
//!   stops one address from trying a few passwords on every user.
//! - a *global budget* for everyone: a bucket of 100 attempts, refilled at
//!   10 a second. An attacker who rotates both users and addresses (a
//!   botnet, an IPv6 prefix) gets at most that many checks a second; when
//!   it is empty an attempt is refused with `Retry-After: 1`.
//!
//! A refused attempt is not counted and checks nothing. Addresses are
//! compared as the client's IP (an IPv4-mapped IPv6 address is the IPv4
//! one; an IPv6 address counts as its /64, which one subscriber usually
//! holds whole). A client no server told us of is one shared "unknown"
//! address (never loopback: see `towerkit_core::client_addr`).
//!
//! **Known good pairs.** A successful login marks its pair trusted for a
//! day: a trusted pair is not held to its address's limit nor to the
//! global budget (still to its own), so a flood of guesses from elsewhere,
//! or from the same office NAT, does not refuse a user who logged in from
//! there before. A success resets its pair's count, and takes back only
//! its own attempt from the address's: an attacker cannot wipe their
//! address's count by logging in to an account of their own between
//! guesses.
//!
//! **The table.** A user name is stored as a 16-byte digest of it, never
//! as sent (4,000 failures with 16 KB names once grew the server by
//! 65 MB); an entry is about 100 bytes and the table holds at most 100,000
//! (about 10 MB). When it is full, entries past their 15 minutes (and
//! trust past its day) are dropped first, then entries that hold no live
//! count (a trusted pair with no recent failure, or an address whose
//! count went back to zero), an arbitrary eighth of the table at a time.
//! An entry that holds a live count is never evicted: evicting by age or
//! at random would let an attacker reset their own lock by making new
//! entries. If only live counts are left, a *new* pair or address is
//! refused (429) until some expire: the table fails closed (and is
//! scanned for room at most once a second meanwhile). Failures
//! cannot fill it: the global budget holds the attempts of pairs not
//! trusted to about 9,100 in 15 minutes (two entries each), and a trusted
//! pair's attempts need a successful login from that address first.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use sha2::{Digest as _, Sha256};

/// The limits of a [`Throttle`]; see the [module documentation](self).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Limits {
    /// Attempts of a (user, address) pair that do not wait.
    pub(crate) pair_free: u32,
    /// Attempts of a pair after which it is refused.
    pub(crate) pair_lockout: u32,
    /// Attempts of an address (any user) that do not wait.
    pub(crate) client_free: u32,
    /// Attempts of an address after which it is refused.
    pub(crate) client_lockout: u32,
    /// How long a count lasts after its last attempt.
    pub(crate) window: Duration,
    /// Attempts a second the global budget refills.
    pub(crate) global_rate: u32,
    /// The global budget's size.
    pub(crate) global_burst: u32,
    /// How long a pair stays trusted after a successful login.
    pub(crate) trust: Duration,
    /// The most entries the table holds.
    pub(crate) max_entries: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            pair_free: 3,
            pair_lockout: 10,
            client_free: 10,
            client_lockout: 30,
            window: Duration::from_secs(15 * 60),
            global_rate: 10,
            global_burst: 100,
            trust: Duration::from_secs(24 * 3600),
            max_entries: 100_000,
        }
    }
}

/// The first delay, doubled for each attempt past the free ones.
const FIRST_DELAY: Duration = Duration::from_millis(100);
/// The delay doubles at most this many times (100 ms → 3.2 s).
const MAX_DOUBLINGS: u32 = 5;

/// A client as the throttle counts it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Client {
    /// An IPv4 address, or the /64 of an IPv6 one.
    Addr(IpAddr),
    /// No server said who the client is.
    Unknown,
}

impl Client {
    fn of(addr: Option<IpAddr>) -> Client {
        match addr.map(|addr| addr.to_canonical()) {
            Some(IpAddr::V6(v6)) => {
                let prefix = u128::from(v6) & !(u128::from(u64::MAX));
                Client::Addr(IpAddr::V6(Ipv6Addr::from(prefix)))
            }
            Some(v4) => Client::Addr(v4),
            None => Client::Unknown,
        }
    }
}

/// What a table entry counts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Key {
    /// A user (the digest of its name) from a client.
    Pair([u8; 16], Client),
    /// A client, whatever the user.
    Client(Client),
}

/// The pair and the client key of an attempt of `user` from `client`.
pub(crate) fn keys(user: &str, client: Option<IpAddr>) -> (Key, Key) {
    let client = Client::of(client);
    (Key::Pair(user_digest(user), client), Key::Client(client))
}

/// The digest a user name is stored as: the table's memory does not
/// depend on what clients send.
fn user_digest(user: &str) -> [u8; 16] {
    let mut digest = [0u8; 16];
    digest.copy_from_slice(&Sha256::digest(user.as_bytes())[..16]);
    digest
}

#[derive(Clone, Copy, Debug)]
struct Entry {
    /// Counted attempts, failed or under way.
    attempts: u32,
    /// When the last one was counted.
    last: Instant,
    /// A pair that logged in: trusted until then.
    trusted_until: Option<Instant>,
}

impl Entry {
    fn new(now: Instant) -> Entry {
        Entry {
            attempts: 0,
            last: now,
            trusted_until: None,
        }
    }

    /// Whether its count still holds.
    fn live(&self, now: Instant, window: Duration) -> bool {
        self.attempts > 0 && now.saturating_duration_since(self.last) < window
    }

    /// The count that holds at `now`.
    fn attempts(&self, now: Instant, window: Duration) -> u32 {
        if self.live(now, window) {
            self.attempts
        } else {
            0
        }
    }

    fn trusted(&self, now: Instant) -> bool {
        self.trusted_until.is_some_and(|until| now < until)
    }
}

struct State {
    entries: HashMap<Key, Entry>,
    /// The global budget left.
    tokens: f64,
    /// When it was last refilled.
    refilled: Instant,
    /// When making room last found only live counts: the table is not
    /// scanned again for a second (a scan of a full table at every refused
    /// attempt would be work an attacker could ask for at will).
    full_at: Option<Instant>,
}

/// Counts login attempts; see the [module documentation](self).
pub(crate) struct Throttle {
    limits: Limits,
    state: Mutex<State>,
}

impl Default for Throttle {
    fn default() -> Self {
        Throttle::new(Limits::default())
    }
}

/// Why an attempt was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Reason {
    /// This user from this client failed too often.
    Pair,
    /// This client failed too often, across users.
    Client,
    /// The global budget is spent.
    Global,
    /// The table is full of live counts.
    Full,
}

impl Reason {
    /// Its name, for a metric's label.
    pub(crate) fn label(self) -> &'static str {
        match self {
            Reason::Pair => "pair",
            Reason::Client => "address",
            Reason::Global => "global",
            Reason::Full => "full",
        }
    }
}

/// An attempt refused: nothing may be checked. Answer 429.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Refused {
    /// Why.
    pub(crate) reason: Reason,
    /// For `Retry-After`: seconds, at least 1.
    pub(crate) retry_after: u64,
}

/// An attempt that may check a password, already counted as a failure
/// by whatever state counted it. Dropping it leaves it a failure;
/// [`Throttle::succeeded_at`] (or the
/// [`LoginState`](crate::state::LoginState)'s `succeeded`) takes it back.
#[must_use = "an attempt is for checking a password"]
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Attempt {
    /// The (user, client) pair it counted.
    pub(crate) pair: Key,
    /// The client it counted.
    pub(crate) client: Key,
    /// Whether it took from the global budget.
    pub(crate) took_token: bool,
    /// How long to wait before checking.
    pub(crate) delay: Duration,
}

/// The wait before an attempt of a pair that `pair_before` attempts
/// precede, from a client that `client_before` precede; a trusted pair is
/// not held to its client's count.
pub(crate) fn attempt_delay(
    limits: &Limits,
    pair_before: u32,
    client_before: u32,
    trusted: bool,
) -> Duration {
    let pair = delay(pair_before, limits.pair_free);
    if trusted {
        pair
    } else {
        pair.max(delay(client_before, limits.client_free))
    }
}

/// The wait before an attempt that `before` attempts precede.
fn delay(before: u32, free: u32) -> Duration {
    match before.checked_sub(free) {
        Some(past) => FIRST_DELAY * (1 << past.min(MAX_DOUBLINGS)),
        None => Duration::ZERO,
    }
}

/// Whole seconds, rounded up, at least 1.
pub(crate) fn seconds(duration: Duration) -> u64 {
    let whole = duration.as_secs() + u64::from(duration.subsec_nanos() > 0);
    whole.max(1)
}

impl Throttle {
    /// A throttle with these limits.
    pub(crate) fn new(limits: Limits) -> Self {
        Throttle {
            limits,
            state: Mutex::new(State {
                entries: HashMap::new(),
                tokens: f64::from(limits.global_burst),
                refilled: Instant::now(),
                full_at: None,
            }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update leaves the state whole: a panic elsewhere while it
        // was held does not make it wrong.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Reserves an attempt of `user` from `client` (None: unknown), or
    /// says why not.
    pub(crate) fn reserve(&self, user: &str, client: Option<IpAddr>) -> Result<Attempt, Refused> {
        self.reserve_at(user, client, Instant::now())
    }

    fn reserve_at(
        &self,
        user: &str,
        client: Option<IpAddr>,
        now: Instant,
    ) -> Result<Attempt, Refused> {
        let limits = self.limits;
        let (pair, client) = keys(user, client);
        let mut state = self.lock();

        let elapsed = now.saturating_duration_since(state.refilled).as_secs_f64();
        state.tokens = (state.tokens + elapsed * f64::from(limits.global_rate))
            .min(f64::from(limits.global_burst));
        state.refilled = now;

        let refused = |reason, retry_after| {
            Err(Refused {
                reason,
                retry_after,
            })
        };
        let locked_for = |entry: &Entry| {
            seconds(
                limits
                    .window
                    .saturating_sub(now.saturating_duration_since(entry.last)),
            )
        };
        let pair_entry = state.entries.get(&pair).copied();
        let pair_before = pair_entry.map_or(0, |e| e.attempts(now, limits.window));
        let trusted = pair_entry.is_some_and(|e| e.trusted(now));
        if pair_before >= limits.pair_lockout {
            return refused(Reason::Pair, pair_entry.map_or(1, |e| locked_for(&e)));
        }
        let client_entry = state.entries.get(&client).copied();
        let client_before = client_entry.map_or(0, |e| e.attempts(now, limits.window));
        if !trusted {
            if client_before >= limits.client_lockout {
                return refused(Reason::Client, client_entry.map_or(1, |e| locked_for(&e)));
            }
            if state.tokens < 1.0 {
                let rate = f64::from(limits.global_rate.max(1));
                let wait = Duration::from_secs_f64((1.0 - state.tokens) / rate);
                return refused(Reason::Global, seconds(wait));
            }
        }
        let new = usize::from(pair_entry.is_none()) + usize::from(client_entry.is_none());
        if new > 0 && !self.make_room(&mut state, now, new) {
            return refused(Reason::Full, seconds(limits.window / 15));
        }
        for (key, before) in [(pair, pair_before), (client, client_before)] {
            let entry = state.entries.entry(key).or_insert_with(|| Entry::new(now));
            entry.attempts = before.saturating_add(1);
            entry.last = now;
        }
        if !trusted {
            state.tokens -= 1.0;
        }
        let delay = attempt_delay(&limits, pair_before, client_before, trusted);
        Ok(Attempt {
            pair,
            client,
            took_token: !trusted,
            delay,
        })
    }

    /// Takes back `attempt`, whose password was right: its pair starts
    /// again and is trusted, its client's count and the global budget get
    /// back what it took.
    pub(crate) fn succeeded_at(&self, attempt: &Attempt, now: Instant) {
        let limits = self.limits;
        let mut state = self.lock();
        if attempt.took_token {
            state.tokens = (state.tokens + 1.0).min(f64::from(limits.global_burst));
        }
        if let Some(client) = state.entries.get_mut(&attempt.client) {
            client.attempts = client.attempts.saturating_sub(1);
        }
        let room = state.entries.contains_key(&attempt.pair) || self.make_room(&mut state, now, 1);
        if room {
            let pair = state
                .entries
                .entry(attempt.pair)
                .or_insert_with(|| Entry::new(now));
            pair.attempts = 0;
            pair.last = now;
            pair.trusted_until = Some(now + limits.trust);
        }
    }

    /// Makes room for `new` entries: expired ones go first, then ones that
    /// hold no live count. Never a live count: false if that is all there
    /// is.
    fn make_room(&self, state: &mut State, now: Instant, new: usize) -> bool {
        let (max, window) = (self.limits.max_entries, self.limits.window);
        if state.entries.len() + new <= max {
            return true;
        }
        let rescan = Duration::from_secs(1);
        if state
            .full_at
            .is_some_and(|at| now.saturating_duration_since(at) < rescan)
        {
            return false;
        }
        state
            .entries
            .retain(|_, entry| entry.live(now, window) || entry.trusted(now));
        if state.entries.len() + new <= max {
            return true;
        }
        // Down to seven eighths, so that this scan is not made at every
        // attempt of a full table.
        let target = (max - max / 8).min(max.saturating_sub(new));
        let mut excess = state.entries.len().saturating_sub(target);
        state.entries.retain(|_, entry| {
            if excess > 0 && !entry.live(now, window) {
                excess -= 1;
                return false;
            }
            true
        });
        let room = state.entries.len() + new <= max;
        state.full_at = (!room).then_some(now);
        room
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    fn addr(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    /// Tries `user` from `client` at `now`, and succeeds.
    fn succeed(t: &Throttle, user: &str, client: Option<IpAddr>, now: Instant) {
        let attempt = t.reserve_at(user, client, now).unwrap();
        t.succeeded_at(&attempt, now);
    }

    /// Tries `user` from `client` at `now`, and fails it.
    fn fail(t: &Throttle, user: &str, client: &str, now: Instant) -> Result<Duration, Refused> {
        t.reserve_at(user, addr(client), now).map(|r| r.delay)
    }

    #[test]
    fn a_pair_waits_after_three_then_is_refused_for_the_window() {
        let t = Throttle::default();
        let now = Instant::now();
        let delays: Vec<_> = (0..10)
            .map(|_| fail(&t, "ada", "192.0.2.1", now).unwrap().as_millis())
            .collect();
        assert_eq!(delays, [0, 0, 0, 100, 200, 400, 800, 1600, 3200, 3200]);
        let refused = fail(&t, "ada", "192.0.2.1", now).unwrap_err();
        assert_eq!(refused.reason, Reason::Pair);
        assert_eq!(refused.retry_after, 15 * 60);
        // Refused attempts are not counted: the lock ends 15 minutes
        // after the last counted one.
        let later = now + Duration::from_secs(14 * 60);
        let refused = fail(&t, "ada", "192.0.2.1", later).unwrap_err();
        assert_eq!(refused.retry_after, 60);
        let after = now + Duration::from_secs(15 * 60);
        assert_eq!(fail(&t, "ada", "192.0.2.1", after), Ok(Duration::ZERO));
    }

    #[test]
    fn the_owner_from_another_address_is_not_refused() {
        let t = Throttle::default();
        let now = Instant::now();
        while fail(&t, "ada", "192.0.2.1", now).is_ok() {}
        let owner = t.reserve_at("ada", addr("198.51.100.7"), now).unwrap();
        assert_eq!(owner.delay, Duration::ZERO);
        t.succeeded_at(&owner, now);
        // Another user from the attacker's address is not locked either
        // (though that address is now slowed down).
        assert!(fail(&t, "bob", "192.0.2.1", now).is_ok());
    }

    #[test]
    fn an_address_is_limited_across_users() {
        let t = Throttle::default();
        let now = Instant::now();
        let mut delays = Vec::new();
        for n in 0..30 {
            delays.push(fail(&t, &format!("user{n}"), "192.0.2.1", now).unwrap());
        }
        assert_eq!(delays[9], Duration::ZERO);
        assert_eq!(delays[10], Duration::from_millis(100));
        assert_eq!(delays[29], Duration::from_millis(3200));
        let refused = fail(&t, "user30", "192.0.2.1", now).unwrap_err();
        assert_eq!(refused.reason, Reason::Client);
        assert_eq!(fail(&t, "user30", "192.0.2.2", now), Ok(Duration::ZERO));
    }

    #[test]
    fn ipv6_counts_by_64_and_mapped_ipv4_is_ipv4() {
        let t = Throttle::default();
        let now = Instant::now();
        for n in 0..10 {
            fail(&t, "ada", &format!("2001:db8:1:2::{n:x}"), now).unwrap();
        }
        let refused = fail(&t, "ada", "2001:db8:1:2:ffff::1", now).unwrap_err();
        assert_eq!(refused.reason, Reason::Pair);
        assert!(fail(&t, "ada", "2001:db8:1:3::1", now).is_ok());
        for _ in 0..10 {
            fail(&t, "bob", "192.0.2.9", now).unwrap();
        }
        let refused = fail(&t, "bob", "::ffff:192.0.2.9", now).unwrap_err();
        assert_eq!(refused.reason, Reason::Pair);
    }

    #[test]
    fn a_success_resets_its_pair_but_not_its_address() {
        let t = Throttle::default();
        let now = Instant::now();
        for n in 0..29 {
            fail(&t, &format!("victim{n}"), "192.0.2.1", now).unwrap();
        }
        // The attacker's own account, between guesses: its success takes
        // back only its own attempt.
        for _ in 0..5 {
            let own = t.reserve_at("mallory", addr("192.0.2.1"), now).unwrap();
            t.succeeded_at(&own, now);
        }
        fail(&t, "victim29", "192.0.2.1", now).unwrap();
        let refused = fail(&t, "victim30", "192.0.2.1", now).unwrap_err();
        assert_eq!(refused.reason, Reason::Client);
        // The pair that logged in starts again, and is trusted: the
        // address's lock is not its.
        let own = t.reserve_at("mallory", addr("192.0.2.1"), now).unwrap();
        assert_eq!(own.delay, Duration::ZERO);
    }

    #[test]
    fn an_abandoned_attempt_is_a_failure() {
        let t = Throttle::default();
        let now = Instant::now();
        for _ in 0..10 {
            let reservation = t.reserve_at("ada", addr("192.0.2.1"), now).unwrap();
            drop(reservation);
        }
        assert!(t.reserve_at("ada", addr("192.0.2.1"), now).is_err());
    }

    #[test]
    fn rotating_users_and_addresses_meet_the_global_budget() {
        let t = Throttle::default();
        let now = Instant::now();
        let mut n = 0u32;
        let mut attack = |at: Instant| {
            n += 1;
            let client = format!("10.{}.{}.{}", n >> 16 & 255, n >> 8 & 255, n & 255);
            fail(&t, &format!("user{n}"), &client, at)
        };
        for _ in 0..100 {
            assert_eq!(attack(now), Ok(Duration::ZERO));
        }
        let refused = attack(now).unwrap_err();
        assert_eq!((refused.reason, refused.retry_after), (Reason::Global, 1));
        // 10 a second after that.
        let second = now + Duration::from_secs(1);
        let passed = (0..50).filter(|_| attack(second).is_ok()).count();
        assert_eq!(passed, 10);
    }

    #[test]
    fn a_success_gives_its_budget_back_and_trusted_pairs_need_none() {
        let t = Throttle::default();
        let now = Instant::now();
        // The owner logs in once from home.
        succeed(&t, "ada", addr("198.51.100.7"), now);
        // 29 failures, and a success that takes nothing from the budget.
        for n in 0..29 {
            fail(&t, &format!("user{n}"), "10.0.0.1", now).unwrap();
        }
        succeed(&t, "mallory", addr("10.0.0.2"), now);
        let mut passed = 0;
        while fail(&t, &format!("x{passed}"), &format!("10.1.0.{passed}"), now).is_ok() {
            passed += 1;
        }
        assert_eq!(passed, 100 - 29, "the budget after 29 failures");
        let refused = fail(&t, "bob", "198.51.100.8", now).unwrap_err();
        assert_eq!(refused.reason, Reason::Global);
        // The owner, from where they logged in before, is not refused.
        assert_eq!(fail(&t, "ada", "198.51.100.7", now), Ok(Duration::ZERO));
    }

    #[test]
    fn the_table_is_bounded_and_stores_no_names() {
        let limits = Limits {
            max_entries: 1_000,
            global_burst: u32::MAX,
            ..Limits::default()
        };
        let t = Throttle::new(limits);
        let start = Instant::now();
        let long = "u".repeat(16 * 1024);
        // Failures far apart: each one's count has expired when the table
        // is full.
        for n in 0..5_000u32 {
            let at = start + limits.window / 100 * n;
            let client = format!("10.0.{}.{}", n >> 8 & 255, n & 255);
            fail(&t, &format!("{long}{n}"), &client, at).unwrap();
            assert!(t.len() <= limits.max_entries);
        }
        assert!(std::mem::size_of::<(Key, Entry)>() <= 96);
    }

    #[test]
    fn a_full_table_evicts_no_live_count() {
        let limits = Limits {
            max_entries: 100,
            global_burst: u32::MAX,
            ..Limits::default()
        };
        let t = Throttle::new(limits);
        let now = Instant::now();
        // Trusted pairs with no live count: evicted first.
        for n in 0..40 {
            let client = format!("198.51.100.{n}");
            succeed(&t, &format!("owner{n}"), addr(&client), now);
        }
        // The attacker's locked pair, then a flood of new pairs.
        while fail(&t, "ada", "192.0.2.1", now).is_ok() {}
        let mut refused = None;
        for n in 0..100 {
            let client = format!("203.0.113.{n}");
            if let Err(err) = fail(&t, &format!("user{n}"), &client, now) {
                refused = Some(err.reason);
                break;
            }
        }
        assert_eq!(refused, Some(Reason::Full), "fails closed when full");
        assert!(t.len() <= limits.max_entries);
        assert_eq!(
            fail(&t, "ada", "192.0.2.1", now).unwrap_err().reason,
            Reason::Pair,
            "the locked pair was not evicted"
        );
        // When the window has passed, there is room again.
        let later = now + limits.window;
        assert!(fail(&t, "new", "203.0.113.200", later).is_ok());
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn parallel_attempts_check_at_most_the_limit() {
        let t = Arc::new(Throttle::default());
        let checked = Arc::new(AtomicUsize::new(0));
        let tasks: Vec<_> = (0..500)
            .map(|_| {
                let (t, checked) = (t.clone(), checked.clone());
                tokio::spawn(async move {
                    let reservation = t.reserve("ada", addr("192.0.2.1"));
                    if let Ok(reservation) = reservation {
                        // The check takes a while, as bcrypt does; the
                        // delay itself is not waited here.
                        tokio::task::yield_now().await;
                        checked.fetch_add(1, Ordering::SeqCst);
                        drop(reservation);
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        assert_eq!(checked.load(Ordering::SeqCst), 10);
    }
}
