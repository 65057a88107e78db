//! The proxy service.

use std::io::Write as _;
use std::net::IpAddr;
use std::path::Path;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::header::{
    HeaderName, HeaderValue, CONTENT_LENGTH, HOST, LOCATION, SET_COOKIE, TE, UPGRADE,
};
use http::uri::{Authority, PathAndQuery, Scheme, Uri};
use http::{HeaderMap, Method, Request, Response, StatusCode, Version};
use http_body::Body as _;
use hyper_util::rt::TokioIo;
use smallvec::SmallVec;
use tokio::sync::Semaphore;
use tower_service::Service;
use towerkit_core::header::lists_token;
use towerkit_core::recursive::BoxFuture;
use towerkit_core::url::{host, url_scheme};
use towerkit_core::{path_info, Body, BoxError, ConnectionInfo, Format, HttpException, ScriptName};

use crate::bodies::{ClientBodyFailed, Incoming, Outgoing, Prefetched, Upload};
use crate::client::{ClientHeaders, X_FORWARDED_FOR};
use crate::connect::{self, Connector, Tls, Trust};
use crate::error::{ProxyError, UpstreamProblem};
use crate::hop_by_hop;
use crate::pool::{Lease, Pool, SendError};

/// How long connecting to the upstream may take, unless set.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the upstream may take to answer (its headers) once the request
/// has been sent whole, unless set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a body may stand still, in either direction, because of the
/// upstream, unless set.
pub const DEFAULT_IDLE_TIMEOUT: Duration = Duration::from_secs(60);
/// How many idle connections to the upstream are kept, unless set.
pub const DEFAULT_POOL_MAX_IDLE: usize = 64;
/// How long an idle connection to the upstream is kept, unless set.
pub const DEFAULT_POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(30);

const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");

/// What the builder sets; the client is made from it.
#[derive(Clone, Debug)]
struct Settings {
    connect_timeout: Duration,
    trust: Trust,
    h2c: bool,
    pool_max_idle: usize,
    pool_idle_timeout: Duration,
}

#[derive(Clone)]
struct Config {
    scheme: Scheme,
    authority: Authority,
    /// `scheme://authority`, as a `Location` naming the upstream starts.
    origin: String,
    /// The upstream's `Host`.
    host: HeaderValue,
    base: String,
    preserve_host: bool,
    rewrite_location: bool,
    timeout: Duration,
    idle_timeout: Duration,
    max_connections: Option<Arc<Semaphore>>,
    settings: Settings,
    client: Pool,
}

/// A reverse proxy to one upstream. See the [crate documentation](crate).
#[derive(Clone)]
pub struct Proxy {
    config: Arc<Config>,
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy")
            .field(
                "upstream",
                &format!("{}{}", self.config.origin, self.config.base),
            )
            .finish()
    }
}

impl Proxy {
    /// A proxy to `upstream`, an `http://host:port/base/` or
    /// `https://host:port/base/` URL.
    pub fn new(upstream: &str) -> Result<Self, ProxyError> {
        Proxy::with_timeouts(upstream, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT)
    }

    /// Like [`new`](Self::new), with the connect timeout and the time the
    /// upstream has to answer once the request has been sent whole.
    pub fn with_timeouts(
        upstream: &str,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Result<Self, ProxyError> {
        let refused = |reason| ProxyError::Upstream {
            upstream: upstream.to_owned(),
            reason,
        };
        let uri: Uri = upstream
            .parse()
            .map_err(|_| refused(UpstreamProblem::NotAUrl))?;
        let scheme = match uri.scheme_str() {
            Some("http") => Scheme::HTTP,
            Some("https") => Scheme::HTTPS,
            _ => return Err(refused(UpstreamProblem::Scheme)),
        };
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| refused(UpstreamProblem::NoHost))?;
        if uri.query().is_some() {
            return Err(refused(UpstreamProblem::Query));
        }
        if scheme == Scheme::HTTPS {
            server_name(&authority)?;
        }
        let host = HeaderValue::from_str(authority.as_str())
            .map_err(|_| refused(UpstreamProblem::Host))?;
        let settings = Settings {
            connect_timeout,
            trust: Trust::System,
            h2c: false,
            pool_max_idle: DEFAULT_POOL_MAX_IDLE,
            pool_idle_timeout: DEFAULT_POOL_IDLE_TIMEOUT,
        };
        let client = build_client(&scheme, &authority, &settings)?;
        Ok(Proxy {
            config: Arc::new(Config {
                origin: format!("{scheme}://{authority}"),
                scheme,
                host,
                authority,
                base: uri.path().trim_end_matches('/').to_owned(),
                preserve_host: false,
                rewrite_location: true,
                timeout,
                idle_timeout: DEFAULT_IDLE_TIMEOUT,
                max_connections: None,
                settings,
                client,
            }),
        })
    }

