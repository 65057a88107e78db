//! The reverse proxy against a hostile upstream: one that answers with bytes
//! beyond what its framing says, lengths that contradict themselves, bad
//! chunks, interim answers, bodies that stall. Whatever it does, each
//! client gets exactly its own response, or an error: never another's.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{curl, curl_output, free_port, headers, status, Python, Stack};

/// An upstream written at the socket level. Every proper answer says which
/// request it answers (`X-For: PATH`, and `for PATH` in its body); the
/// stray response it smuggles after some answers has no `X-For` and says
/// `WRONG`.
const HOSTILE: &str = r#"
import socket, sys, threading, time

STRAY = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nWRONG"

def read_head(f):
    line = f.readline()
    if not line:
        return None
    method, path, _ = line.decode().split(" ", 2)
    headers = []
    while True:
        h = f.readline()
        if h in (b"\r\n", b""):
            break
        k, v = h.decode().split(":", 1)
        headers.append((k.strip().lower(), v.strip()))
    return method, path, headers

def read_body(f, headers):
    h = dict(headers)
    if h.get("transfer-encoding", "").lower() == "chunked":
        body, trailers = b"", []
        while True:
            size = int(f.readline().split(b";")[0], 16)
            if size == 0:
                while True:
                    line = f.readline()
                    if line in (b"\r\n", b""):
                        return body, trailers
                    trailers.append(line.decode().strip())
            body += f.read(size)
            f.readline()
    return f.read(int(h.get("content-length", "0"))), []

def answer(s, body, status="200 OK", extra=b""):
    s.sendall(b"HTTP/1.1 %s\r\nContent-Length: %d\r\n%s\r\n%s" % (status.encode(), len(body), extra, body))

def serve(s):
    try:
        serve_on(s)
    except OSError:
        pass

def serve_on(s):
    f = s.makefile("rb")
    while True:
        head = read_head(f)
        if head is None:
            break
        method, path, headers = head
        body, trailers = read_body(f, headers)
        late = "late" in path
        name = path.split("?")[0]
        tag = b"X-For: " + path.encode() + b"\r\n"
        def with_stray(response):
            # At once: in the same write. Late: a quarter second after.
            if late:
                s.sendall(response)
                time.sleep(0.25)
                s.sendall(STRAY)
            else:
                s.sendall(response + STRAY)
        if name == "/head-stray" and method == "HEAD":
            with_stray(b"HTTP/1.1 200 OK\r\n%sContent-Length: %d\r\n\r\n" % (tag, len(STRAY)))
        elif name == "/204-stray":
            with_stray(b"HTTP/1.1 204 No Content\r\n%sContent-Length: %d\r\n\r\n" % (tag, len(STRAY)))
        elif name == "/304-stray":
            with_stray(b"HTTP/1.1 304 Not Modified\r\n%sContent-Length: %d\r\n\r\n" % (tag, len(STRAY)))
        elif name == "/overlong":
            body = b"for " + path.encode()
            with_stray(b"HTTP/1.1 200 OK\r\n%sContent-Length: %d\r\n\r\n%s" % (tag, len(body), body))
        elif name == "/two-lengths":
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!")
        elif name == "/cl-te":
            s.sendall(b"HTTP/1.1 200 OK\r\n%sContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n%s" % (tag, STRAY))
        elif name == "/bad-chunk":
            s.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n" + STRAY)
        elif name == "/early-hints":
            s.sendall(b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
            time.sleep(0.05)
            answer(s, b"for " + path.encode())
        elif name == "/stall":
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\npartial")
            time.sleep(30)
            break
        elif name == "/trailers":
            s.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-Sum\r\n\r\n5\r\nhello\r\n0\r\nX-Sum: 42\r\n\r\n")
        elif name == "/then-close":
            # Kept alive by its framing, then closed while idle, as an
            # upstream's keep-alive timeout does.
            answer(s, b"for " + path.encode(), extra=tag)
            time.sleep(0.05)
            break
        elif name == "/proxy-auth":
            seen = b"\n".join(b"%s: %s" % (k.encode(), v.encode()) for k, v in headers)
            answer(s, seen, "407 Proxy Authentication Required", b"Proxy-Authenticate: Basic realm=\"up\"\r\n")
        else:
            seen = b"for %s %d %s" % (path.encode(), len(body), ",".join(trailers).encode())
            answer(s, seen.strip(), extra=tag)
    s.close()

listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", int(sys.argv[1])))
listener.listen(128)
print("ready", flush=True)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
"#;

fn hostile() -> (Python, Stack) {
    let port = free_port();
    let upstream = Python::start(HOSTILE, &[&port.to_string()]);
    let stack = Stack::new(&format!(
        "[composite.main]\nuse = \"urlmap\"\n\"/up\" = \"up\"\n\
         [app.up]\nuse = \"proxy\"\nupstream = \"http://127.0.0.1:{port}/\"\n\
         timeout = \"5s\"\nidle_timeout = \"1s\"\n"
    ));
    (upstream, stack)
}

/// One HTTP/1.1 request on a connection of its own: the status line and the
/// whole answer as the proxy sent it.
fn raw(addr: std::net::SocketAddr, request: &str) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn stray_bytes_never_reach_the_next_request() {
    let (_upstream, stack) = hostile();
    let server = stack.serve();
    let url = |path: &str| server.url(&format!("/up{path}"));
    for late in ["", "?late"] {
        // A HEAD answered with a length and then that many bytes.
        let head = headers(&["-I", &url(&format!("/head-stray{late}"))]);
        assert!(head.starts_with("HTTP/1.1 200"), "{head}");
        assert_eq!(curl(&[&url("/a")]), "for /a 0");
        // A 204 and a 304 that carry a body all the same.
        assert_eq!(status(&[&url(&format!("/204-stray{late}"))]), "204");
        assert_eq!(curl(&[&url("/b")]), "for /b 0");
        assert_eq!(status(&[&url(&format!("/304-stray{late}"))]), "304");
        assert_eq!(curl(&[&url("/c")]), "for /c 0");
    }
    // More bytes than the length said, with the body or while the
    // connection waits in the pool: the connection is closed. (Bytes that
    // come after the next request was written look like its answer to any
    // HTTP/1.1 client: they cannot be told apart.)
    assert_eq!(curl(&[&url("/overlong")]), "for /overlong");
    assert_eq!(curl(&[&url("/d")]), "for /d 0");
    assert_eq!(curl(&[&url("/overlong?late")]), "for /overlong?late");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(curl(&[&url("/e")]), "for /e 0");
}

#[test]
fn ambiguous_and_broken_framing_is_refused() {
    let (_upstream, stack) = hostile();
    let server = stack.serve();
    let url = |path: &str| server.url(&format!("/up{path}"));

    // Two lengths that disagree: 502, nothing of the body.
    assert_eq!(status(&[&url("/two-lengths")]), "502");
    assert!(server.wait_for_log("the upstream's answer failed"));
    assert_eq!(curl(&[&url("/a")]), "for /a 0");

    // Content-Length with Transfer-Encoding: the chunks are the body
    // (RFC 9112 §6.3), and what follows them is nobody's.
    let out = curl_output(&["-s", "-w", " %{http_code}", &url("/cl-te")]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text == "hello 200" || text.ends_with("502"), "{text}");
    assert_eq!(curl(&[&url("/b")]), "for /b 0");

    // A chunk size that is not hex: the client's response is cut off, not
    // completed with what follows.
    let out = curl_output(&["-s", &url("/bad-chunk")]);
    assert!(!out.status.success(), "curl should see a broken body");
    assert!(!String::from_utf8_lossy(&out.stdout).contains("WRONG"));
    assert_eq!(curl(&[&url("/c")]), "for /c 0");

    // An interim 103 then the answer: the client gets the answer.
    assert_eq!(curl(&[&url("/early-hints")]), "for /early-hints");
}

#[test]
fn a_stalled_body_is_cut_off_at_the_idle_timeout() {
    let (_upstream, stack) = hostile();
    let server = stack.serve();
    let started = Instant::now();
    let out = curl_output(&["-s", &server.url("/up/stall")]);
    let took = started.elapsed();
    assert!(!out.status.success(), "the body cannot end whole");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "partial");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "{took:?}"
    );
    assert!(server.wait_for_log("the upstream stopped sending its response body"));
}

