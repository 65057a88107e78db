//! Sessions in the process's memory.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::{SessionStore, StoreError, StoreFuture};
use crate::id::new_id;
use crate::record::{now, Record};

/// Sessions in a map in memory: fast, lost on restart, one process only.
///
/// Bounded: past `capacity` sessions, expired ones are swept, then those
/// closest to expiry are dropped. Expired ones are also swept every
/// thousand writes.
#[derive(Debug)]
pub struct MemoryStore {
    capacity: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    sessions: HashMap<String, (Record, u64)>,
    writes: u64,
}

impl Default for MemoryStore {
    fn default() -> Self {
        MemoryStore::new(100_000)
    }
}

impl MemoryStore {
    /// A store of at most `capacity` sessions.
    pub fn new(capacity: usize) -> Self {
        MemoryStore {
            capacity: capacity.max(1),
            inner: Mutex::default(),
        }
    }

    /// How many sessions are kept (expired ones not yet swept included).
    pub fn len(&self) -> usize {
        self.lock().sessions.len()
    }

    /// Whether no session is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        match self.inner.lock() {
            Ok(inner) => inner,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

impl Inner {
    fn sweep(&mut self, now: u64, capacity: usize) {
        self.sessions.retain(|_, (_, expires)| *expires > now);
        if self.sessions.len() > capacity {
            let mut by_expiry: Vec<(u64, String)> = self
                .sessions
                .iter()
                .map(|(key, (_, expires))| (*expires, key.clone()))
                .collect();
            by_expiry.sort();
            let excess = self.sessions.len() - capacity;
            for (_, key) in by_expiry.into_iter().take(excess) {
                self.sessions.remove(&key);
            }
        }
    }
}

impl SessionStore for MemoryStore {
    fn load<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Record>> {
        Box::pin(async move {
            let mut inner = self.lock();
            let record = match inner.sessions.get(key) {
                Some((_, expires)) if *expires <= now() => {
                    inner.sessions.remove(key);
                    None
                }
                Some((record, _)) => Some(record.clone()),
                None => None,
            };
            Ok(record)
        })
    }

    fn store<'a>(
        &'a self,
        key: Option<&'a str>,
        record: &'a Record,
        ttl: Duration,
    ) -> StoreFuture<'a, String> {
        Box::pin(async move {
            let key = match key {
                Some(key) => key.to_owned(),
                None => new_id().map_err(|err| StoreError::Failed(err.to_string()))?,
            };
            let now = now();
            let mut inner = self.lock();
            inner
                .sessions
                .insert(key.clone(), (record.clone(), now + ttl.as_secs()));
            inner.writes += 1;
            if inner.sessions.len() > self.capacity || inner.writes.is_multiple_of(1000) {
                inner.sweep(now, self.capacity);
            }
            Ok(key)
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> StoreFuture<'a, ()> {
        Box::pin(async move {
            self.lock().sessions.remove(key);
            Ok(())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bounded_and_swept() {
        let store = MemoryStore::new(3);
        let record = Record::default();
        let mut keys = Vec::new();
        for ttl in [10, 20, 30, 40, 50] {
            keys.push(
                store
                    .store(None, &record, Duration::from_secs(ttl))
                    .await
                    .unwrap(),
            );
        }
        assert_eq!(store.len(), 3);
        // The ones closest to expiry went first.
        assert!(store.load(&keys[0]).await.unwrap().is_none());
        assert!(store.load(&keys[4]).await.unwrap().is_some());
        store.delete(&keys[4]).await.unwrap();
        assert!(store.load(&keys[4]).await.unwrap().is_none());
    }
}
