//! The connections to the upstream: HTTP/1.1, kept alive and reused.
//!
//! A request takes an idle connection (or opens one), writes itself out,
//! and reads the response head; its response body then owns the connection
//! and gives it back when it has been read to the end (see [`crate::body`]).
//! All of it runs in the task of the client's request: a connection has no
//! task of its own.
//!
//! An idle connection the upstream has closed is noticed as it is taken
//! (the socket is readable), and dropped. One closed just as a request went
//! out shows as a connection ended before any byte of a response: the
//! request is then sent again on a new connection, if nothing of its body
//! was lost and its method is idempotent (RFC 9110 §9.2.2); otherwise it
//! fails.
//!
//! The pool itself is a list behind a lock held only to push or pop; the
//! most recently used connection goes out first, and connections idle
//! longer than [`IDLE_TIMEOUT`] are closed as the pool is next used.

use std::collections::VecDeque;
use std::future::{poll_fn, Future};
use std::io;
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::Duration;

use http::{Method, Response, StatusCode};
use tokio::net::TcpStream;
use tokio::time::Instant;
use towerkit_core::{Body, BoxError};

use crate::body::ResponseBody;
use crate::connection::Connection;
use crate::request::{RequestHead, Upload, UploadError};
use crate::response::{BadHead, Head};

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
    idle: Mutex<VecDeque<(Connection, Instant)>>,
}

/// Why a request got no response from the upstream.
#[derive(Debug)]
pub(crate) enum SendError {
    /// No connection could be opened.
    Connect(io::Error),
    /// The connection failed, or closed, before a response came.
    Io(io::Error),
    /// The upstream's response could not be read.
    BadResponse(BadHead),
    /// The client's request body failed.
    Client(BoxError),
}

impl std::fmt::Display for SendError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SendError::Connect(err) => write!(f, "cannot connect: {err}"),
            SendError::Io(err) => write!(f, "{err}"),
            SendError::BadResponse(err) => write!(f, "{err}"),
            SendError::Client(err) => write!(f, "the request body failed: {err}"),
        }
    }
}

/// What the upstream answered.
pub(crate) enum Reply {
    /// A response, its body read from the connection.
    Body(ResponseBody),
    /// `101 Switching Protocols`: the connection is now the upstream's end
    /// of a tunnel (with any bytes already read of it). Whether the request
    /// asked to switch is for the caller to check.
    Upgraded(Connection),
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

