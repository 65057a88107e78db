//! The session of one request: loaded on first use, committed after the
//! response.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::Value;
use tokio::sync::Mutex;
use towerkit_core::session::{SessionFuture, SessionHandle};
use towerkit_core::HttpException;

use crate::layer::Config;
use crate::record::{now, Expiry, Record};
use crate::store::{SessionStore, StoreError};

/// What became of a session during a request, for the cookie.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Commit {
    /// Nothing to send.
    Nothing,
    /// Set the cookie to this value, for this many seconds.
    Set(String, u64),
    /// Remove the cookie.
    Remove,
}

#[derive(Default)]
struct State {
    loaded: bool,
    /// The session cookie the request came with.
    cookie: Option<String>,
    record: Option<Record>,
    /// The key the record was loaded under.
    key: Option<String>,
    /// Keys to delete once the new record is stored.
    delete: Vec<String>,
    modified: bool,
    cycle: bool,
    /// The store failed to load the session: every use of it, and the
    /// response, is this answer (a 503), whatever the app made of it.
    failed: Option<HttpException>,
}

/// A request's session. Every operation marks it touched; until then the
/// layer does nothing at all.
pub(crate) struct LazySession {
    config: Arc<Config>,
    /// The value of the session cookie the request came with.
    cookie: Option<String>,
    touched: AtomicBool,
    state: Mutex<State>,
}

impl LazySession {
    pub(crate) fn new(config: Arc<Config>, cookie: Option<String>) -> Self {
        LazySession {
            config,
            cookie,
            touched: AtomicBool::new(false),
            state: Mutex::new(State::default()),
        }
    }

    fn store(&self) -> &dyn SessionStore {
        self.config.store.as_ref()
    }

    async fn load(&self, key: &str) -> Result<Option<Record>, StoreError> {
        let started = Instant::now();
        let result = self.store().load(key).await;
        self.config.health.observe(started, result)
    }

    async fn save(
        &self,
        key: Option<&str>,
        record: &Record,
        ttl: Duration,
    ) -> Result<String, StoreError> {
        let started = Instant::now();
        let result = self.store().store(key, record, ttl).await;
        self.config.health.observe(started, result)
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        let started = Instant::now();
        let result = self.store().delete(key).await;
        self.config.health.observe(started, result)
    }

    fn expiry(&self) -> &Expiry {
        &self.config.expiry
    }

    pub(crate) fn touched(&self) -> bool {
        self.touched.load(Ordering::Acquire)
    }

    async fn state(&self) -> Result<tokio::sync::MutexGuard<'_, State>, HttpException> {
        self.touched.store(true, Ordering::Release);
        let mut state = self.state.lock().await;
        if let Some(failed) = &state.failed {
            // Not tried again: one wait on a store that does not answer.
            return Err(failed.clone());
        }
        if !state.loaded {
            state.cookie = self.cookie.clone();
            if let Some(cookie) = state.cookie.clone().as_ref() {
                // A store that cannot answer is an error (503), never "no
                // session": that would log the user out.
                let loaded = match self.load(cookie).await {
                    Ok(loaded) => loaded,
                    Err(err) => {
                        let failed = HttpException::from(err);
                        state.failed = Some(failed.clone());
                        return Err(failed);
                    }
                };
                match loaded {
                    Some(record) if !self.expiry().expired(&record, now()) => {
                        state.record = Some(record);
                        state.key = Some(cookie.clone());
                    }
                    Some(_) => {
                        tracing::debug!("an expired session cookie: a new session will start");
                        state.delete.push(cookie.clone());
                    }
                    None => {
                        tracing::debug!("an unknown, expired or forged session cookie: ignored")
                    }
                }
            }
            state.loaded = true;
        }
        Ok(state)
    }

    /// Stores what changed and says what the cookie becomes. Runs after the
    /// response is made; a failure becomes the response, and so does a
    /// failed load, even one the app (or a login layer) went on without.
    pub(crate) async fn commit(&self) -> Result<Commit, HttpException> {
        let mut state = self.state.lock().await;
        if let Some(failed) = &state.failed {
            return Err(failed.clone());
        }
        if !state.loaded {
            return Ok(Commit::Nothing);
        }
        let now = now();
        let State {
            record,
            key,
            delete,
            modified,
            cycle,
            cookie,
            ..
        } = &mut *state;
        let commit = match record {
            Some(record) => {
                let refresh = !*modified && self.expiry().needs_refresh(record, now);
                if *modified || refresh {
                    record.last_seen = now;
                    let ttl = self.expiry().remaining(record, now);
                    let target = if *cycle { None } else { key.as_deref() };
                    let value = self.save(target, record, ttl).await?;
                    if *cycle {
                        delete.extend(key.take());
                    }
                    // The same id and a fixed deadline: the cookie the
                    // browser has is still right, so none is sent.
                    let unchanged = cookie.as_deref() == Some(value.as_str())
                        && self.expiry().idle_timeout.is_none();
                    if unchanged {
                        Commit::Nothing
                    } else {
                        Commit::Set(value, ttl.as_secs())
                    }
                } else {
                    Commit::Nothing
                }
            }
            // Destroyed, or a cookie that named no session: remove it.
            None if *modified || cookie.is_some() => Commit::Remove,
            None => Commit::Nothing,
        };
        // Old records go only after the new one is stored.
        // (An outage is logged by the layer's health; the old record
        // expires in the store anyway.)
        for old in std::mem::take(delete) {
            if self.delete(&old).await.is_err() {
                tracing::debug!("an old session record was not deleted");
            }
        }
        Ok(commit)
    }
}

impl SessionHandle for LazySession {
    fn get_value<'a>(&'a self, key: &'a str) -> SessionFuture<'a, Option<Value>> {
        Box::pin(async move {
            let state = self.state().await?;
            Ok(state.record.as_ref().and_then(|r| r.data.get(key).cloned()))
        })
    }

    fn insert_value<'a>(&'a self, key: &'a str, value: Value) -> SessionFuture<'a, ()> {
        Box::pin(async move {
            let mut state = self.state().await?;
            let now = now();
            let record = state.record.get_or_insert_with(|| Record {
                created: now,
                last_seen: now,
                ..Record::default()
            });
            record.data.insert(key.to_owned(), value);
            state.modified = true;
            Ok(())
        })
    }

    fn remove_value<'a>(&'a self, key: &'a str) -> SessionFuture<'a, Option<Value>> {
        Box::pin(async move {
            let mut state = self.state().await?;
            let removed = state.record.as_mut().and_then(|r| r.data.remove(key));
            if removed.is_some() {
                state.modified = true;
            }
            Ok(removed)
        })
    }

    fn clear(&self) -> SessionFuture<'_, ()> {
        Box::pin(async move {
            let mut state = self.state().await?;
            if let Some(record) = state.record.as_mut() {
                record.data.clear();
                state.modified = true;
            }
            Ok(())
        })
    }

    fn cycle_id(&self) -> SessionFuture<'_, ()> {
        Box::pin(async move {
            let mut state = self.state().await?;
            if state.record.is_some() {
                state.cycle = true;
                state.modified = true;
            }
            Ok(())
        })
    }

    fn destroy(&self) -> SessionFuture<'_, ()> {
        Box::pin(async move {
            let mut state = self.state().await?;
            if let Some(key) = state.key.take() {
                state.delete.push(key);
            }
            state.record = None;
            state.cycle = false;
            state.modified = true;
            Ok(())
        })
    }
}
