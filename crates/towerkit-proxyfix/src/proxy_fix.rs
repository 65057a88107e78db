//! The layer: which headers to believe, and what they change.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::header::{HeaderName, HeaderValue, FORWARDED, HOST};
use http::uri::Scheme;
use http::{HeaderMap, Request, Response};
use ipnet::IpNet;
use tower_layer::Layer;
use tower_service::Service;
use towerkit_core::{mount, path_info, ConnectionInfo, ScriptName};

use crate::forwarded::{self, split_port, Node};

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
const X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");

/// Every header this layer reads (and, with `strip`, removes from requests
/// of untrusted peers).
pub const FORWARDING_HEADERS: [HeaderName; 6] = [
    FORWARDED,
    X_FORWARDED_FOR,
    X_FORWARDED_PROTO,
    X_FORWARDED_HOST,
    X_FORWARDED_PORT,
    X_FORWARDED_PREFIX,
];

/// Corrects the connection info from the forwarding headers of trusted
/// proxies. See the [crate documentation](crate).
#[derive(Clone, Debug)]
#[must_use]
pub struct ProxyFixLayer {
    config: Arc<Config>,
}

#[derive(Clone, Debug)]
struct Config {
    x_for: usize,
    x_proto: usize,
    x_host: usize,
    x_port: usize,
    x_prefix: usize,
    forwarded: bool,
    trusted: Vec<IpNet>,
    strip: bool,
}

impl Default for ProxyFixLayer {
    fn default() -> Self {
        ProxyFixLayer::new()
    }
}

impl ProxyFixLayer {
    /// One trusted hop for `X-Forwarded-For` and `-Proto`, none for the
    /// others (as Werkzeug's ProxyFix), trusting only loopback peers.
    pub fn new() -> Self {
        ProxyFixLayer {
            config: Arc::new(Config {
                x_for: 1,
                x_proto: 1,
                x_host: 0,
                x_port: 0,
                x_prefix: 0,
                forwarded: false,
                trusted: vec![
                    IpNet::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, 0)), 8).unwrap_or_default(),
                    IpNet::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 128).unwrap_or_default(),
                ],
                strip: false,
            }),
        }
    }

    fn config(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }

    /// Trusted hops for `X-Forwarded-For` (and for `Forwarded`).
    pub fn x_for(mut self, hops: usize) -> Self {
        self.config().x_for = hops;
        self
    }

    /// Trusted hops for `X-Forwarded-Proto`.
    pub fn x_proto(mut self, hops: usize) -> Self {
        self.config().x_proto = hops;
        self
    }

    /// Trusted hops for `X-Forwarded-Host`.
    pub fn x_host(mut self, hops: usize) -> Self {
        self.config().x_host = hops;
        self
    }

    /// Trusted hops for `X-Forwarded-Port`.
    pub fn x_port(mut self, hops: usize) -> Self {
        self.config().x_port = hops;
        self
    }

    /// Trusted hops for `X-Forwarded-Prefix`.
    pub fn x_prefix(mut self, hops: usize) -> Self {
        self.config().x_prefix = hops;
        self
    }

    /// Reads RFC 7239 `Forwarded` instead of `X-Forwarded-For/Proto/Host`.
    pub fn forwarded(mut self, forwarded: bool) -> Self {
        self.config().forwarded = forwarded;
        self
    }

    /// The peers whose forwarding headers are believed (default: loopback).
    pub fn trusted(mut self, networks: Vec<IpNet>) -> Self {
        self.config().trusted = networks;
        self
    }

    /// Removes the forwarding headers from requests of untrusted peers, so
    /// that nothing further in can read them.
    pub fn strip(mut self, strip: bool) -> Self {
        self.config().strip = strip;
        self
    }
}

impl<S> Layer<S> for ProxyFixLayer {
    type Service = ProxyFix<S>;

    fn layer(&self, inner: S) -> ProxyFix<S> {
        ProxyFix {
            inner,
            config: self.config.clone(),
        }
    }
}

/// The service of [`ProxyFixLayer`].
#[derive(Clone, Debug)]
pub struct ProxyFix<S> {
    inner: S,
    config: Arc<Config>,
}

