//! Login through the real binary: users made by Apache's own tools, curl
//! --basic and --digest, a form with a cookie jar, and tickets exchanged
//! with Pyramid.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{
    curl, curl_output, headers, own_factories, python_has, require, status, Running, Stack,
};
use serde_json::Value;

const REALM: &str = "towerkit tests";
const TICKET_SECRET: &str = "a shared ticket secret for the tests";

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e}"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// An htpasswd file made by the real `htpasswd`, one user per format.
fn htpasswd(dir: &Path) -> std::path::PathBuf {
    let file = dir.join("users.htpasswd");
    let f = file.to_str().unwrap();
    run("htpasswd", &["-cbB", f, "ada", "bcrypt pass"]);
    run("htpasswd", &["-bs", f, "bob", "sha pass"]);
    run("htpasswd", &["-bm", f, "cy", "apr1:pass:with:colons"]);
    file
}

fn stack(dir: &Path, extra: &str) -> String {
    let _ = dir;
    format!(
        r#"
[pipeline.main]
pipeline = ["sessions", "auth", "site"]

[filter.sessions]
use = "session"

[filter.auth]
use = "login"
methods = ["form", "basic", "ticket"]
users = "users.htpasswd"
realm = "{REALM}"
protect = ["/private"]
ticket = {{ secret = "{TICKET_SECRET}", digest = "sha512" }}
{extra}

[composite.site]
use = "urlmap"
"/" = "env"
"/private" = "env"
"/demo" = "demo"

[app.env]
use = "echo"

[app.demo]
use = "session-demo"
"#
    )
}

fn serve(config: &str) -> (Stack, Running) {
    let stack = Stack::new("");
    htpasswd(stack.path());
    std::fs::write(&stack.config, stack_text(stack.path(), config)).unwrap();
    let server = stack.serve_with(own_factories(), &["127.0.0.1:0"]);
    (stack, server)
}

fn stack_text(dir: &Path, config: &str) -> String {
    if config.is_empty() {
        stack(dir, "")
    } else {
        config.to_owned()
    }
}

#[test]
fn basic_with_every_htpasswd_format() {
    if !require("htpasswd") {
        return;
    }
    let (_stack, server) = serve("");
    let url = server.url("/private/x");
    for (user, password) in [
        ("ada", "bcrypt pass"),
        ("bob", "sha pass"),
        ("cy", "apr1:pass:with:colons"),
    ] {
        let env: Value = serde_json::from_str(&curl(&[
            "--basic",
            "-u",
            &format!("{user}:{password}"),
            &url,
        ]))
        .unwrap();
        assert_eq!(env["remote_user"], user);
        assert_eq!(env["auth_type"], "Basic");
        assert_eq!(
            status(&["--basic", "-u", &format!("{user}:wrong"), &url]),
            "401"
        );
    }
    let head = headers(&[&url]);
    assert!(head.starts_with("HTTP/1.1 401"), "{head}");
    assert!(
        head.contains(&format!(
            "www-authenticate: Basic realm=\"{REALM}\", charset=\"UTF-8\""
        )),
        "{head}"
    );
    for bad in ["Basic", "Basic !!!", "Basic bm9jb2xvbg==", "Bearer abc"] {
        assert_eq!(
            status(&["-H", &format!("Authorization: {bad}"), &url]),
            "401",
            "{bad}"
        );
    }
    // An unprotected path needs no user.
    let env: Value = serde_json::from_str(&curl(&[&server.url("/open")])).unwrap();
    assert_eq!(env["remote_user"], Value::Null);
}

fn digest_stack(dir: &Path, sha256: bool) -> String {
    // The line htdigest writes (`user:realm:md5hex`), or its SHA-256 twin;
    // htdigest itself only reads passwords from a terminal.
    let file = dir.join("users.htdigest");
    let tool = if sha256 { "sha256sum" } else { "md5sum" };
    let hash = run(
        "sh",
        &[
            "-c",
            &format!("printf '%s' 'dave:{REALM}:digest pass' | {tool} | cut -d' ' -f1"),
        ],
    );
    std::fs::write(&file, format!("dave:{REALM}:{}\n", hash.trim())).unwrap();
    format!(
        r#"
[pipeline.main]
pipeline = ["auth", "env"]
[filter.auth]
use = "login"
methods = ["digest"]
digest_users = "users.htdigest"
realm = "{REALM}"
protect = ["/"]
[app.env]
use = "echo"
"#
    )
}

