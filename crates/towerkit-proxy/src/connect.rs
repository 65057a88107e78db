//! Connections to the upstream: TCP within the connect timeout, then TLS
//! for an `https://` upstream, offering HTTP/2 and HTTP/1.1 by ALPN.

use crate::error::ProxyError;
use std::io;
use std::net::{Shutdown, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::RootCertStore;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// Opens connections to one upstream.
#[derive(Clone)]
pub(crate) struct Connector {
    /// TLS, for an `https://` upstream.
    pub(crate) tls: Option<Tls>,
    pub(crate) connect_timeout: Duration,
    /// HTTP/2 with prior knowledge on plain TCP.
    pub(crate) h2c: bool,
    /// Where the upstream is: its host (no brackets) and port.
    pub(crate) host: String,
    pub(crate) port: u16,
}

/// What a TLS connection needs: the client configuration and the name the
/// certificate must bear.
#[derive(Clone)]
pub(crate) struct Tls {
    pub(crate) connector: TlsConnector,
    pub(crate) name: ServerName<'static>,
}

/// A new connection to the upstream.
pub(crate) struct Connected {
    pub(crate) stream: Stream,
    /// The connection speaks HTTP/2 (ALPN, or h2c by prior knowledge).
    pub(crate) h2: bool,
    /// A second handle on a plain TCP socket, to look for bytes waiting on
    /// it while hyper owns the connection.
    pub(crate) probe: Option<Probe>,
}

/// A connection to the upstream, plain or TLS.
pub(crate) enum Stream {
    Plain(TokioIo<TcpStream>),
    Tls(Box<TokioIo<TlsStream<TcpStream>>>),
}

/// A duplicate of a plain TCP connection's socket: it shows whether the
/// upstream sent bytes nobody asked for, and closes the socket at once
/// whoever else holds it.
#[derive(Debug)]
pub(crate) struct Probe(std::net::TcpStream);

/// What [`Probe::peek`] saw.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Waiting {
    /// Nothing: the connection can take a request.
    Nothing,
    /// The upstream closed its side, or the socket failed.
    Closed,
    /// Bytes nobody asked for.
    Bytes,
}

impl Probe {
    /// Looks, without waiting and without taking them, for bytes on the
    /// socket.
    pub(crate) fn peek(&self) -> Waiting {
        let mut byte = [0u8; 1];
        match self.0.peek(&mut byte) {
            Ok(0) => Waiting::Closed,
            Ok(_) => Waiting::Bytes,
            Err(err) if err.kind() == io::ErrorKind::WouldBlock => Waiting::Nothing,
            Err(_) => Waiting::Closed,
        }
    }

    /// Shuts the connection down both ways: hyper's task sees it closed.
    pub(crate) fn close(&self) {
        let _ = self.0.shutdown(Shutdown::Both);
    }
}

impl Connector {
    /// Connects, within the connect timeout for TCP and again for TLS.
    pub(crate) async fn connect(&self) -> io::Result<Connected> {
        let timed_out = |what: &str| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!(
                    "no {what} within the connect timeout ({:?})",
                    self.connect_timeout
                ),
            )
        };
        let tcp = tokio::time::timeout(self.connect_timeout, tcp(&self.host, self.port))
            .await
            .map_err(|_| timed_out("connection"))??;
        let Some(tls) = &self.tls else {
            if self.h2c {
                return Ok(Connected {
                    stream: Stream::Plain(TokioIo::new(tcp)),
                    h2: true,
                    probe: None,
                });
            }
            // The socket's second handle, for HTTP/1.1: the file's
            // non-blocking flag is shared with the first.
            let std = tcp.into_std()?;
            let probe = std.try_clone().map(Probe).ok();
            let tcp = TcpStream::from_std(std)?;
            return Ok(Connected {
                stream: Stream::Plain(TokioIo::new(tcp)),
                h2: false,
                probe,
            });
        };
        let handshake = tls.connector.connect(tls.name.clone(), tcp);
        let stream = tokio::time::timeout(self.connect_timeout, handshake)
            .await
            .map_err(|_| timed_out("TLS handshake"))??;
        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
        Ok(Connected {
            stream: Stream::Tls(Box::new(TokioIo::new(stream))),
            h2,
            probe: None,
        })
    }
}