    fn config(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    fn rebuild(mut self, change: impl FnOnce(&mut Settings)) -> Result<Self, ProxyError> {
        let config = self.config();
        change(&mut config.settings);
        config.client = build_client(&config.scheme, &config.authority, &config.settings)?;
        Ok(self)
    }

    /// Sends the client's `Host` rather than the upstream's.
    pub fn preserve_host(mut self, preserve: bool) -> Self {
        self.config().preserve_host = preserve;
        self
    }

    /// Rewrites `Location` and cookie paths back to the public prefix (on).
    pub fn rewrite_location(mut self, rewrite: bool) -> Self {
        self.config().rewrite_location = rewrite;
        self
    }

    /// How long a body may wait on the upstream: the response body between
    /// two reads, and a piece of the request body the upstream does not
    /// take. A slow client is not the upstream's fault and is not counted.
    pub fn idle_timeout(mut self, idle: Duration) -> Self {
        self.config().idle_timeout = idle;
        self
    }

    /// At most `n` requests to the upstream at once (so at most `n`
    /// HTTP/1.1 connections); more wait for a place, up to the timeout.
    pub fn max_connections(mut self, n: usize) -> Self {
        self.config().max_connections = Some(Arc::new(Semaphore::new(n.max(1))));
        self
    }

    /// At most `n` idle connections kept for reuse (64).
    pub fn pool_max_idle(self, n: usize) -> Self {
        // Only the TLS roots can fail, and they were built once already.
        let fallback = self.clone();
        self.rebuild(|s| s.pool_max_idle = n).unwrap_or(fallback)
    }

    /// An idle connection is closed after this (30 s).
    pub fn pool_idle_timeout(self, idle: Duration) -> Self {
        let fallback = self.clone();
        self.rebuild(|s| s.pool_idle_timeout = idle)
            .unwrap_or(fallback)
    }

    /// Speaks HTTP/2 to a plain `http://` upstream from the first byte
    /// (h2c with prior knowledge). An `https://` upstream is spoken to in
    /// HTTP/2 whenever it offers it by ALPN, without this.
    pub fn h2c(self, h2c: bool) -> Self {
        let fallback = self.clone();
        self.rebuild(|s| s.h2c = h2c).unwrap_or(fallback)
    }

    /// Trusts the certificates issued by the CA (or CAs) in the PEM file
    /// at `path`, instead of the system's roots, for an `https://`
    /// upstream.
    pub fn ca_file(self, path: impl AsRef<Path>) -> Result<Self, ProxyError> {
        let roots = connect::roots_from_pem(path.as_ref())?;
        self.rebuild(|s| s.trust = Trust::Roots(Arc::new(roots)))
    }

    /// Accepts any certificate from an `https://` upstream. Anyone between
    /// the proxy and the upstream can then read and change the traffic:
    /// for tests only. Logged as an error when set.
    pub fn insecure_skip_verify(self, skip: bool) -> Self {
        if skip {
            tracing::error!(upstream = %self.config.origin, "insecure_skip_verify: the upstream's TLS certificate is NOT checked; anyone on the path can read and change this traffic");
        }
        let fallback = self.clone();
        self.rebuild(|s| {
            if skip {
                s.trust = Trust::Anything;
            } else if matches!(s.trust, Trust::Anything) {
                s.trust = Trust::System;
            }
        })
        .unwrap_or(fallback)
    }
}

/// The name an `https://` upstream's certificate must bear.
fn server_name(
    authority: &Authority,
) -> Result<rustls::pki_types::ServerName<'static>, ProxyError> {
    let host = authority
        .host()
        .trim_start_matches('[')
        .trim_end_matches(']');
    rustls::pki_types::ServerName::try_from(host.to_owned())
        .map_err(|_| ProxyError::CertificateName(host.to_owned()))
}

