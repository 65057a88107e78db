//! Document roots and static files through the real binary and curl.

mod common;

use std::collections::HashMap;
use std::path::Path;

use common::{curl, curl_output, own_factories, Stack};
use serde_json::Value;

const SECRET: &str = "TOP-SECRET-OUTSIDE-THE-ROOT";
/// Backups and hidden files: never served by a document root.
const BACKUP: &str = "A-BACKUP-NEVER-SERVED";

const STACK: &str = r#"
[pipeline.main]
pipeline = ["site"]

[composite.site]
use = "urlmap"
"/" = "root"
"/mounted/under" = "root"
"/static" = "plain"

[app.root]
use = "urlparser"
root = "root"
handlers = { env = "environ" }

[app.plain]
use = "static"
root = "root"
max_age = "1h"
"#;

fn data() -> Vec<u8> {
    (0..10_000u32).map(|i| (i % 251) as u8).collect()
}

fn write(path: &Path, content: impl AsRef<[u8]>) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// A stack with a document root full of cases, and a secret beside it.
fn site() -> (Stack, common::Running) {
    let stack = Stack::new(STACK);
    let root = stack.path().join("root");
    write(&root.join("index.html"), "<h1>home</h1>\n");
    write(&root.join("hello.txt"), "hello world\n");
    write(&root.join("notes.txt"), "notes as text");
    write(&root.join("notes.md"), "notes as markdown");
    write(&root.join("report.pdf"), "%PDF-1.4 report");
    write(&root.join("docs/guide.html"), "<p>guide</p>");
    write(&root.join("docs/deep/index.html"), "deep index");
    write(&root.join(".secret"), BACKUP);
    write(&root.join("backup.txt~"), BACKUP);
    write(&root.join("old.bak"), BACKUP);
    write(&root.join("app.env"), "not served as a file");
    write(&root.join("data.bin"), data());
    write(&root.join("style.css"), "body { color: red }\n".repeat(50));
    let mut gz = flate2_gzip(&"body { color: red }\n".repeat(50));
    write(&root.join("style.css.gz"), &mut gz);
    write(&stack.path().join("outside/secret.txt"), SECRET);
    std::os::unix::fs::symlink(stack.path().join("outside"), root.join("link-out")).unwrap();
    std::os::unix::fs::symlink(root.join("hello.txt"), root.join("link-in")).unwrap();
    let server = stack.serve_with(own_factories(), &["127.0.0.1:0"]);
    (stack, server)
}

/// A gzip member of `text`, made by the system's gzip.
fn flate2_gzip(text: &str) -> Vec<u8> {
    use std::io::Write;
    let mut child = std::process::Command::new("gzip")
        .arg("-c")
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("gzip is installed");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap().stdout
}

/// Status, lower-cased headers and body of a curl request.
fn fetch(args: &[&str]) -> (u16, HashMap<String, String>, Vec<u8>) {
    let mut all = vec!["-i"];
    all.extend_from_slice(args);
    let out = curl_output(&all).stdout;
    let split = out
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a header block");
    let head = String::from_utf8_lossy(&out[..split]).to_string();
    let body = out[split + 4..].to_vec();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    (status, headers, body)
}

#[test]
fn index_nested_folders_and_their_redirects() {
    let (_stack, server) = site();
    let (status, headers, body) = fetch(&[&server.url("/")]);
    assert_eq!((status, body.as_slice()), (200, &b"<h1>home</h1>\n"[..]));
    assert_eq!(headers["content-type"], "text/html; charset=utf-8");

    let (status, headers, _) = fetch(&[&server.url("/docs?x=1")]);
    assert_eq!((status, headers["location"].as_str()), (301, "/docs/?x=1"));
    let (status, headers, _) = fetch(&[&server.url("/mounted/under/docs/deep?y")]);
    assert_eq!(
        (status, headers["location"].as_str()),
        (301, "/mounted/under/docs/deep/?y")
    );
    let (status, headers, _) = fetch(&[&server.url("/mounted/under")]);
    assert_eq!(
        (status, headers["location"].as_str()),
        (301, "/mounted/under/")
    );
    assert_eq!(
        curl(&["-L", &server.url("/mounted/under/docs/deep")]),
        "deep index"
    );
    assert_eq!(curl(&[&server.url("/docs/guide.html")]), "<p>guide</p>");
    // A folder without index, listings off.
    assert_eq!(fetch(&[&server.url("/docs/")]).0, 404);
    // Nothing may follow a static file.
    assert_eq!(fetch(&[&server.url("/hello.txt/more")]).0, 404);
    assert_eq!(fetch(&[&server.url("/hello.txt/")]).0, 404);
}

