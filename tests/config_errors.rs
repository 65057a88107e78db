//! Every config error names the file, line, section and key, and exits 2.

mod common;

use std::path::Path;

use common::{towerkit, Stack};

/// Runs `towerkit check` and `towerkit serve` on a bad stack file; both must
/// exit with status 2 and print the same message on stderr.
fn refused(toml: &str) -> String {
    refused_stack(&Stack::new(toml))
}

/// [`refused`] for a stack already written.
fn refused_stack(stack: &Stack) -> String {
    let check = stack.check();
    assert_eq!(check.status.code(), Some(2), "check should exit 2");
    let serve = towerkit()
        .arg("serve")
        .arg(&stack.config)
        .args(["--listen", "127.0.0.1:0"])
        .output()
        .expect("run towerkit serve");
    assert_eq!(serve.status.code(), Some(2), "serve should exit 2");
    let message = String::from_utf8(check.stderr).unwrap();
    assert_eq!(message, String::from_utf8(serve.stderr).unwrap());
    let file = stack.config.display().to_string();
    message
        .trim_end()
        .strip_prefix("towerkit: ")
        .and_then(|m| m.strip_prefix(&file))
        .unwrap_or_else(|| panic!("the message names the file: {message}"))
        .to_owned()
}

#[test]
fn unknown_section_kind() {
    let msg = refused("[app.main]\nuse = \"echo\"\n\n[filters.gzip]\nuse = \"gzip\"\n");
    assert_eq!(
        msg,
        ":4:2: unknown section kind `filters`; expected server, metrics, pipeline, filter, app or composite"
    );
}

#[test]
fn unknown_use() {
    let msg = refused("[app.main]\nuse = \"flask\"\n");
    let known = msg
        .strip_prefix(":2:7: [app.main] key `use`: unknown app factory `flask` (known: ")
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("{msg}"));
    let known: Vec<&str> = known.split(", ").collect();
    assert!(
        known.contains(&"echo") && known.contains(&"text") && known.contains(&"urlparser"),
        "{msg}"
    );
    assert!(known.windows(2).all(|w| w[0] < w[1]), "sorted: {msg}");
}

#[test]
fn unknown_option_key() {
    let msg = refused("[app.main]\nuse = \"text\"\nbody = \"ok\"\ncolour = \"blue\"\n");
    assert_eq!(
        msg,
        ":4:1: [app.main] key `colour`: unknown option (options of app \"text\": body, status, content_type, headers)"
    );
    let msg =
        refused("[pipeline.main]\npipeline = [\"x\"]\nfilters = []\n[app.x]\nuse = \"echo\"\n");
    assert_eq!(
        msg,
        ":3:1: [pipeline.main] key `filters`: unknown option (options of a pipeline: pipeline)"
    );
}

#[test]
fn wrong_value_type() {
    let msg = refused("[app.main]\nuse = \"text\"\nstatus = \"teapot\"\n");
    assert!(
        msg.starts_with(":3:10: [app.main] key `status`: wrong value type (string):"),
        "{msg}"
    );
    let msg = refused("[server]\nlisten = 8080\n[app.main]\nuse = \"echo\"\n");
    assert!(
        msg.starts_with(":2:10: [server] key `listen`: wrong value type (integer)"),
        "{msg}"
    );
}

#[test]
fn referenced_but_not_defined() {
    let msg =
        refused("[pipeline.main]\npipeline = [\"auth\", \"site\"]\n[app.site]\nuse = \"echo\"\n");
    assert_eq!(
        msg,
        ":2:12: [pipeline.main] key `pipeline`: `auth` is referenced but not defined (no [filter.auth])"
    );
    let msg = refused("[server]\nserve = \"web\"\n[app.main]\nuse = \"echo\"\n");
    assert_eq!(
        msg,
        ":2:9: [server] key `serve`: `web` is referenced but not defined (no [app.web], [composite.web] or [pipeline.web])"
    );
}

#[test]
fn reference_cycle() {
    let msg = refused(
        "[pipeline.main]\npipeline = [\"site\"]\n\n[composite.site]\nuse = \"urlmap\"\n\"/\" = \"inner\"\n\n[pipeline.inner]\npipeline = [\"site\"]\n",
    );
    assert_eq!(
        msg,
        ":9:12: [pipeline.inner] key `pipeline`: reference cycle: site -> inner -> site"
    );
}

/// A stack whose `[pipeline.main]` lists `pipeline`, with a form login
/// (`auth`), sessions, recursion and error documents to choose from.
fn layered(pipeline: &str, methods: &str) -> String {
    format!(
        r#"[pipeline.main]
pipeline = {pipeline}

[filter.sessions]
use = "session"

[filter.auth]
use = "login"
methods = {methods}
users = "users.htpasswd"
protect = ["/private"]

[filter.recursive]
use = "recursive"

[filter.documents]
use = "error-documents"
404 = "/404.html"

[app.site]
use = "echo"
"#
    )
}

/// Like `refused`, with the demo's users beside the stack file.
fn refused_with_users(toml: &str) -> String {
    let stack = Stack::new(toml);
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo/users.htpasswd"),
        stack.path().join("users.htpasswd"),
    )
    .unwrap();
    refused_stack(&stack)
}

