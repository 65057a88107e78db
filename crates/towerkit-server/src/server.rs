//! The listeners, their accept loops, and shutdown.

use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;
use tower_service::Service;
use towerkit_core::{Body, BoxError, ConnectionInfo};

use crate::service::ConnectionService;
use crate::signal::shutdown_signal;

/// How long in-flight requests get to finish after a shutdown signal, unless
/// set with [`Server::shutdown_grace`].
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// A server bound to one or more addresses, ready to serve a stack.
///
/// Every connection speaks HTTP/1.1 with keep-alive, or HTTP/2 when the
/// client opens with the HTTP/2 preface (h2c with prior knowledge).
#[derive(Debug)]
pub struct Server {
    listeners: Vec<TcpListener>,
    shutdown_grace: Duration,
}

impl Server {
    /// Binds every address (port 0 picks a free port: see
    /// [`local_addrs`](Server::local_addrs)). The error names the address
    /// that failed.
    pub async fn bind(addrs: impl IntoIterator<Item = SocketAddr>) -> io::Result<Server> {
        let mut listeners = Vec::new();
        for addr in addrs {
            let listener = TcpListener::bind(addr).await.map_err(|err| {
                io::Error::new(err.kind(), format!("cannot listen on {addr}: {err}"))
            })?;
            listeners.push(listener);
        }
        if listeners.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no address to listen on",
            ));
        }
        Ok(Server {
            listeners,
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
        })
    }

    /// The addresses actually bound, in the order given to
    /// [`bind`](Server::bind).
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners
            .iter()
            .filter_map(|l| l.local_addr().ok())
            .collect()
    }

    /// How long in-flight requests get to finish once shutdown starts;
    /// connections still open after it are closed.
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = grace;
        self
    }

    /// Serves `service` until SIGINT or SIGTERM, then shuts down gracefully.
    pub async fn serve<S, B>(self, service: S) -> io::Result<()>
    where
        S: Service<Request<Body>, Response = Response<B>> + Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.serve_with_shutdown(service, shutdown_signal()).await
    }

    /// Serves `service` until `signal` completes, then: stops accepting
    /// (the listening sockets are closed, so new connections are refused),
    /// lets in-flight requests finish within the grace period, and closes
    /// what is left.
    pub async fn serve_with_shutdown<S, B, F>(self, service: S, signal: F) -> io::Result<()>
    where
        S: Service<Request<Body>, Response = Response<B>> + Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError>,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
        F: Future<Output = ()>,
    {
        let mut builder = auto::Builder::new(TokioExecutor::new());
        builder
            .http1()
            .timer(TokioTimer::new())
            .header_read_timeout(None)
            .keep_alive(true);
        builder.http2().timer(TokioTimer::new());
        let builder = Arc::new(builder);
        let listeners: Vec<(TcpListener, SocketAddr)> = self
            .listeners
            .into_iter()
            .map(|listener| listener.local_addr().map(|addr| (listener, addr)))
            .collect::<io::Result<_>>()?;
        for (_, local_addr) in &listeners {
            tracing::info!(%local_addr, "accepting connections");
        }

        let graceful = GracefulShutdown::new();
        let mut connections = JoinSet::new();
        let mut next = 0;
        let pause = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(pause);
        let mut paused = false;
        tokio::pin!(signal);
        loop {
            tokio::select! {
                biased;
                () = &mut signal => break,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                () = &mut pause, if paused => paused = false,
                (accepted, local_addr) = poll_fn(|cx| poll_accept(&listeners, &mut next, cx)), if !paused => {
                    match accepted {
                        Ok((stream, remote_addr)) => {
                            let info = ConnectionInfo::new(remote_addr, local_addr);
                            let connection = ConnectionService { inner: service.clone(), info };
                            connections.spawn(serve_connection(&builder, &graceful, stream, connection));
                        }
                        Err(err) if is_per_connection(&err) => {
                            tracing::debug!(error = %err, "a connection failed before it was accepted");
                        }
                        Err(err) => {
                            // Out of file descriptors or memory: pause rather than spin.
                            tracing::error!(error = %err, "cannot accept connections; retrying in 100ms");
                            pause.as_mut().reset(tokio::time::Instant::now() + Duration::from_millis(100));
                            paused = true;
                        }
                    }
                }
            }
        }

        // Closing the listening sockets: from now on connections are refused.
        drop(listeners);
        tracing::info!(
            open = connections.len(),
            grace = ?self.shutdown_grace,
            "shutting down: no longer accepting"
        );
        tokio::select! {
            () = graceful.shutdown() => tracing::info!("all connections finished"),
            () = tokio::time::sleep(self.shutdown_grace) => {
                tracing::warn!(open = connections.len(), "grace period over: closing the connections still open");
                connections.abort_all();
            }
        }
        while connections.join_next().await.is_some() {}
        Ok(())
    }
}

/// Accepts from whichever listener is ready, starting after the one that
/// accepted last so that a busy listener cannot starve the others.
fn poll_accept(
    listeners: &[(TcpListener, SocketAddr)],
    next: &mut usize,
    cx: &mut Context<'_>,
) -> Poll<(io::Result<(TcpStream, SocketAddr)>, SocketAddr)> {
    for offset in 0..listeners.len() {
        let index = (*next + offset) % listeners.len();
        let (listener, local_addr) = &listeners[index];
        if let Poll::Ready(accepted) = listener.poll_accept(cx) {
            *next = index + 1;
            return Poll::Ready((accepted, *local_addr));
        }
    }
    Poll::Pending
}

/// Serves one connection until it ends, or until graceful shutdown has
/// asked it to end and it has.
fn serve_connection<S, B>(
    builder: &Arc<auto::Builder<TokioExecutor>>,
    graceful: &GracefulShutdown,
    stream: TcpStream,
    service: ConnectionService<S>,
) -> impl Future<Output = ()> + Send + 'static
where
    S: Service<Request<Body>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let _ = stream.set_nodelay(true);
    let remote_addr = service.info.remote_addr;
    let connection = builder
        .serve_connection_with_upgrades(TokioIo::new(stream), service)
        .into_owned();
    let connection = graceful.watch(connection);
    async move {
        if let Err(err) = connection.await {
            tracing::debug!(%remote_addr, error = %err, "connection ended with an error");
        }
    }
}

fn is_per_connection(err: &io::Error) -> bool {
    matches!(
        err.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}
