//! The reverse proxy through the real binary, in front of a real Python
//! server.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{curl, curl_output, free_port, python_has, status, Python, Stack};
use serde_json::Value;

const UPSTREAM: &str = r#"
import json, os, sys, time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

FLAG = sys.argv[2]

class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def send(self, status, body, headers=()):
        self.send_response(status)
        for name, value in headers:
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        port = self.server.server_address[1]
        if self.path.startswith("/base/headers"):
            body = json.dumps({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}}).encode()
            self.send(200, body, [("Content-Type", "application/json"), ("Connection", "keep-alive, X-Hop"), ("X-Hop", "secret")])
        elif self.path == "/base/redirect":
            self.send(302, b"", [("Location", "http://127.0.0.1:%d/base/target" % port)])
        elif self.path == "/base/cookie":
            self.send(200, b"ok", [("Set-Cookie", "sid=1; Path=/base/area; HttpOnly")])
        elif self.path == "/base/sse":
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for n in (1, 2):
                if n == 2:
                    deadline = time.time() + 10
                    while not os.path.exists(FLAG) and time.time() < deadline:
                        time.sleep(0.02)
                event = b"data: %d\n\n" % n
                self.wfile.write(b"%x\r\n%s\r\n" % (len(event), event))
                self.wfile.flush()
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/base/slow":
            time.sleep(3)
            self.send(200, b"late")
        else:
            self.send(404, b"no")

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        data = self.rfile.read(length)
        self.send(200, str(len(data)).encode())

server = ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler)
print("ready", flush=True)
server.serve_forever()
"#;

fn stack(upstream_port: u16, down_port: u16) -> String {
    format!(
        r#"
[composite.main]
use = "urlmap"
"/legacy" = "legacy"
"/kept" = "kept"
"/down" = "down"

[app.legacy]
use = "proxy"
upstream = "http://127.0.0.1:{upstream_port}/base/"
timeout = "1s"

[app.kept]
use = "proxy"
upstream = "http://127.0.0.1:{upstream_port}/base/"
preserve_host = true

[app.down]
use = "proxy"
upstream = "http://127.0.0.1:{down_port}/"
"#
    )
}

#[test]
fn proxying_to_a_python_server() {
    let dir = tempfile::tempdir().unwrap();
    let flag = dir.path().join("flag");
    let upstream_port = free_port();
    let _upstream = Python::start(
        UPSTREAM,
        &[&upstream_port.to_string(), flag.to_str().unwrap()],
    );
    let stack = Stack::new(&stack(upstream_port, free_port()));
    let server = stack.serve();

    // Path and query appended to the base; forwarding headers set.
    let out = curl(&[
        "-H",
        "X-Forwarded-For: 203.0.113.9",
        "-H",
        "Connection: keep-alive, X-Private",
        "-H",
        "X-Private: 1",
        &server.url("/legacy/headers/x?y=1"),
    ]);
    let seen: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(seen["path"], "/base/headers/x?y=1");
    let headers = &seen["headers"];
    assert_eq!(headers["x-forwarded-for"], "203.0.113.9, 127.0.0.1");
    assert_eq!(headers["x-forwarded-proto"], "http");
    assert_eq!(headers["x-forwarded-host"], server.addr().to_string());
    assert_eq!(headers["x-forwarded-prefix"], "/legacy");
    assert_eq!(headers["host"], format!("127.0.0.1:{}", upstream_port));
    assert!(
        headers.get("x-private").is_none(),
        "named by Connection: not forwarded"
    );
    // With preserve_host, the client's host, also from an HTTP/2 client
    // (which names it in `:authority`, not in a `Host` header).
    for version in ["--http1.1", "--http2-prior-knowledge"] {
        let out = curl(&[version, &server.url("/kept/headers")]);
        let seen: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(
            seen["headers"]["host"],
            server.addr().to_string(),
            "{version}"
        );
    }
    let head = common::headers(&[&server.url("/legacy/headers")]).to_ascii_lowercase();
    assert!(!head.contains("x-hop"), "{head}");

    // Location and cookie paths made public.
    let head = common::headers(&[&server.url("/legacy/redirect")]);
    assert!(
        head.contains(&format!(
            "location: http://{}/legacy/target\n",
            server.addr()
        )),
        "{head}"
    );
    let head = common::headers(&[&server.url("/legacy/cookie")]);
    assert!(
        head.contains("set-cookie: sid=1; Path=/legacy/area; HttpOnly"),
        "{head}"
    );

    // A body up, streamed.
    let upload = dir.path().join("upload");
    std::fs::write(&upload, vec![7u8; 300_000]).unwrap();
    assert_eq!(
        curl(&[
            "--data-binary",
            &format!("@{}", upload.display()),
            &server.url("/legacy/upload")
        ]),
        "300000"
    );

    // Server-sent events stream through: event 2 is only made once the test
    // has read event 1.
    let mut child = Command::new("curl")
        .args(["-sN", "--max-time", "15", &server.url("/legacy/sse")])
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next().unwrap().unwrap(), "data: 1");
    std::fs::write(&flag, "go").unwrap();
    assert_eq!(lines.next().unwrap().unwrap(), "");
    assert_eq!(lines.next().unwrap().unwrap(), "data: 2");
    let _ = child.kill();
    let _ = child.wait();

    // A slow upstream: 504; one that is down: 502.
    let out = curl_output(&[
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &server.url("/legacy/slow"),
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "504");
    assert_eq!(
        curl(&[
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &server.url("/down/x")
        ]),
        "502"
    );
    assert!(server.wait_for_log("the upstream cannot be reached"));
    std::thread::sleep(Duration::from_millis(10));
}

