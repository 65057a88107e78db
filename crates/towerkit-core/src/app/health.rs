use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::{HeaderValue, ALLOW, CACHE_CONTROL, CONTENT_TYPE};
use http::{Method, Request, Response, StatusCode};
use tower_service::Service;

use crate::body::Body;
use crate::environ::ConnectionInfo;

/// What a readiness check asks of one part of a stack (a session store, an
/// upstream): whether it is usable now.
pub trait Check: Send + Sync + 'static {
    /// Asks; an `Err` says why not. It must answer within its own timeout
    /// (a store's): a health check that hangs is no answer.
    fn check(&self) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>>;
}

/// The parts of a stack a [`Health`] app asks: each registers a named
/// [`Check`] as it is built. Clones share the list.
#[derive(Clone, Default)]
pub struct Readiness {
    checks: Arc<Mutex<Vec<Named>>>,
}

/// A check and the name it answers under.
type Named = (String, Arc<dyn Check>);

impl std::fmt::Debug for Readiness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.names()).finish()
    }
}

impl Readiness {
    /// No checks yet.
    pub fn new() -> Self {
        Readiness::default()
    }

    /// Adds a check under `name` (the section or part it stands for); a
    /// check already under that name is replaced, so that a part built
    /// twice is asked once.
    pub fn add(&self, name: impl Into<String>, check: Arc<dyn Check>) {
        let name = name.into();
        let mut checks = self.lock();
        match checks.iter_mut().find(|(named, _)| *named == name) {
            Some(entry) => entry.1 = check,
            None => checks.push((name, check)),
        }
    }

    /// The names of the checks, in the order they were added.
    pub fn names(&self) -> Vec<String> {
        self.lock().iter().map(|(name, _)| name.clone()).collect()
    }

