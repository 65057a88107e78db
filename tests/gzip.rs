//! gzip through the real binary, with curl and Python's gzip module.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{curl, curl_output, own_factories, Stack};

const STACK: &str = r#"
[pipeline.main]
pipeline = ["gzip", "site"]

[filter.gzip]
use = "gzip"
decompress_requests = true
max_decompressed = "1MiB"

[composite.site]
use = "urlmap"
"/" = "files"
"/events" = "events"
"/env" = "env"
"/small" = "small"
"/no-transform" = "no-transform"
"/varied" = "varied"

[app.files]
use = "static"
root = "public"

[app.events]
use = "events"

[app.env]
use = "echo"

[app.small]
use = "text"
body = "tiny"

[app.no-transform]
use = "text"
body = """this text is long enough to be compressed, but it says no-transform.
this text is long enough to be compressed, but it says no-transform.
this text is long enough to be compressed, but it says no-transform.
this text is long enough to be compressed, but it says no-transform."""
headers = { "Cache-Control" = "public, no-transform" }

[app.varied]
use = "text"
body = """this text is long enough to be compressed, and varies on the cookie too.
this text is long enough to be compressed, and varies on the cookie too.
this text is long enough to be compressed, and varies on the cookie too.
this text is long enough to be compressed, and varies on the cookie too."""
headers = { "Vary" = "Cookie" }
"#;

fn json() -> String {
    let items: Vec<String> = (0..3000)
        .map(|i| {
            format!(
                "{{\"id\":{i},\"name\":\"item {i}\",\"tags\":[\"a\",\"b\"],\"price\":{}.5}}",
                i * 3
            )
        })
        .collect();
    format!("[{}]", items.join(","))
}

fn serve() -> (Stack, common::Running) {
    let stack = Stack::new(STACK);
    let public = stack.path().join("public");
    std::fs::create_dir_all(&public).unwrap();
    std::fs::write(public.join("data.json"), json()).unwrap();
    std::fs::write(public.join("image.png"), vec![0x89u8; 4096]).unwrap();
    let server = stack.serve_with(own_factories(), &["127.0.0.1:0"]);
    (stack, server)
}

/// Lower-cased response headers of a request (`curl -D -` to stdout).
fn headers(args: &[&str]) -> String {
    common::headers(args).to_ascii_lowercase()
}

#[test]
fn curl_and_python_decode_to_the_same_bytes() {
    let (_stack, server) = serve();
    let url = server.url("/data.json");
    assert_eq!(curl(&["--compressed", &url]), json());
    let head = headers(&["-H", "Accept-Encoding: gzip", &url]);
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert!(head.contains("vary: accept-encoding"), "{head}");
    assert!(!head.contains("content-length"), "{head}");
    assert!(!head.contains("accept-ranges"), "{head}");
    assert!(
        head.contains("etag: w/\""),
        "a strong ETag made weak: {head}"
    );
    let compressed = curl_output(&["-H", "Accept-Encoding: gzip", &url]).stdout;
    assert!(
        compressed.len() * 5 < json().len(),
        "{} bytes",
        compressed.len()
    );

    let python = Command::new("python3")
        .args([
            "-c",
            "import gzip, sys, urllib.request\n\
             r = urllib.request.urlopen(urllib.request.Request(sys.argv[1], headers={'Accept-Encoding': 'gzip'}), timeout=10)\n\
             assert r.headers['Content-Encoding'] == 'gzip'\n\
             sys.stdout.buffer.write(gzip.decompress(r.read()))",
            &url,
        ])
        .output()
        .expect("python3");
    assert!(
        python.status.success(),
        "{}",
        String::from_utf8_lossy(&python.stderr)
    );
    assert_eq!(String::from_utf8(python.stdout).unwrap(), json());
}

