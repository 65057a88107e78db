//! The `[server]` section.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;
use towerkit_accesslog::LogWriter;
use towerkit_server::{Limits, TlsConfig, DEFAULT_SHUTDOWN_GRACE};

use crate::document::Document;
use crate::error::ConfigError;
use crate::options::Options;
use crate::units::{ByteSize, HumanDuration};

/// Where the address is when `[server] listen` is not given.
pub const DEFAULT_LISTEN: SocketAddr = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 8080);

/// What `[server]` says.
///
/// ```toml
/// [server]
/// listen = ["127.0.0.1:8080"]          # one address or a list
/// tls = { cert = "cert.pem", key = "key.pem" }   # then `listen` speaks TLS…
/// # tls = { cert = "…", key = "…", listen = "0.0.0.0:443" }  # …or only these do
/// serve = "main"
/// shutdown_grace = "30s"
/// drain_delay = "5s"                    # health says "draining" this long first
/// reuse_port = true                     # SO_REUSEPORT: a new process can bind too
/// header_timeout = "10s"
/// keep_alive_timeout = "60s"
/// max_header_size = "64KiB"
/// max_request_body = "16MiB"
/// max_connections = 10000
/// max_concurrent_streams = 200
/// body_timeout = "20s"                  # then the body must keep up…
/// body_min_rate = "500B"                # …this many bytes a second (408)
/// send_timeout = "60s"                  # a client that stops reading is dropped
/// access_log = "access.log"             # or "-" for stderr
/// ```
#[derive(Clone, Debug)]
pub struct ServerOptions {
    /// `listen`: one address or a list (default `127.0.0.1:8080`).
    pub listen: Vec<SocketAddr>,
    /// `tls`: the certificate and key, and which addresses speak TLS.
    pub tls: Option<ServerTls>,
    /// `serve`: the pipeline, composite or app to serve (default `main`).
    pub serve: String,
    /// `shutdown_grace`: how long in-flight requests get on shutdown.
    pub shutdown_grace: Duration,
    /// `drain_delay`: how long the server goes on serving after a shutdown
    /// signal, its health checks answering "draining", before it stops
    /// accepting (default 0).
    pub drain_delay: Duration,
    /// `reuse_port`: bind with `SO_REUSEPORT` (default false).
    pub reuse_port: bool,
    /// `header_timeout`, `keep_alive_timeout`, `max_header_size`,
    /// `max_request_body`, `max_connections`, `max_concurrent_streams`,
    /// `body_timeout`, `body_min_rate`, `send_timeout`.
    pub limits: Limits,
    /// `access_log`: a path, or `-` for stderr. The served stack is wrapped
    /// in an access log when it is given.
    pub access_log: Option<LogWriter>,
    /// `[metrics] listen`: where Prometheus metrics are served (at
    /// `/metrics`), on a listener of their own; none when the section is
    /// absent.
    ///
    /// ```toml
    /// [metrics]
    /// listen = "127.0.0.1:9100"
    /// ```
    pub metrics: Option<SocketAddr>,
}

/// `[server] tls`.
#[derive(Clone, Debug)]
pub struct ServerTls {
    /// The certificate and key, read.
    pub config: TlsConfig,
    /// `tls.listen`: the addresses that speak TLS; when absent, all of
    /// `listen` does.
    pub listen: Option<Vec<SocketAddr>>,
    /// The files, as resolved.
    pub cert: PathBuf,
    /// The key file, as resolved.
    pub key: PathBuf,
}

impl ServerOptions {
    /// The TLS settings for the listeners that take `listen`'s place (the
    /// sockets handed down by socket activation): `[server] tls` when it
    /// names no addresses of its own.
    pub fn listen_tls(&self) -> Option<TlsConfig> {
        match &self.tls {
            Some(ServerTls {
                config,
                listen: None,
                ..
            }) => Some(config.clone()),
            _ => None,
        }
    }

