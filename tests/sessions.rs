//! Sessions through the real binary with curl cookie jars, per store, and
//! Redis shared by two servers and killed mid-run.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{curl, curl_output, own_factories, require, Redis, Running, Stack};

fn config_with(session_options: &str) -> String {
    format!(
        r#"
[pipeline.main]
pipeline = ["errors", "sessions", "demo"]

[filter.errors]
use = "http-exceptions"

[filter.sessions]
use = "session"
{session_options}

[app.demo]
use = "session-demo"
"#
    )
}

fn serve(stack: &Stack) -> Running {
    stack.serve_with(own_factories(), &["127.0.0.1:0"])
}

/// A browser: curl with a cookie jar of its own.
struct Browser {
    jar: tempfile::NamedTempFile,
}

impl Browser {
    fn new() -> Browser {
        Browser {
            jar: tempfile::NamedTempFile::new().unwrap(),
        }
    }

    fn jar(&self) -> String {
        self.jar.path().display().to_string()
    }

    /// The body, and the Set-Cookie headers of the answer.
    fn get(&self, url: &str) -> (String, Vec<String>) {
        let out = curl_output(&["-s", "-i", "-b", &self.jar(), "-c", &self.jar(), url]);
        let text = String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n");
        let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
        let cookies = head
            .lines()
            .filter_map(|l| {
                let (name, value) = l.split_once(':')?;
                name.eq_ignore_ascii_case("set-cookie")
                    .then(|| value.trim().to_owned())
            })
            .collect();
        (body.trim_end().to_owned(), cookies)
    }

    fn status(&self, url: &str) -> String {
        curl(&[
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-b",
            &self.jar(),
            "-c",
            &self.jar(),
            url,
        ])
    }

    /// The session cookie's value in the jar.
    fn cookie(&self) -> Option<String> {
        std::fs::read_to_string(self.jar.path())
            .ok()?
            .lines()
            .filter(|l| !l.starts_with('#') || l.starts_with("#HttpOnly_"))
            .filter_map(|l| {
                let fields: Vec<&str> = l.split('\t').collect();
                (fields.len() == 7 && fields[5] == "towerkit_session").then(|| fields[6].to_owned())
            })
            .next()
    }
}

/// The scenario every store must pass. `writes` counts what the store holds
/// (None when it cannot be seen from outside: memory, cookie).
fn scenario(server: &Running, writes: &dyn Fn() -> Option<usize>) {
    let browser = Browser::new();
    let url = |path: &str| server.url(path);

    // Untouched: no cookie, no store write.
    let (body, cookies) = browser.get(&url("/anything"));
    assert_eq!(body, "untouched");
    assert!(cookies.is_empty(), "{cookies:?}");
    let (body, cookies) = browser.get(&url("/peek"));
    assert_eq!((body.as_str(), cookies.len()), ("none", 0));
    assert_eq!(writes(), writes().map(|_| 0));

    // Put, then get.
    let (body, cookies) = browser.get(&url("/count"));
    assert_eq!(body, "1");
    let cookie = &cookies[0];
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/", "Max-Age="] {
        assert!(cookie.contains(attribute), "{attribute} in {cookie}");
    }
    assert_eq!(browser.get(&url("/count")).0, "2");
    assert_eq!(writes(), writes().map(|_| 1));

    // A forged cookie is a fresh session.
    let forged = curl(&[
        "-s",
        "-H",
        "Cookie: towerkit_session=AAAAforgedAAAAforgedAAAAforgedAAAAforgedAAA",
        &url("/count"),
    ]);
    assert_eq!(forged.trim(), "1");

    // cycle_id: the same data under a new cookie.
    let before = browser.cookie().unwrap();
    assert_eq!(browser.get(&url("/login")).0, "in");
    let after = browser.cookie().unwrap();
    assert_ne!(before, after);
    assert_eq!(browser.get(&url("/peek")).0, "2");

    // destroy: the record and the cookie go.
    let (body, cookies) = browser.get(&url("/logout"));
    assert_eq!(body, "out");
    assert!(
        cookies[0].contains("Max-Age=0") && cookies[0].contains("HttpOnly"),
        "{cookies:?}"
    );
    assert_eq!(browser.cookie(), None);
    assert_eq!(browser.get(&url("/peek")).0, "none");
}

#[test]
fn memory_store() {
    let stack = Stack::new(&config_with("store = \"memory\""));
    let server = serve(&stack);
    scenario(&server, &|| None);
}

