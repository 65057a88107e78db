//! HTTP exceptions, panics, recursion and error documents, through a real
//! server (the `towerkit` command with apps of its own) and curl.

mod common;

use std::time::{Duration, Instant};

use common::{curl, curl_output, own_factories, Stack};
use serde_json::Value;

const STACK: &str = r#"
[pipeline.main]
pipeline = ["errors", "recursive", "documents", "site"]

[filter.errors]
use = "http-exceptions"

[filter.recursive]
use = "recursive"

[filter.documents]
use = "error-documents"
404 = "/errors/404"
401 = "/errors/401"
503 = "/errors/missing"

[composite.site]
use = "urlmap"
"/home" = "home"
"/panic" = "panic"
"/stream" = "stream"
"/loop/a" = "to-b"
"/loop/b" = "to-a"
"/moved" = "to-home"
"/page" = "page"
"/header" = "header"
"/errors/404" = "not-found-page"
"/errors/401" = "login-page"
"/private" = "private"
"/down" = "down"

[app.home]
use = "text"
body = "home\n"

[app.panic]
use = "panic"
message = "the handler gave up <script>"

[app.stream]
use = "fail-midway"
first = "first part\n"

[app.to-a]
use = "forward"
to = "/loop/a"

[app.to-b]
use = "forward"
to = "/loop/b"

[app.to-home]
use = "forward"
to = "/home?from=moved"

[app.page]
use = "include"
uri = "/header"

[app.header]
use = "text"
body = "the site header"

[app.not-found-page]
use = "text"
content_type = "text/html; charset=utf-8"
body = "<h1>Nothing here</h1>\n"
headers = { "Set-Cookie" = "seen404=1" }

[app.login-page]
use = "text"
body = "please log in\n"

[app.private]
use = "text"
status = 401
body = "no\n"
headers = { "WWW-Authenticate" = ['Basic realm="private"', 'Digest realm="private"'] }

[app.down]
use = "text"
status = 503
body = "down\n"
"#;

fn serve(toml: &str) -> (Stack, common::Running) {
    let stack = Stack::new(toml);
    let server = stack.serve_with(own_factories(), &["127.0.0.1:0"]);
    (stack, server)
}

#[test]
fn a_panic_is_a_500_that_reveals_nothing_and_is_logged_once() {
    let (_stack, server) = serve(STACK);
    let url = server.url("/panic");
    for accept in ["text/html", "application/json", "*/*"] {
        let body = curl(&[
            "-H",
            &format!("Accept: {accept}"),
            "-o",
            "-",
            "-w",
            "\n%{http_code}",
            &url,
        ]);
        assert!(body.ends_with("\n500"), "{accept}: {body}");
        assert!(
            !body.contains("gave up"),
            "{accept}: the panic message leaked: {body}"
        );
    }
    assert!(
        server.wait_for_logs("panic: the handler gave up <script>", 3),
        "{:?}",
        server.stderr()
    );
    // The server is still serving, and logged nothing more for the panics.
    assert_eq!(curl(&[&server.url("/home")]), "home\n");
    let logged = server
        .stderr()
        .iter()
        .filter(|l| l.contains("the handler gave up"))
        .count();
    assert_eq!(
        logged,
        3,
        "one log line per failed request: {:?}",
        server.stderr()
    );
}

#[test]
fn debug_mode_shows_the_panic_escaped() {
    let (_stack, server) = serve(&STACK.replace(
        "use = \"http-exceptions\"",
        "use = \"http-exceptions\"\ndebug = true",
    ));
    let page = curl(&["-H", "Accept: text/html", &server.url("/panic")]);
    assert!(
        page.contains("the handler gave up &lt;script&gt;"),
        "{page}"
    );
    assert!(page.contains("own_factories.rs"), "{page}");
    assert!(page.contains("GET /panic HTTP/1.1"), "{page}");
    let json: Value = serde_json::from_str(&curl(&[
        "-H",
        "Accept: application/json",
        &server.url("/panic"),
    ]))
    .unwrap();
    assert_eq!(json["panic"], "the handler gave up <script>");
}

#[test]
fn exceptions_render_by_accept() {
    let stack = r#"
[pipeline.main]
pipeline = ["errors", "site"]
[filter.errors]
use = "http-exceptions"
[composite.site]
use = "urlmap"
"/only" = "home"
[app.home]
use = "text"
body = "home"
"#;
    let (_stack, server) = serve(stack);
    let url = server.url("/elsewhere");
    let html = curl(&["-H", "Accept: text/html", &url]);
    assert!(
        html.contains("<title>404 Not Found</title>") && html.contains("<h1>Not Found</h1>"),
        "{html}"
    );
    let json: Value =
        serde_json::from_str(&curl(&["-H", "Accept: application/json", &url])).unwrap();
    assert_eq!(
        (json["status"].as_u64(), json["title"].as_str()),
        (Some(404), Some("Not Found"))
    );
    let head = curl(&["-sI", "-H", "Accept: application/json", &url]);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-type: application/problem+json"),
        "{head}"
    );
    let text = curl(&["-H", "Accept:", &url]);
    assert_eq!(text, "404 Not Found\n");
}