fn build_client(
    scheme: &Scheme,
    authority: &Authority,
    settings: &Settings,
) -> Result<Pool, ProxyError> {
    let tls = if *scheme == Scheme::HTTPS {
        Some(Tls {
            connector: tokio_rustls::TlsConnector::from(connect::client_config(
                &settings.trust,
                false,
            )),
            name: server_name(authority)?,
        })
    } else {
        None
    };
    let port = authority
        .port_u16()
        .unwrap_or(if tls.is_some() { 443 } else { 80 });
    let connector = Connector {
        tls,
        connect_timeout: settings.connect_timeout,
        h2c: settings.h2c && *scheme == Scheme::HTTP,
        host: authority
            .host()
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned(),
        port,
    };
    Ok(Pool::new(
        connector,
        settings.pool_max_idle,
        settings.pool_idle_timeout,
    ))
}

/// How a request to the upstream failed.
enum Failure {
    /// No connection (refused, unresolvable, connect timeout, TLS).
    Connect(BoxError),
    /// The client's body failed.
    Client(BoxError),
    /// The connection closed with no byte of an answer.
    Unanswered(BoxError),
    /// Anything else: a response that is not valid HTTP, a reset midway.
    Upstream(BoxError),
}

fn classify(err: SendError, upload: Option<&Upload>) -> Failure {
    let err = match err {
        SendError::Connect(err) => return Failure::Connect(err),
        SendError::Exchange(err) => err,
    };
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&err);
    while let Some(e) = source {
        if e.is::<ClientBodyFailed>() {
            let client = upload
                .and_then(Upload::take_client_error)
                .unwrap_or_else(|| ClientBodyFailed.into());
            return Failure::Client(client);
        }
        if let Some(hyper) = e.downcast_ref::<hyper::Error>() {
            if hyper.is_incomplete_message() || hyper.is_canceled() {
                return Failure::Unanswered(err.into());
            }
        }
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if matches!(
                io.kind(),
                std::io::ErrorKind::ConnectionReset | std::io::ErrorKind::BrokenPipe
            ) {
                return Failure::Unanswered(err.into());
            }
        }
        source = e.source();
    }
    Failure::Upstream(err.into())
}

/// The error and all its causes, on one line.
fn chain(err: &BoxError) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(e) = source {
        let cause = e.to_string();
        if !text.contains(&cause) {
            text.push_str(": ");
            text.push_str(&cause);
        }
        source = e.source();
    }
    text
}

/// Whether a request may be sent a second time without harm (RFC 9110
/// §9.2.2), its body being empty.
fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

impl Config {
    /// `Location` pointing into the upstream's base, made public.
    fn public_location(
        &self,
        location: &str,
        public_prefix: &str,
        public_origin: &str,
    ) -> Option<String> {
        let path = match location.strip_prefix(&self.origin) {
            Some(rest) if rest.is_empty() || rest.starts_with('/') => rest,
            Some(_) => return None,
            None if location.starts_with('/') => {
                // An upstream that reads X-Forwarded-Prefix already answers
                // with the public path: it is not the upstream's own.
                let public_already = !public_prefix.is_empty()
                    && location
                        .strip_prefix(public_prefix)
                        .is_some_and(|rest| rest.is_empty() || rest.starts_with(['/', '?']));
                let upstream_own =
                    !self.base.is_empty() && location.starts_with(&format!("{}/", self.base));
                if public_already && !upstream_own {
                    return None;
                }
                location
            }
            None => return None,
        };
        let below = path.strip_prefix(&self.base)?;
        if !(below.is_empty() || below.starts_with('/') || below.starts_with('?')) {
            return None;
        }
        let public = format!("{public_prefix}{below}");
        Some(if location.starts_with('/') {
            public
        } else {
            format!("{public_origin}{public}")
        })
    }

