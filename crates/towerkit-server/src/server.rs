//! The listeners, their accept loops, and shutdown.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
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
        builder.http1().timer(TokioTimer::new()).keep_alive(true);
        builder.http2().timer(TokioTimer::new());
        let builder = Arc::new(builder);

        let graceful = Arc::new(GracefulShutdown::new());
        let (stop_tx, stop_rx) = watch::channel(false);
        let (close_tx, close_rx) = watch::channel(false);
        let mut accept_loops = JoinSet::new();
        for listener in self.listeners {
            let local_addr = listener.local_addr()?;
            tracing::info!(%local_addr, "accepting connections");
            accept_loops.spawn(accept_loop(
                AcceptLoop {
                    listener,
                    local_addr,
                    builder: builder.clone(),
                    service: service.clone(),
                    graceful: graceful.clone(),
                    close: close_rx.clone(),
                },
                stop_rx.clone(),
            ));
        }

        signal.await;
        let _ = stop_tx.send(true);
        while accept_loops.join_next().await.is_some() {}

        let open = graceful.count();
        tracing::info!(open, grace = ?self.shutdown_grace, "shutting down: no longer accepting");
        // The accept loops held the only other references, and have ended.
        let all_finished = async move {
            match Arc::try_unwrap(graceful) {
                Ok(graceful) => graceful.shutdown().await,
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            () = all_finished => tracing::info!("all connections finished"),
            () = tokio::time::sleep(self.shutdown_grace) => {
                tracing::warn!("grace period over: closing the connections still open");
                let _ = close_tx.send(true);
            }
        }
        Ok(())
    }
}

struct AcceptLoop<S> {
    listener: TcpListener,
    local_addr: SocketAddr,
    builder: Arc<auto::Builder<TokioExecutor>>,
    service: S,
    graceful: Arc<GracefulShutdown>,
    close: watch::Receiver<bool>,
}

async fn accept_loop<S, B>(state: AcceptLoop<S>, mut stop: watch::Receiver<bool>)
where
    S: Service<Request<Body>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    loop {
        tokio::select! {
            biased;
            _ = stop.changed() => break,
            accepted = state.listener.accept() => match accepted {
                Ok((stream, remote_addr)) => serve_connection(&state, stream, remote_addr),
                Err(err) if is_per_connection(&err) => {
                    tracing::debug!(error = %err, "a connection failed before it was accepted");
                }
                Err(err) => {
                    // Out of file descriptors or memory: pause rather than spin.
                    tracing::error!(error = %err, "cannot accept connections; retrying in 100ms");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}

fn serve_connection<S, B>(state: &AcceptLoop<S>, stream: TcpStream, remote_addr: SocketAddr)
where
    S: Service<Request<Body>, Response = Response<B>> + Clone + Send + Sync + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let _ = stream.set_nodelay(true);
    let service = ConnectionService {
        inner: state.service.clone(),
        info: ConnectionInfo::new(remote_addr, state.local_addr),
    };
    let builder = state.builder.clone();
    let graceful = state.graceful.clone();
    let mut close = state.close.clone();
    tokio::spawn(async move {
        let connection = builder
            .serve_connection_with_upgrades(TokioIo::new(stream), service)
            .into_owned();
        let connection = graceful.watch(connection);
        drop(graceful);
        tokio::select! {
            result = connection => {
                if let Err(err) = result {
                    tracing::debug!(%remote_addr, error = %err, "connection ended with an error");
                }
            }
            _ = close.changed() => {
                tracing::debug!(%remote_addr, "connection closed at the end of the grace period");
            }
        }
    });
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
