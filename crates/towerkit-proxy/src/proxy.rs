//! The proxy service.

use std::io::Write as _;
use std::net::IpAddr;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::header::{HeaderName, HeaderValue, CONNECTION, HOST, LOCATION, SET_COOKIE, UPGRADE};
use http::uri::{Authority, Uri};
use http::{HeaderMap, Request, Response};
use hyper_util::rt::TokioIo;
use smallvec::SmallVec;
use tokio::io::AsyncWriteExt;
use tower_service::Service;
use towerkit_core::recursive::BoxFuture;
use towerkit_core::url::{host, url_scheme};
use towerkit_core::{path_info, Body, BoxError, ConnectionInfo, Format, HttpException, ScriptName};

use crate::client::{ClientHeaders, X_FORWARDED_FOR};
use crate::connection::Connection;
use crate::hop_by_hop;
use crate::pool::{Pool, Reply, SendError};
use crate::request::{Field, RequestHead, Target};

/// How long connecting to the upstream may take, unless set.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the upstream may take to answer (its headers), unless set.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");

#[derive(Clone)]
struct Config {
    authority: Authority,
    /// The upstream's `Host`.
    host: HeaderValue,
    base: String,
    preserve_host: bool,
    rewrite_location: bool,
    timeout: Duration,
    pool: Pool,
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
                &format!("http://{}{}", self.config.authority, self.config.base),
            )
            .finish()
    }
}

impl Proxy {
    /// A proxy to `upstream`, an `http://host:port/base/` URL.
    pub fn new(upstream: &str) -> Result<Self, String> {
        Proxy::with_timeouts(upstream, DEFAULT_CONNECT_TIMEOUT, DEFAULT_TIMEOUT)
    }

    /// Like [`new`](Self::new), with timeouts.
    pub fn with_timeouts(
        upstream: &str,
        connect_timeout: Duration,
        timeout: Duration,
    ) -> Result<Self, String> {
        let uri: Uri = upstream
            .parse()
            .map_err(|_| format!("`{upstream}` is not a URL"))?;
        if uri.scheme_str() != Some("http") {
            return Err(format!("`{upstream}`: only http:// upstreams are proxied"));
        }
        let authority = uri
            .authority()
            .cloned()
            .ok_or_else(|| format!("`{upstream}` has no host"))?;
        if uri.query().is_some() {
            return Err(format!("`{upstream}`: the upstream cannot have a query"));
        }
        let pool = Pool::new(
            authority.host(),
            authority.port_u16().unwrap_or(80),
            connect_timeout,
        );
        let host = HeaderValue::from_str(authority.as_str())
            .map_err(|_| format!("`{upstream}`: the host is not a header value"))?;
        Ok(Proxy {
            config: Arc::new(Config {
                host,
                authority,
                base: uri.path().trim_end_matches('/').to_owned(),
                preserve_host: false,
                rewrite_location: true,
                timeout,
                pool,
            }),
        })
    }

