//! The server's limits, seen from real clients: 431 for a long head, 413
//! for a long body (declared or chunked), `Expect: 100-continue` answered
//! only when the app reads, and slow-loris clients timed out with 408
//! while everyone else is served.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{curl, curl_output, require, status, Stack};

const STACK: &str = "[server]\nmax_header_size = \"8KiB\"\nmax_request_body = \"1KiB\"\n\
                     header_timeout = \"2s\"\nkeep_alive_timeout = \"1s\"\n[app.main]\nuse = \"echo\"\n";

#[test]
fn long_heads_and_bodies_are_refused() {
    if !require("curl") {
        return;
    }
    let stack = Stack::new(STACK);
    let server = stack.serve();
    let url = server.url("/");
    let big_header = format!("X-Big: {}", "a".repeat(10_000));
    assert_eq!(status(&["-H", &big_header, &url]), "431");
    assert_eq!(status(&["-H", "X-Small: a", &url]), "200");

    let small = stack.write("small", vec![b'x'; 512]);
    let big = stack.write("big", vec![b'x'; 2048]);
    let small = format!("@{}", small.display());
    let big = format!("@{}", big.display());
    // Declared too long: refused before the app runs.
    assert_eq!(status(&["--data-binary", &big, &url]), "413");
    // Chunked: refused when the count crosses the limit.
    let chunked = "Transfer-Encoding: chunked";
    assert_eq!(status(&["-H", chunked, "--data-binary", &big, &url]), "413");
    let echo = curl(&["-sS", "-H", chunked, "--data-binary", &small, &url]);
    let echo: serde_json::Value = serde_json::from_str(&echo).unwrap();
    assert_eq!(echo["body_length"], 512);
    // HTTP/2 too. The answer comes before the body is read, while curl is
    // still sending: each time, it must reach curl whole (once one in ten
    // was lost to the stream's reset).
    for _ in 0..30 {
        assert_eq!(
            status(&["--http2-prior-knowledge", "--data-binary", &big, &url]),
            "413"
        );
    }
}

#[test]
fn http2_answers_that_do_not_read_the_body_reach_the_client() {
    if !require("curl") {
        return;
    }
    let stack = Stack::new("[app.main]\nuse = \"text\"\nbody = \"not read\\n\"\n");
    let server = stack.serve();
    let body = format!("@{}", stack.write("body", vec![b'x'; 100_000]).display());
    for _ in 0..30 {
        let answer = curl(&[
            "-sS",
            "--http2-prior-knowledge",
            "--data-binary",
            &body,
            &server.url("/"),
        ]);
        assert_eq!(answer, "not read\n");
    }
}

#[test]
fn continue_is_sent_only_when_the_body_is_wanted() {
    if !require("curl") {
        return;
    }
    let stack = Stack::new(STACK);
    let server = stack.serve();
    let url = server.url("/");
    let small = stack.write("small", vec![b'x'; 512]);
    let big = stack.write("big", vec![b'x'; 2048]);
    let expect = "Expect: 100-continue";
    let verbose = |file: &std::path::Path| {
        let data = format!("@{}", file.display());
        let output = curl_output(&["-sS", "-v", "-H", expect, "--data-binary", &data, &url]);
        String::from_utf8_lossy(&output.stderr).into_owned()
    };
    let read = verbose(&small);
    assert!(read.contains("< HTTP/1.1 100 Continue"), "{read}");
    assert!(read.contains("< HTTP/1.1 200 OK"), "{read}");
    let refused = verbose(&big);
    assert!(!refused.contains("100 Continue"), "{refused}");
    assert!(refused.contains("< HTTP/1.1 413"), "{refused}");
}

#[test]
fn slow_loris_clients_are_timed_out_and_do_not_block_others() {
    if !require("curl") {
        return;
    }
    // This process holds a thousand sockets too.
    towerkit::server::raise_open_files_limit();
    let stack = Stack::new(STACK);
    let server = stack.serve();
    // A thousand clients that start a request and never finish its head.
    let slow: Vec<TcpStream> = (0..1000)
        .map(|_| {
            let mut stream = TcpStream::connect(server.addr()).expect("connect");
            stream
                .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
                .expect("write");
            stream
        })
        .collect();
    // Everyone else is served meanwhile.
    for _ in 0..3 {
        assert_eq!(status(&["-m", "5", &server.url("/")]), "200");
    }
    // After the header timeout (2 s) each slow client hears 408 and the
    // connection is closed.
    for mut stream in slow.into_iter().step_by(100) {
        stream
            .set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        let mut answer = String::new();
        stream
            .read_to_string(&mut answer)
            .expect("closed, not timed out");
        assert!(
            answer.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
            "{answer:?}"
        );
    }
    // An idle connection that never sent a byte is closed without a word.
    let mut idle = TcpStream::connect(server.addr()).unwrap();
    idle.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut answer = Vec::new();
    idle.read_to_end(&mut answer)
        .expect("closed, not timed out");
    assert!(answer.is_empty());
    // A keep-alive connection is closed once idle for keep_alive_timeout.
    let mut kept = TcpStream::connect(server.addr()).unwrap();
    kept.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    kept.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .unwrap();
    let mut answer = String::new();
    kept.read_to_string(&mut answer)
        .expect("closed, not timed out");
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer:?}");
    assert_eq!(status(&[&server.url("/")]), "200");
}

