//! The listeners, their accept loop, connections, and shutdown.

use std::future::{poll_fn, Future};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use hyper::server::conn::{http1, http2};
use hyper_util::rt::TokioTimer;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinSet;
use tower_service::Service;
use towerkit_core::{Body, BoxError, ConnectionInfo, Shutdown};

use crate::connection::Connection;
use crate::metrics::ServerMetrics;
use crate::signal::shutdown_signal;
use crate::streams::StreamExecutor;
use crate::{Limits, TlsConfig};

/// How long in-flight requests get to finish after a shutdown signal, unless
/// set with [`Builder::shutdown_grace`].
pub const DEFAULT_SHUTDOWN_GRACE: Duration = Duration::from_secs(30);

/// A server bound to one or more addresses, ready to serve a stack.
///
/// Every connection speaks HTTP/1.1 with keep-alive, or HTTP/2: chosen by
/// ALPN on TLS listeners, by the client's opening preface (h2c with prior
/// knowledge) on plain ones.
#[derive(Debug)]
pub struct Server {
    listeners: Vec<Listener>,
    limits: Limits,
    shutdown_grace: Duration,
    drain_delay: Duration,
    metrics: bool,
}

/// Sets up a [`Server`]: its listeners, plain or TLS, its limits and its
/// shutdown grace.
///
/// ```no_run
/// use towerkit_core::app::Text;
/// use towerkit_server::{Server, TlsConfig};
///
/// # async fn run() -> std::io::Result<()> {
/// let tls = TlsConfig::from_pem_files("cert.pem".as_ref(), "key.pem".as_ref())?;
/// let server = Server::builder()
///     .listen("127.0.0.1:8080".parse().unwrap())
///     .listen_tls("127.0.0.1:8443".parse().unwrap(), tls)
///     .bind()
///     .await?;
/// server.serve(Text::new("hello\n")).await
/// # }
/// ```
#[derive(Debug, Default)]
pub struct Builder {
    listen: Vec<(Socket, Option<TlsConfig>)>,
    limits: Limits,
    shutdown_grace: Option<Duration>,
    drain_delay: Duration,
    reuse_port: bool,
    metrics: bool,
}

/// Where a listener comes from.
#[derive(Debug)]
enum Socket {
    /// An address to bind.
    Bind(SocketAddr),
    /// A listening socket handed down (see [`crate::activation`]).
    Inherited(std::net::TcpListener),
}

impl Builder {
    /// Adds a plain-HTTP listener (port 0 picks a free port: see
    /// [`Server::local_addrs`]).
    #[must_use]
    pub fn listen(mut self, addr: SocketAddr) -> Self {
        self.listen.push((Socket::Bind(addr), None));
        self
    }

    /// Adds a TLS listener.
    #[must_use]
    pub fn listen_tls(mut self, addr: SocketAddr, tls: TlsConfig) -> Self {
        self.listen.push((Socket::Bind(addr), Some(tls)));
        self
    }

    /// Adds a listener on a socket that is already listening, such as one
    /// handed down by socket activation ([`crate::activation::listen_fds`]);
    /// with `tls`, it speaks TLS.
    #[must_use]
    pub fn inherit(mut self, listener: std::net::TcpListener, tls: Option<TlsConfig>) -> Self {
        self.listen.push((Socket::Inherited(listener), tls));
        self
    }

    /// Binds with `SO_REUSEPORT`, so that a new process can listen on the
    /// same port before this one stops: the kernel spreads new
    /// connections over every socket on the port. When a process closes
    /// its socket, connections still queued on it are lost, unless the
    /// kernel hands them to another socket on the port (Linux 5.14 and
    /// later, with `net.ipv4.tcp_migrate_req = 1`); sockets handed down
    /// ([`inherit`](Builder::inherit)) have no such gap.
    #[must_use]
    pub fn reuse_port(mut self, reuse: bool) -> Self {
        self.reuse_port = reuse;
        self
    }

    /// Sets the limits and timeouts (default: [`Limits::default`]).
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// How long in-flight requests get to finish once shutdown starts;
    /// connections still open after it are closed. Default: 30 seconds.
    #[must_use]
    pub fn shutdown_grace(mut self, grace: Duration) -> Self {
        self.shutdown_grace = Some(grace);
        self
    }

    /// How long the server goes on serving, and accepting, once a
    /// shutdown signal came, before it stops accepting; meanwhile
    /// [`Shutdown::is_draining`] is true, so that a health check answers
    /// "draining" and a load balancer that asks it stops sending new
    /// requests first. Default: none.
    #[must_use]
    pub fn drain_delay(mut self, delay: Duration) -> Self {
        self.drain_delay = delay;
        self
    }