    fn config(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
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
}

impl Config {
    /// `Location` pointing into the upstream's base, made public.
    fn public_location(
        &self,
        location: &str,
        public_prefix: &str,
        public_origin: &str,
    ) -> Option<String> {
        let upstream_origin = format!("http://{}", self.authority);
        let path = match location.strip_prefix(&upstream_origin) {
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

impl Service<Request<Body>> for Proxy {
    type Response = Response<Body>;
    type Error = BoxError;
    type Future = BoxFuture<Result<Response<Body>, BoxError>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, mut req: Request<Body>) -> Self::Future {
        // The upstream request's head is written here, before the future,
        // from the client's request as it stands: the future keeps only the
        // request being sent and the few things the response needs. (Kept
        // in the future, the request and its parts tripled its size, past
        // what the allocator serves fast.)
        let config = self.config.clone();
        let body = std::mem::take(req.body_mut());
        let client = ClientHeaders::scan(req.headers());
        let target = Target {
            base: &config.base,
            path: path_info(&req),
            query: req.uri().query(),
        };
        if !target.is_valid() {
            let response = HttpException::bad_request().response_for(&req);
            return Box::pin(std::future::ready(Ok(response)));
        }
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
        let forwarded_for = client.forwarded_for(remote.as_bytes());
        let upstream_host = if config.preserve_host {
            public_host.as_bytes()
        } else {
            config.host.as_bytes()
        };
        let fields = [
            Field {
                name: &HOST,
                value: Some(upstream_host),
            },
            Field {
                name: &X_FORWARDED_FOR,
                value: Some(&forwarded_for),
            },
            Field {
                name: &X_FORWARDED_PROTO,
                value: Some(scheme.as_bytes()),
            },
            Field {
                name: &X_FORWARDED_HOST,
                value: Some(public_host.as_bytes()),
            },
            Field {
                name: &X_FORWARDED_PREFIX,
                value: (!prefix.is_empty()).then_some(prefix.as_bytes()),
            },
            Field {
                name: &CONNECTION,
                value: client.upgrade.is_some().then_some(&b"upgrade"[..]),
            },
            Field {
                name: &UPGRADE,
                value: client.upgrade.map(HeaderValue::as_bytes),
            },
        ];
        let head = RequestHead {
            method: req.method(),
            target,
            headers: req.headers(),
            hop_by_hop: &client.hop_by_hop,
            fields: &fields,
        };
        // Boxed apart and awaited through a reference: awaited by value,
        // it would be stored twice in this future, which would then be
        // too large for the allocator's fast path.
        let mut sent = Box::pin(tokio::time::timeout(
            config.timeout,
            config.pool.send(&head, body),
        ));
        // What the response needs of the request, copied: a slice of it
        // kept while the upstream answers would pin the connection's read
        // buffer, which hyper would then reallocate for its next read.
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
            let response = match (&mut sent).await {
                Err(_) => {
                    tracing::error!(upstream = %config.authority, "the upstream did not answer in time: 504");
                    return Ok(HttpException::gateway_timeout()
                        .with_detail("the upstream did not answer in time")
                        .to_response(Format::negotiate(accept.as_ref())));
                }
                Ok(Err(SendError::Client(err))) => {
                    // The client's body failed: too large (413), or cut off.
                    let exception = match err.downcast::<HttpException>() {
                        Ok(exception) => *exception,
                        Err(err) => HttpException::bad_request()
                            .with_detail(format!("the request body could not be read: {err}")),
                    };
                    return Ok(exception.to_response(Format::negotiate(accept.as_ref())));
                }
                Ok(Err(err)) => {
                    tracing::error!(upstream = %config.authority, error = %err, "the upstream cannot be reached: 502");
                    return Ok(HttpException::bad_gateway()
                        .with_detail("the upstream cannot be reached")
                        .to_response(Format::negotiate(accept.as_ref())));
                }
                Ok(Ok(response)) => response,
            };

            let (mut parts, reply) = response.into_parts();
            let body = match reply {
                Reply::Body(body) => Body::new(body),
                Reply::Upgraded(upstream) => {
                    let Some(client_upgrade) = client_upgrade else {
                        tracing::error!(upstream = %config.authority, "the upstream switched protocols unasked: 502");
                        return Ok(HttpException::bad_gateway()
                            .with_detail("the upstream switched protocols unasked")
                            .to_response(Format::negotiate(accept.as_ref())));
                    };
                    tokio::spawn(tunnel(client_upgrade, upstream));
                    return Ok(Response::from_parts(parts, Body::empty()));
                }
            };
            hop_by_hop::strip(&mut parts.headers);
            if let Some(public) = public {
                public.rewrite(&config, &mut parts.headers);
            }
            Ok(Response::from_parts(parts, body))
        })
    }
}

/// Joins the client's upgraded connection to the upstream's, byte for byte,
/// until either side closes.
async fn tunnel(client: hyper::upgrade::OnUpgrade, mut upstream: Connection) {
    let client = match client.await {
        Ok(client) => client,
        Err(err) => {
            tracing::warn!(error = %err, "an upgrade could not be tunnelled: the client's side failed");
            return;
        }
    };
    let mut client = TokioIo::new(client);
    // What the upstream sent right behind its 101 goes first.
    if !upstream.read.is_empty() && client.write_all(&upstream.read).await.is_err() {
        return;
    }
    let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream.io).await;
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
        assert!(Proxy::new("https://x/").is_err());
        assert!(Proxy::new("not a url").is_err());
        assert!(Proxy::new("http://x/?q").is_err());
    }
}
