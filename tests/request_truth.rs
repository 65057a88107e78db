//! One request truth: whatever way a path is spelled, the login layer and
//! the layers that serve (urlmap, urlparser, static) decide on the same
//! path, so nothing under `protect` is served without credentials.
//!
//! Two proofs: a battery of raw spellings sent over a socket to the real
//! `towerkit` binary, and a property test that stacks the layers in-process
//! (no server in front to canonicalize for them, as under axum) and checks,
//! for generated spellings, that whatever the stack without login would
//! serve from under a protected prefix, the stack with login challenges.

mod common;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::Path;
use std::time::Duration;

use common::{Running, Stack};
use http::{Request, Response};
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use tower::util::BoxCloneSyncService;
use tower::Layer;
use towerkit_core::app::Text;
use towerkit_core::recursive::BoxFuture;
use towerkit_core::{Body, BoxError, TestClient};
use towerkit_login::{Authenticator, LoginLayer, LoginMethod};
use towerkit_urlparser::{UrlMap, UrlParser};

/// `ada`'s password is `pw` (`{SHA}` as `htpasswd -s` writes it).
const USERS: &str = "ada:{SHA}GpHWL3ymc5liWkNopqtdSjuqYHM=\n";
/// `ada:pw`
const CREDENTIALS: &str = "Basic YWRhOnB3";

/// The document root: a public page, and a protected folder whose files
/// all carry the word SECRET.
fn public_folder(root: &Path) {
    std::fs::create_dir_all(root.join("private/deeper")).unwrap();
    std::fs::write(root.join("index.html"), "public home\n").unwrap();
    std::fs::write(root.join("private/index.html"), "SECRET index\n").unwrap();
    std::fs::write(root.join("private/page.html"), "SECRET page\n").unwrap();
    std::fs::write(root.join("private/deeper/x.txt"), "SECRET deeper\n").unwrap();
}

fn serve() -> Running {
    let stack = Stack::new(
        r#"
[server]
listen = "127.0.0.1:0"

[pipeline.main]
pipeline = ["auth", "site"]

[filter.auth]
use = "login"
methods = ["basic"]
users = "users.htpasswd"
protect = ["/private", "/admin"]

[composite.site]
use = "urlmap"
"/" = "docroot"
"/admin" = "admin"

[app.docroot]
use = "urlparser"
root = "public"

[app.admin]
use = "text"
body = "SECRET admin\n"
"#,
    );
    stack.write("users.htpasswd", USERS);
    public_folder(&stack.path().join("public"));
    let mut running = stack.serve();
    running.keep(stack.dir);
    running
}

/// Sends one raw request line, exactly as written (with `Host: HOST`), and
/// returns the status code and the whole response.
fn raw_to(addr: SocketAddr, target: &str, host: &str, extra: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    write!(
        stream,
        "GET {target} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n{extra}\r\n"
    )
    .unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    let response = String::from_utf8_lossy(&response).into_owned();
    let status = response
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, response)
}

/// [`raw_to`] the server's own address as the host.
fn raw(addr: SocketAddr, target: &str, extra: &str) -> (u16, String) {
    raw_to(addr, target, &addr.to_string(), extra)
}

