//! [`Rule`]: one URL pattern, its endpoint, and how it is matched.

use http::Method;

use crate::error::MapError;

/// One rule of a [`Map`](crate::Map): a path pattern with placeholders,
/// the endpoint it names, and how it is matched.
///
/// ```
/// use http::Method;
/// use towerkit_routing::Rule;
///
/// let rule = Rule::new("/devices/<int:id>")
///     .endpoint("device")
///     .methods([Method::GET, Method::PUT]);
/// let same = Rule::spec("GET,PUT /devices/<int:id>").unwrap().endpoint("device");
/// assert_eq!(rule.to_string(), same.to_string());
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[must_use]
pub struct Rule {
    pub(crate) path: String,
    pub(crate) endpoint: Option<String>,
    pub(crate) methods: Option<Vec<Method>>,
    pub(crate) strict_slashes: Option<bool>,
    pub(crate) merge_slashes: Option<bool>,
    pub(crate) redirect_to: Option<String>,
    pub(crate) alias: bool,
    pub(crate) subdomain: Option<String>,
    pub(crate) host: Option<String>,
}

impl Rule {
    /// A rule for `path` (`/devices/<int:id>`), answering every method
    /// until [`methods`](Rule::methods) says otherwise.
    pub fn new(path: impl Into<String>) -> Rule {
        Rule {
            path: path.into(),
            endpoint: None,
            methods: None,
            strict_slashes: None,
            merge_slashes: None,
            redirect_to: None,
            alias: false,
            subdomain: None,
            host: None,
        }
    }

    /// A rule from its short spelling, the one stack files use: methods
    /// (comma-separated, optional), then the path; with a host before the
    /// path for a map that matches hosts: `GET,POST /devices`,
    /// `/about`, `GET <user>.example.com/`.
    pub fn spec(spec: &str) -> Result<Rule, MapError> {
        let spec = spec.trim();
        let (methods, target) = match spec.split_once(char::is_whitespace) {
            Some((first, rest)) if !first.starts_with('/') && !first.contains('<') => {
                (Some(first), rest.trim())
            }
            _ => (None, spec),
        };
        let (host, path) = match target.find('/') {
            Some(0) => (None, target),
            Some(i) => (Some(&target[..i]), &target[i..]),
            None => return Err(MapError::rule(spec, "no path (a path starts with `/`)")),
        };
        let mut rule = Rule::new(path);
        if let Some(host) = host {
            rule = rule.host(host);
        }
        if let Some(methods) = methods {
            let methods = methods
                .split(',')
                .map(|m| parse_method(m.trim()).map_err(|why| MapError::rule(spec, why)))
                .collect::<Result<Vec<_>, _>>()?;
            rule = rule.methods(methods);
        }
        Ok(rule)
    }

    /// The endpoint the rule names: what a [`Router`](crate::Router)
    /// dispatches to, and what [`url_for`](crate::url_for) builds from.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Rule {
        self.endpoint = Some(endpoint.into());
        self
    }

    /// The methods the rule answers (a rule for `GET` answers `HEAD` too).
    pub fn methods(mut self, methods: impl IntoIterator<Item = Method>) -> Rule {
        self.methods = Some(methods.into_iter().collect());
        self
    }

    /// Whether a rule ending in `/` redirects the path without it (308),
    /// and a rule without refuses a path with it (the map's setting, true
    /// by default). Off, both match.
    pub fn strict_slashes(mut self, strict: bool) -> Rule {
        self.strict_slashes = Some(strict);
        self
    }

    /// Whether a request spelled with empty segments (`/a//b`) is
    /// redirected (308) to the path with them merged (the map's setting,
    /// true by default). Off, it is answered as the merged path.
    pub fn merge_slashes(mut self, merge: bool) -> Rule {
        self.merge_slashes = Some(merge);
        self
    }

    /// Makes the rule a redirect (308): to `target`, a path below the
    /// map's mount (`/devices/<id>`, placeholders filled from the match)
    /// or an absolute URL.
    pub fn redirect_to(mut self, target: impl Into<String>) -> Rule {
        self.redirect_to = Some(target.into());
        self
    }

    /// Makes the rule an alias: a match redirects (308) to the URL the
    /// endpoint's other rule builds from the same values.
    pub fn alias(mut self, alias: bool) -> Rule {
        self.alias = alias;
        self
    }

    /// The subdomain the rule matches in (a pattern: `<user>`), below the
    /// map's [`server_name`](crate::MapBuilder::server_name).
    pub fn subdomain(mut self, subdomain: impl Into<String>) -> Rule {
        self.subdomain = Some(subdomain.into());
        self
    }

    /// The host the rule matches (a pattern: `<user>.example.com`), in a
    /// map with [`host_matching`](crate::MapBuilder::host_matching).
    pub fn host(mut self, host: impl Into<String>) -> Rule {
        self.host = Some(host.into());
        self
    }
}

impl Rule {
    /// Whether the rule is a redirect ([`redirect_to`](Rule::redirect_to)),
    /// which answers by itself rather than dispatching to its endpoint.
    pub fn is_redirect(&self) -> bool {
        self.redirect_to.is_some()
    }
}

/// `GET,PUT host/path -> endpoint`, the way the rule table shows it.
impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(methods) = &self.methods {
            let names: Vec<&str> = methods.iter().map(Method::as_str).collect();
            write!(f, "{} ", names.join(","))?;
        }
        if let Some(sub) = &self.subdomain {
            write!(f, "[{sub}] ")?;
        }
        if let Some(host) = &self.host {
            f.write_str(host)?;
        }
        f.write_str(&self.path)?;
        if let Some(endpoint) = &self.endpoint {
            write!(f, " -> {endpoint}")?;
        }
        if let Some(target) = &self.redirect_to {
            write!(f, " => {target}")?;
        }
        if self.alias {
            f.write_str(" (alias)")?;
        }
        Ok(())
    }
}

pub(crate) fn parse_method(text: &str) -> Result<Method, String> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_uppercase()) {
        return Err(format!(
            "`{text}` is not a method (upper-case letters, e.g. GET)"
        ));
    }
    Method::from_bytes(text.as_bytes()).map_err(|_| format!("`{text}` is not a method"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        let rule = Rule::spec("GET,POST /devices/<int:id>").unwrap();
        assert_eq!(rule.methods, Some(vec![Method::GET, Method::POST]));
        assert_eq!(rule.path, "/devices/<int:id>");
        let rule = Rule::spec("/about").unwrap();
        assert_eq!(rule.methods, None);
        let rule = Rule::spec("GET <user>.example.com/").unwrap();
        assert_eq!(rule.host.as_deref(), Some("<user>.example.com"));
        assert_eq!(rule.path, "/");
        assert!(Rule::spec("get /x").is_err());
        assert!(Rule::spec("GET").is_err());
        assert!(Rule::spec("GET, /x").is_err());
    }
}
