//! The connections to the upstream: HTTP/1.1, kept alive and reused.
//!
//! A request takes an idle connection (or opens one), and its response body
//! gives the connection back when it has been read to the end: a body left
//! unfinished (the client went away) closes its connection, whose state is
//! then unknown. A request that an idle connection could not take (the
//! upstream had closed it meanwhile) is sent again on a new one; hyper hands
//! it back unsent.
//!
//! Each connection runs in its own task (hyper's client connection). The
//! pool itself is a list behind a lock held only to push or pop; the most
//! recently used connection goes out first, and connections idle longer
//! than [`IDLE_TIMEOUT`] are closed as the pool is next used.

use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body::{Body as _, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;
use tokio::time::Instant;
use towerkit_core::Body;

/// How many idle connections are kept; more are closed.
const MAX_IDLE: usize = 256;

/// How long a connection may wait idle in the pool.
const IDLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Idle connections to one upstream.
#[derive(Clone)]
pub(crate) struct Pool(Arc<Shared>);

struct Shared {
    host: String,
    port: u16,
    connect_timeout: Duration,
    /// Oldest first, each with the time it was given back.
    idle: Mutex<VecDeque<(SendRequest<Body>, Instant)>>,
}

/// Why a request did not reach the upstream.
#[derive(Debug)]
pub(crate) enum SendError {
    /// No connection could be opened.
    Connect(std::io::Error),
    /// The connection failed while the request was under way.
    Request(hyper::Error),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Connect(err) => write!(f, "cannot connect: {err}"),
            SendError::Request(err) => write!(f, "{err}"),
        }
    }
}

impl Pool {
    /// A pool of connections to `host:port`.
    pub(crate) fn new(host: &str, port: u16, connect_timeout: Duration) -> Self {
        Pool(Arc::new(Shared {
            host: host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned(),
            port,
            connect_timeout,
            idle: Mutex::new(VecDeque::new()),
        }))
    }

    /// Sends `req` and returns the upstream's response, whose body gives the
    /// connection back once read.
    pub(crate) async fn send(&self, mut req: Request<Body>) -> Result<Response<Body>, SendError> {
        loop {
            let (mut sender, fresh) = match self.idle().await {
                Some(sender) => (sender, false),
                None => (self.connect().await?, true),
            };
            match sender.try_send_request(req).await {
                Ok(response) => {
                    // A tunnel, or a connection the upstream will close, is
                    // not reused.
                    let reuse = response.status() != StatusCode::SWITCHING_PROTOCOLS;
                    let back = reuse.then(|| (sender, self.clone()));
                    return Ok(response.map(|body| Body::new(Returning { body, back })));
                }
                Err(mut err) => match err.take_message() {
                    Some(unsent) if !fresh => req = unsent,
                    _ => return Err(SendError::Request(err.into_error())),
                },
            }
        }
    }

    /// An idle connection ready for a request, if one is left open.
    async fn idle(&self) -> Option<SendRequest<Body>> {
        loop {
            let (mut sender, _) = {
                let mut idle = self.0.idle.lock().ok()?;
                expire(&mut idle);
                idle.pop_back()?
            };
            if sender.is_closed() {
                continue;
            }
            // A connection given back as its response ended may still be
            // finishing that response.
            if sender.ready().await.is_ok() {
                return Some(sender);
            }
        }
    }

    async fn connect(&self) -> Result<SendRequest<Body>, SendError> {
        let shared = &self.0;
        let connect = TcpStream::connect((shared.host.as_str(), shared.port));
        let stream = match tokio::time::timeout(shared.connect_timeout, connect).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(err)) => return Err(SendError::Connect(err)),
            Err(_) => {
                return Err(SendError::Connect(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "connect timeout",
                )))
            }
        };
        let _ = stream.set_nodelay(true);
        let (sender, connection) = http1::handshake(TokioIo::new(stream))
            .await
            .map_err(SendError::Request)?;
        tokio::spawn(async move {
            if let Err(err) = connection.with_upgrades().await {
                tracing::debug!(error = %err, "an upstream connection ended with an error");
            }
        });
        Ok(sender)
    }

    fn give_back(&self, sender: SendRequest<Body>) {
        if sender.is_closed() {
            return;
        }
        if let Ok(mut idle) = self.0.idle.lock() {
            expire(&mut idle);
            if idle.len() < MAX_IDLE {
                idle.push_back((sender, Instant::now()));
            }
        }
    }
}

