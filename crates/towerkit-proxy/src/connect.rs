//! Connections to the upstream, as hyper's pooled client asks for them:
//! TCP within the connect timeout, then TLS for an `https://` upstream,
//! offering HTTP/2 and HTTP/1.1 by ALPN.

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::task::{Context, Poll, Waker};
use std::time::Duration;

use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use rustls::RootCertStore;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;
use tower_service::Service;
use towerkit_core::BoxError;

/// Opens connections to one upstream. Cloned into hyper's client.
#[derive(Clone)]
pub(crate) struct Connector {
    /// TLS, for an `https://` upstream.
    pub(crate) tls: Option<Tls>,
    pub(crate) connect_timeout: Duration,
    /// HTTP/2 with prior knowledge on plain TCP.
    pub(crate) h2c: bool,
}

/// What a TLS connection needs: the client configuration and the name the
/// certificate must bear.
#[derive(Clone)]
pub(crate) struct Tls {
    pub(crate) connector: TlsConnector,
    pub(crate) name: ServerName<'static>,
}

/// A connection to the upstream, plain or TLS, with its [`Guard`].
pub(crate) struct Stream {
    io: Io,
    guard: Guard,
    /// Check for bytes nobody asked for before each request: HTTP/1.1 on
    /// plain TCP, where the socket shows what the upstream sent.
    check: bool,
    /// Bytes were read since the last write: the next write starts a new
    /// request.
    read_since_write: bool,
}

enum Io {
    Plain(TokioIo<TcpStream>),
    Tls(Box<TokioIo<TlsStream<TcpStream>>>),
}

/// The proxy's hold on an HTTP/1.1 connection, found in the extensions of
/// each response that came on it.
///
/// An upstream that sends bytes its framing did not announce (a body after
/// a `HEAD`, a 204 or a 304; more than its `Content-Length`) would have them
/// read as the answer to the next request on the connection: another
/// client's. A connection is therefore closed, never reused, once
/// - a response on it is framed in a way that invites stray bytes (the
///   proxy [dooms](Guard::doom) it);
/// - bytes are waiting on it when a new request is about to be written
///   (the stream checks, on plain TCP).
#[derive(Clone, Debug)]
pub(crate) struct Guard(Arc<GuardState>);

#[derive(Debug, Default)]
struct GuardState {
    doomed: AtomicBool,
    /// Upgraded to a tunnel: bytes flow both ways at will.
    tunnel: AtomicBool,
    /// The connection's task, waiting to read: woken to see it closed.
    reader: Mutex<Option<Waker>>,
}

impl Guard {
    /// Closes the connection: it reads as closed and takes no more writes.
    pub(crate) fn doom(&self) {
        self.0.doomed.store(true, Ordering::Release);
        let waker = self.0.reader.lock().ok().and_then(|mut w| w.take());
        if let Some(waker) = waker {
            waker.wake();
        }
    }

    /// The connection has become a tunnel: no more requests on it.
    pub(crate) fn tunnel(&self) {
        self.0.tunnel.store(true, Ordering::Release);
    }

    fn is_doomed(&self) -> bool {
        self.0.doomed.load(Ordering::Acquire)
    }
}

fn doomed() -> io::Error {
    io::Error::new(
        io::ErrorKind::BrokenPipe,
        "the connection was closed: the upstream sent bytes its framing did not announce",
    )
}

impl Service<Uri> for Connector {
    type Response = Stream;
    type Error = BoxError;
    type Future = Pin<Box<dyn Future<Output = Result<Stream, BoxError>> + Send>>;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), BoxError>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let connector = self.clone();
        Box::pin(async move {
            let host = uri.host().ok_or("the upstream URL has no host")?;
            let port = uri
                .port_u16()
                .unwrap_or(if connector.tls.is_some() { 443 } else { 80 });
            let host = host
                .trim_start_matches('[')
                .trim_end_matches(']')
                .to_owned();
            let tcp = tokio::time::timeout(connector.connect_timeout, tcp(&host, port))
                .await
                .map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!(
                            "no connection within the connect timeout ({:?})",
                            connector.connect_timeout
                        ),
                    )
                })??;
            let Some(tls) = connector.tls else {
                return Ok(Stream::new(Io::Plain(TokioIo::new(tcp)), !connector.h2c));
            };
            let handshake = tls.connector.connect(tls.name, tcp);
            let stream = tokio::time::timeout(connector.connect_timeout, handshake)
                .await
                .map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::TimedOut,
                        "no TLS handshake within the connect timeout",
                    )
                })??;
            Ok(Stream::new(Io::Tls(Box::new(TokioIo::new(stream))), false))
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