#[test]
fn websocket_through_the_tunnel() {
    if !python_has("websockets") {
        return;
    }
    let port = free_port();
    let echo = Python::start(
        "import asyncio, sys\nfrom websockets.asyncio.server import serve\nasync def echo(ws):\n    async for m in ws:\n        await ws.send('echo: ' + m)\nasync def main():\n    async with serve(echo, '127.0.0.1', int(sys.argv[1])):\n        print('ready', flush=True)\n        await asyncio.Future()\nasyncio.run(main())",
        &[&port.to_string()],
    );
    // The tunnel outlives the server's keep-alive timeout: a quiet
    // WebSocket is not an idle HTTP connection.
    let stack = Stack::new(&format!(
        "[server]\nkeep_alive_timeout = \"1s\"\n[composite.main]\nuse = \"urlmap\"\n\"/ws\" = \"ws\"\n[app.ws]\nuse = \"proxy\"\nupstream = \"http://127.0.0.1:{port}/\"\n"
    ));
    let server = stack.serve();
    let out = Command::new("python3")
        .args([
            "-c",
            "import asyncio, sys\nfrom websockets.asyncio.client import connect\nasync def main():\n    async with connect(sys.argv[1]) as ws:\n        for m in ('one', 'two'):\n            await ws.send(m)\n            print(await ws.recv())\n            await asyncio.sleep(1.5)\nasyncio.run(main())",
            &format!("ws://{}/ws/", server.addr()),
        ])
        .output()
        .unwrap();
    drop(echo);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "echo: one\necho: two\n"
    );
}

/// An upstream written at the socket level, to answer in the ways a
/// library server would not: chunks with trailers, a body ended by the
/// close, an interim 100, an answer before the upload, a keep-alive
/// connection dropped unanswered, a length that contradicts itself. Each
/// answer names the connection it came on (`conn N`).
const RAW_UPSTREAM: &str = r#"
import socket, sys, threading

def read_head(f):
    line = f.readline()
    if not line:
        return None
    method, path, _ = line.decode().split(" ", 2)
    headers = {}
    while True:
        h = f.readline()
        if h in (b"\r\n", b""):
            break
        k, v = h.decode().split(":", 1)
        headers[k.strip().lower()] = v.strip()
    return method, path, headers

def read_body(f, headers):
    if headers.get("transfer-encoding", "").lower() == "chunked":
        body = b""
        while True:
            size = int(f.readline().split(b";")[0], 16)
            if size == 0:
                while f.readline() not in (b"\r\n", b""):
                    pass
                return body, True
            body += f.read(size)
            f.readline()
    return f.read(int(headers.get("content-length", "0"))), False

def send(s, status, body, extra=""):
    s.sendall(("HTTP/1.1 %s\r\nContent-Length: %d\r\n%s\r\n" % (status, len(body), extra)).encode() + body)

