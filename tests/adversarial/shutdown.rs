//! Shutdown with open event streams that never end by themselves: a CGI
//! script that prints an event every 100 ms for ever, plain and through
//! gzip. Both must end, whole, soon after SIGTERM, and the server exit
//! without waiting for its grace period.

use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};
use std::time::Instant;

use crate::common::{require, Stack};

const SCRIPT: &str = r#"#!/usr/bin/env python3
import sys, time
sys.stdout.write("Content-Type: Text/Event-Stream\r\nCache-Control: no-cache\r\n\r\n")
sys.stdout.flush()
n = 0
while True:
    n += 1
    sys.stdout.write("data: %d\n\n" % n)
    sys.stdout.flush()
    time.sleep(0.1)
"#;

#[test]
fn endless_event_streams_plain_and_gzipped_end_on_sigterm() {
    if !require("curl") || !require("python3") {
        return;
    }
    let stack = Stack::new(
        r#"
[server]
listen = "127.0.0.1:0"
shutdown_grace = "60s"

[composite.main]
use = "urlmap"
"/plain" = "scripts"
"/gzip" = "zipped"

[pipeline.zipped]
pipeline = ["gzip", "scripts"]

[filter.gzip]
use = "gzip"

[app.scripts]
use = "cgi"
root = "cgi-bin"
"#,
    );
    std::fs::create_dir_all(stack.path().join("cgi-bin")).unwrap();
    let script = stack.write("cgi-bin/events.py", SCRIPT);
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut server = stack.serve();
    let streams: Vec<_> = ["/plain/events.py", "/gzip/events.py"]
        .iter()
        .map(|path| {
            let mut child = Command::new("curl")
                .args(["-sSN", "--compressed", "--max-time", "50"])
                .arg("-D")
                .arg(stack.path().join(format!("headers{}", path.len())))
                .arg(server.url(path))
                .stdout(Stdio::piped())
                .stderr(Stdio::piped())
                .spawn()
                .expect("curl");
            let mut first = [0u8; 9];
            child
                .stdout
                .as_mut()
                .unwrap()
                .read_exact(&mut first)
                .unwrap();
            assert_eq!(&first, b"data: 1\n\n", "{path}");
            child
        })
        .collect();
    let started = Instant::now();
    server.signal(libc::SIGTERM);
    assert!(server.wait().success(), "{:?}", server.stderr());
    let exited = started.elapsed();
    for (child, path) in streams.into_iter().zip(["/plain", "/gzip"]) {
        let output = child.wait_with_output().unwrap();
        // curl saw a whole response: a gzip stream cut short fails it.
        assert!(
            output.status.success(),
            "{path}: curl {}: {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        // What came after the first event ends where an event ends.
        let rest = String::from_utf8_lossy(&output.stdout);
        assert!(
            rest.is_empty() || rest.ends_with("\n\n"),
            "{path} ended mid-event: {rest:?}"
        );
    }
    let gzip_headers = std::fs::read_to_string(stack.path().join("headers15")).unwrap();
    assert!(
        gzip_headers
            .to_ascii_lowercase()
            .contains("content-encoding: gzip"),
        "{gzip_headers}"
    );
    assert!(
        server
            .stderr()
            .iter()
            .any(|l| l.contains("all connections finished")),
        "the streams held shutdown until the grace ran out ({exited:?}): {:?}",
        server.stderr()
    );
    eprintln!("with a plain and a gzipped endless stream open, SIGTERM to exit took {exited:?}");
}