    fn public_cookie(&self, cookie: &str, public_prefix: &str) -> Option<String> {
        let mut changed = false;
        let parts: Vec<String> = cookie
            .split(';')
            .map(|part| {
                let trimmed = part.trim();
                if let Some(path) = trimmed
                    .strip_prefix("Path=")
                    .or_else(|| trimmed.strip_prefix("path="))
                {
                    if let Some(below) = path.strip_prefix(&self.base) {
                        if below.is_empty() || below.starts_with('/') {
                            changed = true;
                            let public = format!("{public_prefix}{below}");
                            return format!(
                                " Path={}",
                                if public.is_empty() { "/" } else { &public }
                            );
                        }
                    }
                }
                part.to_owned()
            })
            .collect();
        changed.then(|| parts.join(";"))
    }
}

/// Where the client sent a request: what rewriting its response needs.
struct Public {
    /// `scheme://host`, inline as most are: kept in every request's future,
    /// and seldom used.
    origin: SmallVec<[u8; 64]>,
    /// The mount (`ScriptName`).
    prefix: String,
}

impl Public {
    /// Rewrites `Location` and cookie paths that point into the upstream's
    /// base to the public URL and prefix.
    fn rewrite(&self, config: &Config, headers: &mut HeaderMap) {
        if let Some(location) = headers.get(LOCATION).and_then(|v| v.to_str().ok()) {
            // Built of `&str`s: always UTF-8.
            let origin = std::str::from_utf8(&self.origin).unwrap_or_default();
            if let Some(public) = config.public_location(location, &self.prefix, origin) {
                if let Ok(value) = HeaderValue::from_str(&public) {
                    headers.insert(LOCATION, value);
                }
            }
        }
        if headers.contains_key(SET_COOKIE) {
            let cookies: Vec<HeaderValue> = headers.get_all(SET_COOKIE).iter().cloned().collect();
            headers.remove(SET_COOKIE);
            for cookie in cookies {
                let rewritten = cookie
                    .to_str()
                    .ok()
                    .and_then(|c| config.public_cookie(c, &self.prefix))
                    .and_then(|c| HeaderValue::from_str(&c).ok());
                headers.append(SET_COOKIE, rewritten.unwrap_or(cookie));
            }
        }
    }
}

/// The request target at the upstream: its base, the path below the mount
/// (the base's root if both are empty), the query. `None` if it is not a
/// valid target (a space, a control character).
fn target(base: &str, path: &str, query: Option<&str>) -> Option<PathAndQuery> {
    let mut target = String::with_capacity(base.len() + path.len() + 2 + query.map_or(0, str::len));
    target.push_str(base);
    target.push_str(path);
    if target.is_empty() {
        target.push('/');
    }
    if let Some(query) = query {
        target.push('?');
        target.push_str(query);
    }
    if !target.bytes().all(|b| b.is_ascii_graphic()) {
        return None;
    }
    PathAndQuery::from_maybe_shared(Bytes::from(target)).ok()
}

/// Why no response came back.
enum Unsent {
    /// No answer within the timeout, once the request was sent whole.
    HeadTimeout,
    /// The upstream left a piece of the request body untaken too long.
    UploadStalled,
    Failed(SendError),
}

/// Sends `request` and waits for the response head: the timeout starts
/// once the request body has been sent whole, and until then the upstream
/// must keep taking it.
async fn exchange(
    config: &Config,
    request: Request<Outgoing>,
    upload: Option<&Upload>,
    fresh: bool,
) -> Result<(Response<hyper::body::Incoming>, Option<Lease>), Unsent> {
    let mut response = std::pin::pin!(config.client.send(request, fresh));
    if let Some(upload) = upload {
        while !upload.is_sent() {
            let wait = match upload.untaken_for() {
                Some(waited) if waited >= config.idle_timeout => return Err(Unsent::UploadStalled),
                Some(waited) => config.idle_timeout - waited,
                None => config.idle_timeout,
            };
            tokio::select! {
                answer = &mut response => return answer.map_err(Unsent::Failed),
                () = upload.changed() => {}
                () = tokio::time::sleep(wait) => {}
            }
        }
    }
    match tokio::time::timeout(config.timeout, response).await {
        Ok(answer) => answer.map_err(Unsent::Failed),
        Err(_) => Err(Unsent::HeadTimeout),
    }
}