/// Spellings of paths under `/private` (a folder of the document root) and
/// `/admin` (an app mounted by urlmap), none of which may be served without
/// credentials.
const SPELLINGS: &[&str] = &[
    "/private",
    "/private/",
    "/private/page.html",
    "/private/deeper/x.txt",
    "/%70rivate/",
    "/%70rivate/page.html",
    "/priv%61te/page.html",
    "/%70%72%69%76%61%74%65/",
    "/%70RIVATE/",
    "//private/",
    "///private/page.html",
    "/private//page.html",
    "//private//deeper//x.txt",
    "/./private/",
    "/././private/page.html",
    "/private/./page.html",
    "/.//private/",
    "/%2e/private/",
    "/%2E/private/page.html",
    "/x/../private/",
    "/x/y/../../private/page.html",
    "/x/%2e%2e/private/",
    "/x/.%2e/private/page.html",
    "/x/%2E./private/page.html",
    "/public/../private/",
    "/index.html/../private/page.html",
    "/private/x/../page.html",
    "/private/deeper/../page.html",
    "/private/../private/page.html",
    "/private/%70age.html",
    "/private/page%2ehtml",
    "/private/deeper%2fx.txt",
    "/private%2fpage.html",
    "/%2fprivate/page.html",
    "/private;x/page.html",
    "/private/page.html;x",
    "/private/page.html%00",
    "/private/page.html%00.txt",
    "/private/page.html%20",
    "/private/page.html/",
    "/private/page.html?x=1",
    "/private%5cpage.html",
    "/../private/",
    "/%2e%2e/private/",
    "/%252570rivate/",
    "/PRIVATE/",
    "/admin",
    "/admin/",
    "/admin/anything",
    "/%61dmin",
    "/%61%64%6d%69%6e/",
    "//admin",
    "//admin//x",
    "/./admin/x",
    "/x/../admin",
    "/x/%2e%2e/admin/",
    "/admin/../admin/y",
    "/admin;x",
    "/admin%2f",
    "/ADMIN",
];

#[test]
fn no_spelling_of_a_protected_path_is_served_without_credentials() {
    let server = serve();
    let addr = server.addr();
    // The battery can fail: with credentials, the plain spellings serve the
    // secrets.
    for plain in ["/private/", "/private/page.html", "/admin", "/admin/x"] {
        let (status, response) = raw(addr, plain, &format!("Authorization: {CREDENTIALS}\r\n"));
        assert_eq!(status, 200, "{plain} with credentials: {response}");
        assert!(response.contains("SECRET"), "{plain}: {response}");
    }
    let (status, response) = raw(addr, "/", "");
    assert_eq!(status, 200, "{response}");
    let mut challenged = 0;
    for spelling in SPELLINGS {
        let (status, response) = raw(addr, spelling, "");
        assert!(
            !response.contains("SECRET"),
            "{spelling} served a protected page: {response}"
        );
        assert!(
            matches!(status, 400 | 401 | 404),
            "{spelling}: unexpected {status}: {response}"
        );
        challenged += usize::from(status == 401);
    }
    // Most spellings name a protected path and must be challenged, not just
    // missed.
    assert!(challenged >= 40, "only {challenged} challenged");
    // An absolute-form target is the same path.
    for target in [
        format!("http://{addr}/private/page.html"),
        format!("http://{addr}/%70rivate//page.html"),
        format!("http://{addr}/x/../admin"),
    ] {
        let (status, response) = raw(addr, &target, "");
        assert_eq!(status, 401, "{target}: {response}");
    }
}

#[test]
fn paths_that_cannot_be_read_one_way_are_refused() {
    let server = serve();
    for spelling in [
        "/../private/",
        "/a/../../private",
        "/%2e%2e/x",
        "/x%00",
        "/x%0d%0aSet-Cookie:%20a=b",
        "/%ff",
    ] {
        let (status, response) = raw(server.addr(), spelling, "");
        assert_eq!(status, 400, "{spelling}: {response}");
    }
}

#[test]
fn hosts_are_read_one_way() {
    let server = serve();
    let addr = server.addr();
    let send = |head: &str| {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        stream.write_all(head.as_bytes()).unwrap();
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        String::from_utf8_lossy(&response).into_owned()
    };
    let missing = send("GET / HTTP/1.1\r\nConnection: close\r\n\r\n");
    assert!(missing.starts_with("HTTP/1.1 400"), "{missing}");
    assert!(missing.contains("Host"), "{missing}");
    let two = send("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\nConnection: close\r\n\r\n");
    assert!(two.starts_with("HTTP/1.1 400"), "{two}");
    for bad in ["a b", "a/b", "a:x", "a:99999", "[::1", "ex ample.com"] {
        let response = send(&format!(
            "GET / HTTP/1.1\r\nHost: {bad}\r\nConnection: close\r\n\r\n"
        ));
        assert!(response.starts_with("HTTP/1.1 400"), "{bad:?}: {response}");
    }
    let ok = send("GET / HTTP/1.1\r\nHost: example.com:8080\r\nConnection: close\r\n\r\n");
    assert!(ok.starts_with("HTTP/1.1 200"), "{ok}");
    // HTTP/1.0 may leave Host out.
    let old = send("GET / HTTP/1.0\r\n\r\n");
    assert!(old.starts_with("HTTP/1.0 200"), "{old}");
}

