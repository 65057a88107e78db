//! `use = "proxy"`, from towerkit-proxy.

use super::*;

/// `use = "proxy"`: `upstream` (`http://` or `https://host:port/base/`),
/// `preserve_host`, `rewrite_location`, `connect_timeout`, `timeout`,
/// `idle_timeout`, `ca` (a PEM file), `insecure_skip_verify`, `h2c`,
/// `pool_max_idle`, `pool_idle_timeout`, `max_connections`.
pub(super) fn proxy(section: &mut Section<'_, '_>) -> Result<BoxApp, ConfigError> {
    let upstream: String = section.require("upstream")?;
    let connect_timeout = section
        .get::<HumanDuration>("connect_timeout")?
        .map_or(towerkit_proxy::DEFAULT_CONNECT_TIMEOUT, |d| d.0);
    let timeout = section
        .get::<HumanDuration>("timeout")?
        .map_or(towerkit_proxy::DEFAULT_TIMEOUT, |d| d.0);
    let mut proxy = Proxy::with_timeouts(&upstream, connect_timeout, timeout)
        .map_err(|err| section.error("upstream", err.to_string()))?;
    if let Some(preserve) = section.get::<bool>("preserve_host")? {
        proxy = proxy.preserve_host(preserve);
    }
    if let Some(rewrite) = section.get::<bool>("rewrite_location")? {
        proxy = proxy.rewrite_location(rewrite);
    }
    if let Some(idle) = section.get::<HumanDuration>("idle_timeout")? {
        proxy = proxy.idle_timeout(idle.0);
    }
    if let Some(ca) = section.path("ca")? {
        proxy = proxy
            .ca_file(ca)
            .map_err(|err| section.error("ca", err.to_string()))?;
    }
    if let Some(skip) = section.get::<bool>("insecure_skip_verify")? {
        proxy = proxy.insecure_skip_verify(skip);
    }
    if let Some(h2c) = section.get::<bool>("h2c")? {
        proxy = proxy.h2c(h2c);
    }
    if let Some(n) = section.get::<usize>("pool_max_idle")? {
        proxy = proxy.pool_max_idle(n);
    }
    if let Some(idle) = section.get::<HumanDuration>("pool_idle_timeout")? {
        proxy = proxy.pool_idle_timeout(idle.0);
    }
    if let Some(n) = section.get::<usize>("max_connections")? {
        if n == 0 {
            return Err(section.error("max_connections", "must be at least 1"));
        }
        proxy = proxy.max_connections(n);
    }
    Ok(boxed_app(proxy))
}