/// Closes the connections idle for longer than [`IDLE_TIMEOUT`].
fn expire(idle: &mut VecDeque<(SendRequest<Body>, Instant)>) {
    while idle
        .front()
        .is_some_and(|(_, since)| since.elapsed() > IDLE_TIMEOUT)
    {
        idle.pop_front();
    }
}

/// An upstream response body that gives its connection back to the pool
/// when it ends.
struct Returning {
    body: Incoming,
    back: Option<(SendRequest<Body>, Pool)>,
}

impl Returning {
    fn ended(&mut self) {
        if let Some((sender, pool)) = self.back.take() {
            pool.give_back(sender);
        }
    }
}

impl http_body::Body for Returning {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.body).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.ended(),
            Poll::Ready(Some(Ok(_))) if self.body.is_end_stream() => self.ended(),
            Poll::Ready(Some(Err(_))) => self.back = None,
            _ => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

impl Drop for Returning {
    fn drop(&mut self) {
        // Read to the end without a last poll (an empty body): still reusable.
        if self.body.is_end_stream() {
            self.ended();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// An upstream that answers `answers` requests per connection with a
    /// keep-alive response, then closes it without a word; counts the
    /// connections it accepted.
    async fn upstream(answers: usize) -> (u16, Arc<AtomicUsize>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    for _ in 0..answers {
                        let mut seen = Vec::new();
                        while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
                            match stream.read(&mut buf).await {
                                Ok(0) | Err(_) => return,
                                Ok(n) => seen.extend_from_slice(&buf[..n]),
                            }
                        }
                        let answer = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
                        if stream.write_all(answer).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
        (port, accepted)
    }

    async fn get(pool: &Pool) -> String {
        let mut req = Request::new(Body::empty());
        *req.uri_mut() = "/".parse().unwrap();
        let response = pool.send(req).await.unwrap();
        let body = response.into_body().to_bytes().await.unwrap();
        String::from_utf8(body.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn one_connection_serves_request_after_request() {
        let (port, accepted) = upstream(usize::MAX).await;
        let pool = Pool::new("127.0.0.1", port, Duration::from_secs(1));
        for _ in 0..5 {
            assert_eq!(get(&pool).await, "ok");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_connection_the_upstream_closed_is_replaced() {
        // One answer per connection, and the close is not announced (no
        // `Connection: close`): the next request finds the idle connection
        // closed and goes out on a new one.
        let (port, accepted) = upstream(1).await;
        let pool = Pool::new("127.0.0.1", port, Duration::from_secs(1));
        for _ in 0..5 {
            assert_eq!(get(&pool).await, "ok");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 5);
    }

    #[tokio::test]
    async fn a_connection_idle_too_long_is_closed() {
        let (port, accepted) = upstream(usize::MAX).await;
        let pool = Pool::new("127.0.0.1", port, Duration::from_secs(1));
        assert_eq!(get(&pool).await, "ok");
        assert_eq!(get(&pool).await, "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 1);
        tokio::time::pause();
        tokio::time::advance(IDLE_TIMEOUT + Duration::from_secs(1)).await;
        tokio::time::resume();
        assert_eq!(get(&pool).await, "ok");
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn an_upstream_that_is_down_is_a_connect_error() {
        let port = TcpListener::bind("127.0.0.1:0")
            .await
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let pool = Pool::new("127.0.0.1", port, Duration::from_secs(1));
        let mut req = Request::new(Body::empty());
        *req.uri_mut() = "/".parse().unwrap();
        assert!(matches!(pool.send(req).await, Err(SendError::Connect(_))));
    }
}