#[test]
fn extension_less_names_and_ambiguity() {
    let (_stack, server) = site();
    assert_eq!(curl(&[&server.url("/hello")]), "hello world\n");
    let (status, headers, _) = fetch(&[&server.url("/report")]);
    assert_eq!(
        (status, headers["content-type"].as_str()),
        (200, "application/pdf")
    );
    assert_eq!(
        fetch(&[&server.url("/notes")]).0,
        404,
        "notes.txt and notes.md: ambiguous"
    );
    assert_eq!(curl(&[&server.url("/notes.md")]), "notes as markdown");
}

#[test]
fn a_registered_handler_sees_script_name_and_path() {
    let (_stack, server) = site();
    let env: Value =
        serde_json::from_str(&curl(&[&server.url("/app.env/extra/path?q=1")])).unwrap();
    assert_eq!(env["script_name"], "/app.env");
    assert_eq!(env["path_info"], "/extra/path");
    assert_eq!(env["query_string"], "q=1");
    let env: Value = serde_json::from_str(&curl(&[&server.url("/mounted/under/app.env")])).unwrap();
    assert_eq!(env["script_name"], "/mounted/under/app.env");
    assert_eq!(env["path_info"], "");
}

#[test]
fn traversal_never_returns_a_byte_from_outside() {
    let (_stack, server) = site();
    let attempts = [
        "/../outside/secret.txt",
        "/..%2foutside/secret.txt",
        "/%2e%2e/outside/secret.txt",
        "/%2E%2E/outside/secret.txt",
        "/%2e%2e%2foutside%2fsecret.txt",
        "/.%2e/outside/secret.txt",
        "/%2e./outside/secret.txt",
        "/..%5coutside%5csecret.txt",
        "/..\\outside\\secret.txt",
        "/docs/../../outside/secret.txt",
        "/docs/%2e%2e/%2e%2e/outside/secret.txt",
        "/docs/..%2f..%2foutside/secret.txt",
        "/./../outside/secret.txt",
        "/docs/./../../outside/secret.txt",
        "/....//outside/secret.txt",
        "/..;/outside/secret.txt",
        "/%252e%252e/outside/secret.txt",
        "/%c0%ae%c0%ae/outside/secret.txt",
        "/..%c0%afoutside/secret.txt",
        "/..%00/outside/secret.txt",
        "/hello.txt%00.html",
        "/.secret",
        "/%2esecret",
        "/backup.txt~",
        "/backup.txt%7e",
        "/old.bak",
        "/link-out/secret.txt",
        "/link-out",
        "//etc/passwd",
        "/%2fetc%2fpasswd",
        "/..",
        "/%2e%2e",
        "/docs/%2e%2e%5c%2e%2e%5coutside%5csecret.txt",
        "/.well-known/../../outside/secret.txt",
        "/%uff0e%uff0e/outside/secret.txt",
        "/mounted/under/../../../outside/secret.txt",
        "/mounted/under/%2e%2e/%2e%2e/outside/secret.txt",
    ];
    assert!(attempts.len() >= 30);
    let mut checked = 0;
    for prefix in ["", "/static"] {
        for attempt in attempts {
            let url = server.url(&format!("{prefix}{attempt}"));
            let (status, _, body) = fetch(&["--path-as-is", &url]);
            let body = String::from_utf8_lossy(&body);
            assert!(!body.contains(SECRET), "{url} leaked the secret");
            if prefix.is_empty() {
                assert!(
                    !body.contains(BACKUP),
                    "{url} served a hidden or backup file"
                );
            }
            assert!(!body.contains("root:x:0:0"), "{url} leaked /etc/passwd");
            let refused = matches!(status, 400 | 403 | 404);
            // ServeDir does not hide backups (`~`, `.bak`): only the
            // document root does.
            let servedir_backup =
                prefix == "/static" && (attempt.contains("backup") || attempt.contains(".bak"));
            // `..` is resolved inside the path: `/static/..` is the site's
            // own root, `/`, which may be served; it never climbs out.
            let inside = prefix == "/static" && matches!(attempt, "/.." | "/%2e%2e");
            assert!(
                refused || servedir_backup || inside,
                "{url} answered {status}"
            );
            assert!(!body.contains(&server.addr().to_string()) || status == 301);
            checked += 1;
        }
    }
    assert_eq!(checked, attempts.len() * 2);
    // A symlink that stays inside the root is fine.
    assert_eq!(curl(&[&server.url("/link-in")]), "hello world\n");
}