impl Service<Request<Body>> for Proxy {
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = BoxFuture<Result<Response<Body>, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        let config = self.config.clone();
        let body = std::mem::take(req.body_mut());
        let client = ClientHeaders::scan(req.headers());
        let Some(target) = target(&config.base, path_info(&req), req.uri().query()) else {
            let response = HttpException::bad_request().response_for(&req);
            return Box::pin(std::future::ready(Ok(response)));
        };
        let mut uri = http::uri::Parts::default();
        uri.scheme = Some(config.scheme.clone());
        uri.authority = Some(config.authority.clone());
        uri.path_and_query = Some(target);
        let Ok(uri) = Uri::from_parts(uri) else {
            let response = HttpException::bad_request().response_for(&req);
            return Box::pin(std::future::ready(Ok(response)));
        };
        // The client's first valid `Host`, or what an HTTP/2 client names
        // in `:authority` (HTTP/1.1 requires a `Host`).
        let named_host;
        let public_host = match client.host {
            Some(host) => host,
            None => {
                named_host = host(&req);
                &named_host
            }
        };
        let scheme = url_scheme(&req);
        let prefix = ScriptName::of(&req);
        let remote = req.extensions().get::<ConnectionInfo>().map_or_else(
            || ConnectionInfo::loopback().remote_addr.ip(),
            |c| c.remote_addr.ip(),
        );
        let remote = IpText::new(remote);

        // The upstream's head: the client's fields but the hop-by-hop ones
        // and those the proxy sets; the body's framing is hyper's to write.
        let mut headers = HeaderMap::with_capacity(req.headers().len() + 6);
        for (name, value) in req.headers() {
            if name == CONTENT_LENGTH
                || name == HOST
                || name == X_FORWARDED_FOR
                || name == X_FORWARDED_PROTO
                || name == X_FORWARDED_HOST
                || name == X_FORWARDED_PREFIX
                || client.hop_by_hop.contains(name)
            {
                continue;
            }
            headers.append(name.clone(), value.clone());
        }
        let upstream_host = if config.preserve_host {
            HeaderValue::from_str(public_host).ok()
        } else {
            Some(config.host.clone())
        };
        if let Some(value) = upstream_host {
            headers.insert(HOST, value);
        }
        if let Ok(value) = HeaderValue::from_bytes(&client.forwarded_for(remote.as_bytes())) {
            headers.insert(X_FORWARDED_FOR, value);
        }
        headers.insert(
            X_FORWARDED_PROTO,
            HeaderValue::from_static(scheme_value(scheme)),
        );
        if let Ok(value) = HeaderValue::from_str(public_host) {
            headers.insert(X_FORWARDED_HOST, value);
        }
        if !prefix.is_empty() {
            if let Ok(value) = HeaderValue::from_str(prefix) {
                headers.insert(X_FORWARDED_PREFIX, value);
            }
        }
        if let Some(upgrade) = client.upgrade {
            headers.insert(
                http::header::CONNECTION,
                HeaderValue::from_static("upgrade"),
            );
            headers.insert(UPGRADE, upgrade.clone());
        }
        // The client takes trailers: so does the proxy.
        if req.headers().get_all(TE).iter().any(|_| true)
            && lists_token(req.headers().get_all(TE), "trailers")
        {
            headers.insert(TE, HeaderValue::from_static("trailers"));
        }

        let (outgoing, upload) = if body.is_end_stream() {
            (Outgoing::Empty, None)
        } else {
            let upload = Upload::new();
            (
                Outgoing::Streaming {
                    body,
                    upload: upload.clone(),
                },
                Some(upload),
            )
        };
        let method = req.method().clone();
        // A request with no body that may be sent twice is kept, to be sent
        // again once if the upstream closes the connection unanswered.
        let again =
            (upload.is_none() && is_idempotent(&method)).then(|| (uri.clone(), headers.clone()));
        let mut request = Request::new(outgoing);
        *request.method_mut() = method.clone();
        *request.uri_mut() = uri;
        *request.headers_mut() = headers;