impl<S> ProxyFix<S> {
    /// Corrects the requests to `inner` with the defaults of
    /// [`ProxyFixLayer::new`].
    pub fn new(inner: S) -> Self {
        ProxyFixLayer::new().layer(inner)
    }

    /// The layer that makes this service: [`ProxyFixLayer::new`].
    pub fn layer() -> ProxyFixLayer {
        ProxyFixLayer::new()
    }

    towerkit_core::inner_service_accessors!();
}

/// What the request said of itself before the proxy fix: for logs and apps
/// that want both.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OriginalConnection {
    /// The peer, as the server saw it.
    pub remote_addr: SocketAddr,
    /// The scheme of the connection.
    pub scheme: Scheme,
    /// The `Host` header as it came.
    pub host: Option<HeaderValue>,
    /// `SCRIPT_NAME` before the prefix.
    pub script_name: String,
}

/// The corrections the trusted headers ask for.
#[derive(Debug, Default, PartialEq, Eq)]
struct Fix {
    remote_addr: Option<SocketAddr>,
    scheme: Option<Scheme>,
    host: Option<String>,
    port: Option<u16>,
    prefix: Option<String>,
}

/// A header value that cannot be believed.
#[derive(Debug, PartialEq, Eq)]
struct Invalid(&'static str, String);

/// The `hops`-th item from the right of a comma list spread over every
/// value of `name`; `None` when there are fewer, or `hops` is 0.
fn nth_from_right(
    headers: &HeaderMap,
    name: &HeaderName,
    hops: usize,
) -> Result<Option<String>, Invalid> {
    if hops == 0 {
        return Ok(None);
    }
    let mut items = Vec::new();
    for value in headers.get_all(name) {
        let value = value
            .to_str()
            .map_err(|_| Invalid("not text", name.to_string()))?;
        items.extend(value.split(',').map(str::trim).filter(|s| !s.is_empty()));
    }
    Ok(items.len().checked_sub(hops).map(|i| items[i].to_owned()))
}

fn parse_addr(text: &str) -> Result<SocketAddr, Invalid> {
    let invalid = || Invalid("not an address", text.to_owned());
    let (host, port) = split_port(text).ok_or_else(invalid)?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let ip: IpAddr = host.parse().map_err(|_| invalid())?;
    Ok(SocketAddr::new(ip, port.unwrap_or(0)))
}

fn parse_scheme(text: &str) -> Result<Scheme, Invalid> {
    match text.to_ascii_lowercase().as_str() {
        "http" => Ok(Scheme::HTTP),
        "https" => Ok(Scheme::HTTPS),
        _ => Err(Invalid("not http or https", text.to_owned())),
    }
}

fn parse_host(text: &str) -> Result<String, Invalid> {
    let valid = towerkit_core::url::is_valid_host(text) && split_port(text).is_some();
    valid
        .then(|| text.to_owned())
        .ok_or_else(|| Invalid("not a host", text.to_owned()))
}

fn parse_prefix(text: &str) -> Result<String, Invalid> {
    let valid = text.starts_with('/')
        && text.parse::<http::uri::PathAndQuery>().is_ok()
        && !text.contains(['?', '#'])
        && towerkit_core::path::segments(text).all(|s| !s.is_parent());
    valid
        .then(|| text.trim_end_matches('/').to_owned())
        .ok_or_else(|| Invalid("not a path", text.to_owned()))
}

impl Config {
    fn trusts(&self, peer: IpAddr) -> bool {
        let peer = match peer {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(peer, IpAddr::V4),
            v4 => v4,
        };
        self.trusted.iter().any(|net| net.contains(&peer))
    }

    /// Reads every trusted header; any invalid value refuses them all.
    fn fix(&self, headers: &HeaderMap) -> Result<Fix, Invalid> {
        let mut fix = Fix::default();
        // Most requests carry none: one pass over the few names a request
        // has costs less than a lookup of each of the six.
        if !headers.keys().any(|name| FORWARDING_HEADERS.contains(name)) {
            return Ok(fix);
        }
        if self.forwarded {
            let values: Vec<&str> = headers
                .get_all(FORWARDED)
                .iter()
                .map(|v| {
                    v.to_str()
                        .map_err(|_| Invalid("not text", "forwarded".into()))
                })
                .collect::<Result<_, _>>()?;
            let elements = forwarded::parse(&values.join(","))
                .ok_or_else(|| Invalid("not RFC 7239", values.join(",")))?;
            if let Some(element) = elements
                .len()
                .checked_sub(self.x_for)
                .filter(|_| self.x_for > 0)
                .map(|i| &elements[i])
            {
                if let Some(Node::Addr(..)) = &element.for_node {
                    fix.remote_addr = element.for_node.as_ref().and_then(Node::socket_addr);
                }
                if self.x_proto > 0 {
                    fix.scheme = element.proto.as_deref().map(parse_scheme).transpose()?;
                }
                if self.x_host > 0 {
                    fix.host = element.host.as_deref().map(parse_host).transpose()?;
                }
            }
        } else {
            fix.remote_addr = nth_from_right(headers, &X_FORWARDED_FOR, self.x_for)?
                .as_deref()
                .map(parse_addr)
                .transpose()?;
            fix.scheme = nth_from_right(headers, &X_FORWARDED_PROTO, self.x_proto)?
                .as_deref()
                .map(parse_scheme)
                .transpose()?;
            fix.host = nth_from_right(headers, &X_FORWARDED_HOST, self.x_host)?
                .as_deref()
                .map(parse_host)
                .transpose()?;
        }
        fix.port = nth_from_right(headers, &X_FORWARDED_PORT, self.x_port)?
            .map(|p| {
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or(Invalid("not a port", p))
            })
            .transpose()?;
        fix.prefix = nth_from_right(headers, &X_FORWARDED_PREFIX, self.x_prefix)?
            .as_deref()
            .map(parse_prefix)
            .transpose()?;
        Ok(fix)
    }
}

/// Applies a fix to a request (all of it: every value was checked), and
/// returns the corrected connection, to report on the response.
fn apply<B>(req: &mut Request<B>, fix: Fix) -> ConnectionInfo {
    // Under another server (axum) there is no `ConnectionInfo` yet: the
    // peer is the client that server saw, never loopback.
    let mut info = ConnectionInfo::of(req);
    if req.extensions().get::<ConnectionInfo>().is_none() {
        if let Some(peer) = towerkit_core::client_addr(req) {
            info.remote_addr = peer;
        }
    }
    let original = OriginalConnection {
        remote_addr: info.remote_addr,
        scheme: info.scheme.clone(),
        host: req.headers().get(HOST).cloned(),
        script_name: ScriptName::of(req).to_owned(),
    };
    if let Some(addr) = fix.remote_addr {
        info.remote_addr = addr;
    }
    if let Some(scheme) = fix.scheme {
        info.scheme = scheme;
    }
    let host = fix.host.or_else(|| {
        fix.port.and(
            req.headers()
                .get(HOST)
                .and_then(|h| h.to_str().ok())
                .map(str::to_owned),
        )
    });
    if let Some(mut host) = host {
        if let Some(port) = fix.port {
            let name = split_port(&host).map_or(host.as_str(), |(name, _)| name);
            host = format!("{name}:{port}");
        }
        if let Ok(value) = HeaderValue::from_str(&host) {
            req.headers_mut().insert(HOST, value);
        }
        // An absolute-form or HTTP/2 target names the host in the URI, and
        // there it wins over `Host`: it is corrected too.
        if req.uri().authority().is_some() {
            let mut parts = req.uri().clone().into_parts();
            parts.authority = host.parse().ok();
            if let Ok(uri) = http::Uri::from_parts(parts) {
                *req.uri_mut() = uri;
            }
        }
    }
    // Werkzeug's `SERVER_PORT`: the port is known even when no `Host` was
    // sent, and URLs built from the local address use it.
    if let Some(port) = fix.port {
        info.local_addr.set_port(port);
    }
    if let Some(prefix) = fix.prefix {
        let script_name = format!("{prefix}{}", original.script_name);
        let path = path_info(req).to_owned();
        if let Err(err) = mount(req, &script_name, &path) {
            tracing::debug!(error = %err, "X-Forwarded-Prefix not applied");
        }
    }
    req.extensions_mut().insert(info.clone());
    req.extensions_mut().insert(original);
    info
}

impl<S, B, ResB> Service<Request<B>> for ProxyFix<S>
where
    S: Service<Request<B>, Response = Response<ResB>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        // An unknown client is trusted for nothing.
        let peer = towerkit_core::client_addr(&req).map(|addr| addr.ip());
        if !peer.is_some_and(|peer| self.config.trusts(peer)) {
            if self.config.strip {
                for name in &FORWARDING_HEADERS {
                    req.headers_mut().remove(name);
                }
            }
            return ResponseFuture {
                inner: self.inner.call(req),
                fixed: None,
            };
        }
        let fixed = match self.config.fix(req.headers()) {
            Ok(fix) if fix != Fix::default() => Some(apply(&mut req, fix)),
            Ok(_) => None,
            Err(Invalid(what, value)) => {
                tracing::debug!(peer = ?peer, value = %value, "forwarding headers ignored: {what}");
                None
            }
        };
        ResponseFuture {
            inner: self.inner.call(req),
            fixed,
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`ProxyFix`]: the inner response, with the corrected
    /// [`ConnectionInfo`] also put on it for the layers above (an access
    /// log sees the client's real address wherever it stands).
    pub struct ResponseFuture<F> {
        #[pin]
        inner: F,
        fixed: Option<ConnectionInfo>,
    }
}