    /// Runs every check at once, each for at most `timeout`; each name
    /// with its answer, in the order they were added.
    pub async fn run(&self, timeout: Duration) -> Vec<(String, Result<(), String>)> {
        let checks = self.lock().clone();
        let mut pending: Vec<_> = checks
            .iter()
            .map(|(_, check)| Some(Box::pin(tokio::time::timeout(timeout, check.check()))))
            .collect();
        let mut answers: Vec<Option<Result<(), String>>> = vec![None; checks.len()];
        std::future::poll_fn(|cx| {
            let mut done = true;
            for (slot, answer) in pending.iter_mut().zip(answers.iter_mut()) {
                let Some(future) = slot else { continue };
                match future.as_mut().poll(cx) {
                    Poll::Ready(result) => {
                        *answer = Some(
                            result.unwrap_or_else(|_| Err(format!("no answer within {timeout:?}"))),
                        );
                        *slot = None;
                    }
                    Poll::Pending => done = false,
                }
            }
            if done {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
        drop(pending);
        checks
            .iter()
            .zip(answers)
            .map(|((name, _), answer)| (name.clone(), answer.unwrap_or(Ok(()))))
            .collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Named>> {
        match self.checks.lock() {
            Ok(checks) => checks,
            Err(poisoned) => poisoned.into_inner(),
        }
    }
}

/// A health endpoint for load balancers and orchestrators.
///
/// - `200 ready` while the server is not shutting down and every check of
///   its [`Readiness`] passes;
/// - `503 draining` once the server is on its way out (its `drain_delay`
///   began, or shutdown did), so that a balancer that asks sends new
///   requests elsewhere while this process finishes what it has;
/// - `503 unavailable` naming each check that failed (why is logged, not
///   told to whoever asks), with `Retry-After: 5`.
///
/// The checks run at once, each for at most [`timeout`](Health::timeout)
/// (default 2 seconds), so that a balancer gets an answer within its own
/// check's timeout even when a store hangs.
///
/// Answers are never cached (`Cache-Control: no-store`); methods other
/// than GET and HEAD get 405.
///
/// ```
/// use towerkit_core::app::{Health, Readiness};
///
/// let readiness = Readiness::new(); // the session layer adds its store
/// let health = Health::new(readiness);
/// # let _ = health;
/// ```
#[derive(Clone, Debug)]
pub struct Health {
    readiness: Readiness,
    timeout: Duration,
}

impl Default for Health {
    fn default() -> Self {
        Health::new(Readiness::new())
    }
}

impl Health {
    /// The longest a check is waited for, unless set with
    /// [`timeout`](Health::timeout).
    pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(2);

    /// A health app asking `readiness`.
    pub fn new(readiness: Readiness) -> Self {
        Health {
            readiness,
            timeout: Self::DEFAULT_TIMEOUT,
        }
    }

    /// How long a check is waited for before it counts as failed.
    #[must_use]
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }
}

fn answer(status: StatusCode, text: String, head: bool) -> Response<Body> {
    let body = if head {
        Body::empty()
    } else {
        Body::from(text)
    };
    let mut response = Response::new(body);
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    headers.insert(CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if status == StatusCode::SERVICE_UNAVAILABLE {
        headers.insert(http::header::RETRY_AFTER, HeaderValue::from_static("5"));
    }
    response
}

impl<B> Service<Request<B>> for Health {
    type Response = Response<Body>;
    type Error = Infallible;
    type Future = Pin<Box<dyn Future<Output = Result<Response<Body>, Infallible>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let head = req.method() == Method::HEAD;
        if req.method() != Method::GET && !head {
            let mut response = answer(
                StatusCode::METHOD_NOT_ALLOWED,
                "GET or HEAD\n".to_owned(),
                false,
            );
            response
                .headers_mut()
                .insert(ALLOW, HeaderValue::from_static("GET, HEAD"));
            return Box::pin(std::future::ready(Ok(response)));
        }
        let draining = req
            .extensions()
            .get::<ConnectionInfo>()
            .is_some_and(|info| info.shutdown.is_draining());
        if draining {
            let response = answer(
                StatusCode::SERVICE_UNAVAILABLE,
                "draining\n".to_owned(),
                head,
            );
            return Box::pin(std::future::ready(Ok(response)));
        }
        let readiness = self.readiness.clone();
        let timeout = self.timeout;
        Box::pin(async move {
            let mut failed = String::new();
            for (name, answer) in readiness.run(timeout).await {
                if let Err(why) = answer {
                    tracing::debug!(check = %name, "health check failed: {why}");
                    let _ = writeln!(failed, "{name}");
                }
            }
            Ok(if failed.is_empty() {
                answer(StatusCode::OK, "ready\n".to_owned(), head)
            } else {
                answer(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("unavailable\n{failed}"),
                    head,
                )
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::environ::Shutdown;
    use crate::TestClient;

    struct Down;

    impl Check for Down {
        fn check(&self) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
            Box::pin(async { Err("connection refused".to_owned()) })
        }
    }

    struct Up;

    impl Check for Up {
        fn check(&self) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
            Box::pin(async { Ok(()) })
        }
    }

    #[tokio::test]
    async fn ready_while_every_check_passes() {
        let readiness = Readiness::new();
        readiness.add("sessions", Arc::new(Up));
        let mut client = TestClient::new(Health::new(readiness.clone()));
        let response = client.get("/").send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.text(), "ready\n");
        assert_eq!(response.header("cache-control"), Some("no-store"));

        readiness.add("tickets", Arc::new(Down));
        let response = client.get("/").send().await.unwrap();
        assert_eq!(response.status(), 503);
        assert_eq!(response.text(), "unavailable\ntickets\n");
        assert_eq!(response.header("retry-after"), Some("5"));
    }

    struct Hangs;

    impl Check for Hangs {
        fn check(&self) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
            Box::pin(std::future::pending())
        }
    }

    #[tokio::test(start_paused = true)]
    async fn checks_run_at_once_and_a_hung_one_times_out() {
        let readiness = Readiness::new();
        readiness.add("a", Arc::new(Hangs));
        readiness.add("b", Arc::new(Hangs));
        readiness.add("c", Arc::new(Up));
        // Added twice: asked once.
        readiness.add("a", Arc::new(Hangs));
        let started = tokio::time::Instant::now();
        let answers = readiness.run(Duration::from_secs(2)).await;
        assert_eq!(
            started.elapsed(),
            Duration::from_secs(2),
            "not one after the other"
        );
        let names: Vec<_> = answers.iter().map(|(name, _)| name.as_str()).collect();
        assert_eq!(names, ["a", "b", "c"]);
        assert_eq!(answers[0].1, Err("no answer within 2s".to_owned()));
        assert_eq!(answers[2].1, Ok(()));
    }

    #[tokio::test]
    async fn draining_once_shutdown_nears() {
        let shutdown = Shutdown::new();
        let mut info = ConnectionInfo::loopback();
        info.shutdown = shutdown.clone();
        let mut client = TestClient::new(Health::default()).connection(info);
        let response = client.get("/").send().await.unwrap();
        assert_eq!(response.status(), 200);
        shutdown.begin_draining();
        let response = client.get("/").send().await.unwrap();
        assert_eq!(response.status(), 503);
        assert_eq!(response.text(), "draining\n");
    }

    #[tokio::test]
    async fn only_get_and_head() {
        let mut client = TestClient::new(Health::default());
        let response = client.post("/").send().await.unwrap();
        assert_eq!(response.status(), 405);
        assert_eq!(response.header("allow"), Some("GET, HEAD"));
        let response = client.request(Method::HEAD, "/").send().await.unwrap();
        assert_eq!(response.status(), 200);
        assert_eq!(response.text(), "");
    }
}
