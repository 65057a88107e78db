//! The `[server]` section.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use serde::Deserialize;

use crate::document::Document;
use crate::error::ConfigError;
use crate::options::Options;
use crate::units::HumanDuration;

/// Where the address is when `[server] listen` is not given.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);

/// What `[server]` says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServerOptions {
    /// `listen`: one address or a list (default `127.0.0.1:8080`).
    pub listen: Vec<SocketAddr>,
    /// `serve`: the pipeline, composite or app to serve (default `main`).
    pub serve: String,
    /// `shutdown_grace`: how long in-flight requests get on shutdown.
    pub shutdown_grace: Option<Duration>,
}

/// One string or a list of strings.
#[derive(Deserialize)]
#[serde(untagged)]
pub(crate) enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

impl OneOrMany {
    pub(crate) fn into_vec(self) -> Vec<String> {
        match self {
            OneOrMany::One(one) => vec![one],
            OneOrMany::Many(many) => many,
        }
    }
}

/// Parses `IP:PORT`, `[v6]:PORT`, `localhost:PORT` or `*:PORT` (every IPv4
/// interface).
pub fn parse_listen(text: &str) -> Option<SocketAddr> {
    if let Ok(addr) = text.parse() {
        return Some(addr);
    }
    let (host, port) = text.rsplit_once(':')?;
    let port: u16 = port.parse().ok()?;
    let ip = match host {
        "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        "*" | "" => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

impl ServerOptions {
    /// Reads `[server]`; also returns where `serve` was given, for errors
    /// about the name it refers to.
    pub(crate) fn parse(
        doc: &Document<'_>,
    ) -> Result<(ServerOptions, Option<ConfigError>), ConfigError> {
        let mut options = ServerOptions {
            listen: vec![DEFAULT_LISTEN],
            serve: "main".to_owned(),
            shutdown_grace: None,
        };
        let Some((table, header)) = &doc.server else {
            return Ok((options, None));
        };
        let mut section = Options::new(doc, "server".to_owned(), table, header.clone());
        if let Some(listen) = section.get::<OneOrMany>("listen")? {
            let texts = listen.into_vec();
            if texts.is_empty() {
                return Err(section.error("listen", "give at least one address"));
            }
            options.listen = texts
                .iter()
                .map(|text| {
                    parse_listen(text).ok_or_else(|| {
                        section.error(
                            "listen",
                            format!("`{text}` is not an address to listen on (expected IP:PORT, e.g. 127.0.0.1:8080 or [::1]:8080)"),
                        )
                    })
                })
                .collect::<Result<_, _>>()?;
        }
        if let Some(serve) = section.get::<String>("serve")? {
            options.serve = serve;
        }
        options.shutdown_grace = section.get::<HumanDuration>("shutdown_grace")?.map(|d| d.0);
        section.finish("[server]")?;
        let reference = section.error("serve", "");
        Ok((options, Some(reference)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn listen_forms() {
        assert_eq!(
            parse_listen("127.0.0.1:80"),
            Some("127.0.0.1:80".parse().unwrap())
        );
        assert_eq!(parse_listen("[::1]:0"), Some("[::1]:0".parse().unwrap()));
        assert_eq!(
            parse_listen("localhost:9"),
            Some("127.0.0.1:9".parse().unwrap())
        );
        assert_eq!(
            parse_listen("*:8080"),
            Some("0.0.0.0:8080".parse().unwrap())
        );
        assert_eq!(parse_listen("example.com:80"), None);
        assert_eq!(parse_listen("127.0.0.1"), None);
    }
}