impl<F, ResB, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResB>, E>>,
{
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut result = std::task::ready!(this.inner.poll(cx));
        if let (Ok(response), Some(info)) = (&mut result, this.fixed.take()) {
            response.extensions_mut().insert(info);
        }
        Poll::Ready(result)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use towerkit_core::url::{application_url, construct_url};

    fn request(peer: &str, headers: &[(&str, &str)]) -> Request<()> {
        let mut req = Request::get("/app/page?q=1").body(()).unwrap();
        req.headers_mut()
            .insert(HOST, HeaderValue::from_static("internal:8000"));
        for (name, value) in headers {
            req.headers_mut().append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        let peer: SocketAddr = peer.parse().unwrap();
        req.extensions_mut()
            .insert(ConnectionInfo::new(peer, "127.0.0.1:8000".parse().unwrap()));
        req
    }

    /// The request as the service behind the layer receives it.
    fn fixed(layer: ProxyFixLayer, req: Request<()>) -> Request<()> {
        respond(layer, req).into_body()
    }

    /// The response, whose body is the request the service received.
    fn respond(layer: ProxyFixLayer, req: Request<()>) -> Response<Request<()>> {
        let mut future = std::pin::pin!(layer.layer(Echo).call(req));
        match future
            .as_mut()
            .poll(&mut Context::from_waker(std::task::Waker::noop()))
        {
            Poll::Ready(Ok(response)) => response,
            Poll::Ready(Err(never)) => match never {},
            Poll::Pending => unreachable!("Echo is ready at once"),
        }
    }

    #[test]
    fn the_fix_is_reported_on_the_response() {
        let xff = [("x-forwarded-for", "3.3.3.3")];
        let response = respond(ProxyFixLayer::new(), request("127.0.0.1:5000", &xff));
        let info = response.extensions().get::<ConnectionInfo>().unwrap();
        assert_eq!(info.remote_addr.to_string(), "3.3.3.3:0");
        let response = respond(ProxyFixLayer::new(), request("10.9.9.9:5000", &xff));
        assert!(response.extensions().get::<ConnectionInfo>().is_none());
    }

    /// A service that hands the request back.
    #[derive(Clone)]
    struct Echo;
    impl Service<Request<()>> for Echo {
        type Response = Response<Request<()>>;
        type Error = std::convert::Infallible;
        type Future = std::future::Ready<Result<Response<Request<()>>, std::convert::Infallible>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, req: Request<()>) -> Self::Future {
            std::future::ready(Ok(Response::new(req)))
        }
    }