#[test]
fn built_urls_take_the_absolute_target_and_drop_default_ports() {
    let stack = Stack::new(
        r#"
[server]
listen = "127.0.0.1:0"

[composite.main]
use = "urlmap"
"/env" = "env"

[app.env]
use = "echo"
"#,
    );
    let server = stack.serve();
    let addr = server.addr();
    let url_of = |target: &str, host: &str| {
        let (status, response) = raw_to(addr, target, host, "");
        assert_eq!(status, 200, "{response}");
        let body = &response[response.find("\r\n\r\n").unwrap() + 4..];
        let json: serde_json::Value = serde_json::from_str(body.trim()).unwrap_or_else(|e| {
            // A chunked body: take the JSON between the chunk sizes.
            let start = body.find('{').unwrap();
            let end = body.rfind('}').unwrap();
            serde_json::from_str(&body[start..=end]).unwrap_or_else(|_| panic!("{e}: {body}"))
        });
        json["url"].as_str().unwrap_or_default().to_owned()
    };
    assert_eq!(url_of("/env/x", "spam:80"), "http://spam/env/x");
    assert_eq!(url_of("/env/x", "spam:8080"), "http://spam:8080/env/x");
    assert_eq!(
        url_of("http://target.example/env/x", "other.example"),
        "http://target.example/env/x"
    );
}

// The property, in-process: no server in front makes the path canonical,
// so the layers must agree on their own.

struct Ada;

impl Authenticator for Ada {
    fn check(&self, user: &str, password: &str) -> BoxFuture<bool> {
        let ok = user == "ada" && password == "pw";
        Box::pin(async move { ok })
    }
}

type App = BoxCloneSyncService<Request<Body>, Response<Body>, BoxError>;

fn site(root: &Path) -> App {
    let docroot = BoxCloneSyncService::new(UrlParser::new(root));
    let admin = BoxCloneSyncService::new(tower::ServiceExt::<Request<Body>>::map_err(
        Text::new("SECRET admin\n"),
        BoxError::from,
    ));
    BoxCloneSyncService::new(tower::ServiceExt::<Request<Body>>::map_err(
        UrlMap::new().mount("/", docroot).mount("/admin", admin),
        BoxError::from,
    ))
}

fn protected(root: &Path) -> App {
    BoxCloneSyncService::new(
        LoginLayer::new(Ada, &[LoginMethod::Basic])
            .expect("a login layer")
            .protect(vec!["/private".into(), "/admin".into()])
            .layer(site(root)),
    )
}

/// One way of writing a segment: as it is, with some letters
/// percent-encoded (either case), or followed by `;x`.
fn spell_segment(segment: &'static str) -> impl Strategy<Value = String> {
    let encoded =
        proptest::collection::vec(any::<(bool, bool)>(), segment.len()).prop_map(move |choices| {
            segment
                .bytes()
                .zip(choices)
                .map(|(b, (encode, lower))| match (encode, lower) {
                    (true, true) => format!("%{b:02x}"),
                    (true, false) => format!("%{b:02X}"),
                    _ => (b as char).to_string(),
                })
                .collect::<String>()
        });
    prop_oneof![
        4 => encoded,
        1 => Just(format!("{segment};x")),
        1 => Just(segment.to_ascii_uppercase()),
    ]
}

/// What may stand between two segments: one slash, several, `.` segments,
/// a detour into a folder and back out with `..`, or an encoded slash that
/// joins the two into one segment.
fn separator() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => Just("/".to_owned()),
        1 => Just("//".to_owned()),
        1 => Just("/./".to_owned()),
        1 => Just("/%2e/".to_owned()),
        1 => Just("/x/../".to_owned()),
        1 => Just("/x/%2E%2e/".to_owned()),
        1 => Just("/public/../".to_owned()),
        1 => Just("%2F".to_owned()),
        1 => Just("/../".to_owned()),
    ]
}