/// Connects to the first of `host`'s addresses that answers.
async fn tcp(host: &str, port: u16) -> io::Result<TcpStream> {
    let addrs: Vec<SocketAddr> = match host.parse() {
        Ok(ip) => vec![SocketAddr::new(ip, port)],
        Err(_) => tokio::net::lookup_host((host, port)).await?.collect(),
    };
    let mut last = io::Error::new(io::ErrorKind::NotFound, format!("`{host}` has no address"));
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                stream.set_nodelay(true)?;
                return Ok(stream);
            }
            Err(err) => last = err,
        }
    }
    Err(last)
}

impl Read for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(io) => Pin::new(io).poll_read(cx, buf),
            Stream::Tls(io) => Pin::new(&mut **io).poll_read(cx, buf),
        }
    }
}

impl Write for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(io) => Pin::new(io).poll_write(cx, buf),
            Stream::Tls(io) => Pin::new(&mut **io).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            Stream::Tls(io) => Pin::new(&mut **io).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(io) => io.is_write_vectored(),
            Stream::Tls(io) => io.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(io) => Pin::new(io).poll_flush(cx),
            Stream::Tls(io) => Pin::new(&mut **io).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(io) => Pin::new(io).poll_shutdown(cx),
            Stream::Tls(io) => Pin::new(&mut **io).poll_shutdown(cx),
        }
    }
}

/// The roots a certificate is checked against when no `ca` is given: the
/// system's, read once per process.
fn system_roots() -> Arc<RootCertStore> {
    static ROOTS: OnceLock<Arc<RootCertStore>> = OnceLock::new();
    ROOTS
        .get_or_init(|| {
            let mut roots = RootCertStore::empty();
            let found = rustls_native_certs::load_native_certs();
            for err in &found.errors {
                tracing::warn!(error = %err, "a system root certificate could not be read");
            }
            let (added, _ignored) = roots.add_parsable_certificates(found.certs);
            if added == 0 {
                tracing::warn!("no system root certificate found: https upstreams need `ca`");
            }
            Arc::new(roots)
        })
        .clone()
}

/// Which certificates an `https://` upstream may present.
#[derive(Clone, Debug, Default)]
pub(crate) enum Trust {
    /// Those the system trusts.
    #[default]
    System,
    /// Those issued by these roots (a private CA), in PEM.
    Roots(Arc<RootCertStore>),
    /// Any, unchecked.
    Anything,
}

/// Reads the PEM certificates of `path` as roots.
pub(crate) fn roots_from_pem(path: &std::path::Path) -> Result<RootCertStore, ProxyError> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|err| ProxyError::CaFile(format!("`{}`: {err}", path.display())))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| ProxyError::CaFile(format!("`{}`: {err}", path.display())))?;
    if certs.is_empty() {
        return Err(ProxyError::CaFile(format!(
            "`{}` holds no PEM certificate",
            path.display()
        )));
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|err| ProxyError::CaFile(format!("`{}`: {err}", path.display())))?;
    }
    Ok(roots)
}

/// The TLS client configuration for `trust`, offering HTTP/2 unless
/// `http1_only`.
pub(crate) fn client_config(trust: &Trust, http1_only: bool) -> Arc<rustls::ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        // The ring provider supports the default versions.
        .unwrap_or_else(|_| rustls::ClientConfig::builder());
    let mut config = match trust {
        Trust::System => builder
            .with_root_certificates(system_roots())
            .with_no_client_auth(),
        Trust::Roots(roots) => builder
            .with_root_certificates(roots.clone())
            .with_no_client_auth(),
        Trust::Anything => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
            .with_no_client_auth(),
    };
    config.alpn_protocols = if http1_only {
        vec![b"http/1.1".to_vec()]
    } else {
        vec![b"h2".to_vec(), b"http/1.1".to_vec()]
    };
    Arc::new(config)
}

/// Accepts any certificate: `insecure_skip_verify`.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &rustls::pki_types::CertificateDer<'_>,
        _intermediates: &[rustls::pki_types::CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &rustls::pki_types::CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
