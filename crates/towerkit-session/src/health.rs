//! Whether the store answers: what turns store errors into answers, and
//! outages into two log lines rather than one per request.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use crate::store::StoreError;

/// The health of a layer's store, as its requests find it.
///
/// The first store error that is an outage (anything but a session too
/// large for its store) logs a warning; while the outage lasts, further
/// errors are logged at debug only; the first operation that succeeds and
/// began after the outage did logs that the store answers again. An
/// operation begun before the outage that succeeds late does not end it.
#[derive(Debug, Default)]
pub(crate) struct Health {
    /// Whether an outage is on: read on every operation, without a lock.
    down: AtomicBool,
    /// When the outage began.
    since: Mutex<Option<Instant>>,
}

impl Health {
    /// Takes note of what an operation begun at `started` came to, and
    /// passes it on (its error becomes an answer by [`StoreError`]'s
    /// `From`).
    pub(crate) fn observe<T>(
        &self,
        started: Instant,
        result: Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        match &result {
            Ok(_) => {
                if self.down.load(Ordering::Acquire) {
                    self.answered(started);
                }
            }
            // The session's own fault, not the store's: every time.
            Err(err @ StoreError::TooLarge(_)) => tracing::error!("{err}"),
            Err(err) => self.failed(err),
        }
        result
    }

    fn since(&self) -> std::sync::MutexGuard<'_, Option<Instant>> {
        match self.since.lock() {
            Ok(since) => since,
            Err(poisoned) => poisoned.into_inner(),
        }
    }

    fn failed(&self, err: &StoreError) {
        // Counted for whatever `metrics` recorder the program installed.
        metrics::counter!("towerkit_session_store_errors_total").increment(1);
        let mut since = self.since();
        if since.is_none() {
            *since = Some(Instant::now());
            self.down.store(true, Ordering::Release);
            tracing::warn!(
                error = %err,
                "the session store is unavailable: requests that use their session are \
                 answered 503 until it answers again"
            );
        } else {
            tracing::debug!(error = %err, "the session store is still unavailable");
        }
    }

    fn answered(&self, started: Instant) {
        let mut since = self.since();
        match *since {
            Some(began) if started >= began => {
                *since = None;
                self.down.store(false, Ordering::Release);
                tracing::info!(
                    outage = ?began.elapsed(),
                    "the session store answers again"
                );
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use towerkit_core::HttpException;

    use super::*;

    fn answer_to(err: Result<(), StoreError>) -> HttpException {
        err.unwrap_err().into()
    }

    #[test]
    fn an_outage_begins_at_the_first_error_and_ends_at_a_later_success() {
        let health = Health::default();
        let before = Instant::now();
        let err = |why: &str| Err::<(), _>(StoreError::Unavailable(why.into()));
        let answer = answer_to(health.observe(Instant::now(), err("refused")));
        assert_eq!(answer.status(), http::StatusCode::SERVICE_UNAVAILABLE);
        assert!(health.down.load(Ordering::Acquire));
        // Failed, not unreachable: a 503 too.
        let answer =
            answer_to(health.observe(Instant::now(), Err(StoreError::Failed("disk".into()))));
        assert_eq!(answer.status(), http::StatusCode::SERVICE_UNAVAILABLE);
        // Begun before the outage: it does not end it.
        health.observe(before, Ok(())).unwrap();
        assert!(health.down.load(Ordering::Acquire));
        health.observe(Instant::now(), Ok(())).unwrap();
        assert!(!health.down.load(Ordering::Acquire));
        // Too large is no outage, and a 500.
        let answer = answer_to(health.observe(Instant::now(), Err(StoreError::TooLarge(5000))));
        assert_eq!(answer.status(), http::StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!health.down.load(Ordering::Acquire));
    }
}
