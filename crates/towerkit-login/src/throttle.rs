//! Slowing down password guessing.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// After this many failures in a row, each attempt waits.
const FREE_TRIES: u32 = 3;
/// After this many, attempts are refused (429) until the window passes.
const LOCKOUT_AT: u32 = 10;
/// How long failures are remembered.
const WINDOW: Duration = Duration::from_secs(15 * 60);

/// Failures per user and per client address.
#[derive(Default)]
pub(crate) struct Throttle {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

/// What an attempt may do.
pub(crate) enum Verdict {
    /// Go on, after waiting this long.
    Wait(Duration),
    /// Refused for this many seconds.
    Locked(u64),
}

impl Throttle {
    fn count(&self, key: &str) -> (u32, Option<Instant>) {
        let Ok(failures) = self.failures.lock() else {
            return (0, None);
        };
        match failures.get(key) {
            Some((n, at)) if at.elapsed() < WINDOW => (*n, Some(*at)),
            _ => (0, None),
        }
    }

    /// What the next attempt for these keys (`user:…`, `ip:…`) may do: a
    /// delay doubling from 100 ms after three failures (up to 3.2 s), then a
    /// lockout.
    pub(crate) fn verdict(&self, keys: &[String]) -> Verdict {
        let (n, last) = keys
            .iter()
            .map(|k| self.count(k))
            .max_by_key(|(n, _)| *n)
            .unwrap_or((0, None));
        if n >= LOCKOUT_AT {
            let left = last.map_or(WINDOW, |at| WINDOW.saturating_sub(at.elapsed()));
            return Verdict::Locked(left.as_secs().max(1));
        }
        if n < FREE_TRIES {
            return Verdict::Wait(Duration::ZERO);
        }
        Verdict::Wait(Duration::from_millis(100 << (n - FREE_TRIES).min(5)))
    }

    pub(crate) fn failed(&self, keys: &[String]) {
        let Ok(mut failures) = self.failures.lock() else {
            return;
        };
        if failures.len() > 100_000 {
            failures.retain(|_, (_, at)| at.elapsed() < WINDOW);
        }
        for key in keys {
            let entry = failures.entry(key.clone()).or_insert((0, Instant::now()));
            if entry.1.elapsed() >= WINDOW {
                entry.0 = 0;
            }
            entry.0 += 1;
            entry.1 = Instant::now();
        }
    }

    pub(crate) fn succeeded(&self, keys: &[String]) {
        if let Ok(mut failures) = self.failures.lock() {
            for key in keys {
                failures.remove(key);
            }
        }
    }
}