#[test]
fn conditional_requests() {
    let (_stack, server) = site();
    let url = server.url("/static/hello.txt");
    let (status, headers, _) = fetch(&[&url]);
    assert_eq!(status, 200);
    assert_eq!(headers["cache-control"], "max-age=3600");
    let etag = headers["etag"].clone();
    let last_modified = headers["last-modified"].clone();
    assert!(
        etag.starts_with('"') && !etag.starts_with("W/"),
        "a strong ETag: {etag}"
    );
    let status = |extra: &[&str]| {
        let mut args: Vec<&str> = Vec::new();
        for header in extra {
            args.push("-H");
            args.push(header);
        }
        args.push(&url);
        fetch(&args).0
    };
    let inm = format!("If-None-Match: {etag}");
    let im = format!("If-Match: {etag}");
    let ims = format!("If-Modified-Since: {last_modified}");
    assert_eq!(status(&[&inm]), 304);
    assert_eq!(status(&["If-None-Match: \"other\", W/\"x\""]), 200);
    assert_eq!(
        status(&[&format!("If-None-Match: W/{etag}")]),
        304,
        "weak comparison"
    );
    assert_eq!(status(&["If-None-Match: *"]), 304);
    // If-None-Match wins over If-Modified-Since.
    assert_eq!(status(&["If-None-Match: \"other\"", &ims]), 200);
    assert_eq!(status(&[&ims]), 304);
    assert_eq!(
        status(&["If-Modified-Since: Sat, 01 Jan 2000 00:00:00 GMT"]),
        200
    );
    assert_eq!(status(&["If-Modified-Since: not a date"]), 200);
    assert_eq!(status(&[&im]), 200);
    assert_eq!(status(&["If-Match: \"other\""]), 412);
    assert_eq!(
        status(&[&format!("If-Match: W/{etag}")]),
        412,
        "strong comparison"
    );
    assert_eq!(
        status(&["If-Unmodified-Since: Sat, 01 Jan 2000 00:00:00 GMT"]),
        412
    );
    assert_eq!(
        status(&[&format!("If-Unmodified-Since: {last_modified}")]),
        200
    );
    let (code, headers, body) = fetch(&["-H", &inm, &url]);
    assert_eq!((code, body.len()), (304, 0));
    assert_eq!(headers["etag"], etag);
    // The same through the document root.
    assert_eq!(fetch(&["-H", &inm, &server.url("/hello.txt")]).0, 304);
}