        let accept = client
            .accept
            .and_then(|accept| HeaderValue::from_bytes(accept.as_bytes()).ok());
        let public = config.rewrite_location.then(|| {
            let mut origin = SmallVec::new();
            for piece in [scheme, "://", public_host] {
                origin.extend_from_slice(piece.as_bytes());
            }
            Public {
                origin,
                prefix: prefix.to_owned(),
            }
        });
        let client_upgrade = client
            .upgrade
            .is_some()
            .then(|| hyper::upgrade::on(&mut req));
        Box::pin(async move {
            let page = |exception: HttpException| {
                Ok(exception.to_response(Format::negotiate(accept.as_ref())))
            };
            let permit = match &config.max_connections {
                None => None,
                Some(limit) => {
                    match tokio::time::timeout(config.timeout, limit.clone().acquire_owned()).await
                    {
                        Ok(Ok(permit)) => Some(permit),
                        _ => {
                            tracing::error!(upstream = %config.origin, "no connection to the upstream became free in time: 504");
                            return page(
                                HttpException::gateway_timeout()
                                    .with_detail("the upstream is busy"),
                            );
                        }
                    }
                }
            };
            let mut again = again;
            let mut request = request;
            // A `HEAD` goes on a new connection, closed after it: an
            // upstream that sends a body all the same, even late, then has
            // nobody to send it to, and no pooled connection is spent.
            let mut fresh = method == Method::HEAD;
            let (response, lease) = loop {
                match exchange(&config, request, upload.as_deref(), fresh).await {
                    Ok(response) => break response,
                    Err(Unsent::HeadTimeout) => {
                        tracing::error!(upstream = %config.origin, "the upstream did not answer in time: 504");
                        return page(
                            HttpException::gateway_timeout()
                                .with_detail("the upstream did not answer in time"),
                        );
                    }
                    Err(Unsent::UploadStalled) => {
                        tracing::error!(upstream = %config.origin, "the upstream stopped taking the request body: 504");
                        return page(
                            HttpException::gateway_timeout()
                                .with_detail("the upstream stopped taking the request body"),
                        );
                    }
                    Err(Unsent::Failed(err)) => match classify(err, upload.as_deref()) {
                        Failure::Unanswered(err) if again.is_some() => {
                            tracing::debug!(upstream = %config.origin, error = %chain(&err), "closed unanswered: sent again on another connection");
                            let Some((uri, headers)) = again.take() else {
                                return page(HttpException::bad_gateway());
                            };
                            fresh = true;
                            request = Request::new(Outgoing::Empty);
                            *request.method_mut() = method.clone();
                            *request.uri_mut() = uri;
                            *request.headers_mut() = headers;
                        }
                        Failure::Connect(err) => {
                            tracing::error!(upstream = %config.origin, error = %chain(&err), "the upstream cannot be reached: 502");
                            return page(
                                HttpException::bad_gateway()
                                    .with_detail("the upstream cannot be reached"),
                            );
                        }
                        Failure::Client(err) => {
                            // The client's body failed: too large (413), or cut off.
                            return page(match err.downcast::<HttpException>() {
                                Ok(exception) => *exception,
                                Err(err) => HttpException::bad_request().with_detail(format!(
                                    "the request body could not be read: {err}"
                                )),
                            });
                        }
                        Failure::Unanswered(err) | Failure::Upstream(err) => {
                            tracing::error!(upstream = %config.origin, error = %chain(&err), "the upstream's answer failed: 502");
                            return page(
                                HttpException::bad_gateway()
                                    .with_detail("the upstream's answer failed"),
                            );
                        }
                    },
                }
            };

            if response.status() == StatusCode::SWITCHING_PROTOCOLS {
                let Some(client_upgrade) = client_upgrade else {
                    tracing::error!(upstream = %config.origin, "the upstream switched protocols unasked: 502");
                    return page(
                        HttpException::bad_gateway()
                            .with_detail("the upstream switched protocols unasked"),
                    );
                };
                let mut response = response;
                if let Some(lease) = lease {
                    lease.detach();
                }
                let upstream_upgrade = hyper::upgrade::on(&mut response);
                let (mut parts, _) = response.into_parts();
                parts.version = Version::HTTP_11;
                tokio::spawn(tunnel(client_upgrade, upstream_upgrade, permit));
                return Ok(Response::from_parts(parts, Body::empty()));
            }
            let (mut parts, body) = response.into_parts();
            // A connection goes back to the pool only after a response
            // whose framing leaves no room for bytes after it, once its
            // body has ended; a HEAD's never does, lest a body come late.
            let lease = match lease {
                Some(lease) if method == Method::HEAD => {
                    drop(lease);
                    None
                }
                Some(lease) if invites_stray_bytes(&method, parts.status, &parts.headers) => {
                    tracing::debug!(upstream = %config.origin, status = %parts.status, "a response framed to invite stray bytes: its connection is closed");
                    drop(lease);
                    None
                }
                Some(lease) if body.is_end_stream() => {
                    lease.release();
                    None
                }
                lease => lease,
            };
            parts.extensions = http::Extensions::new();
            // Chunks are the body whatever length is also claimed (RFC 9112
            // §6.3): the length would cut the client's copy short.
            if parts.headers.contains_key(http::header::TRANSFER_ENCODING) {
                parts.headers.remove(CONTENT_LENGTH);
            }
            hop_by_hop::strip(&mut parts.headers);
            if let Some(public) = public {
                public.rewrite(&config, &mut parts.headers);
            }
            parts.version = Version::HTTP_11;
            let mut body = Incoming {
                body,
                idle: config.idle_timeout,
                sleep: None,
                rearm: false,
                permit,
                lease,
            };
            // A small body of known length comes with its head, or right
            // after: waited for, head and body reach the client in one
            // write rather than two.
            if has_small_length(&parts.headers) && !body.is_end_stream() {
                let first = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await;
                return Ok(Response::from_parts(
                    parts,
                    Body::new(Prefetched { first, rest: body }),
                ));
            }
            Ok(Response::from_parts(parts, Body::new(body)))
        })
    }
}

