//! The proxy's own pool of upstream connections, over hyper's connection
//! API (`hyper::client::conn::http1` and `http2`).
//!
//! An HTTP/1.1 connection is lent to one request at a time and given back
//! only by the proxy, once it has looked at the response: its body ended
//! exactly where its framing said, and the framing left no room for bytes
//! after it (see [`Lease`]). Before a connection is lent again, hyper's task
//! must have taken it back to idle (having read whatever was waiting: bytes
//! there close it), and on plain TCP the socket itself is looked at: a
//! connection with unasked bytes waiting is closed, never written to.
//!
//! An HTTP/2 connection is shared by all requests, streams being framed
//! each on its own.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, Weak};
use std::time::{Duration, Instant};

use http::{Request, Response, Uri};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioTimer};
use towerkit_core::BoxError;

use crate::bodies::Outgoing;
use crate::connect::{Connector, Probe, Waiting};

/// The connections to one upstream.
#[derive(Clone)]
pub(crate) struct Pool {
    inner: Arc<Inner>,
}

struct Inner {
    connector: Connector,
    max_idle: usize,
    idle_timeout: Duration,
    /// Idle HTTP/1.1 connections, the most recently given back last.
    idle: Mutex<Vec<Idle>>,
    /// The HTTP/2 connection, shared.
    h2: Mutex<Option<http2::SendRequest<Outgoing>>>,
    /// A task closes connections idle too long.
    reaper: AtomicBool,
}

struct Idle {
    conn: H1,
    since: Instant,
}

/// An HTTP/1.1 connection: hyper's handle to send on it, and on plain TCP
/// the socket's [`Probe`].
struct H1 {
    sender: http1::SendRequest<Outgoing>,
    probe: Option<Probe>,
}

impl H1 {
    /// Closes the connection now (plain TCP), or once hyper's task sees its
    /// handle gone (TLS).
    fn close(self) {
        if let Some(probe) = &self.probe {
            probe.close();
        }
    }
}

enum Conn {
    H1(H1),
    H2(http2::SendRequest<Outgoing>),
}

/// Why a request got no response.
#[derive(Debug)]
pub(crate) enum SendError {
    /// No connection could be made.
    Connect(BoxError),
    /// The exchange on the connection failed.
    Exchange(hyper::Error),
}

/// The loan of an HTTP/1.1 connection to one response. Dropped, it closes
/// the connection; [`release`](Lease::release)d, it gives it back.
pub(crate) struct Lease {
    conn: Option<H1>,
    pool: Weak<Inner>,
}

impl Lease {
    /// Gives the connection back for another request: call only once the
    /// response ended where its framing said, and its framing leaves no
    /// room for bytes after it.
    pub(crate) fn release(mut self) {
        let (Some(conn), Some(pool)) = (self.conn.take(), self.pool.upgrade()) else {
            return;
        };
        pool.check_in(conn);
    }

    /// The connection became a tunnel (101): hyper hands its socket over,
    /// and it is neither closed nor given back.
    pub(crate) fn detach(mut self) {
        // Only the probe's own handle is closed with it.
        drop(self.conn.take());
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            conn.close();
        }
    }
}

impl Pool {
    /// A pool keeping at most `max_idle` idle HTTP/1.1 connections, each
    /// for at most `idle_timeout`.
    pub(crate) fn new(connector: Connector, max_idle: usize, idle_timeout: Duration) -> Self {
        Pool {
            inner: Arc::new(Inner {
                connector,
                max_idle,
                idle_timeout,
                idle: Mutex::new(Vec::new()),
                h2: Mutex::new(None),
                reaper: AtomicBool::new(false),
            }),
        }
    }

    /// Sends `request` (its URI absolute) on a pooled connection, or, if
    /// `fresh`, on a new one (or the shared HTTP/2 one while it is open),
    /// and waits for the response head. An HTTP/1.1
    /// response comes with the [`Lease`] of its connection.
    pub(crate) async fn send(
        &self,
        mut request: Request<Outgoing>,
        fresh: bool,
    ) -> Result<(Response<hyper::body::Incoming>, Option<Lease>), SendError> {
        match self.inner.check_out(fresh).await? {
            Conn::H2(mut sender) => {
                let response = sender
                    .send_request(request)
                    .await
                    .map_err(SendError::Exchange)?;
                Ok((response, None))
            }
            Conn::H1(conn) => {
                // HTTP/1.1 names the target in origin form.
                if let Some(target) = request.uri().path_and_query().cloned() {
                    *request.uri_mut() = Uri::from(target);
                }
                // Lent from now on: should the exchange be given up
                // midway, the connection is closed with the lease.
                let mut lease = Lease {
                    conn: None,
                    pool: Arc::downgrade(&self.inner),
                };
                let conn = lease.conn.insert(conn);
                let response = conn
                    .sender
                    .send_request(request)
                    .await
                    .map_err(SendError::Exchange)?;
                Ok((response, Some(lease)))
            }
        }
    }
}

