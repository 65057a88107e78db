//! What the proxy reads of the client's request headers, found in one pass
//! over them.
//!
//! Looking each up by name hashes the name and probes the map: five such
//! lookups on every request cost more than walking the few fields a request
//! has once.

use std::borrow::Cow;

use http::header::{HeaderName, HeaderValue, ACCEPT, CONNECTION, HOST, UPGRADE};
use http::HeaderMap;
use towerkit_core::header::lists_token;
use towerkit_core::url::is_valid_host;

use crate::hop_by_hop::HopByHop;

/// The client's `X-Forwarded-For`, which the proxy appends to.
pub(crate) const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// The fields of a client's request the proxy acts on.
pub(crate) struct ClientHeaders<'a> {
    headers: &'a HeaderMap,
    /// The first `Host`, if it is a valid one (as
    /// [`towerkit_core::url::host`] takes it).
    pub(crate) host: Option<&'a str>,
    /// The first `Accept`: how an error page is written.
    pub(crate) accept: Option<&'a HeaderValue>,
    /// The protocol the request asks to switch to: its `Upgrade`, if its
    /// `Connection` names `upgrade`.
    pub(crate) upgrade: Option<&'a HeaderValue>,
    /// The fields that stay behind.
    pub(crate) hop_by_hop: HopByHop<'a>,
    /// The first `X-Forwarded-For`, and whether more follow it.
    forwarded_for: Option<&'a HeaderValue>,
    more_forwarded_for: bool,
}

impl<'a> ClientHeaders<'a> {
    /// Reads `headers`.
    pub(crate) fn scan(headers: &'a HeaderMap) -> Self {
        let mut host = None;
        let mut seen_host = false;
        let mut accept = None;
        let mut upgrade = None;
        let mut connection = false;
        let mut forwarded_for = None;
        let mut more_forwarded_for = false;
        // A map yields all the values of a name one after the other.
        for (name, value) in headers {
            if name == HOST {
                if !seen_host {
                    seen_host = true;
                    host = value.to_str().ok().filter(|host| is_valid_host(host));
                }
            } else if name == ACCEPT {
                accept = accept.or(Some(value));
            } else if name == CONNECTION {
                connection = true;
            } else if name == UPGRADE {
                upgrade = upgrade.or(Some(value));
            } else if name == X_FORWARDED_FOR {
                more_forwarded_for = forwarded_for.is_some();
                forwarded_for = forwarded_for.or(Some(value));
            }
        }
        let connection = connection.then(|| headers.get_all(CONNECTION));
        let upgrade = upgrade.filter(|_| {
            connection
                .as_ref()
                .is_some_and(|connection| lists_token(connection, "upgrade"))
        });
        ClientHeaders {
            headers,
            host,
            accept,
            upgrade,
            hop_by_hop: HopByHop::new(connection),
            forwarded_for,
            more_forwarded_for,
        }
    }

    /// The `X-Forwarded-For` to send: the client's, all its lines joined,
    /// then `remote`, the address the request came from.
    pub(crate) fn forwarded_for<'r>(&self, remote: &'r [u8]) -> Cow<'r, [u8]> {
        let Some(first) = self.forwarded_for else {
            return Cow::Borrowed(remote);
        };
        if !self.more_forwarded_for {
            return Cow::Owned([first.as_bytes(), b", ", remote].concat());
        }
        let mut joined = Vec::new();
        for value in self.headers.get_all(X_FORWARDED_FOR) {
            joined.extend_from_slice(value.as_bytes());
            joined.extend_from_slice(b", ");
        }
        joined.extend_from_slice(remote);
        Cow::Owned(joined)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(fields: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for (name, value) in fields {
            headers.append(*name, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn the_first_host_if_it_is_valid() {
        let map = headers(&[("host", "a.example:8080"), ("host", "b.example")]);
        assert_eq!(ClientHeaders::scan(&map).host, Some("a.example:8080"));
        let map = headers(&[("host", "bad/host"), ("host", "b.example")]);
        assert_eq!(ClientHeaders::scan(&map).host, None);
        assert_eq!(ClientHeaders::scan(&HeaderMap::new()).host, None);
    }

    #[test]
    fn an_upgrade_only_when_connection_names_it() {
        let map = headers(&[("connection", "Upgrade"), ("upgrade", "websocket")]);
        let scanned = ClientHeaders::scan(&map);
        assert_eq!(
            scanned.upgrade.map(HeaderValue::as_bytes),
            Some(&b"websocket"[..])
        );
        assert!(scanned.hop_by_hop.contains(&UPGRADE));
        let map = headers(&[("upgrade", "websocket")]);
        assert_eq!(ClientHeaders::scan(&map).upgrade, None);
        let map = headers(&[("connection", "keep-alive"), ("upgrade", "websocket")]);
        assert_eq!(ClientHeaders::scan(&map).upgrade, None);
    }

    #[test]
    fn forwarded_for_appended_to_every_line() {
        let remote = b"127.0.0.1";
        let none = HeaderMap::new();
        assert_eq!(&*ClientHeaders::scan(&none).forwarded_for(remote), remote);
        let one = headers(&[("x-forwarded-for", "203.0.113.9")]);
        assert_eq!(
            &*ClientHeaders::scan(&one).forwarded_for(remote),
            b"203.0.113.9, 127.0.0.1"
        );
        let two = headers(&[
            ("x-forwarded-for", "203.0.113.9, 10.0.0.1"),
            ("accept", "text/html"),
            ("x-forwarded-for", "10.0.0.2"),
        ]);
        let scanned = ClientHeaders::scan(&two);
        assert_eq!(
            &*scanned.forwarded_for(remote),
            b"203.0.113.9, 10.0.0.1, 10.0.0.2, 127.0.0.1"
        );
        assert_eq!(
            scanned.accept.map(HeaderValue::as_bytes),
            Some(&b"text/html"[..])
        );
    }
}
