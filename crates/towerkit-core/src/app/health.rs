use std::convert::Infallible;
use std::fmt::Write as _;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

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

    /// Adds a check under `name` (the section or part it stands for).
    pub fn add(&self, name: impl Into<String>, check: Arc<dyn Check>) {
        self.lock().push((name.into(), check));
    }

    /// The names of the checks, in the order they were added.
    pub fn names(&self) -> Vec<String> {
        self.lock().iter().map(|(name, _)| name.clone()).collect()
    }

    /// Runs every check, one after the other; each name with its answer.
    pub async fn run(&self) -> Vec<(String, Result<(), String>)> {
        let checks = self.lock().clone();
        let mut answers = Vec::with_capacity(checks.len());
        for (name, check) in checks {
            let answer = check.check().await;
            answers.push((name, answer));
        }
        answers
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
/// - `503 unavailable` naming each check that failed and why, with
///   `Retry-After: 5`.
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
#[derive(Clone, Debug, Default)]
pub struct Health {
    readiness: Readiness,
}

impl Health {
    /// A health app asking `readiness`.
    pub fn new(readiness: Readiness) -> Self {
        Health { readiness }
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
        Box::pin(async move {
            let mut failed = String::new();
            for (name, answer) in readiness.run().await {
                if let Err(why) = answer {
                    let _ = writeln!(failed, "{name}: {why}");
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
        assert_eq!(
            response.text(),
            "unavailable\ntickets: connection refused\n"
        );
        assert_eq!(response.header("retry-after"), Some("5"));
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