#[test]
fn a_body_failing_midway_closes_the_response_and_nothing_hangs() {
    let (_stack, server) = serve(STACK);
    let started = Instant::now();
    let output = curl_output(&[&server.url("/stream")]);
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(!output.status.success(), "curl saw a complete response");
    assert_eq!(String::from_utf8_lossy(&output.stdout), "first part\n");
    assert!(server.wait_for_log("the response body failed midway"));
    assert_eq!(curl(&[&server.url("/home")]), "home\n");
}

#[test]
fn a_forwarding_loop_ends_in_bounded_time_with_one_log_line() {
    let (_stack, server) = serve(STACK);
    let started = Instant::now();
    let code = curl(&[
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &server.url("/loop/a"),
    ]);
    assert_eq!(code, "500");
    assert!(started.elapsed() < Duration::from_secs(5));
    assert!(server.wait_for_log("forwarding loop: /loop/a -> /loop/b -> /loop/a"));
    // A forward that ends somewhere is followed, query and all.
    assert_eq!(curl(&[&server.url("/moved")]), "home\n");
}

#[test]
fn include_from_a_handler() {
    let (_stack, server) = serve(STACK);
    assert_eq!(
        curl(&[&server.url("/page")]),
        "<header>the site header</header>\n"
    );
}

#[test]
fn error_documents_keep_the_status_and_the_challenge() {
    let (_stack, server) = serve(STACK);
    // urlmap answers 404 for this path; the mapped page replaces the body.
    let out = curl(&["-i", &server.url("/errors-nowhere/x")]);
    let out = out.replace("\r\n", "\n");
    assert!(out.starts_with("HTTP/1.1 404 Not Found\n"), "{out}");
    assert!(out.ends_with("\n\n<h1>Nothing here</h1>\n"), "{out}");
    assert!(
        out.to_ascii_lowercase().contains("set-cookie: seen404=1"),
        "{out}"
    );

    let out = curl(&["-i", &server.url("/private")]).replace("\r\n", "\n");
    assert!(out.starts_with("HTTP/1.1 401 Unauthorized\n"), "{out}");
    let challenges: Vec<&str> = out
        .lines()
        .filter(|l| l.to_ascii_lowercase().starts_with("www-authenticate:"))
        .collect();
    assert_eq!(
        challenges,
        [
            "www-authenticate: Basic realm=\"private\"",
            "www-authenticate: Digest realm=\"private\""
        ]
    );
    assert!(out.ends_with("\n\nplease log in\n"), "{out}");

    // The page for 503 does not exist: a short text with the original status.
    let out = curl(&["-i", &server.url("/down")]).replace("\r\n", "\n");
    assert!(
        out.starts_with("HTTP/1.1 503 Service Unavailable\n"),
        "{out}"
    );
    assert!(out.ends_with("\n\n503 Service Unavailable\n"), "{out}");
}

#[test]
fn error_documents_from_a_document_root() {
    let stack = Stack::new(
        r#"
[pipeline.main]
pipeline = ["errors", "recursive", "documents", "root"]

[filter.errors]
use = "http-exceptions"

[filter.recursive]
use = "recursive"

[filter.documents]
use = "error-documents"
404 = "/errors/404.html"

[app.root]
use = "urlparser"
root = "public"
"#,
    );
    let public = stack.path().join("public");
    std::fs::create_dir_all(public.join("errors")).unwrap();
    std::fs::write(public.join("index.html"), "home").unwrap();
    std::fs::write(public.join("errors/404.html"), "<h1>Lost?</h1>\n").unwrap();
    let server = stack.serve();
    let out = curl(&["-i", &server.url("/no/such/page")]).replace("\r\n", "\n");
    assert!(out.starts_with("HTTP/1.1 404 Not Found\n"), "{out}");
    assert!(
        out.to_ascii_lowercase()
            .contains("content-type: text/html; charset=utf-8"),
        "{out}"
    );
    assert!(out.ends_with("\n\n<h1>Lost?</h1>\n"), "{out}");
    // The page itself is still served as it is, with 200.
    let out = curl(&["-i", &server.url("/errors/404.html")]).replace("\r\n", "\n");
    assert!(out.starts_with("HTTP/1.1 200 OK\n"), "{out}");
}