    fn remote(req: &Request<()>) -> String {
        ConnectionInfo::of(req).remote_addr.to_string()
    }

    #[test]
    fn hop_counts_from_the_right() {
        let xff = [
            ("x-forwarded-for", "1.1.1.1, 2.2.2.2"),
            ("x-forwarded-for", "3.3.3.3"),
        ];
        let req = fixed(ProxyFixLayer::new(), request("127.0.0.1:5000", &xff));
        assert_eq!(remote(&req), "3.3.3.3:0");
        let req = fixed(
            ProxyFixLayer::new().x_for(2),
            request("127.0.0.1:5000", &xff),
        );
        assert_eq!(remote(&req), "2.2.2.2:0");
        let req = fixed(
            ProxyFixLayer::new().x_for(4),
            request("127.0.0.1:5000", &xff),
        );
        assert_eq!(
            remote(&req),
            "127.0.0.1:5000",
            "fewer values than hops: ignored"
        );
        let req = fixed(
            ProxyFixLayer::new().x_for(0),
            request("127.0.0.1:5000", &xff),
        );
        assert_eq!(remote(&req), "127.0.0.1:5000");
        let req = fixed(
            ProxyFixLayer::new(),
            request("127.0.0.1:5000", &[("x-forwarded-for", "1.1.1.1,,  ,")]),
        );
        assert_eq!(remote(&req), "1.1.1.1:0", "empty items dropped");
    }