#[test]
fn ranges() {
    let (_stack, server) = site();
    let url = server.url("/static/data.bin");
    let data = data();
    let range = |spec: &str| fetch(&["-H", &format!("Range: {spec}"), &url]);
    let (status, headers, body) = range("bytes=0-9");
    assert_eq!(
        (status, headers["content-range"].as_str()),
        (206, "bytes 0-9/10000")
    );
    assert_eq!(body, data[0..10]);
    assert_eq!(headers["content-length"], "10");
    let (status, headers, body) = range("bytes=-10");
    assert_eq!(
        (status, headers["content-range"].as_str()),
        (206, "bytes 9990-9999/10000")
    );
    assert_eq!(body, data[9990..]);
    let (_, headers, body) = range("bytes=9000-");
    assert_eq!(headers["content-range"], "bytes 9000-9999/10000");
    assert_eq!(body, data[9000..]);
    let (_, headers, body) = range("bytes=9995-20000");
    assert_eq!(headers["content-range"], "bytes 9995-9999/10000");
    assert_eq!(body, data[9995..]);
    let (status, headers, _) = range("bytes=20000-");
    assert_eq!(
        (status, headers["content-range"].as_str()),
        (416, "bytes */10000")
    );
    let (status, _, body) = range("bytes=abc");
    assert_eq!(
        (status, body.len()),
        (200, 10_000),
        "a malformed Range is ignored"
    );
    let (status, _, body) = range("bytes=9-1");
    assert_eq!((status, body.len()), (200, 10_000));

    let etag = fetch(&[&url]).1["etag"].clone();
    let (status, _, _) = fetch(&[
        "-H",
        "Range: bytes=0-1",
        "-H",
        &format!("If-Range: {etag}"),
        &url,
    ]);
    assert_eq!(status, 206);
    let (status, _, body) = fetch(&["-H", "Range: bytes=0-1", "-H", "If-Range: \"stale\"", &url]);
    assert_eq!((status, body.len()), (200, 10_000));

    // Several ranges: multipart/byteranges, parsed back.
    let (status, headers, body) = range("bytes=0-9,100-109,-5");
    assert_eq!(status, 206);
    let boundary = headers["content-type"]
        .strip_prefix("multipart/byteranges; boundary=")
        .expect("multipart")
        .to_owned();
    assert_eq!(
        headers["content-length"].parse::<usize>().unwrap(),
        body.len()
    );
    let parts = parse_multipart(&body, &boundary);
    let expected = [(0usize, 9usize), (100, 109), (9995, 9999)];
    assert_eq!(parts.len(), 3);
    for ((part_headers, part), (start, end)) in parts.iter().zip(expected) {
        assert_eq!(
            part_headers["content-range"],
            format!("bytes {start}-{end}/10000")
        );
        assert_eq!(part_headers["content-type"], "application/octet-stream");
        assert_eq!(part.as_slice(), &data[start..=end]);
    }
}

#[test]
fn ranges_cannot_amplify() {
    let (_stack, server) = site();
    let url = server.url("/static/data.bin");
    let data = data();
    let range = |spec: &str| fetch(&["-H", &format!("Range: {spec}"), &url]);
    // 32 times the whole file, asked for at once: one copy.
    let copies = format!("bytes={}", vec!["0-"; 32].join(","));
    let (status, headers, body) = range(&copies);
    assert_eq!(
        (status, headers["content-range"].as_str(), body.len()),
        (206, "bytes 0-9999/10000", 10_000)
    );
    assert_eq!(body, data);
    // More ranges than the gateway takes (32): ignored, the file once.
    let (status, headers, body) = range(&format!("bytes={}", vec!["0-"; 33].join(",")));
    assert_eq!((status, body.len()), (200, 10_000));
    assert!(!headers.contains_key("content-range"));
    let (status, _, body) = range(&format!("bytes={}", vec!["0-0"; 100].join(",")));
    assert_eq!((status, body.len()), (200, 10_000));
    // Overlapping ranges are coalesced into one part.
    let (status, headers, body) = range("bytes=0-10,5-20");
    assert_eq!(
        (
            status,
            headers["content-range"].as_str(),
            headers["content-type"].as_str()
        ),
        (206, "bytes 0-20/10000", "application/octet-stream")
    );
    assert_eq!(body, data[..=20]);
    // Overlapping and separate ones: two parts, each once.
    let (status, headers, body) = range("bytes=5000-5009,0-9,5005-5019,2-4");
    assert_eq!(status, 206);
    let boundary = headers["content-type"]
        .strip_prefix("multipart/byteranges; boundary=")
        .expect("multipart");
    let parts = parse_multipart(&body, boundary);
    let ranges: Vec<&str> = parts
        .iter()
        .map(|(h, _)| h["content-range"].as_str())
        .collect();
    assert_eq!(ranges, ["bytes 5000-5019/10000", "bytes 0-9/10000"]);
    assert_eq!(parts[0].1, data[5000..5020]);
    assert_eq!(parts[1].1, data[..10]);
    // Two ranges of a small file would be longer, part headers and all,
    // than the file: the file is sent.
    let small = server.url("/static/hello.txt");
    let (status, _, body) = fetch(&["-H", "Range: bytes=0-1,6-7", &small]);
    assert_eq!((status, body.as_slice()), (200, &b"hello world\n"[..]));
    // Several ranges none of which reaches the file: 416.
    let (status, headers, _) = range("bytes=10000-,20000-20001");
    assert_eq!(
        (status, headers["content-range"].as_str()),
        (416, "bytes */10000")
    );
}

