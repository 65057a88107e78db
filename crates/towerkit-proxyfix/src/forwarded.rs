//! The RFC 7239 `Forwarded` header.

use std::net::{IpAddr, SocketAddr};

/// One element of `Forwarded`: what one proxy saw.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Element {
    /// `for`: the client the proxy saw.
    pub for_node: Option<Node>,
    /// `by`: the proxy's own interface.
    pub by: Option<Node>,
    /// `proto`: the scheme the request came in with.
    pub proto: Option<String>,
    /// `host`: the `Host` the request came in with.
    pub host: Option<String>,
}

/// A node identifier (RFC 7239 §6).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Node {
    /// An IP address, with a port when given.
    Addr(IpAddr, Option<u16>),
    /// `unknown`.
    Unknown,
    /// An obfuscated identifier (`_hidden`), with its obfuscated port.
    Obfuscated(String),
}

impl Node {
    /// The socket address, when the node names one (port 0 when none).
    pub fn socket_addr(&self) -> Option<SocketAddr> {
        match self {
            Node::Addr(ip, port) => Some(SocketAddr::new(*ip, port.unwrap_or(0))),
            _ => None,
        }
    }
}

/// Parses the elements of one or more `Forwarded` header values (joined by
/// commas), in order. `None` when any element is malformed: a forwarding
/// header is applied whole or not at all.
pub fn parse(value: &str) -> Option<Vec<Element>> {
    let mut elements = Vec::new();
    for raw in split_outside_quotes(value, ',') {
        let raw = raw.trim();
        if raw.is_empty() {
            continue;
        }
        let mut element = Element::default();
        for pair in split_outside_quotes(raw, ';') {
            let pair = pair.trim();
            if pair.is_empty() {
                continue;
            }
            let (name, value) = pair.split_once('=')?;
            let value = unquote(value.trim())?;
            match name.trim().to_ascii_lowercase().as_str() {
                "for" => element.for_node = Some(parse_node(&value)?),
                "by" => element.by = Some(parse_node(&value)?),
                "proto" => {
                    let proto = value.to_ascii_lowercase();
                    if !is_scheme(&proto) {
                        return None;
                    }
                    element.proto = Some(proto);
                }
                "host" => {
                    if !towerkit_core::url::is_valid_host(&value) {
                        return None;
                    }
                    element.host = Some(value);
                }
                // Extensions are allowed and ignored.
                name if is_token(name) => {}
                _ => return None,
            }
        }
        elements.push(element);
    }
    Some(elements)
}

fn is_token(text: &str) -> bool {
    !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b))
}

fn is_scheme(text: &str) -> bool {
    let mut bytes = text.bytes();
    bytes.next().is_some_and(|b| b.is_ascii_alphabetic())
        && bytes.all(|b| b.is_ascii_alphanumeric() || b"+-.".contains(&b))
}

/// Splits on `separator` where it is not inside a quoted string.
fn split_outside_quotes(text: &str, separator: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut start = 0;
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
        } else if quoted && c == '\\' {
            escaped = true;
        } else if c == '"' {
            quoted = !quoted;
        } else if c == separator && !quoted {
            parts.push(&text[start..i]);
            start = i + c.len_utf8();
        }
    }
    parts.push(&text[start..]);
    parts
}

/// A token, or a quoted string with its escapes removed.
fn unquote(value: &str) -> Option<String> {
    let Some(inner) = value.strip_prefix('"') else {
        return is_token(value).then(|| value.to_owned());
    };
    let inner = inner.strip_suffix('"')?;
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next()?),
            '"' => return None,
            c => out.push(c),
        }
    }
    Some(out)
}

/// `192.0.2.43`, `192.0.2.43:47011`, `[2001:db8::1]`, `[2001:db8::1]:80`,
/// `unknown`, `_hidden`, `_hidden:_port`.
fn parse_node(text: &str) -> Option<Node> {
    if text.eq_ignore_ascii_case("unknown") {
        return Some(Node::Unknown);
    }
    if text.starts_with('_') {
        let valid = text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-:".contains(&b));
        return valid.then(|| Node::Obfuscated(text.to_owned()));
    }
    let (host, port) = split_port(text)?;
    let ip = match host.strip_prefix('[') {
        Some(v6) => IpAddr::V6(v6.strip_suffix(']')?.parse().ok()?),
        None => IpAddr::V4(host.parse().ok()?),
    };
    Some(Node::Addr(ip, port))
}

/// Splits `host[:port]` where an IPv6 host is bracketed; a port that is not
/// a number (an obfuscated one, `_p`) is dropped.
pub(crate) fn split_port(text: &str) -> Option<(&str, Option<u16>)> {
    if text.starts_with('[') {
        let end = text.find(']')?;
        let rest = &text[end + 1..];
        return match rest.strip_prefix(':') {
            Some(port) => Some((&text[..=end], Some(parse_port(port)?))),
            None if rest.is_empty() => Some((text, None)),
            None => None,
        };
    }
    match text.rsplit_once(':') {
        Some((_, _)) if text.matches(':').count() > 1 => Some((text, None)),
        Some((host, port)) => Some((host, Some(parse_port(port)?))),
        None => Some((text, None)),
    }
}

fn parse_port(text: &str) -> Option<u16> {
    (!text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit()))
        .then(|| text.parse().ok())
        .flatten()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_examples() {
        let e = parse("for=\"_gazonk\"").unwrap();
        assert_eq!(e[0].for_node, Some(Node::Obfuscated("_gazonk".into())));
        let e = parse("For=\"[2001:db8:cafe::17]:4711\"").unwrap();
        assert_eq!(
            e[0].for_node,
            Some(Node::Addr("2001:db8:cafe::17".parse().unwrap(), Some(4711)))
        );
        let e = parse("for=192.0.2.60;proto=http;by=203.0.113.43").unwrap();
        assert_eq!(
            e[0].for_node,
            Some(Node::Addr("192.0.2.60".parse().unwrap(), None))
        );
        assert_eq!(e[0].proto.as_deref(), Some("http"));
        assert_eq!(
            e[0].by,
            Some(Node::Addr("203.0.113.43".parse().unwrap(), None))
        );
        let e = parse("for=192.0.2.43, for=198.51.100.17").unwrap();
        assert_eq!(e.len(), 2);
        let e = parse("for=unknown;host=\"example.com:8443\"").unwrap();
        assert_eq!(e[0].for_node, Some(Node::Unknown));
        assert_eq!(e[0].host.as_deref(), Some("example.com:8443"));
        let e = parse("for=\"a,b\\\"c\";ext=1").map(|e| e.len());
        assert_eq!(
            e, None,
            "a quoted comma is not a separator, and the node is invalid"
        );
    }

    #[test]
    fn malformed_is_refused_whole() {
        for bad in [
            "for=",
            "for=999.1.1.1",
            "for=[::1",
            "for=\"[::1]:99999\"",
            "proto=ht tp",
            "proto=\"1http\"",
            "host=\"a/b\"",
            "for=1.2.3.4;=x",
            "for=\"unterminated",
            "noequals",
            "for=2001:db8::1",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
        assert_eq!(parse(""), Some(vec![]));
        assert_eq!(parse(" , "), Some(vec![]));
    }
}