#[test]
fn proxy_credentials_stay_behind_and_trailers_come_through() {
    let (_upstream, stack) = hostile();
    let server = stack.serve();
    let url = |path: &str| server.url(&format!("/up{path}"));

    // Proxy-Authorization is for this proxy, Proxy-Authenticate from the
    // upstream's proxy: neither is relayed.
    let out = curl_output(&[
        "-s",
        "-D",
        "-",
        "-H",
        "Proxy-Authorization: Basic c2VjcmV0",
        &url("/proxy-auth"),
    ]);
    let text = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(text.starts_with("http/1.1 407"), "{text}");
    assert!(!text.contains("proxy-authenticate"), "{text}");
    assert!(!text.contains("proxy-authorization"), "{text}");

    // Trailers of a chunked response reach an HTTP/1.1 client that takes
    // them.
    let answer = raw(
        server.addr(),
        "GET /up/trailers HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nConnection: close\r\n\r\n",
    );
    let lower = answer.to_ascii_lowercase();
    assert!(lower.contains("transfer-encoding: chunked"), "{answer}");
    assert!(lower.contains("\r\n0\r\nx-sum: 42\r\n\r\n"), "{answer}");

    // And a client's trailers reach the upstream.
    let answer = raw(
        server.addr(),
        "POST /up/echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTrailer: X-Check\r\n\
         Connection: close\r\n\r\n3\r\nabc\r\n0\r\nX-Check: 7\r\n\r\n",
    );
    assert!(answer.ends_with("for /echo 3 x-check: 7"), "{answer}");
}