#[test]
fn skip_rules() {
    let (_stack, server) = serve();
    let gz = ["-H", "Accept-Encoding: gzip"];
    let url = server.url("/data.json");
    let etag = headers(&[&url])
        .lines()
        .find_map(|l| l.strip_prefix("etag: ").map(str::to_owned))
        .unwrap();
    let cases: Vec<(&str, Vec<String>)> = vec![
        ("HEAD", vec!["-I".into(), url.clone()]),
        (
            "304",
            vec![
                "-H".into(),
                format!("If-None-Match: {}", etag.trim()),
                url.clone(),
            ],
        ),
        (
            "206",
            vec!["-H".into(), "Range: bytes=0-99".into(), url.clone()],
        ),
        ("image/png", vec![server.url("/image.png")]),
        ("below min_size", vec![server.url("/small")]),
        ("no-transform", vec![server.url("/no-transform")]),
    ];
    for (rule, args) in cases {
        let mut all: Vec<&str> = gz.to_vec();
        all.extend(args.iter().map(String::as_str));
        let head = headers(&all);
        assert!(!head.contains("content-encoding"), "{rule}: {head}");
    }
    let head = headers(&["-H", "Accept-Encoding: gzip;q=0, br", &url]);
    assert!(!head.contains("content-encoding"), "{head}");
    assert!(
        head.contains("vary: accept-encoding"),
        "the answer still varies: {head}"
    );
    let head = headers(&["-H", "Accept-Encoding: gzip;q=0, identity;q=0", &url]);
    assert!(head.starts_with("http/1.1 406"), "{head}");
    let head = headers(&["-H", "Accept-Encoding: *", &url]);
    assert!(head.contains("content-encoding: gzip"), "{head}");
}

#[test]
fn vary_is_merged_once() {
    let (_stack, server) = serve();
    let head = headers(&["-H", "Accept-Encoding: gzip", &server.url("/varied")]);
    let vary: Vec<&str> = head.lines().filter(|l| l.starts_with("vary:")).collect();
    assert_eq!(vary, ["vary: cookie, accept-encoding"]);
}

#[test]
fn server_sent_events_stay_live_through_gzip() {
    let (_stack, server) = serve();
    let mut child = Command::new("curl")
        .args([
            "-sN",
            "--compressed",
            "--max-time",
            "20",
            &server.url("/events"),
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("curl");
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if !line.is_empty() && tx.send(line).is_err() {
                break;
            }
        }
    });
    for n in 1..=4 {
        // Event n must arrive before event n+1 exists: it is only made
        // after this POST, which is only sent once event n is read.
        let line = rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("event {n} did not arrive while the stream was open"));
        assert_eq!(line, format!("data: {n}"));
        assert_eq!(curl(&["-X", "POST", &server.url("/events")]), "next\n");
    }
    let _ = child.kill();
    let _ = child.wait();
    // The stream never ends by itself: read its headers, then time out.
    let out = curl_output(&[
        "-s",
        "-D",
        "-",
        "-o",
        "/dev/null",
        "--max-time",
        "2",
        "-H",
        "Accept-Encoding: gzip",
        &server.url("/events"),
    ]);
    let head = String::from_utf8_lossy(&out.stdout).to_ascii_lowercase();
    assert!(head.contains("content-encoding: gzip"), "{head}");
    assert!(head.contains("content-type: text/event-stream"), "{head}");
}

#[test]
fn gzip_request_bodies_and_bombs() {
    let (stack, server) = serve();
    let env = server.url("/env");
    let body = stack.path().join("body.gz");
    let made = Command::new("sh")
        .args([
            "-c",
            &format!(
                "printf 'hello, compressed world' | gzip -c > {}",
                body.display()
            ),
        ])
        .status()
        .unwrap();
    assert!(made.success());
    let out = curl(&[
        "-H",
        "Content-Encoding: gzip",
        "--data-binary",
        &format!("@{}", body.display()),
        &env,
    ]);
    let env_json: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(env_json["body_length"], 23);
    assert!(env_json["headers"].get("content-encoding").is_none());

    // 100 MiB of zeros, about 100 KiB compressed.
    let bomb = stack.path().join("bomb.gz");
    let made = Command::new("sh")
        .args([
            "-c",
            &format!("head -c 104857600 /dev/zero | gzip -c > {}", bomb.display()),
        ])
        .status()
        .unwrap();
    assert!(made.success());
    let before = server.peak_rss_kib();
    let head = headers(&[
        "-H",
        "Content-Encoding: gzip",
        "--data-binary",
        &format!("@{}", bomb.display()),
        &env,
    ]);
    assert!(head.starts_with("http/1.1 413"), "{head}");
    let grown = server.peak_rss_kib().saturating_sub(before);
    assert!(
        grown < 16 * 1024,
        "the bomb grew the peak RSS by {grown} KiB"
    );

    let head = headers(&[
        "-H",
        "Content-Encoding: gzip",
        "-d",
        "not gzip at all",
        &env,
    ]);
    assert!(head.starts_with("http/1.1 400"), "{head}");
}
