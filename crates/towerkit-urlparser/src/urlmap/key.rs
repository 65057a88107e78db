//! Mount keys: `/path`, `host/path`, `host:port/path`.

use std::fmt;

use percent_encoding::percent_decode_str;

/// Where an app is mounted: an optional host and the path segments.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MountKey {
    pub(crate) host: Option<HostPattern>,
    /// The decoded segments of the mount path.
    pub(crate) segments: Vec<String>,
}

/// A host a mount is limited to, with an optional port.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct HostPattern {
    pub(crate) name: String,
    pub(crate) port: Option<u16>,
}

/// Why a mount key was refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InvalidMount {
    key: String,
    reason: &'static str,
}

impl fmt::Display for InvalidMount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid mount {:?}: {}", self.key, self.reason)
    }
}

impl std::error::Error for InvalidMount {}

impl InvalidMount {
    pub(crate) fn because(key: &str, reason: &'static str) -> Self {
        InvalidMount {
            key: key.to_owned(),
            reason,
        }
    }
}

impl MountKey {
    /// Parses `"/path"`, `"example.com/path"`, `"example.com:8080/path"` (an
    /// `http://` or `https://` in front is allowed and ignored). Runs of `/`
    /// collapse and a trailing `/` is dropped: `"//a/"` is `"/a"`.
    pub(crate) fn parse(key: &str) -> Result<MountKey, InvalidMount> {
        let invalid = |reason| InvalidMount::because(key, reason);
        let rest = key
            .strip_prefix("http://")
            .or_else(|| key.strip_prefix("https://"))
            .unwrap_or(key);
        let (host, path) = if rest.starts_with('/') || rest.is_empty() {
            (None, rest)
        } else {
            let (host, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
            (
                Some(parse_host(host).ok_or_else(|| invalid("the host is not valid"))?),
                path,
            )
        };
        if rest.is_empty() {
            return Err(invalid("a mount path starts with '/'"));
        }
        let mut segments = Vec::new();
        for raw in path.split('/').filter(|s| !s.is_empty()) {
            let segment = percent_decode_str(raw)
                .decode_utf8()
                .map_err(|_| invalid("a segment is not UTF-8 once decoded"))?;
            if segment == "." || segment == ".." {
                return Err(invalid("'.' and '..' cannot be mounted"));
            }
            if segment.contains('/') {
                return Err(invalid("a segment cannot contain an encoded '/'"));
            }
            segments.push(segment.into_owned());
        }
        Ok(MountKey { host, segments })
    }
}

/// Parses `name` or `name:port` (`[v6]:port` too), lower-casing the name.
pub(crate) fn parse_host(host: &str) -> Option<HostPattern> {
    if !towerkit_core::url::is_valid_host(host) {
        return None;
    }
    let (name, port) = match host.rfind(':') {
        Some(i) if !host[i..].contains(']') => (&host[..i], Some(host[i + 1..].parse().ok()?)),
        _ => (host, None),
    };
    if name.is_empty() {
        return None;
    }
    Some(HostPattern {
        name: name.to_ascii_lowercase(),
        port,
    })
}

impl fmt::Display for MountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(host) = &self.host {
            f.write_str(&host.name)?;
            if let Some(port) = host.port {
                write!(f, ":{port}")?;
            }
        }
        if self.segments.is_empty() {
            return f.write_str("/");
        }
        for segment in &self.segments {
            write!(f, "/{segment}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shown(key: &str) -> String {
        MountKey::parse(key).unwrap().to_string()
    }

    #[test]
    fn normalises_slashes() {
        assert_eq!(shown("/"), "/");
        assert_eq!(shown("//"), "/");
        assert_eq!(shown("/a/"), "/a");
        assert_eq!(shown("//a//b/"), "/a/b");
        assert_eq!(shown("/caf%C3%A9"), "/café");
    }

    #[test]
    fn hosts_and_ports() {
        assert_eq!(shown("Example.COM/x"), "example.com/x");
        assert_eq!(shown("example.com:8080/x"), "example.com:8080/x");
        assert_eq!(shown("http://example.com"), "example.com/");
        assert_eq!(shown("[::1]:81/"), "[::1]:81/");
    }

    #[test]
    fn refusals() {
        assert!(MountKey::parse("").is_err());
        assert!(MountKey::parse("/a/../b").is_err());
        assert!(MountKey::parse("/a/%2e%2e").is_err());
        assert!(MountKey::parse("/a%2Fb").is_err());
        assert!(MountKey::parse("bad host/x").is_err());
        assert!(MountKey::parse("host:notaport/x").is_err());
    }
}
