//! The reverse proxy to upstreams that are not plain HTTP/1.1: a Python
//! `http.server` behind TLS with a private CA's certificate, HTTP/2
//! upstreams (hyper, by ALPN over TLS and h2c with prior knowledge); and a
//! real chain end to end: nginx in front of a towerkit proxy in front of
//! Flask.

mod common;

use std::convert::Infallible;

use bytes::Bytes;
use common::{
    curl, free_port, headers, python_has, require, status, Nginx, Python, Stack, FLASK_APP,
};
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

/// A private CA and a certificate for `localhost` it issued, as PEM files
/// in `dir`: (ca, cert, key).
fn private_ca(
    dir: &std::path::Path,
) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    let ca_key = rcgen::KeyPair::generate().unwrap();
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).unwrap();
    let leaf_key = rcgen::KeyPair::generate().unwrap();
    let leaf = rcgen::CertificateParams::new(vec!["localhost".to_owned()])
        .unwrap()
        .signed_by(&leaf_key, &ca)
        .unwrap();
    let ca_pem = dir.join("ca.pem");
    let cert_pem = dir.join("cert.pem");
    let key_pem = dir.join("key.pem");
    std::fs::write(&ca_pem, ca.pem()).unwrap();
    std::fs::write(&cert_pem, leaf.pem()).unwrap();
    std::fs::write(&key_pem, leaf_key.serialize_pem()).unwrap();
    (ca_pem, cert_pem, key_pem)
}

#[test]
fn a_tls_upstream_with_a_private_ca() {
    let dir = tempfile::tempdir().unwrap();
    let (ca_pem, cert_pem, key_pem) = private_ca(dir.path());
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

#[test]
fn an_http2_upstream_by_alpn_over_tls() {
    let dir = tempfile::tempdir().unwrap();
    let (ca_pem, cert_pem, key_pem) = private_ca(dir.path());
    let certs = {
        use rustls::pki_types::pem::PemObject;
        rustls::pki_types::CertificateDer::pem_file_iter(&cert_pem)
            .unwrap()
            .collect::<Result<Vec<_>, _>>()
            .unwrap()
    };
    let key = {
        use rustls::pki_types::pem::PemObject;
        rustls::pki_types::PrivateKeyDer::from_pem_file(&key_pem).unwrap()
    };
    let mut config = rustls::ServerConfig::builder_with_provider(std::sync::Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let connections = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = connections.clone();
    runtime.spawn(async move {
        let listener = tokio::net::TcpListener::from_std(listener).unwrap();
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                return;
            };
            let acceptor = acceptor.clone();
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            tokio::spawn(async move {
                let Ok(tls) = acceptor.accept(stream).await else {
                    return;
                };
                let alpn = String::from_utf8_lossy(tls.get_ref().1.alpn_protocol().unwrap_or(b"-"))
                    .into_owned();
                let service = service_fn(move |req: http::Request<hyper::body::Incoming>| {
                    let text = format!("{alpn} {:?} {}", req.version(), req.uri().path());
                    async move {
                        Ok::<_, Infallible>(http::Response::new(Full::new(Bytes::from(text))))
                    }
                });
                let _ = http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(tls), service)
                    .await;
            });
        }
    });
    let stack = Stack::new(&format!(
        "[composite.main]\nuse = \"urlmap\"\n\"/h2\" = \"h2\"\n\
         [app.h2]\nuse = \"proxy\"\nupstream = \"https://localhost:{port}/\"\nca = \"{}\"\n",
        ca_pem.display()
    ));
    let server = stack.serve();
    // The upstream offered h2 by ALPN: the proxy speaks it, on one
    // connection for request after request.
    assert_eq!(curl(&[&server.url("/h2/a")]), "h2 HTTP/2.0 /a");
    assert_eq!(curl(&[&server.url("/h2/b")]), "h2 HTTP/2.0 /b");
    let urls: Vec<String> = (0..20).map(|i| server.url(&format!("/h2/c{i}"))).collect();
    let mut args: Vec<&str> = vec!["--parallel", "--parallel-max", "10", "-s"];
    for url in &urls {
        args.push(url);
    }
    let all = curl(&args);
    for i in 0..20 {
        assert!(all.contains(&format!("h2 HTTP/2.0 /c{i}")), "{all}");
    }
    assert_eq!(connections.load(std::sync::atomic::Ordering::SeqCst), 1);
}