    #[test]
    fn ipv6_ports_and_hosts() {
        let req = fixed(
            ProxyFixLayer::new().x_host(1).x_port(1),
            request(
                "[::1]:4000",
                &[
                    ("x-forwarded-for", "[2001:db8::7]:6000"),
                    ("x-forwarded-proto", "HTTPS"),
                    ("x-forwarded-host", "[2001:db8::1]:8443"),
                    ("x-forwarded-port", "443"),
                ],
            ),
        );
        assert_eq!(remote(&req), "[2001:db8::7]:6000");
        assert_eq!(req.headers()[HOST], "[2001:db8::1]:443");
        // The scheme's default port is not written in built URLs.
        assert_eq!(application_url(&req), "https://[2001:db8::1]");
        let req = fixed(
            ProxyFixLayer::new().x_port(1),
            request("127.0.0.1:1", &[("x-forwarded-port", "8080")]),
        );
        assert_eq!(
            req.headers()[HOST],
            "internal:8080",
            "the port replaces the Host's"
        );
        let req = fixed(
            ProxyFixLayer::new(),
            request("127.0.0.1:1", &[("x-forwarded-for", "2001:db8::9")]),
        );
        assert_eq!(remote(&req), "[2001:db8::9]:0");
    }

    #[test]
    fn forwarded_port_applies_without_a_host() {
        let mut req = request(
            "127.0.0.1:1",
            &[("x-forwarded-port", "8443"), ("x-forwarded-proto", "https")],
        );
        req.headers_mut().remove(HOST);
        let req = fixed(ProxyFixLayer::new().x_port(1), req);
        assert_eq!(application_url(&req), "https://127.0.0.1:8443");
        let mut req = request(
            "127.0.0.1:1",
            &[("x-forwarded-port", "443"), ("x-forwarded-proto", "https")],
        );
        req.headers_mut().remove(HOST);
        let req = fixed(ProxyFixLayer::new().x_port(1), req);
        assert_eq!(application_url(&req), "https://127.0.0.1");
    }

    #[test]
    fn a_forwarded_host_corrects_an_absolute_target_too() {
        let mut req = request("127.0.0.1:1", &[("x-forwarded-host", "public.example")]);
        *req.uri_mut() = "http://internal:8000/app/page".parse().unwrap();
        let req = fixed(ProxyFixLayer::new().x_host(1), req);
        assert_eq!(application_url(&req), "http://public.example");
    }

    #[test]
    fn an_unknown_client_is_trusted_for_nothing() {
        let mut req = request("127.0.0.1:1", &[("x-forwarded-for", "6.6.6.6")]);
        req.extensions_mut().remove::<ConnectionInfo>();
        let req = fixed(ProxyFixLayer::new(), req);
        assert_eq!(towerkit_core::client_addr(&req), None);
    }

