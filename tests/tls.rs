//! TLS with a certificate made for the test: HTTP/2 and HTTP/1.1 chosen by
//! ALPN, h2c on a plain listener of the same process, with curl.

mod common;

use common::{curl_output, require, towerkit, Stack};

/// A stack whose `tls` listener is `127.0.0.1:0` beside the plain one given
/// with `--listen`; the certificate is for `localhost`.
fn stack() -> Stack {
    let stack = Stack::new(
        "[server]\ntls = { cert = \"cert.pem\", key = \"key.pem\", listen = \"127.0.0.1:0\" }\n\
         [app.main]\nuse = \"echo\"\n",
    );
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    stack.write("cert.pem", cert.cert.pem());
    stack.write("key.pem", cert.signing_key.serialize_pem());
    stack
}

/// `(HTTP version, body)` of a curl request.
fn fetch(args: &[&str]) -> (String, serde_json::Value) {
    let mut all = vec!["-sS", "-w", "\n%{http_version}"];
    all.extend_from_slice(args);
    let output = curl_output(&all);
    assert!(output.status.success(), "curl {args:?}: {output:?}");
    let text = String::from_utf8(output.stdout).unwrap();
    let (body, version) = text.rsplit_once('\n').unwrap();
    (version.to_owned(), serde_json::from_str(body).unwrap())
}

#[test]
fn http2_and_http1_over_tls_and_h2c_beside_it() {
    if !require("curl") {
        return;
    }
    let stack = stack();
    let server = stack.serve_expecting(towerkit(), &["127.0.0.1:0"], &[], 2);
    assert!(
        server
            .stderr()
            .iter()
            .any(|l| l.contains("listening on https://")),
        "{:?}",
        server.stderr()
    );
    let plain = server.addrs[0];
    let tls = server.addrs[1];
    let cacert = stack.path().join("cert.pem");
    let cacert = cacert.to_str().unwrap();
    let resolve = format!("localhost:{}:127.0.0.1", tls.port());
    let url = format!("https://localhost:{}/where?x=1", tls.port());

    let (version, echo) = fetch(&["--cacert", cacert, "--resolve", &resolve, "--http2", &url]);
    assert_eq!(version, "2");
    assert_eq!(echo["scheme"], "https");
    assert_eq!(
        echo["url"],
        format!("https://localhost:{}/where?x=1", tls.port())
    );

    let (version, echo) = fetch(&["--cacert", cacert, "--resolve", &resolve, "--http1.1", &url]);
    assert_eq!(version, "1.1");
    assert_eq!(echo["scheme"], "https");

    let (version, echo) = fetch(&["--http2-prior-knowledge", &format!("http://{plain}/")]);
    assert_eq!(version, "2");
    assert_eq!(echo["scheme"], "http");

    // A client that does not trust the certificate is refused by curl; one
    // that speaks plain HTTP to the TLS port gets no HTTP answer.
    let untrusted = curl_output(&["-sS", "--resolve", &resolve, &url]);
    assert!(!untrusted.status.success());
    let plain_to_tls = curl_output(&["-sS", "-m", "5", &format!("http://{tls}/")]);
    assert!(!plain_to_tls.status.success());
    // The server goes on.
    let (version, _) = fetch(&["--cacert", cacert, "--resolve", &resolve, &url]);
    assert_eq!(version, "2");
}

#[test]
fn a_bad_certificate_is_a_config_error() {
    let stack = Stack::new(
        "[server]\ntls = { cert = \"cert.pem\", key = \"key.pem\" }\n[app.main]\nuse = \"echo\"\n",
    );
    stack.write("cert.pem", "not a certificate");
    stack.write("key.pem", "");
    let output = stack.check();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("[server] key `tls`: ") && stderr.contains("cert.pem: no certificate"),
        "{stderr}"
    );
}