def serve(s, number):
    f = s.makefile("rb")
    served = 0
    while True:
        head = read_head(f)
        if head is None:
            break
        method, path, headers = head
        served += 1
        tag = b"conn %d" % number
        if path == "/flaky" and served > 1:
            # A keep-alive connection the upstream drops unanswered.
            break
        if path == "/early":
            # Answers before reading the upload, then stops reading.
            send(s, "413 Content Too Large", b"too large", "Connection: close\r\n")
            s.shutdown(socket.SHUT_WR)
            s.settimeout(5)
            try:
                while s.recv(65536):
                    pass
            except OSError:
                pass
            break
        if path == "/continue":
            s.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
        body, chunked = read_body(f, headers)
        if path == "/chunked":
            s.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-Sum: 1\r\n\r\n")
        elif path == "/until-close":
            s.sendall(b"HTTP/1.1 200 OK\r\n\r\nread until the close")
            break
        elif path == "/switch":
            s.sendall(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\nConnection: upgrade\r\n\r\n")
            break
        elif path == "/two-lengths":
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!")
            break
        elif path == "/head" and method == "HEAD":
            s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1234\r\n\r\n")
        else:
            framing = b"chunked" if chunked else b"length"
            send(s, "200 OK", b"%s %s %s %d %s" % (tag, method.encode(), path.encode(), len(body), framing))
    s.close()

listener = socket.socket()
listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
listener.bind(("127.0.0.1", int(sys.argv[1])))
listener.listen(64)
print("ready", flush=True)
number = 0
while True:
    conn, _ = listener.accept()
    number += 1
    threading.Thread(target=serve, args=(conn, number), daemon=True).start()
"#;

#[test]
fn the_upstream_client_speaks_http_1_1() {
    let port = free_port();
    let _upstream = Python::start(RAW_UPSTREAM, &[&port.to_string()]);
    let stack = Stack::new(&format!(
        "[composite.main]\nuse = \"urlmap\"\n\"/raw\" = \"raw\"\n\
         [app.raw]\nuse = \"proxy\"\nupstream = \"http://127.0.0.1:{port}/\"\ntimeout = \"5s\"\n"
    ));
    let server = stack.serve();
    let url = |path: &str| server.url(&format!("/raw{path}"));

    // One connection carries request after request.
    assert_eq!(curl(&[&url("/a")]), "conn 1 GET /a 0 length");
    assert_eq!(curl(&[&url("/b")]), "conn 1 GET /b 0 length");
    // The mount's root, with a query, is the upstream's.
    assert_eq!(curl(&[&url("?q=1")]), "conn 1 GET /?q=1 0 length");

    // A body the client sends chunked goes up chunked; one of known length
    // with its length.
    let dir = tempfile::tempdir().unwrap();
    let upload = dir.path().join("upload");
    std::fs::write(&upload, vec![b'x'; 100_000]).unwrap();
    let data = format!("@{}", upload.display());
    assert_eq!(
        curl(&[
            "-H",
            "Transfer-Encoding: chunked",
            "--data-binary",
            &data,
            &url("/up")
        ]),
        "conn 1 POST /up 100000 chunked"
    );
    assert_eq!(
        curl(&["--data-binary", &data, &url("/up")]),
        "conn 1 POST /up 100000 length"
    );

    // Chunks (with an extension and trailers) are decoded; an interim 100
    // is passed over; a HEAD response has no body but keeps its length.
    assert_eq!(curl(&[&url("/chunked")]), "hello world");
    assert_eq!(
        curl(&["--data-binary", "abc", &url("/continue")]),
        "conn 1 POST /continue 3 length"
    );
    let head = common::headers(&["-I", &url("/head")]);
    assert!(head.contains("content-length: 1234\n"), "{head}");
    assert_eq!(curl(&[&url("/c")]), "conn 1 GET /c 0 length");

    // A body that runs to the close ends the connection's reuse.
    assert_eq!(curl(&[&url("/until-close")]), "read until the close");
    // (The HEAD above went on a connection of its own, conn 2.)
    assert_eq!(curl(&[&url("/d")]), "conn 3 GET /d 0 length");

    // A kept-alive connection the upstream drops without an answer: a GET
    // is sent again on a new connection; a POST is not (it may have been
    // acted on), and fails.
    assert_eq!(curl(&[&url("/flaky")]), "conn 4 GET /flaky 0 length");
    assert_eq!(status(&["--data-binary", "once", &url("/flaky")]), "502");
    assert_eq!(curl(&[&url("/e")]), "conn 5 GET /e 0 length");

    // An answer that comes before the upload is done reaches the client.
    let big = dir.path().join("big");
    std::fs::write(&big, vec![b'y'; 4_000_000]).unwrap();
    let out = curl_output(&[
        "-s",
        "-w",
        " %{http_code}",
        "--data-binary",
        &format!("@{}", big.display()),
        &url("/early"),
    ]);
    assert_eq!(String::from_utf8_lossy(&out.stdout), "too large 413");

    // A switch of protocols the request did not ask for is refused.
    assert_eq!(status(&[&url("/switch")]), "502");
    assert!(server.wait_for_log("the upstream switched protocols unasked"));

    // A response whose length contradicts itself is refused, not guessed.
    assert_eq!(status(&[&url("/two-lengths")]), "502");
    assert!(server.wait_for_log("the upstream's answer failed"));
}
