//! Why a proxy cannot be built.

use std::fmt;

/// Why [`Proxy::new`](crate::Proxy::new) (or a TLS setting) refused its
/// input.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyError {
    /// The upstream is not an `http://` or `https://` URL with a host and no
    /// query.
    Upstream {
        /// The upstream as given.
        upstream: String,
        /// What is wrong with it.
        reason: UpstreamProblem,
    },
    /// An `https://` upstream's host is no name a certificate can bear.
    CertificateName(String),
    /// A `ca` file cannot be read as PEM certificates: the path and why.
    CaFile(String),
}

/// What is wrong with an upstream URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UpstreamProblem {
    /// It does not parse as a URL.
    NotAUrl,
    /// Its scheme is neither `http` nor `https`.
    Scheme,
    /// It names no host.
    NoHost,
    /// It has a query.
    Query,
    /// Its host cannot be sent as a `Host` header.
    Host,
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyError::Upstream { upstream, reason } => {
                let why = match reason {
                    UpstreamProblem::NotAUrl => " is not a URL",
                    UpstreamProblem::Scheme => ": only http:// and https:// upstreams are proxied",
                    UpstreamProblem::NoHost => " has no host",
                    UpstreamProblem::Query => ": the upstream cannot have a query",
                    UpstreamProblem::Host => ": the host is not a header value",
                };
                write!(f, "`{upstream}`{why}")
            }
            ProxyError::CertificateName(host) => {
                write!(f, "`{host}` is not a name a certificate can bear")
            }
            ProxyError::CaFile(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for ProxyError {}
