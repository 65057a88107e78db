//! Graceful shutdown: in-flight requests finish, new connections are refused.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::Stack;

const STACK: &str = "[server]\nshutdown_grace = \"10s\"\n[app.main]\nuse = \"echo\"\n";

#[test]
fn slow_request_in_flight_completes_after_sigterm() {
    let stack = Stack::new(STACK);
    let mut server = stack.serve();

    // A client that sends its body slowly: the request is in flight while
    // the signal arrives.
    let mut slow = TcpStream::connect(server.addr()).unwrap();
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    slow.write_all(b"POST /upload HTTP/1.1\r\nHost: test\r\nContent-Length: 10\r\n\r\nhello")
        .unwrap();
    std::thread::sleep(Duration::from_millis(200));

    server.signal(libc::SIGTERM);
    assert!(
        server.wait_for_log("no longer accepting"),
        "{:?}",
        server.stderr()
    );

    // The listener is closed: new connections are refused.
    assert!(
        TcpStream::connect(server.addr()).is_err(),
        "a new connection was accepted"
    );

    // The rest of the body arrives; the request completes with 200.
    slow.write_all(b"world").unwrap();
    let mut response = String::new();
    slow.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200 OK\r\n"), "{response}");
    assert!(response.contains("\"body_length\":10"), "{response}");
    // After the in-flight request the connection is closed, not kept alive.
    assert!(
        response.to_ascii_lowercase().contains("connection: close"),
        "{response}"
    );

    assert!(server.wait().success());
    assert!(server
        .stderr()
        .iter()
        .any(|l| l.contains("all connections finished")));
}

#[test]
fn idle_keep_alive_connections_do_not_delay_shutdown() {
    let stack = Stack::new(STACK);
    let mut server = stack.serve();
    let mut idle = TcpStream::connect(server.addr()).unwrap();
    idle.write_all(b"GET / HTTP/1.1\r\nHost: test\r\n\r\n")
        .unwrap();
    let mut buf = [0u8; 4096];
    assert!(idle.read(&mut buf).unwrap() > 0);
    // The connection is now idle, kept alive.
    let started = std::time::Instant::now();
    server.signal(libc::SIGINT);
    assert!(server.wait().success());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "an idle connection held shutdown for {:?}",
        started.elapsed()
    );
}

#[test]
fn stuck_requests_are_cut_at_the_end_of_the_grace_period() {
    let stack = Stack::new("[server]\nshutdown_grace = \"300ms\"\n[app.main]\nuse = \"echo\"\n");
    let mut server = stack.serve();
    let mut stuck = TcpStream::connect(server.addr()).unwrap();
    stuck
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    stuck
        .write_all(b"POST / HTTP/1.1\r\nHost: test\r\nContent-Length: 100\r\n\r\nnever finished")
        .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    server.signal(libc::SIGTERM);
    assert!(server.wait().success());
    assert!(server
        .stderr()
        .iter()
        .any(|l| l.contains("grace period over")));
    let mut rest = Vec::new();
    // The connection is closed: read ends (EOF or reset), it does not hang.
    let _ = stuck.read_to_end(&mut rest);
}

/// An open event stream, plain or gzipped, ends cleanly soon after SIGTERM
/// rather than holding shutdown for the whole grace period.
#[test]
fn open_event_streams_end_on_sigterm() {
    if !common::require("curl") {
        return;
    }
    let stack = Stack::new(
        "[server]\nshutdown_grace = \"60s\"\n\
         [composite.main]\nuse = \"urlmap\"\n\"/plain\" = \"events\"\n\"/gzip\" = \"zipped\"\n\
         [pipeline.zipped]\npipeline = [\"gzip\", \"events\"]\n\
         [filter.gzip]\nuse = \"gzip\"\n[app.events]\nuse = \"events\"\n",
    );
    let mut server = stack.serve_with(common::own_factories(), &["127.0.0.1:0"]);
    let streams: Vec<_> = ["/plain", "/gzip"]
        .iter()
        .map(|path| {
            let mut child = std::process::Command::new("curl")
                .args([
                    "-sSN",
                    "--compressed",
                    "--max-time",
                    "50",
                    &server.url(path),
                ])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("curl");
            // The first event is there: the stream is open.
            let mut first = [0u8; 9];
            child
                .stdout
                .as_mut()
                .unwrap()
                .read_exact(&mut first)
                .unwrap();
            assert_eq!(&first, b"data: 1\n\n");
            child
        })
        .collect();
    let started = std::time::Instant::now();
    server.signal(libc::SIGTERM);
    assert!(server.wait().success(), "{:?}", server.stderr());
    for child in streams {
        let output = child.wait_with_output().unwrap();
        // curl saw a complete response (a cut gzip stream would fail).
        assert!(output.status.success(), "{output:?}");
    }
    assert!(
        server
            .stderr()
            .iter()
            .any(|l| l.contains("all connections finished")),
        "the streams held shutdown until the grace ran out ({:?}): {:?}",
        started.elapsed(),
        server.stderr()
    );
}