#[test]
fn digest_md5_and_sha256_with_curl() {
    for sha256 in [false, true] {
        let stack = Stack::new("");
        std::fs::write(&stack.config, digest_stack(stack.path(), sha256)).unwrap();
        let server = stack.serve_with(own_factories(), &["127.0.0.1:0"]);
        let url = server.url("/page?x=1");
        let head = headers(&[&url]);
        let algorithm = if sha256 { "SHA-256" } else { "MD5" };
        assert!(head.contains(&format!("algorithm={algorithm}")), "{head}");
        let env: Value =
            serde_json::from_str(&curl(&["--digest", "-u", "dave:digest pass", &url])).unwrap();
        assert_eq!(env["remote_user"], "dave", "{algorithm}");
        assert_eq!(env["auth_type"], "Digest");
        assert_eq!(status(&["--digest", "-u", "dave:wrong", &url]), "401");
        // A replayed response (same nonce and nc) is refused as stale.
        let replay = run(
            "python3",
            &[
                "-c",
                r#"
import hashlib, re, sys, urllib.request, urllib.error
url, algo, realm = sys.argv[1], sys.argv[2], sys.argv[3]
h = (lambda s: hashlib.sha256(s.encode()).hexdigest()) if algo == 'SHA-256' else (lambda s: hashlib.md5(s.encode()).hexdigest())
try:
    urllib.request.urlopen(url, timeout=10)
except urllib.error.HTTPError as e:
    nonce = re.search(r'nonce="([^"]+)"', e.headers['WWW-Authenticate']).group(1)
uri = url[url.index('/', 8):]
ha1, ha2 = h('dave:%s:digest pass' % realm), h('GET:' + uri)
resp = h('%s:%s:00000001:c0ffee:auth:%s' % (ha1, nonce, ha2))
auth = 'Digest username="dave", realm="%s", nonce="%s", uri="%s", algorithm=%s, qop=auth, nc=00000001, cnonce="c0ffee", response="%s"' % (realm, nonce, uri, algo, resp)
for _ in range(2):
    try:
        r = urllib.request.urlopen(urllib.request.Request(url, headers={'Authorization': auth}), timeout=10)
        print(r.status)
    except urllib.error.HTTPError as e:
        print(e.code, 'stale=true' in e.headers.get('WWW-Authenticate', ''))
"#,
                &url,
                algorithm,
                REALM,
            ],
        );
        assert_eq!(
            replay.lines().collect::<Vec<_>>(),
            ["200", "401 True"],
            "{algorithm}"
        );
        // A nonce not made here.
        let forged = format!(
            "Authorization: Digest username=\"dave\", realm=\"{REALM}\", nonce=\"bm90IG1pbmU\", uri=\"/page?x=1\", qop=auth, nc=00000001, cnonce=\"x\", response=\"00\""
        );
        assert_eq!(status(&["-H", &forged, &url]), "401");
    }
}

#[test]
fn form_login_session_and_logout() {
    if !require("htpasswd") {
        return;
    }
    // Sessions alone here: tickets have their test below.
    let (stack, server) = serve(
        &stack(Path::new(""), "")
            .replace(
                r#"methods = ["form", "basic", "ticket"]"#,
                r#"methods = ["form", "basic"]"#,
            )
            .replace(
                &format!("ticket = {{ secret = \"{TICKET_SECRET}\", digest = \"sha512\" }}\n"),
                "",
            ),
    );
    let jar = stack.path().join("jar");
    let jar = jar.to_str().unwrap();
    let browser = |args: &[&str]| -> String {
        let mut all = vec![
            "-s",
            "-D",
            "-",
            "-b",
            jar,
            "-c",
            jar,
            "-H",
            "Accept: text/html",
        ];
        all.extend_from_slice(args);
        String::from_utf8_lossy(&curl_output(&all).stdout).replace("\r\n", "\n")
    };
    let session_cookie = || {
        std::fs::read_to_string(jar)
            .unwrap_or_default()
            .lines()
            .find(|l| l.contains("towerkit_session"))
            .map(|l| l.rsplit('\t').next().unwrap_or("").to_owned())
    };
    // A browser asking for a protected page is sent to the form.
    let out = browser(&[&server.url("/private/report?y=2")]);
    assert!(out.starts_with("HTTP/1.1 303"), "{out}");
    assert!(
        out.contains("location: /login?next=%2Fprivate%2Freport%3Fy%3D2"),
        "{out}"
    );
    let form = browser(&[&server.url("/login?next=/private/report")]);
    assert!(
        form.contains("<form method=\"post\" action=\"/login\">")
            && form.contains("value=\"/private/report\""),
        "{form}"
    );
    // A session exists before the login.
    browser(&[&server.url("/demo/count")]);
    let before = session_cookie().expect("a session");
    let out = browser(&[
        "-d",
        "username=ada&password=wrong&next=/private/report",
        &server.url("/login"),
    ]);
    assert!(
        out.starts_with("HTTP/1.1 401") && out.contains("Wrong user name or password."),
        "{out}"
    );
    let out = browser(&[
        "-d",
        "username=ada&password=bcrypt+pass&next=/private/report",
        &server.url("/login"),
    ]);
    assert!(
        out.starts_with("HTTP/1.1 303") && out.contains("location: /private/report\n"),
        "{out}"
    );
    let after = session_cookie().expect("still a session");
    assert_ne!(before, after, "the session id changes at login");
    let out = browser(&[&server.url("/private/report")]);
    let env: Value = serde_json::from_str(out.split("\n\n").nth(1).unwrap()).unwrap();
    assert_eq!(
        (env["remote_user"].as_str(), env["auth_type"].as_str()),
        (Some("ada"), Some("form"))
    );
    // The session kept its data across the cycle.
    assert!(browser(&[&server.url("/demo/peek")]).ends_with("1\n"));
    // No open redirect.
    for evil in [
        "https://evil.example/",
        "//evil.example/",
        "/\\evil.example",
        "javascript:alert(1)",
    ] {
        let body = format!(
            "username=ada&password=bcrypt+pass&next={}",
            evil.replace('/', "%2F")
                .replace(':', "%3A")
                .replace('\\', "%5C")
        );
        let out = browser(&["-d", &body, &server.url("/login")]);
        assert!(out.contains("location: /\n"), "{evil}: {out}");
    }
    let out = browser(&[&server.url("/logout")]);
    assert!(out.starts_with("HTTP/1.1 303"), "{out}");
    let out = browser(&[&server.url("/private/report")]);
    assert!(out.starts_with("HTTP/1.1 303"), "logged out: {out}");
    // Not a browser: a 401 with the challenges.
    assert_eq!(
        status(&["-H", "Accept: application/json", &server.url("/private/x")]),
        "401"
    );
}