    /// Counts connections and requests through the [`metrics`] facade
    /// (see [`crate::metrics`] for the names), for whatever recorder the
    /// program installed before serving. Default: off, which costs
    /// nothing.
    #[must_use]
    pub fn metrics(mut self, on: bool) -> Self {
        self.metrics = on;
        self
    }

    /// Binds every listener. The error names the address that failed.
    pub async fn bind(self) -> io::Result<Server> {
        if self.listen.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "no address to listen on",
            ));
        }
        let mut listeners = Vec::new();
        for (socket, tls) in self.listen {
            let listener = match socket {
                Socket::Bind(addr) => bind(addr, self.reuse_port).map_err(|err| {
                    io::Error::new(err.kind(), format!("cannot listen on {addr}: {err}"))
                })?,
                Socket::Inherited(listener) => {
                    listener.set_nonblocking(true)?;
                    TcpListener::from_std(listener)?
                }
            };
            let local_addr = listener.local_addr()?;
            listeners.push(Listener {
                listener,
                local_addr,
                tls,
            });
        }
        Ok(Server {
            listeners,
            limits: self.limits,
            shutdown_grace: self.shutdown_grace.unwrap_or(DEFAULT_SHUTDOWN_GRACE),
            drain_delay: self.drain_delay,
            metrics: self.metrics,
        })
    }
}

/// A listening socket on `addr`, with `SO_REUSEPORT` if asked (and the
/// system has it).
fn bind(addr: SocketAddr, reuse_port: bool) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As std and tokio do: a port in TIME_WAIT can be bound again.
    #[cfg(unix)]
    socket.set_reuseaddr(true)?;
    if reuse_port {
        #[cfg(all(unix, not(any(target_os = "solaris", target_os = "illumos"))))]
        socket.set_reuseport(true)?;
        #[cfg(not(all(unix, not(any(target_os = "solaris", target_os = "illumos")))))]
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "SO_REUSEPORT is not available on this system",
        ));
    }
    socket.bind(addr)?;
    socket.listen(1024)
}

#[derive(Debug)]
struct Listener {
    listener: TcpListener,
    local_addr: SocketAddr,
    tls: Option<TlsConfig>,
}

/// What every connection task shares.
pub(crate) struct Shared {
    pub(crate) http1: http1::Builder,
    pub(crate) http2: http2::Builder<StreamExecutor>,
    pub(crate) limits: Arc<Limits>,
    pub(crate) shutdown: Shutdown,
    pub(crate) metrics: Option<Arc<ServerMetrics>>,
}

impl Server {
    /// Starts setting up a server.
    pub fn builder() -> Builder {
        Builder::default()
    }

    /// Binds plain-HTTP listeners on every address with the default limits;
    /// short for [`Server::builder`] with [`listen`](Builder::listen) for
    /// each.
    pub async fn bind(addrs: impl IntoIterator<Item = SocketAddr>) -> io::Result<Server> {
        addrs
            .into_iter()
            .fold(Server::builder(), Builder::listen)
            .bind()
            .await
    }

    /// The addresses actually bound, in the order they were added.
    pub fn local_addrs(&self) -> Vec<SocketAddr> {
        self.listeners.iter().map(|l| l.local_addr).collect()
    }

    /// The bound listeners as URLs (`http://…` or `https://…`), to print.
    pub fn urls(&self) -> Vec<String> {
        self.listeners
            .iter()
            .map(|l| {
                let scheme = if l.tls.is_some() { "https" } else { "http" };
                format!("{scheme}://{}", l.local_addr)
            })
            .collect()
    }

    /// Serves `service` until SIGINT or SIGTERM, then shuts down gracefully
    /// (see [`serve_with_shutdown`](Server::serve_with_shutdown)). A second
    /// signal hurries it: what is left of the drain delay is skipped, and
    /// during the grace the open connections are closed at once.
    pub async fn serve<S, B>(self, service: S) -> io::Result<()>
    where
        S: Service<Request<Body>, Response = Response<B>> + Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError> + Send,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
    {
        self.run(service, shutdown_signal(), true).await
    }

    /// Serves `service` until `signal` completes, then: stops accepting
    /// (the listening sockets are closed, so new connections are refused),
    /// ends event streams and asks each connection to close after its
    /// current request (HTTP/2: GOAWAY), gives them the grace period, and
    /// closes what is left.
    pub async fn serve_with_shutdown<S, B, F>(self, service: S, signal: F) -> io::Result<()>
    where
        S: Service<Request<Body>, Response = Response<B>> + Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError> + Send,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
        F: Future<Output = ()>,
    {
        self.run(service, signal, false).await
    }