    #[test]
    fn prefix_goes_to_script_name() {
        let req = fixed(
            ProxyFixLayer::new().x_prefix(1),
            request("127.0.0.1:1", &[("x-forwarded-prefix", "/public/")]),
        );
        assert_eq!(ScriptName::of(&req), "/public");
        assert_eq!(path_info(&req), "/app/page");
        assert_eq!(
            construct_url(&req, true, true),
            "http://internal:8000/public/app/page?q=1"
        );
        let original = req.extensions().get::<OriginalConnection>().unwrap();
        assert_eq!(original.script_name, "");
        let req = fixed(
            ProxyFixLayer::new().x_prefix(1),
            request("127.0.0.1:1", &[("x-forwarded-prefix", "/a/../b")]),
        );
        assert_eq!(ScriptName::of(&req), "");
    }

    #[test]
    fn untrusted_peers_change_nothing() {
        let forged = [
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-prefix", "/evil"),
        ];
        let layer = || {
            ProxyFixLayer::new()
                .x_prefix(1)
                .trusted(vec!["10.0.0.0/8".parse().unwrap()])
        };
        let req = fixed(layer(), request("192.0.2.1:5000", &forged));
        assert_eq!(remote(&req), "192.0.2.1:5000");
        assert_eq!(application_url(&req), "http://internal:8000");
        assert!(req.headers().contains_key("x-forwarded-for"));
        let req = fixed(layer().strip(true), request("192.0.2.1:5000", &forged));
        assert!(!req.headers().contains_key("x-forwarded-for"));
        let req = fixed(layer(), request("10.1.2.3:5000", &forged));
        assert_eq!(remote(&req), "6.6.6.6:0");
        // An IPv4-mapped IPv6 peer is the IPv4 address.
        let req = fixed(layer(), request("[::ffff:10.1.2.3]:5000", &forged));
        assert_eq!(remote(&req), "6.6.6.6:0");
    }

    #[test]
    fn one_bad_value_refuses_the_whole_fix() {
        for bad in [
            ("x-forwarded-for", "not-an-ip"),
            ("x-forwarded-proto", "gopher"),
            ("x-forwarded-host", "evil.example/path"),
            ("x-forwarded-port", "99999"),
            ("x-forwarded-prefix", "no-slash"),
        ] {
            let mut headers = vec![
                ("x-forwarded-for", "1.2.3.4"),
                ("x-forwarded-proto", "https"),
            ];
            headers.retain(|(n, _)| *n != bad.0);
            headers.push(bad);
            let req = fixed(
                ProxyFixLayer::new().x_host(1).x_port(1).x_prefix(1),
                request("127.0.0.1:5000", &headers),
            );
            assert_eq!(remote(&req), "127.0.0.1:5000", "{bad:?}");
            assert_eq!(ConnectionInfo::of(&req).scheme, Scheme::HTTP, "{bad:?}");
            assert!(req.extensions().get::<OriginalConnection>().is_none());
        }
    }

    #[test]
    fn rfc_7239() {
        let layer = || ProxyFixLayer::new().forwarded(true).x_host(1);
        let req = fixed(
            layer(),
            request(
                "127.0.0.1:1",
                &[
                    ("forwarded", "for=198.51.100.1;proto=http"),
                    (
                        "forwarded",
                        "for=\"[2001:db8::17]:4711\";proto=https;host=\"shop.example\"",
                    ),
                    ("x-forwarded-for", "6.6.6.6"),
                ],
            ),
        );
        assert_eq!(remote(&req), "[2001:db8::17]:4711");
        assert_eq!(application_url(&req), "https://shop.example");
        let req = fixed(
            layer().x_for(2),
            request(
                "127.0.0.1:1",
                &[("forwarded", "for=198.51.100.1;proto=http, for=_hidden")],
            ),
        );
        assert_eq!(remote(&req), "198.51.100.1:0");
        let req = fixed(
            layer(),
            request("127.0.0.1:1", &[("forwarded", "for=unknown;proto=https")]),
        );
        assert_eq!(remote(&req), "127.0.0.1:1", "unknown keeps the peer");
        assert_eq!(ConnectionInfo::of(&req).scheme, Scheme::HTTPS);
        let req = fixed(
            layer(),
            request(
                "127.0.0.1:1",
                &[("forwarded", "for=1.2.3.4;proto=\"ht tp\"")],
            ),
        );
        assert_eq!(remote(&req), "127.0.0.1:1", "malformed: nothing applied");
    }

