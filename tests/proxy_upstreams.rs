//! The reverse proxy to upstreams that are not plain HTTP/1.1: a Python
//! `http.server` behind TLS with a private CA's certificate, and an HTTP/2
//! upstream (hyper, h2c with prior knowledge).

mod common;

use std::convert::Infallible;

use bytes::Bytes;
use common::{curl, free_port, status, Python, Stack};
use http_body_util::Full;
use hyper::server::conn::http2;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};

const TLS_UPSTREAM: &str = r#"
import ssl, sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *args):
        pass
    def do_GET(self):
        body = ("tls " + self.path).encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
context.load_cert_chain(sys.argv[2], sys.argv[3])
server.socket = context.wrap_socket(server.socket, server_side=True)
print("ready", flush=True)
server.serve_forever()
"#;

#[test]
fn a_tls_upstream_with_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let ca_pem = dir.path().join("ca.pem");
    let cert_pem = dir.path().join("cert.pem");
    let key_pem = dir.path().join("key.pem");
    std::fs::write(&ca_pem, ca.pem()).unwrap();
    std::fs::write(&cert_pem, leaf.pem()).unwrap();
    std::fs::write(&key_pem, leaf_key.serialize_pem()).unwrap();

    let port = free_port();
    let _upstream = Python::start(
        TLS_UPSTREAM,
        &[
            &port.to_string(),
            cert_pem.to_str().unwrap(),
            key_pem.to_str().unwrap(),
        ],
    );
    let stack = Stack::new(&format!(
        "[composite.main]\nuse = \"urlmap\"\n\"/trusted\" = \"trusted\"\n\"/unknown\" = \"unknown\"\n\
         [app.trusted]\nuse = \"proxy\"\nupstream = \"https://localhost:{port}/base/\"\nca = \"{}\"\n\
         [app.unknown]\nuse = \"proxy\"\nupstream = \"https://localhost:{port}/\"\n",
        ca_pem.display()
    ));
    let server = stack.serve();
    // Checked against the private CA: answered.
    assert_eq!(curl(&[&server.url("/trusted/x?y=1")]), "tls /base/x?y=1");
    assert_eq!(curl(&[&server.url("/trusted/again")]), "tls /base/again");
    // Against the system's roots, the same certificate is refused.
    assert_eq!(status(&[&server.url("/unknown/x")]), "502");
    assert!(server.wait_for_log("the upstream cannot be reached"));
}

#[test]
fn an_http2_upstream_by_prior_knowledge() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    runtime.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            tokio::spawn(async move {
                let service = service_fn(|req: http::Request<hyper::body::Incoming>| async move {
                    let text = format!("{:?} {}", req.version(), req.uri().path());
                    Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(text))))
                });
                let _ = http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let stack = Stack::new(&format!(
        "[composite.main]\nuse = \"urlmap\"\n\"/h2\" = \"h2\"\n\
         [app.h2]\nuse = \"proxy\"\nupstream = \"http://127.0.0.1:{port}/\"\nh2c = true\n"
    ));
    let server = stack.serve();
    assert_eq!(curl(&[&server.url("/h2/a")]), "HTTP/2.0 /a");
    assert_eq!(
        curl(&["--http2-prior-knowledge", &server.url("/h2/b")]),
        "HTTP/2.0 /b"
    );
}
