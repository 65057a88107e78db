//! Slow clients: a body trickled below the minimum rate, and a client that
//! stops reading its response, each holding a connection slot.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use crate::common::Stack;

const SLOTS: usize = 16;

fn stack() -> Stack {
    let stack = Stack::new(&format!(
        r#"
[server]
listen = "127.0.0.1:0"
max_connections = {SLOTS}
header_timeout = "2s"
body_timeout = "1s"
body_min_rate = "500B"
send_timeout = "1s"

[composite.main]
use = "urlmap"
"/" = "files"
"/echo" = "echo"

[app.files]
use = "urlparser"
root = "public"

[app.echo]
use = "echo"
"#
    ));
    std::fs::create_dir_all(stack.path().join("public")).unwrap();
    std::fs::write(stack.path().join("public/index.html"), "home\n").unwrap();
    std::fs::write(
        stack.path().join("public/big.bin"),
        vec![b'x'; 16 * 1024 * 1024],
    )
    .unwrap();
    stack
}

/// A client that starts a 10,000-byte POST and sends one byte every
/// `every` until `stop`, then reads what the server said.
fn trickle(addr: SocketAddr, path: &str, every: Duration, stop: Instant) -> String {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_millis(50)))
        .unwrap();
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Length: 10000\r\n\r\n"
    )
    .unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while Instant::now() < stop {
        if stream.write_all(b"a").is_err() {
            break;
        }
        let until = Instant::now() + every;
        while Instant::now() < until {
            match stream.read(&mut buf) {
                Ok(0) => return String::from_utf8_lossy(&answer).into_owned(),
                Ok(n) => answer.extend_from_slice(&buf[..n]),
                Err(err) if err.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(err) if err.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => return String::from_utf8_lossy(&answer).into_owned(),
            }
        }
    }
    String::from_utf8_lossy(&answer).into_owned()
}

/// A plain GET; the time it took and the status line.
fn normal_get(addr: SocketAddr) -> (Duration, String) {
    let started = Instant::now();
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response.lines().next().unwrap_or_default().to_owned();
    (started.elapsed(), status)
}

/// Every slot taken by a client trickling a body at 5 bytes a second
/// (far below 500): the trickles are answered 408 and closed once they
/// fall behind, and a normal client that came after them is served.
#[test]
fn trickled_bodies_are_timed_out_and_free_their_slots() {
    let stack = stack();
    let server = stack.serve();
    let addr = server.addr();
    let stop = Instant::now() + Duration::from_secs(8);
    for path in ["/echo/", "/index.html"] {
        let attackers: Vec<_> = (0..SLOTS)
            .map(|_| {
                let path = path.to_owned();
                std::thread::spawn(move || trickle(addr, &path, Duration::from_millis(200), stop))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(300));
        let (took, status) = normal_get(addr);
        assert!(
            status.starts_with("HTTP/1.1 200"),
            "{path}: a normal client got {status:?} after {took:?}"
        );
        eprintln!("{path}: with every slot trickling, a normal GET took {took:?}");
        for attacker in attackers {
            let answer = attacker.join().unwrap();
            if path == "/echo/" {
                // The app read the body: it fell behind and was refused.
                assert!(answer.starts_with("HTTP/1.1 408"), "{answer:?}");
                assert!(
                    answer.to_ascii_lowercase().contains("connection: close"),
                    "{answer}"
                );
            } else {
                // The app answered without reading: the rest of the body
                // is not waited for past the pace either.
                assert!(answer.starts_with("HTTP/1.1 "), "no answer: {answer:?}");
            }
        }
    }
}

/// A body that keeps up with the rate is read whole, however long it takes
/// past `body_timeout`.
#[test]
fn a_body_at_the_rate_is_read_whole() {
    let stack = stack();
    let server = stack.serve();
    let mut stream = TcpStream::connect(server.addr()).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let total = 2_000;
    write!(
        stream,
        "POST /echo/ HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {total}\r\n\r\n"
    )
    .unwrap();
    // 2,000 bytes over 2.5 s: 800 bytes a second, past the 1 s timeout.
    for _ in 0..10 {
        stream.write_all(&[b'b'; 200]).unwrap();
        std::thread::sleep(Duration::from_millis(250));
    }
    let mut response = String::new();
    stream.read_to_string(&mut response).unwrap();
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"body_length\":2000"), "{response}");
}