#[test]
fn file_store_and_a_restart() {
    let stack = Stack::new(&config_with("store = \"file\"\npath = \"sessions\""));
    let dir = stack.path().join("sessions");
    let count = |dir: &Path| {
        std::fs::read_dir(dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.file_name().to_string_lossy().ends_with(".session"))
                    .count()
            })
            .unwrap_or(0)
    };
    {
        let server = serve(&stack);
        scenario(&server, &|| Some(count(&dir)));
    }
    // Survives a restart.
    let browser = Browser::new();
    let mut server = serve(&stack);
    assert_eq!(browser.get(&server.url("/count")).0, "1");
    server.signal(libc::SIGTERM);
    server.wait();
    let server = serve(&stack);
    assert_eq!(browser.get(&server.url("/count")).0, "2");
}

#[test]
fn cookie_store() {
    let stack = Stack::new(&config_with(
        "store = \"cookie\"\nsecret = \"a-test-secret-of-at-least-thirty-two-bytes\"",
    ));
    let server = serve(&stack);
    scenario(&server, &|| None);
    // The cookie holds the session, encrypted: no plain value shows.
    let browser = Browser::new();
    browser.get(&server.url("/login"));
    let value = browser.cookie().unwrap();
    assert!(!value.contains("ada") && value.len() > 60, "{value}");
}

#[test]
fn expiry_with_short_timeouts() {
    let stack = Stack::new(&config_with("idle_timeout = \"1s\"\nmax_age = \"30s\""));
    let server = serve(&stack);
    let browser = Browser::new();
    assert_eq!(browser.get(&server.url("/count")).0, "1");
    std::thread::sleep(Duration::from_millis(2200));
    assert_eq!(
        browser.get(&server.url("/peek")).0,
        "none",
        "idle past its timeout"
    );
    let stack = Stack::new(&config_with("max_age = \"2s\""));
    let server = serve(&stack);
    let browser = Browser::new();
    assert_eq!(browser.get(&server.url("/count")).0, "1");
    assert_eq!(browser.get(&server.url("/count")).0, "2");
    std::thread::sleep(Duration::from_millis(2200));
    assert_eq!(
        browser.get(&server.url("/count")).0,
        "1",
        "past its absolute lifetime"
    );
}

#[test]
fn redis_store_shared_by_two_servers_and_killed_mid_run() {
    if !require("redis-server") {
        return;
    }
    let mut redis = Redis::start();
    let config = config_with(&format!(
        "store = \"redis\"\nurl = \"{}\"\nprefix = \"test:\"",
        redis.url()
    ));
    let stack_a = Stack::new(&config);
    let stack_b = Stack::new(&config);
    let a = serve(&stack_a);
    let b = serve(&stack_b);
    let keys = || {
        Some(
            redis
                .cli(&["--raw", "DBSIZE"])
                .trim()
                .parse::<usize>()
                .unwrap_or(usize::MAX),
        )
    };
    scenario(&a, &keys);

    // Two servers, one session, alternately.
    let browser = Browser::new();
    assert_eq!(browser.get(&a.url("/count")).0, "1");
    assert_eq!(browser.get(&b.url("/count")).0, "2");
    assert_eq!(browser.get(&a.url("/count")).0, "3");
    let keys = redis.cli(&["--raw", "KEYS", "test:*"]);
    let key = keys.lines().next().unwrap_or_default().to_owned();
    assert!(key.starts_with("test:"), "{keys}");
    let ttl: i64 = redis.cli(&["--raw", "TTL", &key]).trim().parse().unwrap();
    assert!(ttl > 40_000 && ttl <= 43_200, "Redis keeps the TTL: {ttl}");

    // Redis killed: 503 (quickly), and a log line.
    redis.kill();
    let started = Instant::now();
    assert_eq!(browser.status(&a.url("/count")), "503");
    assert!(
        started.elapsed() < Duration::from_secs(8),
        "took {:?}",
        started.elapsed()
    );
    assert!(a.wait_for_log("session store is unavailable"));
    // Redis back: service recovers, no restart of towerkit.
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let status = browser.status(&a.url("/count"));
        if status == "200" {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still {status} after Redis came back"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        browser
            .get(&b.url("/count"))
            .0
            .parse::<u32>()
            .map(|n| n >= 1),
        Ok(true)
    );
}