/// Whether a response's framing leaves room for bytes the upstream may
/// send after it: no body by its status or the request's method, yet a
/// length or chunks announced; or both a length and chunks. Its
/// connection is not reused.
fn invites_stray_bytes(method: &Method, status: StatusCode, headers: &HeaderMap) -> bool {
    let length = headers
        .get(CONTENT_LENGTH)
        .is_some_and(|v| v.as_bytes() != b"0");
    let chunked = headers.contains_key(http::header::TRANSFER_ENCODING);
    let bodiless = *method == Method::HEAD
        || status == StatusCode::NO_CONTENT
        || status == StatusCode::NOT_MODIFIED
        || status.is_informational();
    (bodiless && (length || chunked)) || (length && chunked)
}

/// The largest body whose first piece the proxy waits for before it
/// answers.
const PREFETCH_MAX: u64 = 16 * 1024;

/// Whether the response announces a body of at most [`PREFETCH_MAX`]
/// bytes.
fn has_small_length(headers: &HeaderMap) -> bool {
    headers
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok())
        .is_some_and(|len| len > 0 && len <= PREFETCH_MAX)
}

/// `X-Forwarded-Proto`'s value for the client's scheme.
fn scheme_value(scheme: &str) -> &'static str {
    if scheme == "https" {
        "https"
    } else {
        "http"
    }
}

/// Joins the client's upgraded connection to the upstream's, byte for byte,
/// until either side closes.
async fn tunnel(
    client: hyper::upgrade::OnUpgrade,
    upstream: hyper::upgrade::OnUpgrade,
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
) {
    let (client, upstream) = match tokio::try_join!(client, upstream) {
        Ok(both) => both,
        Err(err) => {
            tracing::warn!(error = %err, "an upgrade could not be tunnelled");
            return;
        }
    };
    let mut client = TokioIo::new(client);
    let mut upstream = TokioIo::new(upstream);
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
}