#[test]
fn a_filter_that_needs_another_outside_it() {
    // The form login keeps the user in a session: without one before it,
    // no one could ever log in.
    let msg = refused_with_users(&layered(r#"["auth", "site"]"#, r#"["form", "basic"]"#));
    assert_eq!(
        msg,
        ":9:11: [filter.auth] key `methods`: \"form\" without \"ticket\" keeps the login in a \
         session: put a filter with use = \"session\" before it in [pipeline.main]"
    );
    // Listed, but inside it.
    let msg = refused_with_users(&layered(r#"["auth", "sessions", "site"]"#, r#"["form"]"#));
    assert_eq!(
        msg,
        ":9:11: [filter.auth] key `methods`: \"form\" without \"ticket\" keeps the login in a \
         session: [filter.sessions] comes after it: list it before it in [pipeline.main]"
    );
    // Error documents are fetched through a recursive layer.
    let msg = refused_with_users(&layered(
        r#"["documents", "recursive", "site"]"#,
        r#"["basic"]"#,
    ));
    assert_eq!(
        msg,
        ":16:1: [filter.documents]: error documents are fetched through the stack again, by a \
         recursive layer: [filter.recursive] comes after it: list it before it in [pipeline.main]"
    );
}

#[test]
fn filters_with_what_they_need_outside_them_pass() {
    for (pipeline, methods) in [
        (
            r#"["sessions", "auth", "recursive", "documents", "site"]"#,
            r#"["form", "basic"]"#,
        ),
        // Basic needs no session.
        (r#"["auth", "site"]"#, r#"["basic"]"#),
    ] {
        let stack = Stack::new(&layered(pipeline, methods));
        std::fs::copy(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo/users.htpasswd"),
            stack.path().join("users.htpasswd"),
        )
        .unwrap();
        let check = stack.check();
        assert!(
            check.status.success(),
            "{pipeline}: {}",
            String::from_utf8_lossy(&check.stderr)
        );
    }
    // The README's demo stack.
    let demo = towerkit()
        .arg("check")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/demo/towerkit.toml"))
        .output()
        .unwrap();
    assert!(
        demo.status.success(),
        "{}",
        String::from_utf8_lossy(&demo.stderr)
    );
}

#[test]
fn unreadable_and_invalid_files() {
    let output = towerkit()
        .args(["check", "/nonexistent/towerkit.toml"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert!(
        stderr.starts_with("towerkit: /nonexistent/towerkit.toml: cannot read the file"),
        "{stderr}"
    );
    let msg = refused("[app.main\nuse = \"echo\"\n");
    assert!(msg.starts_with(":1:"), "{msg}");
    assert!(msg.contains("not valid TOML"), "{msg}");
}

#[test]
fn check_prints_the_stack_as_a_tree() {
    let stack = Stack::new(
        r#"
[pipeline.main]
pipeline = ["site"]

[composite.site]
use = "urlmap"
"/" = "home"
"/debug" = "env"

[app.home]
use = "text"
body = "hi"

[app.env]
use = "echo"

[app.spare]
use = "echo"
"#,
    );
    let output = stack.check();
    assert!(output.status.success());
    assert_eq!(
        String::from_utf8(output.stdout).unwrap(),
        "pipeline main\n  composite site (use = \"urlmap\")\n    \"/\" = app home (use = \"text\")\n    \"/debug\" = app env (use = \"echo\")\n(not served: [app.spare])\n"
    );
}

#[test]
fn help_and_version() {
    let help = towerkit().arg("--help").output().unwrap();
    assert!(help.status.success());
    let help = String::from_utf8(help.stdout).unwrap();
    assert!(help.contains("serve") && help.contains("check"), "{help}");
    let version = towerkit().arg("--version").output().unwrap();
    assert_eq!(
        String::from_utf8(version.stdout).unwrap().trim(),
        format!("towerkit {}", env!("CARGO_PKG_VERSION"))
    );
}

/// The TOML loader refuses what the Rust builder refuses, with its words.
#[test]
fn a_bad_cookie_name_is_the_builders_error() {
    let msg = refused(
        "[pipeline.main]\npipeline = [\"s\", \"app\"]\n\n[filter.s]\nuse = \"session\"\ncookie_name = \"a;b\"\n\n[app.app]\nuse = \"echo\"\n",
    );
    let rust = towerkit_session::SessionLayer::new(towerkit_session::MemoryStore::default())
        .cookie_name("a;b")
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(msg.starts_with(":6:"), "{msg}");
    assert!(
        msg.ends_with(&format!("key `cookie_name`: {rust}")),
        "{msg}"
    );
}

/// The same for the login's paths and ticket: the builder's words.
#[test]
fn a_bad_login_path_and_a_short_ticket_secret_are_the_builders_errors() {
    let refused_with = |options: &str| {
        let stack = Stack::new(&format!(
            "[pipeline.main]\npipeline = [\"auth\", \"app\"]\n\n[filter.auth]\nuse = \"login\"\nmethods = [\"basic\", \"ticket\"]\nusers = \"users.htpasswd\"\n{options}\n[app.app]\nuse = \"echo\"\n"
        ));
        std::fs::write(
            stack.path().join("users.htpasswd"),
            "ada:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n",
        )
        .unwrap();
        refused_stack(&stack)
    };
    let msg = refused_with(
        "login_path = \"login\"\nticket = { secret = \"a ticket secret for the tests\" }\n",
    );
    let rust = towerkit_login::LoginError::NotAPath("login".into()).to_string();
    assert!(msg.ends_with(&format!("key `login_path`: {rust}")), "{msg}");
    let msg = refused_with("ticket = { secret = \"short\" }\n");
    let rust = towerkit_login::LoginError::TicketSecretTooShort(5).to_string();
    assert!(msg.ends_with(&format!("key `ticket`: {rust}")), "{msg}");
}