    /// Sends a request and returns the upstream's response head; its body
    /// streams from the connection. The head's fields set what the proxy
    /// sets (an `Upgrade` among them).
    pub(crate) fn send(
        &self,
        head: &RequestHead<'_>,
        body: Body,
    ) -> impl Future<Output = Result<Response<Reply>, SendError>> + Send + 'static {
        // The head is written out before the future, which then keeps only
        // what it needs: the arguments of an `async fn` would stay in it.
        let idempotent = head.method.is_idempotent();
        let for_head = head.method == Method::HEAD;
        let mut upload = Upload::new(head, body);
        let pool = self.clone();
        async move {
            loop {
                let (conn, reused) = match pool.idle() {
                    Some(conn) => (conn, true),
                    // Boxed: opening a connection is the rare case, and its
                    // future would double the size of every request's.
                    None => (Box::pin(pool.connect()).await?, false),
                };
                match pool.exchange(conn, upload, for_head).await {
                    Ok(response) => return Ok(response),
                    Err(Failed::Retry(unsent)) if reused && idempotent => {
                        upload = unsent;
                        upload.rewind();
                    }
                    Err(Failed::Retry(_)) => return Err(unanswered()),
                    Err(Failed::Error(err)) => return Err(err),
                }
            }
        }
    }

    /// Writes the request on `conn` and reads the response head.
    async fn exchange(
        &self,
        mut conn: Connection,
        mut upload: Upload,
        for_head: bool,
    ) -> Result<Response<Reply>, Failed> {
        let mut sending = true;
        let mut cut_short = false;
        let mut received = false;
        // The head, or why there is none: `Err(None)` if the connection
        // closed before any byte of an answer, when the request may be sent
        // again.
        let head = poll_fn(|cx| {
            if sending {
                match upload.poll_send(cx, &mut conn) {
                    Poll::Pending => {}
                    Poll::Ready(Ok(())) => sending = false,
                    Poll::Ready(Err(UploadError::Client(err))) => {
                        return Poll::Ready(Err(Some(SendError::Client(err))))
                    }
                    // The upstream may have answered already and stopped
                    // reading: its answer is still read.
                    Poll::Ready(Err(UploadError::Upstream(err))) => {
                        tracing::debug!(error = %err, "the request could not be sent in full");
                        sending = false;
                        cut_short = true;
                    }
                }
            }
            loop {
                match Head::parse(&mut conn.read, for_head) {
                    Ok(Some(head))
                        if head.status.is_informational()
                            && head.status != StatusCode::SWITCHING_PROTOCOLS =>
                    {
                        // 100 Continue, 103 Early Hints: the final response follows.
                        continue;
                    }
                    Ok(Some(head)) => return Poll::Ready(Ok(head)),
                    Ok(None) => {}
                    Err(err) => return Poll::Ready(Err(Some(SendError::BadResponse(err)))),
                }
                match std::task::ready!(conn.poll_fill(cx)) {
                    Ok(0) if !received => return Poll::Ready(Err(None)),
                    Ok(0) => {
                        return Poll::Ready(Err(Some(SendError::Io(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "the upstream closed the connection in a response head",
                        )))))
                    }
                    Ok(_) => received = true,
                    Err(err) if !received && is_reset(&err) => return Poll::Ready(Err(None)),
                    Err(err) => return Poll::Ready(Err(Some(SendError::Io(err)))),
                }
            }
        })
        .await;
        let head = match head {
            Ok(head) => head,
            // Closed before any byte of an answer.
            Err(None) if upload.is_replayable() => return Err(Failed::Retry(upload)),
            Err(None) => return Err(Failed::Error(unanswered())),
            Err(Some(err)) => return Err(Failed::Error(err)),
        };
        let mut response = Response::new(());
        *response.status_mut() = head.status;
        *response.version_mut() = head.version;
        *response.headers_mut() = head.headers;
        let reply = if head.status == StatusCode::SWITCHING_PROTOCOLS {
            Reply::Upgraded(conn)
        } else {
            let upload = sending.then_some(upload);
            Reply::Body(ResponseBody::new(
                conn,
                upload,
                head.framing,
                // A request cut short leaves the connection in no known state.
                head.keep_alive && !cut_short,
                self.clone(),
            ))
        };
        Ok(response.map(|()| reply))
    }

    /// An idle connection still open, if one is left.
    fn idle(&self) -> Option<Connection> {
        let mut idle = self.0.idle.lock().ok()?;
        expire(&mut idle, Instant::now());
        while let Some((conn, _)) = idle.pop_back() {
            if conn.is_idle_usable() {
                return Some(conn);
            }
        }
        None
    }

    async fn connect(&self) -> Result<Connection, SendError> {
        let shared = &self.0;
        let connect = TcpStream::connect((shared.host.as_str(), shared.port));
        let stream = match tokio::time::timeout(shared.connect_timeout, connect).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(err)) => return Err(SendError::Connect(err)),
            Err(_) => {
                return Err(SendError::Connect(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "connect timeout",
                )))
            }
        };
        let _ = stream.set_nodelay(true);
        Ok(Connection::new(stream))
    }

    /// Takes back a connection whose response has ended.
    pub(crate) fn give_back(&self, conn: Connection) {
        if let Ok(mut idle) = self.0.idle.lock() {
            let now = Instant::now();
            expire(&mut idle, now);
            if idle.len() < MAX_IDLE {
                idle.push_back((conn, now));
            }
        }
    }
}

/// Why an exchange failed: for good, or in a way that allows sending the
/// request again (the connection closed before any byte of a response).
enum Failed {
    Retry(Upload),
    Error(SendError),
}

/// A connection closed before any byte of an answer.
fn unanswered() -> SendError {
    SendError::Io(io::Error::new(
        io::ErrorKind::ConnectionReset,
        "the upstream closed the connection without answering",
    ))
}

fn is_reset(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionReset
            | io::ErrorKind::BrokenPipe
            | io::ErrorKind::ConnectionAborted
    )
}

/// Closes the connections idle for longer than [`IDLE_TIMEOUT`] at `now`.
fn expire(idle: &mut VecDeque<(Connection, Instant)>, now: Instant) {
    while idle
        .front()
        .is_some_and(|(_, since)| now.saturating_duration_since(*since) > IDLE_TIMEOUT)
    {
        idle.pop_front();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use crate::request::with_bare_head;

    /// Sends `GET /` with no fields.
    fn send_get(pool: &Pool) -> impl Future<Output = Result<Response<Reply>, SendError>> {
        with_bare_head(&Method::GET, |head| pool.send(head, Body::empty()))
    }

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
        let response = send_get(pool).await.unwrap();
        let Reply::Body(body) = response.into_body() else {
            panic!("an upgrade")
        };
        let body = Body::new(body).to_bytes().await.unwrap();
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
        let sent = send_get(&pool).await;
        assert!(matches!(sent, Err(SendError::Connect(_))));
    }
}
