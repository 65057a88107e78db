//! The WSGI environ, as typed request extensions.
//!
//! WSGI handed every application a dict of CGI variables. towerkit hands it an
//! [`http::Request`] and keeps the same vocabulary as extensions, defined once
//! here so that every layer reads and writes the same types:
//!
//! | WSGI / CGI key | towerkit |
//! | --- | --- |
//! | `SCRIPT_NAME` | [`ScriptName`]: the consumed, still percent-encoded prefix |
//! | `PATH_INFO` | the request URI's path, see [`path_info`](crate::path_info) |
//! | the full original URI | [`OriginalUri`] |
//! | `REMOTE_ADDR`, `SERVER_NAME/PORT`, `wsgi.url_scheme` | [`ConnectionInfo`] |
//! | `REMOTE_USER`, `AUTH_TYPE` | [`RemoteUser`] |
//! | (the server is stopping: end long-lived responses) | [`Shutdown`] |
//! | (where the request was routed, for metrics) | [`RouteLabel`] |

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;

use http::uri::Scheme;
use http::{Request, Uri};

/// `SCRIPT_NAME`: the part of the path already consumed by mounting layers.
///
/// It is kept percent-encoded exactly as the client sent it, never ends in
/// `/`, and is empty at the root. Set it with
/// [`shift_path_info`](crate::shift_path_info) or
/// [`mount`](crate::mount), never by hand, so that it always agrees with the
/// path.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ScriptName(pub(crate) String);

impl ScriptName {
    /// The consumed prefix, e.g. `/app` (empty at the root).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The script name of a request: empty when no layer consumed anything.
    pub fn of<B>(req: &Request<B>) -> &str {
        req.extensions()
            .get::<ScriptName>()
            .map_or("", ScriptName::as_str)
    }
}

/// The request URI as the server received it, before any layer rewrote it.
///
/// Inserted by the first layer that changes the path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginalUri(pub Uri);

/// What the server knows of the connection a request came on.
///
/// Inserted by the server for every request; a proxy-fix layer corrects it
/// from trusted forwarding headers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConnectionInfo {
    /// The client's address (`REMOTE_ADDR`, `REMOTE_PORT`).
    pub remote_addr: SocketAddr,
    /// The address the connection was accepted on.
    pub local_addr: SocketAddr,
    /// `http` or `https` (`wsgi.url_scheme`).
    pub scheme: Scheme,
    /// Set when the connection is TLS (shared: cloning the info for each
    /// request copies no strings).
    pub tls: Option<Arc<TlsInfo>>,
    /// The server's shutdown: a long-lived response waits on it to end
    /// itself (see [`Shutdown`]).
    pub shutdown: Shutdown,
}

impl ConnectionInfo {
    /// A plain-HTTP connection between two addresses.
    pub fn new(remote_addr: SocketAddr, local_addr: SocketAddr) -> Self {
        ConnectionInfo {
            remote_addr,
            local_addr,
            scheme: Scheme::HTTP,
            tls: None,
            shutdown: Shutdown::new(),
        }
    }

    /// The connection of a request, or a loopback stand-in when the request
    /// did not come through a server (a unit test, an internal request).
    ///
    /// For building URLs only: a layer that decides by who the client is
    /// reads [`client_addr`], which never mistakes an unknown client for
    /// loopback.
    pub fn of<B>(req: &Request<B>) -> ConnectionInfo {
        req.extensions()
            .get::<ConnectionInfo>()
            .cloned()
            .unwrap_or_else(ConnectionInfo::loopback)
    }

    /// `127.0.0.1` talking to `127.0.0.1:80`.
    pub fn loopback() -> ConnectionInfo {
        let local = IpAddr::V4(Ipv4Addr::LOCALHOST);
        ConnectionInfo::new(SocketAddr::new(local, 0), SocketAddr::new(local, 80))
    }

    /// Whether the scheme is `https`.
    pub fn is_https(&self) -> bool {
        self.scheme == Scheme::HTTPS
    }
}