#[test]
fn tickets_exchanged_with_pyramid() {
    if !require("htpasswd") {
        return;
    }
    if !python_has("pyramid.authentication") {
        return;
    }
    let (stack, server) = serve("");
    let jar = stack.path().join("jar");
    let jar = jar.to_str().unwrap();
    // towerkit issues a ticket at login; Pyramid reads it.
    curl(&[
        "-s",
        "-c",
        jar,
        "-o",
        "/dev/null",
        "-d",
        "username=bob&password=sha+pass",
        &server.url("/login"),
    ]);
    let ticket = std::fs::read_to_string(jar)
        .unwrap()
        .lines()
        .find(|l| l.contains("auth_tkt"))
        .map(|l| l.rsplit('\t').next().unwrap().to_owned())
        .expect("a ticket cookie");
    let read = run(
        "python3",
        &[
            "-c",
            "import sys; from pyramid.authentication import parse_ticket; t = parse_ticket(sys.argv[1], sys.argv[2], '0.0.0.0', 'sha512'); print(t[1])",
            TICKET_SECRET,
            &ticket,
        ],
    );
    assert_eq!(read.trim(), "bob");
    // Pyramid issues a ticket; towerkit accepts it.
    let issued = run(
        "python3",
        &[
            "-c",
            "import sys, time; from pyramid.authentication import AuthTicket; print(AuthTicket(sys.argv[1], 'zoë', '0.0.0.0', tokens=('admin', 'editors'), user_data='d', time=time.time(), hashalg='sha512').cookie_value())",
            TICKET_SECRET,
        ],
    );
    let cookie = format!("Cookie: auth_tkt={}", issued.trim());
    let env: Value =
        serde_json::from_str(&curl(&["-H", &cookie, &server.url("/private/x")])).unwrap();
    assert_eq!(
        (env["remote_user"].as_str(), env["auth_type"].as_str()),
        (Some("zoë"), Some("ticket"))
    );
    // Tampered: ignored.
    let tampered = cookie.replace("admin", "root1");
    assert_eq!(status(&["-H", &tampered, &server.url("/private/x")]), "401");
    // Logging out removes the ticket cookie.
    let head = headers(&["-H", &cookie, &server.url("/logout")]).to_ascii_lowercase();
    assert!(
        head.contains("set-cookie: auth_tkt=; path=/") && head.contains("max-age=0"),
        "{head}"
    );
}

#[test]
fn guessing_is_slowed_then_refused() {
    if !require("htpasswd") {
        return;
    }
    let (_stack, server) = serve("");
    let url = server.url("/private/x");
    let started = Instant::now();
    let mut codes = Vec::new();
    for _ in 0..12 {
        codes.push(status(&["--basic", "-u", "ada:guess", &url]));
    }
    assert_eq!(&codes[..10], vec!["401"; 10].as_slice(), "{codes:?}");
    assert_eq!(codes[10], "429", "{codes:?}");
    assert!(
        started.elapsed() > Duration::from_secs(3),
        "the failures were slowed: {:?}",
        started.elapsed()
    );
    // Even the right password is refused while locked out.
    assert_eq!(status(&["--basic", "-u", "ada:bcrypt pass", &url]), "429");
    let head = headers(&["--basic", "-u", "ada:guess", &url]);
    assert!(head.to_ascii_lowercase().contains("retry-after:"), "{head}");
}