    /// The parsers on random input: they answer, never panic.
    #[test]
    fn parsers_never_panic_on_random_input() {
        let alphabet: &[u8] =
            b"0123456789abcdef:[]._-,;=\" \\/%fF:[::1]for=proto=host=by=unknown_ 256.300";
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 40) as usize;
            let text: String = (0..len)
                .map(|_| alphabet[(next() % alphabet.len() as u64) as usize] as char)
                .collect();
            let _ = forwarded::parse(&text);
            let _ = parse_addr(&text);
            let _ = parse_host(&text);
            let _ = parse_prefix(&text);
            let _ = split_port(&text);
            if let Ok(value) = HeaderValue::from_str(&text) {
                let mut headers = HeaderMap::new();
                for name in &FORWARDING_HEADERS {
                    headers.insert(name.clone(), value.clone());
                }
                let config = ProxyFixLayer::new().x_host(1).x_port(1).x_prefix(1).config;
                let _ = config.fix(&headers);
                let forwarded = ProxyFixLayer::new().forwarded(true).x_host(1).config;
                let _ = forwarded.fix(&headers);
            }
        }
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        fn ip() -> impl Strategy<Value = IpAddr> {
            prop_oneof![
                any::<[u8; 4]>().prop_map(IpAddr::from),
                any::<[u16; 8]>().prop_map(IpAddr::from),
            ]
        }

        /// An address as a proxy writes it: bare, or with a port (v6 in
        /// brackets then).
        fn written(ip: IpAddr, port: Option<u16>) -> String {
            match (ip, port) {
                (IpAddr::V4(v4), Some(p)) => format!("{v4}:{p}"),
                (IpAddr::V6(v6), Some(p)) => format!("[{v6}]:{p}"),
                (ip, None) => ip.to_string(),
            }
        }

        proptest! {
            /// With `x_for = n`, the client is the n-th address from the
            /// right of all `X-Forwarded-For` lines joined, whatever the
            /// split into lines and the spacing; with fewer than n, the
            /// peer stays the client.
            #[test]
            fn x_forwarded_for_counts_hops_from_the_right(
                chain in proptest::collection::vec((ip(), proptest::option::of(1u16..)), 0..6),
                hops in 0usize..5,
                lines in 1usize..3,
            ) {
                let items: Vec<String> = chain.iter().map(|(ip, port)| written(*ip, *port)).collect();
                let per_line = items.len().div_ceil(lines).max(1);
                let headers: Vec<(&str, String)> = items
                    .chunks(per_line)
                    .map(|chunk| ("x-forwarded-for", chunk.join(" ,  ")))
                    .collect();
                let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
                let req = fixed(ProxyFixLayer::new().x_for(hops), request("127.0.0.1:5000", &headers));
                let expected = match chain.len().checked_sub(hops) {
                    Some(i) if hops > 0 => {
                        let (ip, port) = chain[i];
                        SocketAddr::new(ip, port.unwrap_or(0))
                    }
                    _ => "127.0.0.1:5000".parse().unwrap(),
                };
                prop_assert_eq!(ConnectionInfo::of(&req).remote_addr, expected);
            }

            /// RFC 7239: the last `for=` of `Forwarded` is the client when
            /// one hop is trusted; quoted v6 with a port reads the same.
            #[test]
            fn forwarded_for_reads_back(chain in proptest::collection::vec((ip(), proptest::option::of(1u16..)), 1..5)) {
                let value = chain
                    .iter()
                    .map(|(ip, port)| match (ip, port) {
                        (IpAddr::V6(v6), None) => format!("for=\"[{v6}]\""),
                        (_, Some(_)) => format!("for=\"{}\"", written(*ip, *port)),
                        (ip, None) => format!("for={ip}"),
                    })
                    .collect::<Vec<_>>()
                    .join(", ");
                let req = fixed(
                    ProxyFixLayer::new().forwarded(true),
                    request("127.0.0.1:5000", &[("forwarded", value.as_str())]),
                );
                let (ip, port) = chain[chain.len() - 1];
                prop_assert_eq!(ConnectionInfo::of(&req).remote_addr, SocketAddr::new(ip, port.unwrap_or(0)), "{}", value);
            }
        }
    }
}