#[test]
fn at_max_connections_accepting_pauses_until_one_closes() {
    if !require("curl") {
        return;
    }
    let stack = Stack::new("[server]\nmax_connections = 2\n[app.main]\nuse = \"echo\"\n");
    let server = stack.serve();
    let url = server.url("/");
    // Two clients hold the only two places.
    let mut held: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut stream = TcpStream::connect(server.addr()).unwrap();
            stream
                .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            let mut buf = [0u8; 1024];
            assert!(stream.read(&mut buf).unwrap() > 0);
            stream
        })
        .collect();
    // A third waits in the kernel's backlog: no answer within a second.
    let waiting = curl_output(&["-s", "-o", "/dev/null", "--max-time", "1", &url]);
    assert!(!waiting.status.success(), "served beyond max_connections");
    assert!(
        server.wait_for_log("at the connection limit"),
        "{:?}",
        server.stderr()
    );
    // One leaves: the next client is served.
    drop(held.pop());
    assert_eq!(status(&["--max-time", "10", &url]), "200");
    drop(held);
}

/// Reads one response with a `Content-Length` from `stream`: its status line
/// and body.
fn read_response(stream: &mut TcpStream) -> (String, String) {
    let mut seen = Vec::new();
    let mut byte = [0u8; 1];
    while !seen.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).expect("a response"), 1, "closed");
        seen.push(byte[0]);
    }
    let head = String::from_utf8(seen).unwrap();
    let length: usize = head
        .lines()
        .find_map(|l| {
            l.to_ascii_lowercase()
                .strip_prefix("content-length: ")
                .map(str::to_owned)
        })
        .and_then(|v| v.trim().parse().ok())
        .expect("a content-length");
    let mut body = vec![0u8; length];
    stream.read_exact(&mut body).unwrap();
    let status = head.lines().next().unwrap_or_default().to_owned();
    (status, String::from_utf8(body).unwrap())
}

#[test]
fn idle_connections_are_parked_and_serve_their_next_request() {
    // keep_alive_timeout is 1 s; a connection is parked after 100 ms idle.
    let stack = Stack::new(STACK);
    let server = stack.serve();
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let pause = || std::thread::sleep(Duration::from_millis(400));

    // Request after request on one connection, each after a pause longer
    // than the parking delay.
    for path in ["/one", "/two"] {
        write!(stream, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let (status, body) = read_response(&mut stream);
        assert_eq!(status, "HTTP/1.1 200 OK");
        assert!(
            body.contains(&format!("\"path_info\":\"{path}\"")),
            "{body}"
        );
        pause();
    }
    // A request whose head arrives in pieces across the pauses.
    stream.write_all(b"POST /three HTTP/1.1\r\nHo").unwrap();
    pause();
    stream
        .write_all(b"st: x\r\nContent-Length: 5\r\n\r\n")
        .unwrap();
    pause();
    stream.write_all(b"hello").unwrap();
    let (status, body) = read_response(&mut stream);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains("\"body_length\":5"), "{body}");
    // A request sent with the start of the next (pipelined), the rest of
    // which comes after a pause: nothing of it is lost.
    stream
        .write_all(b"GET /four HTTP/1.1\r\nHost: x\r\n\r\nGET /five HTTP/1.1\r\nHo")
        .unwrap();
    let (_, body) = read_response(&mut stream);
    assert!(body.contains("\"path_info\":\"/four\""), "{body}");
    pause();
    stream.write_all(b"st: x\r\n\r\n").unwrap();
    let (status, body) = read_response(&mut stream);
    assert_eq!(status, "HTTP/1.1 200 OK");
    assert!(body.contains("\"path_info\":\"/five\""), "{body}");
    // Parked or not, the keep-alive timeout still closes it, quietly.
    let mut rest = Vec::new();
    stream
        .read_to_end(&mut rest)
        .expect("closed, not timed out");
    assert!(rest.is_empty(), "{:?}", String::from_utf8_lossy(&rest));
}