impl Stream {
    fn new(io: Io, check: bool) -> Self {
        Stream {
            io,
            guard: Guard(Arc::default()),
            check,
            read_since_write: false,
        }
    }

    fn is_h2(&self) -> bool {
        match &self.io {
            Io::Plain(_) => false,
            Io::Tls(stream) => stream.inner().get_ref().1.alpn_protocol() == Some(b"h2"),
        }
    }

    /// Before a write of `first` (and more): refused if the connection is
    /// doomed, or if it starts a new request (a request line after a
    /// response was read) while bytes nobody asked for are waiting.
    fn poll_before_write(&mut self, cx: &mut Context<'_>, first: &[u8]) -> Result<(), io::Error> {
        if self.guard.is_doomed() {
            return Err(doomed());
        }
        if !std::mem::take(&mut self.read_since_write)
            || !self.check
            || !is_request_line(first)
            || self.guard.0.tunnel.load(Ordering::Acquire)
        {
            return Ok(());
        }
        let Io::Plain(tcp) = &mut self.io else {
            return Ok(());
        };
        let mut byte = [std::mem::MaybeUninit::uninit(); 1];
        let mut probe = tokio::io::ReadBuf::uninit(&mut byte);
        match tcp.inner_mut().poll_peek(cx, &mut probe) {
            Poll::Ready(Ok(0)) => Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "the upstream closed the connection",
            )),
            Poll::Ready(Ok(_)) => {
                tracing::warn!(
                    "the upstream sent bytes after a response ended: its connection is closed"
                );
                self.guard.doom();
                Err(doomed())
            }
            Poll::Ready(Err(_)) | Poll::Pending => Ok(()),
        }
    }
}

/// Whether `bytes` start like a request line in origin form: a method, a
/// space, a slash.
fn is_request_line(bytes: &[u8]) -> bool {
    let method = bytes.iter().take_while(|b| b.is_ascii_uppercase()).count();
    method > 0 && bytes.get(method..method + 2) == Some(b" /")
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        let connected = Connected::new();
        if self.is_h2() {
            connected.negotiated_h2()
        } else {
            connected.extra(self.guard.clone())
        }
    }
}

impl Read for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if this.guard.is_doomed() {
            // Read as closed: the connection's task ends it.
            return Poll::Ready(Ok(()));
        }
        let polled = match &mut this.io {
            Io::Plain(io) => Pin::new(io).poll_read(cx, buf),
            Io::Tls(io) => Pin::new(&mut **io).poll_read(cx, buf),
        };
        match &polled {
            Poll::Ready(Ok(())) => this.read_since_write = true,
            Poll::Pending => {
                if let Ok(mut reader) = this.guard.0.reader.lock() {
                    if !reader.as_ref().is_some_and(|w| w.will_wake(cx.waker())) {
                        *reader = Some(cx.waker().clone());
                    }
                }
            }
            Poll::Ready(Err(_)) => {}
        }
        polled
    }
}

impl Write for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.poll_before_write(cx, buf)?;
        match &mut this.io {
            Io::Plain(io) => Pin::new(io).poll_write(cx, buf),
            Io::Tls(io) => Pin::new(&mut **io).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let first = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &b[..]);
        this.poll_before_write(cx, first)?;
        match &mut this.io {
            Io::Plain(io) => Pin::new(io).poll_write_vectored(cx, bufs),
            Io::Tls(io) => Pin::new(&mut **io).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match &self.io {
            Io::Plain(io) => io.is_write_vectored(),
            Io::Tls(io) => io.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(io) => Pin::new(io).poll_flush(cx),
            Io::Tls(io) => Pin::new(&mut **io).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().io {
            Io::Plain(io) => Pin::new(io).poll_shutdown(cx),
            Io::Tls(io) => Pin::new(&mut **io).poll_shutdown(cx),
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
pub(crate) fn roots_from_pem(path: &std::path::Path) -> Result<RootCertStore, String> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::CertificateDer;
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(|err| format!("`{}`: {err}", path.display()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|err| format!("`{}`: {err}", path.display()))?;
    if certs.is_empty() {
        return Err(format!("`{}` holds no PEM certificate", path.display()));
    }
    let mut roots = RootCertStore::empty();
    for cert in certs {
        roots
            .add(cert)
            .map_err(|err| format!("`{}`: {err}", path.display()))?;
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
