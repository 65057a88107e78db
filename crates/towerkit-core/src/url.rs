//! Building absolute URLs from what a request knows of itself.
//!
//! After `wsgiref.util.application_uri` and `paste.request.construct_url`:
//! scheme from [`ConnectionInfo`], host from the `Host` header (or the
//! HTTP/2 authority, or the local address), then [`ScriptName`], `PATH_INFO`
//! and the query.
//!
//! ```
//! use http::Request;
//! use towerkit_core::{application_url, construct_url, shift_path_info};
//!
//! let mut req = Request::get("/shop/cart?id=7")
//!     .header("host", "example.com:8080")
//!     .body(())
//!     .unwrap();
//! shift_path_info(&mut req);
//! assert_eq!(application_url(&req), "http://example.com:8080/shop");
//! assert_eq!(construct_url(&req, true, true), "http://example.com:8080/shop/cart?id=7");
//! assert_eq!(construct_url(&req, true, false), "http://example.com:8080/shop/cart");
//! ```

use std::borrow::Cow;
use std::net::SocketAddr;

use http::header::HOST;
use http::Request;

use crate::environ::{ConnectionInfo, ScriptName};
use crate::path::path_info;

/// `wsgi.url_scheme`: `https` or `http`.
pub fn url_scheme<B>(req: &Request<B>) -> &str {
    match req.extensions().get::<ConnectionInfo>() {
        Some(info) => info.scheme.as_str(),
        None => req.uri().scheme_str().unwrap_or("http"),
    }
}

/// The host (and port, when it is not the scheme's default) the client
/// addressed, the one way every layer reads it: the target's authority in an
/// absolute-form or HTTP/2 request (RFC 9112 §3.2.2), else the `Host` header,
/// else the address the connection was accepted on. A value that is not a
/// valid host is passed over (`towerkit-server` refuses such requests with
/// 400, see [`canonical::check`](crate::canonical::check)).
///
/// The scheme's default port is dropped: `Host: spam:80` on `http` reads
/// `spam`, as `wsgiref.util.request_uri` and Werkzeug write it.
pub fn host<B>(req: &Request<B>) -> Cow<'_, str> {
    let scheme = url_scheme(req);
    let addressed = req
        .uri()
        .authority()
        .map(|a| a.as_str())
        .filter(|a| is_valid_host(a))
        .or_else(|| {
            req.headers()
                .get(HOST)
                .and_then(|v| v.to_str().ok())
                .filter(|h| is_valid_host(h))
        });
    match addressed {
        Some(host) => without_default_port(host, scheme),
        None => Cow::Owned(host_of(ConnectionInfo::of(req).local_addr, scheme)),
    }
}

fn default_port(scheme: &str) -> u16 {
    if scheme == "https" {
        443
    } else {
        80
    }
}

/// `host` (valid, see [`is_valid_host`]) without the scheme's default
/// port or an empty one: `spam:80` on `http` is `spam`.
fn without_default_port<'a>(host: &'a str, scheme: &str) -> Cow<'a, str> {
    let default = if scheme == "https" { ":443" } else { ":80" };
    let name = host
        .strip_suffix(default)
        .or_else(|| host.strip_suffix(':'))
        .unwrap_or(host);
    Cow::Borrowed(name)
}

fn host_of(addr: SocketAddr, scheme: &str) -> String {
    let ip = match addr {
        SocketAddr::V4(v4) => v4.ip().to_string(),
        SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
    };
    if addr.port() == default_port(scheme) {
        ip
    } else {
        format!("{ip}:{}", addr.port())
    }
}

pub use crate::canonical::is_valid_host;

/// The URL of the application the request reached: scheme, host and
/// [`ScriptName`].
pub fn application_url<B>(req: &Request<B>) -> String {
    format!("{}://{}{}", url_scheme(req), host(req), ScriptName::of(req))
}

/// The application URL, followed by `PATH_INFO` and the query string when
/// asked for: the URL the client requested, as the mounted app sees it.
pub fn construct_url<B>(req: &Request<B>, with_path_info: bool, with_query: bool) -> String {
    let mut url = application_url(req);
    if with_path_info {
        url.push_str(path_info(req));
    }
    if with_query {
        if let Some(query) = req.uri().query() {
            url.push('?');
            url.push_str(query);
        }
    }
    url
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::shift_path_info;
    use http::uri::Scheme;
    use std::net::{IpAddr, Ipv6Addr};

    #[test]
    fn falls_back_to_local_address_with_brackets_for_ipv6() {
        let mut req = Request::get("/x").body(()).unwrap();
        let local = SocketAddr::new(IpAddr::V6(Ipv6Addr::LOCALHOST), 8443);
        let mut info = ConnectionInfo::new(local, local);
        info.scheme = Scheme::HTTPS;
        req.extensions_mut().insert(info);
        assert_eq!(construct_url(&req, true, false), "https://[::1]:8443/x");
    }

    #[test]
    fn default_port_is_omitted() {
        let mut req = Request::get("/").body(()).unwrap();
        req.extensions_mut().insert(ConnectionInfo::loopback());
        assert_eq!(application_url(&req), "http://127.0.0.1");
    }

    #[test]
    fn uses_http2_authority_when_no_host_header() {
        let req = Request::get("https://example.org/a?b").body(()).unwrap();
        assert_eq!(construct_url(&req, true, true), "https://example.org/a?b");
    }

    #[test]
    fn a_hostile_host_header_is_not_echoed() {
        let req = Request::get("/")
            .header("host", "evil.example/<script>")
            .body(())
            .unwrap();
        assert_eq!(application_url(&req), "http://127.0.0.1");
    }

    #[test]
    fn default_ports_are_dropped_from_the_host() {
        let built = |uri: &str, host: &str, scheme: Scheme| {
            let mut req = Request::get(uri).header("host", host).body(()).unwrap();
            let mut info = ConnectionInfo::loopback();
            info.scheme = scheme;
            req.extensions_mut().insert(info);
            construct_url(&req, true, false)
        };
        assert_eq!(built("/", "spam:80", Scheme::HTTP), "http://spam/");
        assert_eq!(built("/", "spam:443", Scheme::HTTPS), "https://spam/");
        assert_eq!(built("/", "spam:443", Scheme::HTTP), "http://spam:443/");
        assert_eq!(built("/", "[::1]:80", Scheme::HTTP), "http://[::1]/");
        assert_eq!(built("/", "spam:", Scheme::HTTP), "http://spam/");
    }

    #[test]
    fn an_absolute_target_wins_over_host() {
        let req = Request::get("http://target.example/a")
            .header("host", "other.example")
            .body(())
            .unwrap();
        assert_eq!(construct_url(&req, true, false), "http://target.example/a");
    }

    #[test]
    fn encoded_and_empty_path_info() {
        let mut req = Request::get("/caf%C3%A9")
            .header("host", "h")
            .body(())
            .unwrap();
        shift_path_info(&mut req);
        assert_eq!(application_url(&req), "http://h/caf%C3%A9");
        assert_eq!(construct_url(&req, true, true), "http://h/caf%C3%A9");
    }
}