    /// Serves until `signal`; with `signals`, a second SIGINT or SIGTERM
    /// hurries the shutdown.
    async fn run<S, B, F>(self, service: S, signal: F, signals: bool) -> io::Result<()>
    where
        S: Service<Request<Body>, Response = Response<B>> + Clone + Send + Sync + 'static,
        S::Future: Send + 'static,
        S::Error: Into<BoxError> + Send,
        B: http_body::Body<Data = Bytes> + Send + 'static,
        B::Error: Into<BoxError>,
        F: Future<Output = ()>,
    {
        let limits = self.limits;
        let mut http1 = http1::Builder::new();
        http1
            .timer(TokioTimer::new())
            // TimedIo runs the header and keep-alive timeouts.
            .header_read_timeout(None)
            .max_buf_size(limits.max_header_size.max(8192))
            .keep_alive(true);
        let mut http2 = http2::Builder::new(StreamExecutor);
        http2
            .timer(TokioTimer::new())
            .max_concurrent_streams(limits.max_concurrent_streams)
            .max_header_list_size(u32::try_from(limits.max_header_size).unwrap_or(u32::MAX));
        let shared = Arc::new(Shared {
            http1,
            http2,
            limits: Arc::new(limits.clone()),
            shutdown: Shutdown::new(),
            metrics: self.metrics.then(|| Arc::new(ServerMetrics::new())),
        });
        let listeners = self.listeners;
        for listener in &listeners {
            let tls = if listener.tls.is_some() { " (TLS)" } else { "" };
            tracing::info!(local_addr = %listener.local_addr, "accepting connections{tls}");
        }

        let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
        let mut connections = JoinSet::new();
        let mut next = 0;
        let pause = tokio::time::sleep(Duration::ZERO);
        tokio::pin!(pause);
        let mut paused = false;
        let mut permit: Option<OwnedSemaphorePermit> = None;
        // The signal, then the drain delay; what it gives back completes on
        // a second signal (never, without `signals`).
        let signal = async {
            signal.await;
            let mut hurry: Pin<Box<dyn Future<Output = ()> + Send>> = if signals {
                Box::pin(shutdown_signal())
            } else {
                Box::pin(std::future::pending())
            };
            if !self.drain_delay.is_zero() {
                shared.shutdown.begin_draining();
                tracing::info!(delay = ?self.drain_delay, "draining: still serving, health checks answer 503");
                tokio::select! {
                    () = tokio::time::sleep(self.drain_delay) => {}
                    () = &mut hurry => {
                        tracing::info!("a second signal: the drain is cut short");
                        hurry = Box::pin(std::future::ready(()));
                    }
                }
            }
            // Not awaited here: the grace awaits it.
            Some(hurry)
        };
        tokio::pin!(signal);
        let hurry = loop {
            tokio::select! {
                biased;
                hurry = &mut signal => break hurry,
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
                () = &mut pause, if paused => paused = false,
                acquired = permits.clone().acquire_owned(), if permit.is_none() => {
                    permit = acquired.ok();
                    if permit.is_none() {
                        break None;
                    }
                    if permits.available_permits() == 0 {
                        tracing::warn!(max_connections = limits.max_connections, "at the connection limit: accepting pauses");
                    }
                }
                (accepted, index) = poll_fn(|cx| poll_accept(&listeners, &mut next, cx)), if !paused && permit.is_some() => {
                    match accepted {
                        Ok((stream, remote_addr)) => {
                            let listener = &listeners[index];
                            let mut info = ConnectionInfo::new(remote_addr, listener.local_addr);
                            info.shutdown = shared.shutdown.clone();
                            let connection = Connection {
                                stream,
                                info,
                                tls: listener.tls.clone(),
                                permit: permit.take(),
                            };
                            connections.spawn(connection.serve(shared.clone(), service.clone()));
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
        };

        // Closing the listening sockets: from now on connections are refused.
        // Connections are told before the line is logged, so that whoever
        // reads it knows every connection has been asked to close.
        drop(listeners);
        shared.shutdown.request();
        tracing::info!(
            open = connections.len(),
            grace = ?self.shutdown_grace,
            "shutting down: no longer accepting"
        );
        tokio::select! {
            () = async { while connections.join_next().await.is_some() {} } => {
                tracing::info!("all connections finished");
            }
            () = tokio::time::sleep(self.shutdown_grace) => {
                tracing::warn!(open = connections.len(), "grace period over: closing the connections still open");
                connections.abort_all();
            }
            () = async {
                match hurry {
                    Some(hurry) => hurry.await,
                    None => std::future::pending().await,
                }
            } => {
                tracing::warn!(open = connections.len(), "a second signal: closing the connections still open");
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
    listeners: &[Listener],
    next: &mut usize,
    cx: &mut Context<'_>,
) -> Poll<(io::Result<(TcpStream, SocketAddr)>, usize)> {
    for offset in 0..listeners.len() {
        let index = (*next + offset) % listeners.len();
        if let Poll::Ready(accepted) = listeners[index].listener.poll_accept(cx) {
            *next = index + 1;
            return Poll::Ready((accepted, index));
        }
    }
    Poll::Pending
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
