//! Hop-by-hop fields: those that concern one connection only (RFC 9110
//! §7.6.1), which a proxy does not pass on. They are a fixed list, and the
//! fields a message's `Connection` names.
//!
//! The client's are left out as the upstream request's head is written
//! (its header map is only read); the upstream's are removed from the
//! response's map.

use http::header::{
    GetAll, HeaderName, HeaderValue, CONNECTION, PROXY_AUTHENTICATE, PROXY_AUTHORIZATION, TE,
    TRANSFER_ENCODING, UPGRADE,
};
use http::HeaderMap;
use towerkit_core::header::lists_token;

/// The fields that are hop-by-hop whatever `Connection` says (RFC 9110
/// §7.6.1), and the proxy credentials that are for this proxy, not the
/// upstream, nor the client. `Trailer` is not among them: it says which
/// trailer fields follow, and they are relayed. Names are compared as
/// `HeaderName`s: a standard name is a number, and the others are told
/// from it without reading their text.
const ALWAYS: [HeaderName; 8] = [
    CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    TE,
    TRANSFER_ENCODING,
    UPGRADE,
    PROXY_AUTHORIZATION,
    PROXY_AUTHENTICATE,
];

/// The hop-by-hop fields of one message.
pub(crate) struct HopByHop<'a> {
    /// The message's `Connection` values, if it has any: they name further
    /// fields.
    connection: Option<GetAll<'a, HeaderValue>>,
}

impl<'a> HopByHop<'a> {
    /// Those of a message whose `Connection` values are `connection`.
    pub(crate) fn new(connection: Option<GetAll<'a, HeaderValue>>) -> Self {
        HopByHop { connection }
    }

    /// Those of the message with `headers`.
    pub(crate) fn of(headers: &'a HeaderMap) -> Self {
        // Without a `Connection`, the values are none: nothing more is named.
        HopByHop::new(Some(headers.get_all(CONNECTION)))
    }

    /// Whether `name` is one of them.
    pub(crate) fn contains(&self, name: &HeaderName) -> bool {
        ALWAYS.contains(name)
            || self
                .connection
                .as_ref()
                .is_some_and(|connection| lists_token(connection, name.as_str()))
    }
}

/// Removes the hop-by-hop fields from `headers`.
///
/// One pass over the names looks for the fixed list. Most messages have
/// none of it, and then nothing more is done: a message with a `Connection`
/// has one.
pub(crate) fn strip(headers: &mut HeaderMap) {
    if !headers.keys().any(|name| ALWAYS.contains(name)) {
        return;
    }
    let hop_by_hop = HopByHop::of(headers);
    let found: Vec<HeaderName> = headers
        .keys()
        .filter(|name| hop_by_hop.contains(name))
        .cloned()
        .collect();
    for name in found {
        headers.remove(name);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message() -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(CONNECTION, HeaderValue::from_static("keep-alive, X-Secret"));
        headers.append(CONNECTION, HeaderValue::from_static("x-other"));
        headers.insert("x-secret", HeaderValue::from_static("1"));
        headers.insert("x-other", HeaderValue::from_static("1"));
        headers.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        headers.insert("te", HeaderValue::from_static("trailers"));
        headers.insert("x-kept", HeaderValue::from_static("1"));
        headers
    }

    #[test]
    fn the_fixed_list_and_what_connection_names() {
        let headers = message();
        let hop_by_hop = HopByHop::of(&headers);
        for name in ["connection", "keep-alive", "te", "x-secret", "x-other"] {
            assert!(
                hop_by_hop.contains(&HeaderName::from_static(name)),
                "{name}"
            );
        }
        assert!(!hop_by_hop.contains(&HeaderName::from_static("x-kept")));
        // Without a `Connection`, only the fixed list.
        let none = HopByHop::new(None);
        assert!(none.contains(&HeaderName::from_static("upgrade")));
        assert!(!none.contains(&HeaderName::from_static("x-secret")));
    }

    #[test]
    fn stripped_from_a_map() {
        let mut headers = message();
        strip(&mut headers);
        assert_eq!(headers.len(), 1);
        assert!(headers.contains_key("x-kept"));

        // A field named in no `Connection` stays when the fixed list is absent.
        let mut headers = HeaderMap::new();
        headers.insert("x-secret", HeaderValue::from_static("1"));
        strip(&mut headers);
        assert_eq!(headers.len(), 1);
    }
}
