//! Request framing as a smuggler writes it: a request hidden in another's
//! body must never reach an app as a request of its own, whatever the
//! server makes of the framing (refuse it, or read it one way and close).
//!
//! The stack mounts a tripwire at `/smuggled`: any answer that carries its
//! text means the hidden request was served.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use crate::common::{Running, Stack};

fn serve() -> (Stack, Running) {
    let stack = Stack::new(
        r#"
[server]
listen = "127.0.0.1:0"
header_timeout = "2s"
keep_alive_timeout = "2s"

[composite.main]
use = "urlmap"
"/" = "echo"
"/smuggled" = "tripwire"

[app.echo]
use = "echo"

[app.tripwire]
use = "text"
body = "TRIPWIRE: a smuggled request was served\n"
"#,
    );
    let server = stack.serve();
    (stack, server)
}

/// Sends `bytes` on one connection and reads everything until the server
/// closes it (or 3 s of silence).
fn exchange(addr: SocketAddr, bytes: &[u8]) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    stream.write_all(bytes).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

const HIDDEN: &str = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";

/// The cases: a name, the bytes, and the statuses the first answer may
/// have (the server may read the framing one safe way, or refuse it).
fn cases() -> Vec<(&'static str, String, &'static [&'static str])> {
    vec![
        (
            "CL and TE together",
            format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{HIDDEN}"),
            &["400", "200"],
        ),
        (
            "TE and CL together",
            format!("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 40\r\n\r\n0\r\n\r\n{HIDDEN}"),
            &["400", "200"],
        ),
        (
            "two different Content-Lengths",
            format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 36\r\n\r\n{HIDDEN}"),
            &["400"],
        ),
        (
            "a Content-Length list",
            format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0, 36\r\n\r\n{HIDDEN}"),
            &["400"],
        ),
        (
            "a signed Content-Length",
            format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +36\r\n\r\n{HIDDEN}"),
            &["400"],
        ),
        (
            "a chunk size that is not hex",
            format!("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n{HIDDEN}\r\n0\r\n\r\n"),
            &["400", ""],
        ),
        (
            "a chunk size that overflows",
            format!("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n{HIDDEN}\r\n0\r\n\r\n"),
            &["400", "413", ""],
        ),
        (
            "a chunk extension hiding a request",
            format!("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0;x\r\n{HIDDEN}"),
            &["400", "200"],
        ),
        (
            "a transfer coding that is not chunked",
            format!("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n{HIDDEN}"),
            &["400", "501"],
        ),
        (
            "chunked, then identity",
            format!("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n{HIDDEN}"),
            &["400", "501"],
        ),
        (
            "an obs-fold continuation line",
            format!("POST / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n Content-Length: 36\r\n\r\n{HIDDEN}"),
            &["400"],
        ),
        (
            "a space before the colon",
            format!("POST / HTTP/1.1\r\nHost: x\r\nContent-Length : 36\r\n\r\n{HIDDEN}"),
            &["400"],
        ),
        (
            "bare LF line ends with a body length",
            format!(
                "POST / HTTP/1.1\nHost: x\nContent-Length: {}\n\n{HIDDEN}",
                HIDDEN.len()
            ),
            &["400", "200"],
        ),
    ]
}

#[test]
fn no_framing_trick_smuggles_a_request() {
    let (_stack, server) = serve();
    // The tripwire works when asked plainly.
    let plain = exchange(
        server.addr(),
        b"GET /smuggled HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(plain.contains("TRIPWIRE"), "{plain}");
    for (name, bytes, allowed) in cases() {
        let answer = exchange(server.addr(), bytes.as_bytes());
        assert!(
            !answer.contains("TRIPWIRE"),
            "{name}: the hidden request was served:\n{answer}"
        );
        let status = answer
            .split(' ')
            .nth(1)
            .unwrap_or("")
            .get(..3)
            .unwrap_or("");
        assert!(
            allowed.contains(&status),
            "{name}: answered {status:?}, expected one of {allowed:?}:\n{answer}"
        );
        // Only one answer: whatever followed the first request's framing
        // was not taken as a request.
        assert!(
            answer.matches("HTTP/1.1 ").count() <= 1,
            "{name}: more than one answer:\n{answer}"
        );
    }
}
