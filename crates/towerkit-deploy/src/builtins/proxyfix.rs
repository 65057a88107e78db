//! `use = "proxy-fix"`, from towerkit-proxyfix.

use super::*;

/// `use = "proxy-fix"`: `x_for`, `x_proto`, `x_host`, `x_port`, `x_prefix`
/// (trusted hops), `forwarded` (RFC 7239), `trusted` (CIDR list), `strip`.
pub(super) fn proxy_fix(section: &mut Section<'_, '_>) -> Result<Filter, ConfigError> {
    let mut layer = ProxyFixLayer::new();
    type Setter = fn(ProxyFixLayer, usize) -> ProxyFixLayer;
    let hops: [(&str, Setter); 5] = [
        ("x_for", ProxyFixLayer::x_for),
        ("x_proto", ProxyFixLayer::x_proto),
        ("x_host", ProxyFixLayer::x_host),
        ("x_port", ProxyFixLayer::x_port),
        ("x_prefix", ProxyFixLayer::x_prefix),
    ];
    for (key, set) in hops {
        if let Some(count) = section.get::<usize>(key)? {
            layer = set(layer, count);
        }
    }
    if let Some(forwarded) = section.get::<bool>("forwarded")? {
        layer = layer.forwarded(forwarded);
    }
    if let Some(trusted) = section.get::<OneOrMany>("trusted")? {
        let networks = trusted
            .into_vec()
            .into_iter()
            .map(|text| {
                let parsed = text
                    .parse::<IpNet>()
                    .or_else(|_| text.parse::<std::net::IpAddr>().map(IpNet::from));
                parsed.map_err(|_| {
                    section.error(
                        "trusted",
                        format!("`{text}` is not an address or CIDR network (e.g. 10.0.0.0/8)"),
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        layer = layer.trusted(networks);
    }
    if let Some(strip) = section.get::<bool>("strip")? {
        layer = layer.strip(strip);
    }
    Ok(Filter::layer(layer))
}