fn parse_multipart(body: &[u8], boundary: &str) -> Vec<(HashMap<String, String>, Vec<u8>)> {
    let delimiter = format!("\r\n--{boundary}");
    let text = body;
    let mut parts = Vec::new();
    let positions: Vec<usize> = text
        .windows(delimiter.len())
        .enumerate()
        .filter(|(_, w)| *w == delimiter.as_bytes())
        .map(|(i, _)| i)
        .collect();
    for pair in positions.windows(2) {
        let part = &text[pair[0] + delimiter.len() + 2..pair[1]];
        let split = part.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
        let headers = String::from_utf8_lossy(&part[..split])
            .lines()
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_owned()))
            .collect();
        parts.push((headers, part[split + 4..].to_vec()));
    }
    let last = *positions.last().unwrap();
    assert_eq!(&text[last + delimiter.len()..], b"--\r\n");
    parts
}

#[test]
fn head_is_get_without_the_body() {
    let (_stack, server) = site();
    for (path, extra) in [
        ("/", None),
        ("/static/data.bin", None),
        // (Range applies to GET only, RFC 9110 §14.2: HEAD ignores it.)
        ("/static/style.css", Some("Accept-Encoding: gzip")),
        ("/missing", None),
    ] {
        let mut get = vec![];
        let mut head = vec!["-I"];
        if let Some(h) = extra {
            get.extend(["-H", h]);
            head.extend(["-H", h]);
        }
        let url = server.url(path);
        get.push(&url);
        head.push(&url);
        let (get_status, mut get_headers, _) = fetch(&get);
        let (head_status, mut head_headers, head_body) = fetch(&head);
        get_headers.remove("date");
        head_headers.remove("date");
        assert_eq!(get_status, head_status, "{path}");
        assert_eq!(get_headers, head_headers, "{path} {extra:?}");
        assert!(head_body.is_empty());
    }
}

#[test]
fn precompressed_siblings_methods_and_types() {
    let (_stack, server) = site();
    let url = server.url("/static/style.css");
    let (_, headers, body) = fetch(&["-H", "Accept-Encoding: gzip", &url]);
    assert_eq!(headers["content-encoding"], "gzip");
    assert_eq!(headers["vary"], "accept-encoding");
    assert_eq!(headers["content-type"], "text/css; charset=utf-8");
    assert!(body.starts_with(&[0x1f, 0x8b]));
    assert_eq!(
        curl(&["--compressed", &url]),
        "body { color: red }\n".repeat(50)
    );
    let (_, headers, body) = fetch(&[&url]);
    assert!(!headers.contains_key("content-encoding"));
    assert_eq!(headers["vary"], "accept-encoding");
    assert_eq!(
        String::from_utf8(body).unwrap(),
        "body { color: red }\n".repeat(50)
    );
    let (_, headers, _) = fetch(&["-H", "Accept-Encoding: gzip;q=0", &url]);
    assert!(!headers.contains_key("content-encoding"));

    let (status, headers, _) = fetch(&["-X", "POST", &server.url("/static/hello.txt")]);
    assert_eq!((status, headers["allow"].as_str()), (405, "GET, HEAD"));
    let (status, headers, _) = fetch(&["-X", "DELETE", &server.url("/hello.txt")]);
    assert_eq!((status, headers["allow"].as_str()), (405, "GET, HEAD"));
}