/// The client's address, the one way every layer that keys on the client
/// (a login throttle, an access log, a proxy-fix deciding whom to trust)
/// reads it: the [`ConnectionInfo`] that `towerkit-server` (or a proxy-fix
/// before it) inserted; under another server, axum's
/// `ConnectInfo<SocketAddr>` (with this crate's `axum` feature, from
/// `into_make_service_with_connect_info::<SocketAddr>()`); else `None`.
///
/// `None` is an unknown client, never loopback: a throttle keys it apart, a
/// proxy-fix trusts it for nothing. The first time it happens the process
/// logs one warning that says how to supply the address.
///
/// ```
/// use std::net::SocketAddr;
/// use http::Request;
/// use towerkit_core::{client_addr, ConnectionInfo};
///
/// let mut req = Request::get("/").body(()).unwrap();
/// assert_eq!(client_addr(&req), None);
/// let peer: SocketAddr = "192.0.2.7:5000".parse().unwrap();
/// req.extensions_mut().insert(ConnectionInfo::new(peer, "127.0.0.1:80".parse().unwrap()));
/// assert_eq!(client_addr(&req), Some(peer));
/// ```
pub fn client_addr<B>(req: &Request<B>) -> Option<SocketAddr> {
    if let Some(info) = req.extensions().get::<ConnectionInfo>() {
        return Some(info.remote_addr);
    }
    #[cfg(feature = "axum")]
    if let Some(connect_info) = req
        .extensions()
        .get::<axum::extract::ConnectInfo<SocketAddr>>()
    {
        return Some(connect_info.0);
    }
    static SAID: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);
    if !SAID.swap(true, std::sync::atomic::Ordering::Relaxed) {
        tracing::warn!(
            "a request came with no client address: it is keyed as an unknown client. \
             Serve the stack with towerkit-server, insert a towerkit_core::ConnectionInfo, \
             or under axum enable towerkit-core's `axum` feature and serve with \
             into_make_service_with_connect_info::<SocketAddr>()"
        );
    }
    None
}

/// A response body that ends, between two frames, once the server shuts
/// down: made by [`Shutdown::end_stream`].
///
/// For the body wrappers between an endless stream and the server (gzip,
/// a layer of one's own): the server can end a plain event stream itself,
/// but not one inside an encoding without cutting the encoding short. A
/// wrapper that puts its inner stream in an `EndOnShutdown` sees an
/// ordinary end on shutdown, and finishes its own framing (gzip writes its
/// trailer) so the client gets a whole stream.
pub struct EndOnShutdown<B> {
    inner: B,
    shutdown: Option<std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>>>,
}

impl<B> std::fmt::Debug for EndOnShutdown<B> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EndOnShutdown")
            .field("ended", &self.shutdown.is_none())
            .finish()
    }
}

impl<B> http_body::Body for EndOnShutdown<B>
where
    B: http_body::Body + Unpin,
{
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<B::Data>, B::Error>>> {
        let this = &mut *self;
        let Some(shutdown) = &mut this.shutdown else {
            return std::task::Poll::Ready(None);
        };
        if shutdown.as_mut().poll(cx).is_ready() {
            this.shutdown = None;
            return std::task::Poll::Ready(None);
        }
        std::pin::Pin::new(&mut this.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.shutdown.is_none() || self.inner.is_end_stream()
    }
}

/// What was negotiated on a TLS connection.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct TlsInfo {
    /// The server name the client asked for (SNI).
    pub server_name: Option<String>,
    /// The ALPN protocol chosen (`h2`, `http/1.1`).
    pub alpn: Option<Vec<u8>>,
}

/// `REMOTE_USER` and `AUTH_TYPE`: who the login layer found the client to be.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteUser {
    /// The user name.
    pub name: String,
    /// How the user was authenticated: `Basic`, `Digest`, `form`, `ticket`…
    pub auth_type: String,
}

/// The server's shutdown, as seen by a request: a long-lived response (an
/// event stream, a long poll) waits on [`requested`](Shutdown::requested)
/// and ends itself cleanly, instead of being cut off when the grace period
/// runs out. `towerkit-server` hands it to every request in
/// [`ConnectionInfo::shutdown`]; clones share it, and cloning is a
/// reference-count increment. Two are equal when they are clones.
///
/// ```
/// use towerkit_core::environ::Shutdown;
///
/// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
/// let shutdown = Shutdown::new();
/// let seen = shutdown.clone();
/// assert!(!seen.is_requested());
/// shutdown.request();
/// seen.requested().await; // at once
/// assert!(seen.is_requested());
/// # })
/// ```
#[derive(Clone, Debug, Default)]
pub struct Shutdown(Arc<ShutdownState>);