#[test]
fn a_connection_the_upstream_closed_while_idle_is_not_used() {
    let (_upstream, stack) = hostile();
    let server = stack.serve();
    let url = |path: &str| server.url(&format!("/up{path}"));
    for _ in 0..3 {
        assert_eq!(curl(&[&url("/then-close")]), "for /then-close");
        std::thread::sleep(Duration::from_millis(200));
        // A POST is never sent twice: it must not meet the closed
        // connection at all.
        assert_eq!(
            curl(&["--data-binary", "once", &url("/echo")]),
            "for /echo 4"
        );
    }
}

#[test]
fn a_slow_upload_is_not_the_upstreams_delay() {
    let port = free_port();
    let _upstream = Python::start(HOSTILE, &[&port.to_string()]);
    let stack = Stack::new(&format!(
        "[composite.main]\nuse = \"urlmap\"\n\"/up\" = \"up\"\n\
         [app.up]\nuse = \"proxy\"\nupstream = \"http://127.0.0.1:{port}/\"\ntimeout = \"2s\"\n"
    ));
    let server = stack.serve();
    let dir = tempfile::tempdir().unwrap();
    let upload = dir.path().join("upload");
    std::fs::write(&upload, vec![b'u'; 400_000]).unwrap();
    // 400 KB at 100 KB/s: four seconds of upload, twice the timeout.
    let out = curl(&[
        "--limit-rate",
        "100K",
        "--data-binary",
        &format!("@{}", upload.display()),
        &server.url("/up/upload"),
    ]);
    assert_eq!(out, "for /upload 400000");
}

/// What one request of the concurrent test asks, and what its own answer
/// is: its status and its body, given the path it was sent to.
struct Case {
    method: reqwest::Method,
    path: &'static str,
    status: u16,
    body: fn(&str) -> String,
}

const CASES: &[Case] = &[
    Case {
        method: reqwest::Method::HEAD,
        path: "/head-stray",
        status: 200,
        body: |_| String::new(),
    },
    Case {
        method: reqwest::Method::HEAD,
        path: "/head-stray?late",
        status: 200,
        body: |_| String::new(),
    },
    Case {
        method: reqwest::Method::GET,
        path: "/204-stray",
        status: 204,
        body: |_| String::new(),
    },
    Case {
        method: reqwest::Method::GET,
        path: "/204-stray?late",
        status: 204,
        body: |_| String::new(),
    },
    Case {
        method: reqwest::Method::GET,
        path: "/304-stray",
        status: 304,
        body: |_| String::new(),
    },
    Case {
        method: reqwest::Method::GET,
        path: "/304-stray?late",
        status: 304,
        body: |_| String::new(),
    },
    Case {
        method: reqwest::Method::GET,
        path: "/overlong",
        status: 200,
        body: |path| format!("for {path}"),
    },
    Case {
        method: reqwest::Method::GET,
        path: "/cl-te",
        status: 200,
        body: |_| "hello".to_owned(),
    },
    Case {
        method: reqwest::Method::GET,
        path: "/echo",
        status: 200,
        body: |path| format!("for {path} 0"),
    },
    Case {
        method: reqwest::Method::POST,
        path: "/echo",
        status: 200,
        body: |path| format!("for {path} 4"),
    },
];

#[test]
fn concurrent_clients_each_get_their_own_response() {
    let (_upstream, stack) = hostile();
    let server = stack.serve();
    let base = server.url("/up");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    const CLIENTS: usize = 8;
    const REQUESTS: usize = 100;
    let wrong = runtime.block_on(async move {
        let mut tasks = Vec::new();
        for client_no in 0..CLIENTS {
            let base = base.clone();
            tasks.push(tokio::spawn(async move {
                let client = reqwest::Client::new();
                let mut wrong = Vec::new();
                for i in 0..REQUESTS {
                    // Every case, the hostile ones and plain requests, in
                    // a different order for each client.
                    let case = &CASES[(i * 7 + client_no) % CASES.len()];
                    let sep = if case.path.contains('?') { '&' } else { '?' };
                    let path = format!("{}{sep}id={client_no}-{i}", case.path);
                    let mut request = client.request(case.method.clone(), format!("{base}{path}"));
                    if case.method == reqwest::Method::POST {
                        request = request.body("body");
                    }
                    let response = match request.send().await {
                        Ok(response) => response,
                        Err(err) => {
                            wrong.push(format!("{path}: no answer: {err}"));
                            continue;
                        }
                    };
                    let status = response.status().as_u16();
                    let tagged = response
                        .headers()
                        .get("x-for")
                        .map(|v| v.to_str().unwrap_or_default().to_owned());
                    let text = response
                        .text()
                        .await
                        .unwrap_or_else(|err| format!("(cut off: {err})"));
                    if tagged.as_deref() != Some(path.as_str())
                        || status != case.status
                        || text != (case.body)(&path)
                    {
                        wrong.push(format!("{path}: {status} x-for {tagged:?} {text:?}"));
                    }
                }
                wrong
            }));
        }
        let mut wrong = Vec::new();
        for task in tasks {
            wrong.extend(task.await.unwrap());
        }
        wrong
    });
    assert!(
        wrong.is_empty(),
        "{} of {} requests did not get exactly their own answer: {wrong:#?}",
        wrong.len(),
        CLIENTS * REQUESTS
    );
}