#[test]
fn a_one_gigabyte_file_streams_in_flat_memory() {
    let (stack, server) = site();
    let big = stack.path().join("root/big.bin");
    let file = std::fs::File::create(&big).unwrap();
    file.set_len(1 << 30).unwrap(); // sparse: no disk used
    drop(file);
    let before = server.peak_rss_kib();
    // A debug build on a busy two-core machine needs more than the usual
    // ten seconds for a gigabyte; the last --max-time wins.
    let size = curl(&[
        "--max-time",
        "120",
        "-o",
        "/dev/null",
        "-w",
        "%{size_download}",
        &server.url("/static/big.bin"),
    ]);
    assert_eq!(size, (1u64 << 30).to_string());
    let after = server.peak_rss_kib();
    let grown = after.saturating_sub(before);
    eprintln!("peak RSS {before} KiB before, {after} KiB after 1 GiB: grew {grown} KiB");
    assert!(
        grown < 64 * 1024,
        "serving 1 GiB grew the peak RSS by {grown} KiB"
    );
}

#[test]
fn serve_with_no_file_serves_the_folder_with_listings() {
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("a <b>.txt"), "x");
    write(&dir.path().join("sub/f.txt"), "f");
    let mut command = common::towerkit();
    command.arg("serve").arg("--root").arg(dir.path());
    command.args(["--listen", "127.0.0.1:0"]);
    let server = common::Running::start_command(command);
    let page = curl(&[&server.url("/")]);
    assert!(
        page.contains("<a href=\"./a%20%3Cb%3E.txt\">a &lt;b&gt;.txt</a>"),
        "{page}"
    );
    assert!(page.contains("<a href=\"./sub/\">sub/</a>"), "{page}");
    assert_eq!(curl(&[&server.url("/sub/f.txt")]), "f");
    let json = curl(&["-H", "Accept: application/json", &server.url("/nope")]);
    assert!(json.contains("\"status\":404"), "{json}");
}

#[test]
fn cascade_tries_apps_in_order_with_the_body_replayed() {
    let stack = Stack::new(
        r#"
[composite.main]
use = "cascade"
apps = ["overrides", "public", "env"]
max_body = "1KiB"

[app.overrides]
use = "urlparser"
root = "overrides"

[app.public]
use = "urlparser"
root = "public"
not_found = "gone"

[app.gone]
use = "text"
status = 410
body = "gone\n"

[app.env]
use = "echo"
"#,
    );
    write(&stack.path().join("overrides/logo.txt"), "new logo");
    write(&stack.path().join("public/logo.txt"), "old logo");
    write(&stack.path().join("public/about.txt"), "about");
    let server = stack.serve();
    assert_eq!(curl(&[&server.url("/logo.txt")]), "new logo");
    assert_eq!(curl(&[&server.url("/about.txt")]), "about");
    // public answers 410 (its not_found app): not caught, it stands.
    let (status, _, body) = fetch(&[&server.url("/missing")]);
    assert_eq!((status, body.as_slice()), (410, &b"gone\n"[..]));

    let stack = Stack::new(
        r#"
[composite.main]
use = "cascade"
apps = ["first", "env"]
catch = [404, 405]
max_body = "1KiB"

[app.first]
use = "urlparser"
root = "public"

[app.env]
use = "echo"
"#,
    );
    write(&stack.path().join("public/page.txt"), "page");
    let server = stack.serve();
    // The first app refuses POST (405, caught); the second still gets the
    // whole body.
    let env: Value =
        serde_json::from_str(&curl(&["-d", &"x".repeat(600), &server.url("/page.txt")])).unwrap();
    assert_eq!(env["body_length"], 600);
    assert_eq!(env["path_info"], "/page.txt");
    let (status, _, _) = fetch(&["-d", &"x".repeat(2000), &server.url("/page.txt")]);
    assert_eq!(status, 413);
    // Chunked, without a length: the limit holds too.
    let (status, _, _) = fetch(&[
        "-H",
        "Transfer-Encoding: chunked",
        "-d",
        &"x".repeat(2000),
        &server.url("/a"),
    ]);
    assert_eq!(status, 413);
}