#[test]
fn memory_store_capacity_from_toml() {
    let stack = Stack::new(&config_with("store = \"memory\"\ncapacity = 2"));
    let server = serve(&stack);
    let browsers: Vec<Browser> = (0..3).map(|_| Browser::new()).collect();
    for browser in &browsers {
        assert_eq!(browser.get(&server.url("/count")).0, "1");
    }
    // Two are kept: the first made, the closest to expiry, made room.
    assert_eq!(browsers[0].get(&server.url("/peek")).0, "none");
    assert_eq!(browsers[1].get(&server.url("/peek")).0, "1");
    assert_eq!(browsers[2].get(&server.url("/peek")).0, "1");

    // Options of one store are refused with another, and nonsense too.
    for (options, says) in [
        ("store = \"memory\"\ncapacity = 0", "at least one session"),
        (
            "store = \"file\"\npath = \"s\"\ncapacity = 10",
            "`capacity` applies to store = \"memory\" only",
        ),
        (
            "store = \"memory\"\ntimeout = \"1s\"",
            "`timeout` applies to store = \"redis\" only",
        ),
        (
            "store = \"redis\"\nurl = \"redis://127.0.0.1:1/0\"\ntimeout = \"0s\"",
            "needs some time",
        ),
    ] {
        let out = Stack::new(&config_with(options)).check();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{options}: {stderr}");
        assert!(stderr.contains(says), "{options}: {stderr}");
    }
}

/// The users file (ada, `pass`) made by Apache's `htpasswd`.
fn users(stack: &Stack) {
    let file = stack.path().join("users.htpasswd");
    let out = std::process::Command::new("htpasswd")
        .args(["-cbs", file.to_str().unwrap(), "ada", "pass"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
}

/// With Redis down, a logged-in user is not logged out: a page that needs
/// to know who asks is a 503 with `Retry-After`, in the format asked for
/// (HTML for a browser, JSON for a script), not the login form nor a 401;
/// the outage is logged once, its end once; once Redis is back (empty:
/// the killed Redis kept nothing), the user logs in again and is served.
#[test]
fn redis_down_is_a_503_for_a_logged_in_user_not_a_logout() {
    if !require("redis-server") || !require("htpasswd") {
        return;
    }
    let mut redis = Redis::start();
    let stack = Stack::new(&format!(
        r#"
[pipeline.main]
pipeline = ["errors", "sessions", "auth", "site"]

[filter.errors]
use = "http-exceptions"

[filter.sessions]
use = "session"
store = "redis"
url = "{}"

[filter.auth]
use = "login"
methods = ["form", "basic"]
users = "users.htpasswd"
protect = ["/private"]

[composite.site]
use = "urlmap"
"/" = "demo"
"/private" = "env"

[app.env]
use = "echo"

[app.demo]
use = "session-demo"
"#,
        redis.url()
    ));
    users(&stack);
    let server = serve(&stack);
    let browser = Browser::new();
    let log_in = |browser: &Browser| {
        let out = curl_output(&[
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            "-b",
            &browser.jar(),
            "-c",
            &browser.jar(),
            "-d",
            "username=ada&password=pass&next=/private/",
            &server.url("/login"),
        ]);
        assert_eq!(String::from_utf8_lossy(&out.stdout), "303");
    };
    log_in(&browser);
    let (body, _) = browser.get(&server.url("/private/"));
    assert!(body.contains("\"remote_user\":\"ada\""), "{body}");

    redis.kill();
    let ask = |accept: &str, path: &str| {
        let out = curl_output(&[
            "-s",
            "-i",
            "-b",
            &browser.jar(),
            "-H",
            &format!("Accept: {accept}"),
            &server.url(path),
        ]);
        String::from_utf8_lossy(&out.stdout).replace("\r\n", "\n")
    };
    for (accept, content_type) in [
        ("text/html", "content-type: text/html"),
        ("application/json", "content-type: application/"),
    ] {
        for path in ["/private/", "/", "/count"] {
            let out = ask(accept, path);
            assert!(
                out.starts_with("HTTP/1.1 503"),
                "{accept} {path}, Redis down: {out}"
            );
            let head = out.to_ascii_lowercase();
            assert!(head.contains("\nretry-after: 5\n"), "{out}");
            assert!(head.contains(content_type), "{accept}: {out}");
            assert!(!head.contains("location:"), "{out}");
        }
    }
    let unavailable = "the session store is unavailable";
    assert!(server.wait_for_log(unavailable));
    std::thread::sleep(Duration::from_millis(200));
    let told = server
        .stderr()
        .iter()
        .filter(|l| l.contains(unavailable))
        .count();
    assert_eq!(
        told,
        1,
        "once per outage, not per request: {:?}",
        server.stderr()
    );

    // Back, with nothing in it: now the user is sent to the form, and
    // logs in again.
    redis.restart();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let out = ask("text/html", "/private/");
        if !out.starts_with("HTTP/1.1 503") {
            assert!(out.starts_with("HTTP/1.1 303"), "{out}");
            break;
        }
        assert!(Instant::now() < deadline, "still 503 after Redis came back");
        std::thread::sleep(Duration::from_millis(200));
    }
    assert!(server.wait_for_log("the session store answers again"));
    log_in(&browser);
    let (body, _) = browser.get(&server.url("/private/"));
    assert!(body.contains("\"remote_user\":\"ada\""), "{body}");
}
