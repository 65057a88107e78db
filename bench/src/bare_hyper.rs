//! The limit towerkit is measured against: a hello-world on bare hyper 1,
//! on a multi-threaded tokio runtime, answering exactly what the `text` app
//! answers (`hello\n`, `text/plain`).
//!
//! `bare-hyper [ADDR] [--h2] [--tls CERT KEY]` prints `listening on
//! http://ADDR` (or `https://`) on stderr, like `towerkit serve`, so the
//! bench scripts start both the same way. Plain connections speak HTTP/1.1
//! with keep-alive, or HTTP/2 with `--h2` (prior knowledge, as `h2load`
//! does); TLS connections speak what ALPN chose.

use std::convert::Infallible;
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::{http1, http2};
use hyper::service::service_fn;
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;

async fn hello(_: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let mut response = Response::new(Full::new(Bytes::from_static(b"hello\n")));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    Ok(response)
}

async fn serve<T>(io: T, h2: bool)
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let io = TokioIo::new(io);
    if h2 {
        let _ = http2::Builder::new(TokioExecutor::new())
            .serve_connection(io, service_fn(hello))
            .await;
    } else {
        let _ = http1::Builder::new()
            .serve_connection(io, service_fn(hello))
            .await;
    }
}

fn tls_config(cert: &str, key: &str) -> std::io::Result<Arc<rustls::ServerConfig>> {
    let invalid = |e: &dyn std::fmt::Display| std::io::Error::other(e.to_string());
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| invalid(&e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(&e))?;
    let key = PrivateKeyDer::from_pem_file(key).map_err(|e| invalid(&e))?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| invalid(&e))?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .map_err(|e| invalid(&e))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let addr = args
        .first()
        .filter(|a| !a.starts_with("--"))
        .cloned()
        .unwrap_or_else(|| "127.0.0.1:0".to_owned());
    let h2 = args.iter().any(|a| a == "--h2");
    let tls = match args.iter().position(|a| a == "--tls") {
        Some(i) => match (args.get(i + 1), args.get(i + 2)) {
            (Some(cert), Some(key)) => {
                Some(tokio_rustls::TlsAcceptor::from(tls_config(cert, key)?))
            }
            _ => return Err(std::io::Error::other("--tls CERT KEY")),
        },
        None => None,
    };
    towerkit_server::raise_open_files_limit();
    let listener = TcpListener::bind(&addr).await?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    eprintln!(
        "bare-hyper: listening on {scheme}://{}",
        listener.local_addr()?
    );
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let tls = tls.clone();
        tokio::spawn(async move {
            match tls {
                None => serve(stream, h2).await,
                Some(acceptor) => {
                    if let Ok(stream) = acceptor.accept(stream).await {
                        let h2 = stream.get_ref().1.alpn_protocol() == Some(b"h2");
                        serve(stream, h2).await;
                    }
                }
            }
        });
    }
}