    /// Every listener: its address, and its TLS settings if it speaks TLS.
    /// `plain` replaces `listen` when not empty (`serve --listen`).
    pub fn listeners(&self, plain: &[SocketAddr]) -> Vec<(SocketAddr, Option<TlsConfig>)> {
        let listen = if plain.is_empty() {
            &self.listen[..]
        } else {
            plain
        };
        match &self.tls {
            None => listen.iter().map(|addr| (*addr, None)).collect(),
            Some(ServerTls {
                config,
                listen: None,
                ..
            }) => listen
                .iter()
                .map(|addr| (*addr, Some(config.clone())))
                .collect(),
            Some(ServerTls {
                config,
                listen: Some(tls_listen),
                ..
            }) => listen
                .iter()
                .map(|addr| (*addr, None))
                .chain(tls_listen.iter().map(|addr| (*addr, Some(config.clone()))))
                .collect(),
        }
    }
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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TlsTable {
    cert: String,
    key: String,
    listen: Option<OneOrMany>,
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

fn addresses(
    section: &Options<'_>,
    key: &str,
    listen: OneOrMany,
) -> Result<Vec<SocketAddr>, ConfigError> {
    let texts = listen.into_vec();
    if texts.is_empty() {
        return Err(section.error(key, "give at least one address"));
    }
    texts
        .iter()
        .map(|text| {
            parse_listen(text).ok_or_else(|| {
                section.error(
                    key,
                    format!("`{text}` is not an address to listen on (expected IP:PORT, e.g. 127.0.0.1:8080 or [::1]:8080)"),
                )
            })
        })
        .collect()
}

impl ServerOptions {
    /// Reads `[server]`; also returns where `serve` was given, for errors
    /// about the name it refers to.
    pub(crate) fn parse(
        doc: &Document<'_>,
    ) -> Result<(ServerOptions, Option<ConfigError>), ConfigError> {
        let mut options = ServerOptions {
            listen: vec![DEFAULT_LISTEN],
            tls: None,
            serve: "main".to_owned(),
            shutdown_grace: DEFAULT_SHUTDOWN_GRACE,
            drain_delay: Duration::ZERO,
            reuse_port: false,
            limits: Limits::default(),
            access_log: None,
            metrics: None,
        };
        if let Some((table, header)) = &doc.metrics {
            let mut section = Options::new(doc, "metrics".to_owned(), table, header.clone());
            let listen: String = section.require("listen")?;
            let addr = parse_listen(&listen).ok_or_else(|| {
                section.error(
                    "listen",
                    format!("`{listen}` is not an address to listen on (expected IP:PORT, e.g. 127.0.0.1:9100)"),
                )
            })?;
            section.finish("[metrics]")?;
            options.metrics = Some(addr);
        }
        let Some((table, header)) = &doc.server else {
            return Ok((options, None));
        };
        let mut section = Options::new(doc, "server".to_owned(), table, header.clone());
        if let Some(listen) = section.get::<OneOrMany>("listen")? {
            options.listen = addresses(&section, "listen", listen)?;
        }
        if let Some(tls) = section.get::<TlsTable>("tls")? {
            let cert = doc.resolve(&tls.cert);
            let key = doc.resolve(&tls.key);
            let config = TlsConfig::from_pem_files(&cert, &key)
                .map_err(|err| section.error("tls", err.to_string()))?;
            let listen = match tls.listen {
                Some(listen) => Some(addresses(&section, "tls", listen)?),
                None => None,
            };
            options.tls = Some(ServerTls {
                config,
                listen,
                cert,
                key,
            });
        }
        if let Some(serve) = section.get::<String>("serve")? {
            options.serve = serve;
        }
        if let Some(grace) = section.get::<HumanDuration>("shutdown_grace")? {
            options.shutdown_grace = grace.0;
        }
        if let Some(delay) = section.get::<HumanDuration>("drain_delay")? {
            options.drain_delay = delay.0;
        }
        if let Some(reuse) = section.get::<bool>("reuse_port")? {
            options.reuse_port = reuse;
        }
        let limits = &mut options.limits;
        if let Some(timeout) = section.get::<HumanDuration>("header_timeout")? {
            if timeout.0.is_zero() {
                return Err(section.error("header_timeout", "must be more than 0"));
            }
            limits.header_timeout = timeout.0;
        }
        if let Some(timeout) = section.get::<HumanDuration>("keep_alive_timeout")? {
            if timeout.0.is_zero() {
                return Err(section.error("keep_alive_timeout", "must be more than 0"));
            }
            limits.keep_alive_timeout = timeout.0;
        }
        if let Some(size) = section.get::<ByteSize>("max_header_size")? {
            if size.0 < 1024 {
                return Err(section.error("max_header_size", "must be at least 1KiB"));
            }
            limits.max_header_size = usize::try_from(size.0).unwrap_or(usize::MAX);
        }
        if let Some(size) = section.get::<ByteSize>("max_request_body")? {
            limits.max_request_body = Some(size.0);
        }
        if let Some(count) = section.get::<usize>("max_connections")? {
            if count == 0 {
                return Err(section.error("max_connections", "must be at least 1"));
            }
            limits.max_connections = count;
        }
        if let Some(count) = section.get::<u32>("max_concurrent_streams")? {
            if count == 0 {
                return Err(section.error("max_concurrent_streams", "must be at least 1"));
            }
            limits.max_concurrent_streams = count;
        }
        if let Some(timeout) = section.get::<HumanDuration>("body_timeout")? {
            if timeout.0.is_zero() {
                return Err(section.error("body_timeout", "must be more than 0"));
            }
            limits.body_timeout = timeout.0;
        }
        if let Some(rate) = section.get::<ByteSize>("body_min_rate")? {
            limits.body_min_rate = rate.0;
        }
        if let Some(timeout) = section.get::<HumanDuration>("send_timeout")? {
            if timeout.0.is_zero() {
                return Err(section.error("send_timeout", "must be more than 0"));
            }
            limits.send_timeout = timeout.0;
        }
        if let Some(log) = section.get::<String>("access_log")? {
            let writer = if log == "-" {
                LogWriter::stderr()
            } else {
                LogWriter::file(doc.resolve_unwatched(&log))
                    .map_err(|err| section.error("access_log", format!("cannot open: {err}")))?
            };
            options.access_log = Some(writer);
        }
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
