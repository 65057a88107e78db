//! What caches may keep, through the README's demo stack and curl: pages
//! for a logged-in user are for no one else and not stored (even where the
//! document root asks for `max-age`), the login layer's own pages are never
//! stored, answers that read the session vary on `Cookie`, and public
//! pages stay cacheable.

mod common;

use common::{curl_output, Running};

/// Serves the demo stack as the README says, from the repository's root.
fn demo() -> Running {
    let mut command = common::towerkit();
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(["serve", "examples/demo/towerkit.toml"])
        .args(["--listen", "127.0.0.1:0"]);
    Running::start_command(command)
}

/// A response as curl got it: the status line and lower-cased headers, and
/// the body.
struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    /// Every value of a header, joined with `, ` as a cache reads a list.
    fn header(&self, name: &str) -> Option<String> {
        let values: Vec<&str> = self
            .headers
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
            .collect();
        (!values.is_empty()).then(|| values.join(", "))
    }

    /// The names a list header holds, lower-cased.
    fn tokens(&self, name: &str) -> Vec<String> {
        self.header(name)
            .unwrap_or_default()
            .split(',')
            .map(|t| t.trim().to_ascii_lowercase())
            .filter(|t| !t.is_empty())
            .collect()
    }

    /// Whether a shared cache may store this (RFC 9111 §3: not with
    /// `private` or `no-store`).
    fn shared_cacheable(&self) -> bool {
        let cc = self.tokens("cache-control");
        !cc.iter().any(|t| t == "private" || t == "no-store")
    }

    fn describe(&self) -> String {
        format!("{} {:?}\n{}", self.status, self.headers, self.body)
    }
}

/// curl with a cookie jar, as a browser asks (`Accept: text/html`, gzip).
fn browse(jar: &str, args: &[&str]) -> Answer {
    request(jar, "Accept: text/html", args)
}

/// curl with a cookie jar, `accept` and gzip.
fn request(jar: &str, accept: &str, args: &[&str]) -> Answer {
    let mut all = vec![
        "-s",
        "-D",
        "-",
        "-b",
        jar,
        "-c",
        jar,
        "-H",
        accept,
        "--compressed",
    ];
    all.extend_from_slice(args);
    let output = curl_output(&all);
    assert!(output.status.success(), "curl {args:?}");
    let text = String::from_utf8_lossy(&output.stdout).replace("\r\n", "\n");
    let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line: {text}"));
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Answer {
        status,
        headers,
        body: body.to_owned(),
    }
}

#[test]
fn private_pages_stay_private_on_the_demo_stack() {
    let server = demo();
    let dir = tempfile::tempdir().unwrap();
    let jar = dir.path().join("jar");
    let jar = jar.to_str().unwrap();
    let get = |path: &str| browse(jar, &[&server.url(path)]);

    // A public page, for anyone: the document root's max-age, shared
    // caches welcome.
    let home = get("/");
    assert_eq!(home.status, 200, "{}", home.describe());
    assert_eq!(home.header("cache-control").as_deref(), Some("max-age=300"));
    assert!(home.shared_cacheable());
    assert!(!home.tokens("vary").contains(&"cookie".to_owned()));

    // The login layer's own pages: never stored.
    let challenge = get("/private/");
    assert_eq!(challenge.status, 303, "{}", challenge.describe());
    let form = get("/login?next=/private/");
    assert_eq!(form.status, 200, "{}", form.describe());
    let script = request(jar, "Accept: */*", &[&server.url("/private/")]);
    assert_eq!(script.status, 401, "{}", script.describe());
    let wrong = browse(
        jar,
        &[
            "-d",
            "username=demo&password=wrong&next=/private/",
            &server.url("/login"),
        ],
    );
    assert_eq!(wrong.status, 401, "{}", wrong.describe());
    let login = browse(
        jar,
        &[
            "-d",
            "username=demo&password=demo&next=/private/",
            &server.url("/login"),
        ],
    );
    assert_eq!(login.status, 303, "{}", login.describe());
    for own in [&challenge, &form, &script, &wrong, &login] {
        assert_eq!(
            own.header("cache-control").as_deref(),
            Some("no-store"),
            "{}",
            own.describe()
        );
    }

    // Logged in: the protected page, and the public one, are for this user
    // only, whatever max-age the document root set, and vary on the cookie
    // that says who it is.
    for path in ["/private/", "/private/index.html", "/"] {
        let page = get(path);
        assert_eq!(page.status, 200, "{path}: {}", page.describe());
        assert_eq!(
            page.header("cache-control").as_deref(),
            Some("private, no-store"),
            "{path}: {}",
            page.describe()
        );
        assert!(!page.shared_cacheable());
        let vary = page.tokens("vary");
        assert!(
            vary.contains(&"cookie".to_owned()) && vary.contains(&"accept-encoding".to_owned()),
            "{path}: {}",
            page.describe()
        );
        assert_eq!(
            vary.iter().filter(|t| *t == "cookie").count(),
            1,
            "{path}: {}",
            page.describe()
        );
    }
    let private = get("/private/");
    assert!(
        private.body.contains("You are logged in"),
        "{}",
        private.describe()
    );
    // Revalidation too: a 304 for the user is not for others either.
    let etag = private.header("etag").expect("the page has an ETag");
    let again = browse(
        jar,
        &[
            "-H",
            &format!("If-None-Match: {etag}"),
            &server.url("/private/"),
        ],
    );
    assert_eq!(again.status, 304, "{}", again.describe());
    assert!(!again.shared_cacheable(), "{}", again.describe());
    // An error document for the user: the page fetched for it said
    // max-age, the answer is still the user's.
    let missing = get("/private/nowhere");
    assert_eq!(missing.status, 404, "{}", missing.describe());
    assert!(
        missing.body.contains("Nothing here"),
        "{}",
        missing.describe()
    );
    assert_eq!(
        missing.header("cache-control").as_deref(),
        Some("private, no-store"),
        "{}",
        missing.describe()
    );
    // Basic, with no cookie: private all the same.
    let basic = request(
        "/dev/null",
        "Accept: */*",
        &["-u", "demo:demo", &server.url("/private/")],
    );
    assert_eq!(basic.status, 200, "{}", basic.describe());
    assert_eq!(
        basic.header("cache-control").as_deref(),
        Some("private, no-store")
    );

    // Logging out: not stored, and the protected page is gone.
    let logout = get("/logout");
    assert_eq!(logout.status, 303, "{}", logout.describe());
    assert_eq!(logout.header("cache-control").as_deref(), Some("no-store"));
    let after = get("/private/");
    assert_eq!(after.status, 303, "{}", after.describe());
    assert!(!after.body.contains("You are logged in"));
}
