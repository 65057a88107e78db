//! One accepted connection, from its TLS handshake to its last request.
//!
//! A connection is served in rounds. Each round waits on the bare socket
//! for a request's first bytes, chooses the protocol from them (the HTTP/2
//! preface, or HTTP/1.1; on TLS, ALPN has already chosen), and hands the
//! socket with those bytes to a fresh hyper connection. An HTTP/1
//! connection left idle is parked (see [`crate::io`]): hyper's connection
//! ends and drops its buffers, the socket comes back, and the next round
//! waits for the next request. A connection that never sends a byte costs
//! no hyper buffers at all.
//!
//! On shutdown a waiting connection is closed at once; a served one is
//! asked to end after its current request (HTTP/2: GOAWAY).

use std::future::{poll_fn, Future};
use std::pin::{pin, Pin};
use std::sync::Arc;
use std::task::Waker;

use bytes::Bytes;
use http::{Request, Response};
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio::sync::OwnedSemaphorePermit;
use tower_service::Service;
use towerkit_core::{Body, BoxError, ConnectionInfo, Shutdown, TlsInfo};

use crate::io::{Activity, ParkSlot, Socket, TimedIo, H2_PREFACE};
use crate::metrics::ServerMetrics;
use crate::server::Shared;
use crate::service::ConnectionService;
use crate::streams::WithStreams;
use crate::TlsConfig;

/// An accepted connection, before its TLS handshake.
pub(crate) struct Connection {
    pub(crate) stream: TcpStream,
    pub(crate) info: ConnectionInfo,
    pub(crate) tls: Option<TlsConfig>,
    /// Its place under `max_connections`, given back when it closes.
    pub(crate) permit: Option<OwnedSemaphorePermit>,
}

impl Connection {
    /// Serves the connection until it ends, or until shutdown has asked it
    /// to end and it has.
    pub(crate) async fn serve<S, B>(self, shared: Arc<Shared>, service: S)
    where
        S: Service<Request<Body>, Response = Response<B>> + Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError> + Send,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        let Connection {
            stream,
            mut info,
            tls,
            permit,
        } = self;
        let _ = stream.set_nodelay(true);
        let remote_addr = info.remote_addr;
        let _open = shared.metrics.clone().map(Open::new);
        match tls {
            None => serve_io(&shared, stream, info, false, service).await,
            // Boxed, as each round is: a connection waiting for its next
            // request keeps only its socket and its clock.
            Some(tls) => {
                Box::pin(async move {
                    let handshake = tls.acceptor().accept(stream);
                    let stream =
                        match tokio::time::timeout(shared.limits.header_timeout, handshake).await {
                            Ok(Ok(stream)) => stream,
                            Ok(Err(err)) => {
                                tracing::debug!(%remote_addr, error = %err, "TLS handshake failed");
                                return;
                            }
                            Err(_) => {
                                tracing::debug!(%remote_addr, "TLS handshake timed out");
                                return;
                            }
                        };
                    let (_, session) = stream.get_ref();
                    let mut tls_info = TlsInfo::default();
                    tls_info.server_name = session.server_name().map(str::to_owned);
                    tls_info.alpn = session.alpn_protocol().map(<[u8]>::to_vec);
                    let http2 = tls_info.alpn.as_deref() == Some(b"h2");
                    info.scheme = http::uri::Scheme::HTTPS;
                    info.tls = Some(Arc::new(tls_info));
                    serve_io(&shared, stream, info, http2, service).await;
                })
                .await
            }
        }
        drop(permit);
    }
}

/// A connection, counted open while it lives.
struct Open(Arc<ServerMetrics>);

impl Open {
    fn new(metrics: Arc<ServerMetrics>) -> Self {
        metrics.connections.increment(1);
        metrics.connections_open.increment(1.0);
        Open(metrics)
    }
}

impl Drop for Open {
    fn drop(&mut self) {
        self.0.connections_open.decrement(1.0);
    }
}

/// Runs HTTP over an established (plain or TLS) stream, round after round.
async fn serve_io<T, S, B>(shared: &Shared, io: T, info: ConnectionInfo, alpn_h2: bool, inner: S)
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
    S: Service<Request<Body>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError> + Send,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let remote_addr = info.remote_addr;
    let activity = Arc::new(Activity::new(info.shutdown.clone()));
    let service = ConnectionService {
        inner,
        info,
        activity: activity.clone(),
        limits: shared.limits.clone(),
        metrics: shared.metrics.clone(),
    };
    let limits = &shared.limits;
    let slot = ParkSlot::default();
    let mut socket = Socket::new(
        io,
        limits.header_timeout,
        limits.keep_alive_timeout,
        limits.send_timeout,
    );
    let shutdown = &shared.shutdown;
    loop {
        let (prefix, http2) = if alpn_h2 {
            (Bytes::new(), true)
        } else {
            match socket.wait_for_bytes(shutdown.requested()).await {
                Some(bytes) => {
                    let http2 = bytes.starts_with(H2_PREFACE);
                    (bytes, http2)
                }
                None => return,
            }
        };
        let io = TokioIo::new(TimedIo::new(
            socket,
            prefix,
            activity.clone(),
            slot.clone(),
            http2,
        ));
        let ended = if http2 {
            let connection = WithStreams::new(shared.http2.serve_connection(io, service.clone()));
            Box::pin(until_done(connection, shutdown, |c| {
                c.connection().graceful_shutdown()
            }))
            .await
        } else {
            let connection = shared
                .http1
                .serve_connection(io, service.clone())
                .with_upgrades();
            Box::pin(until_done(connection, shutdown, |c| c.graceful_shutdown())).await
        };
        if let Err(err) = ended {
            tracing::debug!(%remote_addr, error = %err, "connection ended with an error");
            // A head hyper could not parse: hyper answered it (400, 414,
            // 431) without the stack.
            if err.is_parse() || err.is_parse_too_large() {
                if let Some(metrics) = &shared.metrics {
                    metrics.refused_unread();
                }
            }
        }
        // Parked: the next round waits for the next request (or sees the
        // shutdown at once). Anything else ended the connection.
        match slot.lock().ok().and_then(|mut slot| slot.take()) {
            Some(parked) => socket = parked,
            None => return,
        }
    }
}

/// Drives a hyper connection to its end, asking it to end gracefully once
/// shutdown begins.
///
/// The shutdown signal is a [`Notify`](tokio::sync::Notify) shared by every
/// connection, and polling a waiting `Notified` takes its lock: so it is
/// polled to register this task's waker, and again only when that waker
/// changes or the flag is up, not at every poll of the connection.
async fn until_done<C>(
    connection: C,
    shutdown: &Shutdown,
    graceful: impl FnOnce(Pin<&mut C>),
) -> Result<(), hyper::Error>
where
    C: Future<Output = Result<(), hyper::Error>>,
{
    let mut connection = pin!(connection);
    let mut requested = pin!(shutdown.requested());
    let mut registered: Option<Waker> = None;
    let mut graceful = Some(graceful);
    poll_fn(|cx| {
        if graceful.is_some() {
            let stale = registered
                .as_ref()
                .is_none_or(|waker| !waker.will_wake(cx.waker()));
            if stale || shutdown.is_requested() {
                registered = Some(cx.waker().clone());
                if requested.as_mut().poll(cx).is_ready() {
                    if let Some(graceful) = graceful.take() {
                        graceful(connection.as_mut());
                    }
                }
            }
        }
        connection.as_mut().poll(cx)
    })
    .await
}