impl PartialEq for Shutdown {
    fn eq(&self, other: &Self) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl Eq for Shutdown {}

#[derive(Debug, Default)]
struct ShutdownState {
    requested: std::sync::atomic::AtomicBool,
    draining: std::sync::atomic::AtomicBool,
    notify: tokio::sync::Notify,
}

impl Shutdown {
    /// A shutdown not requested yet.
    pub fn new() -> Self {
        Shutdown::default()
    }

    /// Begins the shutdown: every [`requested`](Shutdown::requested)
    /// completes.
    pub fn request(&self) {
        self.0
            .requested
            .store(true, std::sync::atomic::Ordering::Release);
        self.0.notify.notify_waiters();
    }

    /// Whether shutdown has begun.
    pub fn is_requested(&self) -> bool {
        self.0.requested.load(std::sync::atomic::Ordering::Acquire)
    }

    /// Announces that shutdown is coming: the server still serves, but a
    /// health check should now say it is draining (see the server's
    /// `drain_delay`).
    pub fn begin_draining(&self) {
        self.0
            .draining
            .store(true, std::sync::atomic::Ordering::Release);
    }

    /// Whether the server is on its way out: draining, or shutdown begun.
    /// A health check answers "draining" from then on, so that load
    /// balancers send new requests elsewhere.
    pub fn is_draining(&self) -> bool {
        self.0.draining.load(std::sync::atomic::Ordering::Acquire) || self.is_requested()
    }

    /// `body`, ended between two frames once shutdown begins (see
    /// [`EndOnShutdown`]).
    pub fn end_stream<B>(&self, body: B) -> EndOnShutdown<B> {
        EndOnShutdown {
            inner: body,
            shutdown: Some(Box::pin(self.requested())),
        }
    }

    /// Completes once shutdown has begun; never, for a request no server
    /// will shut down.
    pub fn requested(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let state = self.0.clone();
        async move {
            loop {
                let notified = state.notify.notified();
                let mut notified = std::pin::pin!(notified);
                // Registered before the flag is read: a request between the
                // two is not missed.
                notified.as_mut().enable();
                if state.requested.load(std::sync::atomic::Ordering::Acquire) {
                    return;
                }
                notified.await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_server_connection_wins() {
        let peer: SocketAddr = "192.0.2.1:1".parse().unwrap();
        let mut req = Request::get("/").body(()).unwrap();
        req.extensions_mut()
            .insert(ConnectionInfo::new(peer, "127.0.0.1:80".parse().unwrap()));
        assert_eq!(client_addr(&req), Some(peer));
    }

    #[test]
    fn no_connection_is_unknown_not_loopback() {
        let req = Request::get("/").body(()).unwrap();
        assert_eq!(client_addr(&req), None);
    }

    #[cfg(feature = "axum")]
    #[test]
    fn axum_connect_info_is_read() {
        let peer: SocketAddr = "198.51.100.4:7".parse().unwrap();
        let mut req = Request::get("/").body(()).unwrap();
        req.extensions_mut()
            .insert(axum::extract::ConnectInfo(peer));
        assert_eq!(client_addr(&req), Some(peer));
    }
}

/// Where a request was routed, named for the server's metrics (a label of
/// `towerkit_http_requests_total`): urlmap names the mount it chose, the
/// router the rule that matched, and the innermost one wins.
///
/// The server puts one in a request's extensions only when it counts
/// requests: elsewhere [`RouteLabel::set`] finds none and does nothing, at
/// the cost of one extension lookup. Names come from the stack's
/// configuration (mount prefixes, rule patterns), never from the request,
/// so that the number of series stays bounded.
#[derive(Clone, Debug, Default)]
pub struct RouteLabel(Arc<std::sync::Mutex<Option<Arc<str>>>>);

impl RouteLabel {
    /// An empty label, to put in a request.
    pub fn new() -> Self {
        RouteLabel::default()
    }

    /// Names where `req` was routed, if its server counts.
    pub fn set<B>(req: &Request<B>, route: &Arc<str>) {
        if let Some(label) = req.extensions().get::<RouteLabel>() {
            if let Ok(mut slot) = label.0.lock() {
                *slot = Some(route.clone());
            }
        }
    }

    /// The name the innermost layer gave, if any.
    pub fn get(&self) -> Option<Arc<str>> {
        self.0.lock().ok().and_then(|slot| slot.clone())
    }
}