/// Clients that ask for a large file and read nothing hold their slots no
/// longer than `send_timeout`: a normal client is served after them.
#[test]
fn clients_that_stop_reading_are_dropped() {
    let stack = stack();
    let server = stack.serve();
    let addr = server.addr();
    let stalled: Vec<_> = (0..SLOTS)
        .map(|_| {
            let mut stream = TcpStream::connect(addr).unwrap();
            small_receive_buffer(&stream);
            stream
                .write_all(b"GET /big.bin HTTP/1.1\r\nHost: x\r\n\r\n")
                .unwrap();
            stream
        })
        .collect();
    std::thread::sleep(Duration::from_millis(300));
    let (took, status) = normal_get(addr);
    assert!(
        status.starts_with("HTTP/1.1 200"),
        "{status:?} after {took:?}"
    );
    eprintln!("with every slot stalled on a response, a normal GET took {took:?}");
    // Every slot is free again while the stalled clients still hold their
    // sockets: as many normal clients as there are slots are all served.
    let all: Vec<_> = (0..SLOTS)
        .map(|_| std::thread::spawn(move || normal_get(addr)))
        .collect();
    for client in all {
        let (took, status) = client.join().unwrap();
        assert!(
            status.starts_with("HTTP/1.1 200"),
            "{status:?} after {took:?}"
        );
    }
    drop(stalled);
}

/// Caps the socket's receive buffer, so that a client that reads nothing
/// stalls the server's writes instead of taking the whole file into its
/// kernel buffer (loopback autotuning allows 32 MB here).
fn small_receive_buffer(stream: &TcpStream) {
    use std::os::fd::AsRawFd;
    let size: libc::c_int = 16 * 1024;
    // SAFETY: setsockopt reads `size` for the call's duration only.
    let done = unsafe {
        libc::setsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_RCVBUF,
            std::ptr::addr_of!(size).cast(),
            std::mem::size_of::<libc::c_int>() as libc::socklen_t,
        )
    };
    assert_eq!(done, 0, "setsockopt SO_RCVBUF");
}

/// HTTP/2 clients that open a connection and never ask for anything (the
/// preface alone, or the preface and SETTINGS) hold it no longer than the
/// header timeout, as HTTP/1 clients do; with every slot taken by them, a
/// normal client is still served.
#[test]
fn silent_http2_connections_are_closed() {
    let stack = stack();
    let server = stack.serve();
    let addr = server.addr();
    // The client preface, then an empty SETTINGS frame.
    let preface: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let settings: &[u8] = &[0, 0, 0, 4, 0, 0, 0, 0, 0];
    let silent: Vec<_> = (0..SLOTS)
        .map(|i| {
            let mut stream = TcpStream::connect(addr).unwrap();
            stream.write_all(preface).unwrap();
            if i % 2 == 0 {
                stream.write_all(settings).unwrap();
            }
            stream
        })
        .collect();
    let (took, status) = normal_get(addr);
    assert!(
        status.starts_with("HTTP/1.1 200"),
        "{status:?} after {took:?}"
    );
    for mut stream in silent {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut buf = [0u8; 1024];
        let closed = loop {
            match stream.read(&mut buf) {
                Ok(0) => break true,
                Ok(_) => continue, // the server's SETTINGS and acks
                Err(err) => break err.kind() == std::io::ErrorKind::ConnectionReset,
            }
        };
        assert!(closed, "a silent HTTP/2 connection was kept open");
    }
}