impl Inner {
    async fn check_out(self: &Arc<Self>, fresh: bool) -> Result<Conn, SendError> {
        // HTTP/2 frames each stream on its own: an open shared connection
        // is as good as a new one.
        if let Some(sender) = self.shared_h2() {
            return Ok(Conn::H2(sender));
        }
        if !fresh {
            while let Some(mut conn) = self.pop_idle() {
                if conn.sender.is_closed() {
                    continue;
                }
                // Ready once hyper's task is back to idle, having read what
                // was there: unasked bytes close the connection instead.
                if conn.sender.ready().await.is_err() {
                    continue;
                }
                match conn.probe.as_ref().map_or(Waiting::Nothing, Probe::peek) {
                    Waiting::Nothing => return Ok(Conn::H1(conn)),
                    Waiting::Closed => conn.close(),
                    Waiting::Bytes => {
                        tracing::warn!(upstream = %self.connector.host, "the upstream sent bytes after a response ended: its connection is closed");
                        conn.close();
                    }
                }
            }
        }
        self.connect().await
    }

    fn shared_h2(&self) -> Option<http2::SendRequest<Outgoing>> {
        let mut slot = self.h2.lock().ok()?;
        match &*slot {
            Some(sender) if !sender.is_closed() => Some(sender.clone()),
            Some(_) => {
                *slot = None;
                None
            }
            None => None,
        }
    }

    /// The most recently given back connection that has not idled too
    /// long; those that have are closed.
    fn pop_idle(&self) -> Option<H1> {
        let mut idle = self.idle.lock().ok()?;
        while let Some(entry) = idle.pop() {
            if entry.since.elapsed() < self.idle_timeout {
                return Some(entry.conn);
            }
            entry.conn.close();
        }
        None
    }

    async fn connect(self: &Arc<Self>) -> Result<Conn, SendError> {
        let connected = self
            .connector
            .connect()
            .await
            .map_err(|err| SendError::Connect(err.into()))?;
        if connected.h2 {
            let (sender, connection) = http2::Builder::new(TokioExecutor::new())
                .timer(TokioTimer::new())
                .handshake(connected.stream)
                .await
                .map_err(|err| SendError::Connect(err.into()))?;
            tokio::spawn(async move {
                if let Err(err) = connection.await {
                    tracing::debug!(error = %err, "an HTTP/2 connection to the upstream ended");
                }
            });
            if let Ok(mut slot) = self.h2.lock() {
                *slot = Some(sender.clone());
            }
            return Ok(Conn::H2(sender));
        }
        let (mut sender, connection) = http1::Builder::new()
            .handshake(connected.stream)
            .await
            .map_err(|err| SendError::Connect(err.into()))?;
        tokio::spawn(async move {
            if let Err(err) = connection.with_upgrades().await {
                tracing::debug!(error = %err, "an HTTP/1.1 connection to the upstream ended");
            }
        });
        sender
            .ready()
            .await
            .map_err(|err| SendError::Connect(err.into()))?;
        Ok(Conn::H1(H1 {
            sender,
            probe: connected.probe,
        }))
    }

    fn check_in(self: &Arc<Self>, conn: H1) {
        if self.max_idle == 0 || conn.sender.is_closed() {
            conn.close();
            return;
        }
        let Ok(mut idle) = self.idle.lock() else {
            conn.close();
            return;
        };
        idle.push(Idle {
            conn,
            since: Instant::now(),
        });
        if idle.len() > self.max_idle {
            idle.remove(0).conn.close();
        }
        drop(idle);
        if !self.reaper.swap(true, Ordering::AcqRel) {
            tokio::spawn(reap(Arc::downgrade(self), self.idle_timeout));
        }
    }
}

/// Closes the connections idle longer than `idle_timeout`, or closed by
/// the upstream, until the pool is gone.
async fn reap(pool: Weak<Inner>, idle_timeout: Duration) {
    let period = (idle_timeout / 2).clamp(Duration::from_millis(100), Duration::from_secs(10));
    loop {
        tokio::time::sleep(period).await;
        let Some(pool) = pool.upgrade() else {
            return;
        };
        let Ok(mut idle) = pool.idle.lock() else {
            return;
        };
        let stale: Vec<Idle> = {
            let (keep, stale) = std::mem::take(&mut *idle).into_iter().partition(|entry| {
                entry.since.elapsed() < idle_timeout && !entry.conn.sender.is_closed()
            });
            *idle = keep;
            stale
        };
        drop(idle);
        for entry in stale {
            entry.conn.close();
        }
    }
}