/// An address as text, as `Display` writes it, kept on the stack: the
/// `X-Forwarded-For` of a request that came without one is the client's
/// address alone, and needs no allocation.
struct IpText {
    buf: [u8; MAX_IP_LEN],
    len: usize,
}

/// The longest an address is written: an IPv6 address with an IPv4 tail.
const MAX_IP_LEN: usize = "ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255".len();

impl IpText {
    /// An IPv4 address, the one on nearly every request, is written octet
    /// by octet with `itoa`: the formatting machinery cost more than the
    /// rest of the `X-Forwarded-For` header.
    fn new(ip: IpAddr) -> Self {
        let mut buf = [0u8; MAX_IP_LEN];
        let mut out = &mut buf[..];
        // Writes to the slice cannot fail: it holds the longest address.
        let _ = match ip {
            IpAddr::V4(ip) => ip
                .octets()
                .into_iter()
                .enumerate()
                .try_for_each(|(i, octet)| {
                    if i > 0 {
                        out.write_all(b".")?;
                    }
                    out.write_all(itoa::Buffer::new().format(octet).as_bytes())
                }),
            IpAddr::V6(ip) => write!(out, "{ip}"),
        };
        let len = MAX_IP_LEN - out.len();
        IpText { buf, len }
    }

    fn as_bytes(&self) -> &[u8] {
        &self.buf[..self.len]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn proxy(upstream: &str) -> Proxy {
        Proxy::new(upstream).unwrap()
    }

    #[test]
    fn addresses_written_as_display_writes_them() {
        for ip in [
            "0.0.0.0",
            "127.0.0.1",
            "10.20.30.40",
            "255.255.255.255",
            "192.168.100.9",
            "::1",
            "::ffff:10.0.0.1",
            "2001:db8::8a2e:370:7334",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert_eq!(IpText::new(ip).as_bytes(), ip.to_string().as_bytes());
        }
    }

    #[test]
    fn locations_and_cookies_made_public() {
        let config = &proxy("http://127.0.0.1:9000/app/").config;
        let origin = "https://example.org";
        assert_eq!(
            config
                .public_location("http://127.0.0.1:9000/app/login?x=1", "/legacy", origin)
                .as_deref(),
            Some("https://example.org/legacy/login?x=1")
        );
        assert_eq!(
            config
                .public_location("/app/next", "/legacy", origin)
                .as_deref(),
            Some("/legacy/next")
        );
        assert_eq!(
            config.public_location("/application", "/legacy", origin),
            None
        );
        assert_eq!(
            config.public_location("https://other.example/app/x", "/legacy", origin),
            None
        );
        assert_eq!(
            config
                .public_cookie("sid=1; Path=/app/area; HttpOnly", "/legacy")
                .as_deref(),
            Some("sid=1; Path=/legacy/area; HttpOnly")
        );
        assert_eq!(config.public_cookie("sid=1; Path=/other", "/legacy"), None);
    }

    #[test]
    fn bad_upstreams_are_refused() {
        let problem = |upstream: &str| match Proxy::new(upstream) {
            Err(ProxyError::Upstream { reason, .. }) => Some(reason),
            _ => None,
        };
        assert_eq!(problem("ftp://x/"), Some(UpstreamProblem::Scheme));
        assert_eq!(problem("not a url"), Some(UpstreamProblem::NotAUrl));
        assert_eq!(problem("http://x/?q"), Some(UpstreamProblem::Query));
        assert_eq!(problem("/only/a/path"), Some(UpstreamProblem::Scheme));
        assert_eq!(
            Proxy::new("ftp://x/").err().map(|err| err.to_string()),
            Some("`ftp://x/`: only http:// and https:// upstreams are proxied".to_owned())
        );
        let ca = Proxy::new("https://localhost/")
            .unwrap()
            .ca_file("/nonexistent/ca.pem")
            .err();
        assert!(matches!(ca, Some(ProxyError::CaFile(why)) if why.contains("/nonexistent/ca.pem")));
    }
}