#[test]
fn nginx_then_towerkit_then_flask() {
    if !python_has("flask") || !require("nginx") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("flaskapp.py"), FLASK_APP).unwrap();
    let flask_port = free_port();
    let _flask = Python::start_in(
        "import sys\nfrom werkzeug.serving import make_server\nfrom werkzeug.middleware.proxy_fix import ProxyFix\nfrom flaskapp import app\napp.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_prefix=1)\nserver = make_server('127.0.0.1', int(sys.argv[1]), app, threaded=True)\nprint('ready', flush=True)\nserver.serve_forever()",
        &[&flask_port.to_string()],
        dir.path(),
    );
    // towerkit trusts nginx's X-Forwarded-For, -Proto and -Host, mounts
    // Flask at /legacy and passes all of it on.
    let stack = Stack::new(&format!(
        "[pipeline.main]\npipeline = [\"fix\", \"site\"]\n\
         [filter.fix]\nuse = \"proxy-fix\"\nx_for = 1\nx_proto = 1\nx_host = 1\n\
         [composite.site]\nuse = \"urlmap\"\n\"/legacy\" = \"flask\"\n\
         [app.flask]\nuse = \"proxy\"\nupstream = \"http://127.0.0.1:{flask_port}/\"\n"
    ));
    let towerkit = stack.serve();
    let nginx = Nginx::start(&format!(
        "upstream tk {{ server {}; keepalive 8; }}\n\
         server {{ listen 127.0.0.1:{{port}}; location / {{\n\
           proxy_pass http://tk;\n proxy_http_version 1.1;\n proxy_set_header Connection \"\";\n\
           proxy_set_header Host $http_host;\n\
           proxy_set_header X-Forwarded-For $remote_addr;\n\
           proxy_set_header X-Forwarded-Proto $scheme;\n\
           proxy_set_header X-Forwarded-Host $http_host;\n }} }}",
        towerkit.addr()
    ));
    let public = format!("127.0.0.1:{}", nginx.port);
    // Flask builds its URLs for the address the client used, under the
    // mount.
    assert_eq!(
        curl(&[&nginx.url("/legacy/")]),
        format!("index at /legacy/ full http://{public}/legacy/")
    );
    let head = headers(&[&nginx.url("/legacy/go")]).to_ascii_lowercase();
    assert!(head.contains("location: /legacy/\n"), "{head}");
    // The client's own address, through both proxies.
    assert_eq!(
        curl(&["--interface", "127.0.0.5", &nginx.url("/legacy/who")]),
        "127.0.0.5"
    );
    // A stream, and bodies up.
    assert_eq!(
        curl(&["-N", &nginx.url("/legacy/events")]),
        "data: 1\n\ndata: 2\n\ndata: 3\n\n"
    );
    let urls: Vec<String> = (0..30)
        .map(|i| nginx.url(&format!("/legacy/echo?n={i}")))
        .collect();
    let mut args: Vec<&str> = vec![
        "--parallel",
        "--parallel-max",
        "8",
        "-s",
        "--data-binary",
        "0123456789",
    ];
    for url in &urls {
        args.push(url);
    }
    // Each answer once, whole, whatever order they came in.
    let answers = curl(&args);
    for i in 0..30 {
        assert_eq!(
            answers.matches(&format!("<{i} 10>")).count(),
            1,
            "{answers}"
        );
    }
    assert_eq!(
        answers.len(),
        (0..30).map(|i| format!("<{i} 10>").len()).sum::<usize>()
    );
}
