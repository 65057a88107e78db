//! TLS with rustls: certificates from PEM files, ALPN for HTTP/2, and
//! certificate rotation without a restart.

use std::io;
use std::path::Path;
use std::sync::Arc;

use arc_swap::ArcSwap;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

/// The TLS settings of one or more listeners: a certificate chain and its
/// key, offering HTTP/2 and HTTP/1.1 by ALPN (`h2` first).
///
/// A `TlsConfig` is a handle: clones share it, and
/// [`replace`](TlsConfig::replace) swaps the certificate for the connections
/// accepted from then on (the ones already open keep theirs).
///
/// ```no_run
/// use towerkit_server::TlsConfig;
///
/// # fn run() -> std::io::Result<()> {
/// let tls = TlsConfig::from_pem_files("cert.pem".as_ref(), "key.pem".as_ref())?;
/// // Later, once the files were renewed:
/// tls.replace(TlsConfig::from_pem_files("cert.pem".as_ref(), "key.pem".as_ref())?);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TlsConfig {
    current: Arc<ArcSwap<ServerConfig>>,
}

impl std::fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsConfig")
            .field("alpn", &self.current.load().alpn_protocols)
            .finish_non_exhaustive()
    }
}

impl TlsConfig {
    /// Reads a PEM certificate chain (leaf first) and a PEM private key
    /// (PKCS#8, PKCS#1 or SEC1). An error names the file and what is wrong
    /// with it.
    pub fn from_pem_files(cert: &Path, key: &Path) -> io::Result<TlsConfig> {
        let cert_pem = std::fs::read(cert).map_err(|err| named(cert, err))?;
        let key_pem = std::fs::read(key).map_err(|err| named(key, err))?;
        let chain = certificates(&cert_pem).map_err(|err| named(cert, err))?;
        let key_der = private_key(&key_pem).map_err(|err| named(key, err))?;
        Self::from_der(chain, key_der)
    }

    /// As [`from_pem_files`](TlsConfig::from_pem_files), from PEM text in
    /// memory.
    pub fn from_pem(cert_pem: &[u8], key_pem: &[u8]) -> io::Result<TlsConfig> {
        Self::from_der(certificates(cert_pem)?, private_key(key_pem)?)
    }

    fn from_der(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> io::Result<TlsConfig> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(invalid)?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|err| invalid(format!("the key does not fit the certificate: {err}")))?;
        config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self::from_server_config(Arc::new(config)))
    }

    /// Uses a rustls configuration made elsewhere (client certificates,
    /// several certificates by SNI…). Set its `alpn_protocols` to
    /// `h2`, `http/1.1` for HTTP/2 to be offered.
    pub fn from_server_config(config: Arc<ServerConfig>) -> TlsConfig {
        TlsConfig {
            current: Arc::new(ArcSwap::new(config)),
        }
    }

    /// Makes connections accepted from now on use `other`'s settings, for
    /// every listener sharing this handle.
    pub fn replace(&self, other: TlsConfig) {
        self.current.store(other.current.load_full());
    }

    pub(crate) fn acceptor(&self) -> tokio_rustls::TlsAcceptor {
        tokio_rustls::TlsAcceptor::from(self.current.load_full())
    }
}

fn certificates(pem: &[u8]) -> io::Result<Vec<CertificateDer<'static>>> {
    let chain = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| invalid(format!("not a PEM certificate chain: {err}")))?;
    if chain.is_empty() {
        return Err(invalid(
            "no certificate (-----BEGIN CERTIFICATE-----) in it",
        ));
    }
    Ok(chain)
}

fn private_key(pem: &[u8]) -> io::Result<PrivateKeyDer<'static>> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|err| invalid(format!("no PEM private key: {err}")))
}

fn invalid(message: impl std::fmt::Display) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, message.to_string())
}

fn named(path: &Path, err: io::Error) -> io::Error {
    io::Error::new(err.kind(), format!("{}: {err}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_certificate_and_offers_h2_first() {
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let tls = TlsConfig::from_pem(
            cert.cert.pem().as_bytes(),
            cert.signing_key.serialize_pem().as_bytes(),
        )
        .unwrap();
        assert_eq!(
            tls.current.load().alpn_protocols,
            vec![b"h2".to_vec(), b"http/1.1".to_vec()]
        );
    }

    #[test]
    fn says_what_is_wrong() {
        let err = TlsConfig::from_pem(b"hello", b"").unwrap_err();
        assert!(err.to_string().contains("no certificate"), "{err}");
        let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let other = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
        let err = TlsConfig::from_pem(
            cert.cert.pem().as_bytes(),
            other.signing_key.serialize_pem().as_bytes(),
        )
        .unwrap_err();
        assert!(err.to_string().contains("does not fit"), "{err}");
        let err =
            TlsConfig::from_pem_files("/nonexistent/c.pem".as_ref(), "k.pem".as_ref()).unwrap_err();
        assert!(err.to_string().starts_with("/nonexistent/c.pem: "), "{err}");
    }
}