/// A path aiming at something under a protected prefix, spelled at random.
fn spelled_path() -> impl Strategy<Value = String> {
    let targets: &[&[&'static str]] = &[
        &["private"],
        &["private", "page.html"],
        &["private", "deeper", "x.txt"],
        &["admin"],
        &["admin", "y"],
    ];
    proptest::sample::select(targets.to_vec()).prop_flat_map(|segments| {
        let spelled: Vec<_> = segments.iter().map(|s| spell_segment(s)).collect();
        let seps = proptest::collection::vec(separator(), segments.len());
        (spelled, seps, any::<bool>()).prop_map(|(spelled, seps, trailing)| {
            let mut path = String::new();
            for (sep, segment) in seps.iter().zip(&spelled) {
                path.push_str(sep);
                path.push_str(segment);
            }
            if !path.starts_with('/') {
                path.insert(0, '/');
            }
            if trailing {
                path.push('/');
            }
            path
        })
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn login_protects_whatever_the_site_would_serve_under_a_protected_prefix(path in spelled_path()) {
        let dir = FOLDER.with(|dir| dir.path().to_owned());
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        runtime.block_on(async {
            let mut open = TestClient::new(site(&dir));
            let served = open.get(&path).send().await.unwrap();
            let mut guarded = TestClient::new(protected(&dir));
            let answer = guarded.get(&path).send().await.unwrap();
            prop_assert!(
                !answer.text().contains("SECRET"),
                "{} served {:?} through login", path, answer.text()
            );
            if served.status() == 200 && served.text().contains("SECRET") {
                prop_assert_eq!(answer.status(), 401, "{} was served open and not challenged", path);
            }
            Ok(())
        })?;
    }
}

thread_local! {
    static FOLDER: tempfile::TempDir = {
        let dir = tempfile::tempdir().unwrap();
        public_folder(dir.path());
        dir
    };
}

#[test]
fn the_generator_reaches_protected_content() {
    // Without this, the property could hold because no generated path ever
    // reached a secret.
    let dir = tempfile::tempdir().unwrap();
    public_folder(dir.path());
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let strategy = spelled_path();
    let mut served = 0;
    for _ in 0..200 {
        let path = strategy.new_tree(&mut runner).unwrap().current();
        let mut open = TestClient::new(site(dir.path()));
        let response = runtime.block_on(open.get(&path).send()).unwrap();
        served += usize::from(response.status() == 200 && response.text().contains("SECRET"));
    }
    assert!(
        served >= 50,
        "only {served} of 200 generated paths reached a secret"
    );
}

/// A login mounted below a prefix, protecting all of it (`/`): the mount's
/// root spelled without its slash leaves an empty PATH_INFO, which is the
/// root too, and `OPTIONS *` is the whole server.
#[test]
fn a_mounted_login_protects_its_root_however_it_is_reached() {
    let stack = Stack::new(
        r#"
[server]
listen = "127.0.0.1:0"

[composite.main]
use = "urlmap"
"/" = "public"
"/admin" = "admin"

[pipeline.admin]
pipeline = ["auth", "secret"]

[filter.auth]
use = "login"
methods = ["basic"]
users = "users.htpasswd"
protect = ["/"]

[app.secret]
use = "text"
body = "SECRET admin root\n"

[app.public]
use = "text"
body = "public\n"
"#,
    );
    stack.write("users.htpasswd", USERS);
    let server = stack.serve();
    let addr = server.addr();
    for target in ["/admin", "/admin/", "/admin?", "//admin", "/admin/x"] {
        let (status, response) = raw(addr, target, "");
        assert_eq!(status, 401, "{target}: {response}");
        assert!(!response.contains("SECRET"), "{target}: {response}");
    }
    let (status, response) = raw(addr, "/admin", &format!("Authorization: {CREDENTIALS}\r\n"));
    assert_eq!(status, 200, "{response}");
    assert!(response.contains("SECRET"), "{response}");
}
