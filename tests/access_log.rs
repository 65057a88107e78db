//! The access log as a user reads it: Apache combined format, the client
//! after proxy-fix, the user after login, bytes as sent, and a new file
//! after rotation and SIGHUP.

mod common;

use std::time::Duration;

use common::{curl, require, Stack};

const STACK: &str = r#"[server]
access_log = "access.log"

[pipeline.main]
pipeline = ["fix", "auth", "app"]

[filter.fix]
use = "proxy-fix"

[filter.auth]
use = "login"
methods = ["basic"]
users = "users.htpasswd"
protect = ["/private"]

[app.app]
use = "text"
body = "hello\n"
"#;

/// Waits (at most 10 s) for the log to have `n` lines.
fn lines(path: &std::path::Path, n: usize) -> Vec<String> {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        let lines: Vec<String> = text.lines().map(str::to_owned).collect();
        if lines.len() >= n || std::time::Instant::now() > deadline {
            return lines;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `[21/Nov/2026:15:27:21 +0000]`: the shape of `%t`.
fn is_clf_time(text: &str) -> bool {
    let b = text.as_bytes();
    b.len() == 28
        && b[0] == b'['
        && b[1..3].iter().all(u8::is_ascii_digit)
        && b[3] == b'/'
        && b[4..7].iter().all(u8::is_ascii_alphabetic)
        && b[7] == b'/'
        && b[8..12].iter().all(u8::is_ascii_digit)
        && b[12] == b':'
        && text.ends_with(" +0000]")
}

/// Splits a line into `(host, user, time, rest after the time)`.
fn fields(line: &str) -> (&str, &str, &str, &str) {
    let (host, rest) = line.split_once(" - ").unwrap();
    let (user, rest) = rest.split_once(' ').unwrap();
    let (time, rest) = rest.split_at(28);
    (host, user, time, rest)
}

#[test]
fn combined_lines_with_the_real_client_and_user() {
    if !require("curl") {
        return;
    }
    let stack = Stack::new(STACK);
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/examples/demo/users.htpasswd"),
        stack.path().join("users.htpasswd"),
    )
    .unwrap();
    let server = stack.serve();
    let log = stack.path().join("access.log");

    curl(&[
        "-s",
        "-u",
        "demo:demo",
        "-H",
        "X-Forwarded-For: 203.0.113.9",
        "-e",
        "http://example.test/from",
        "-A",
        "agent \"quoted\"/1",
        &server.url("/private?q=1"),
    ]);
    let got = lines(&log, 1);
    let (host, user, time, rest) = fields(&got[0]);
    assert_eq!(host, "203.0.113.9");
    assert_eq!(user, "demo");
    assert!(is_clf_time(time), "{time}");
    assert_eq!(
        rest,
        " \"GET /private?q=1 HTTP/1.1\" 200 6 \"http://example.test/from\" \"agent \\\"quoted\\\"/1\""
    );

    // Refused: no user, the status the client got, the bytes of the page.
    let page = curl(&["-s", "--http2-prior-knowledge", &server.url("/private")]);
    let got = lines(&log, 2);
    let (host, user, _, rest) = fields(&got[1]);
    assert_eq!((host, user), ("127.0.0.1", "-"));
    let curl_agent = format!("\"curl/{}", curl(&["-V"]).split(' ').nth(1).unwrap());
    assert!(
        rest.starts_with(&format!(
            " \"GET /private HTTP/2.0\" 401 {} \"-\" {curl_agent}",
            page.len()
        )),
        "{rest}"
    );

    // Rotation: the file is moved, SIGHUP, and lines go to a new file.
    std::fs::rename(&log, stack.path().join("access.log.1")).unwrap();
    server.signal(libc::SIGHUP);
    assert!(server.wait_for_log("towerkit: reloaded"));
    curl(&["-s", &server.url("/")]);
    let got = lines(&log, 1);
    assert_eq!(got.len(), 1, "{got:?}");
    assert!(got[0].contains("\"GET / HTTP/1.1\" 200 6 "), "{got:?}");
    assert_eq!(lines(&stack.path().join("access.log.1"), 2).len(), 2);
}
