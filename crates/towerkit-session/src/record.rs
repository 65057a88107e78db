//! What a store keeps of a session, and when it ends.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// A session: its values, when it began and when it was last used (Unix
/// seconds).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct Record {
    /// The values, by key.
    pub data: Map<String, Value>,
    /// When the session began.
    pub created: u64,
    /// When it was last read or written.
    pub last_seen: u64,
}

/// Seconds since the Unix epoch, now.
pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs()
}

/// How long sessions live.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Expiry {
    /// The absolute lifetime, from the first write.
    pub max_age: Duration,
    /// The inactivity timeout, refreshed by reads and writes.
    pub idle_timeout: Option<Duration>,
}

impl Default for Expiry {
    fn default() -> Self {
        Expiry {
            max_age: Duration::from_secs(12 * 3600),
            idle_timeout: None,
        }
    }
}

impl Expiry {
    /// When `record` ends (Unix seconds).
    pub fn expires_at(&self, record: &Record) -> u64 {
        let absolute = record.created.saturating_add(self.max_age.as_secs());
        match self.idle_timeout {
            Some(idle) => absolute.min(record.last_seen.saturating_add(idle.as_secs())),
            None => absolute,
        }
    }

    /// Whether `record` has ended at `now`.
    pub fn expired(&self, record: &Record, now: u64) -> bool {
        self.expires_at(record) <= now
    }

    /// How long `record` has left at `now` (at least a second).
    pub fn remaining(&self, record: &Record, now: u64) -> Duration {
        Duration::from_secs(self.expires_at(record).saturating_sub(now).max(1))
    }

    /// Whether a read at `now` should write the record again to move its
    /// inactivity deadline: after a tenth of the idle timeout has passed
    /// (at least a second), so read-only requests do not write every time.
    pub fn needs_refresh(&self, record: &Record, now: u64) -> bool {
        match self.idle_timeout {
            Some(idle) => now.saturating_sub(record.last_seen) >= (idle.as_secs() / 10).max(1),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines() {
        let record = Record {
            created: 1000,
            last_seen: 1500,
            ..Record::default()
        };
        let absolute = Expiry {
            max_age: Duration::from_secs(3600),
            idle_timeout: None,
        };
        assert_eq!(absolute.expires_at(&record), 4600);
        let idle = Expiry {
            idle_timeout: Some(Duration::from_secs(600)),
            ..absolute
        };
        assert_eq!(idle.expires_at(&record), 2100);
        assert!(!idle.expired(&record, 2099));
        assert!(idle.expired(&record, 2100));
        assert!(!idle.needs_refresh(&record, 1559));
        assert!(idle.needs_refresh(&record, 1560));
        assert_eq!(idle.remaining(&record, 5000), Duration::from_secs(1));
    }
}
