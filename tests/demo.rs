//! The README's demo stack: checked, served, and used as a visitor would.

mod common;

use std::path::PathBuf;

use common::{curl, curl_output, towerkit, Running};

/// The stack file, as the README names it from the repository's root.
const README_CONFIG: &str = "examples/demo/towerkit.toml";

fn config() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join(README_CONFIG)
}

#[test]
fn check_prints_the_whole_stack() {
    let out = towerkit().arg("check").arg(config()).output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).unwrap();
    for part in [
        "proxy-fix",
        "http-exceptions",
        "gzip",
        "session",
        "login",
        "recursive",
        "error-documents",
        "urlparser",
    ] {
        assert!(
            tree.contains(&format!("(use = \"{part}\")")),
            "{part} in {tree}"
        );
    }
}

#[test]
fn a_visit() {
    // Exactly as the README says: from the repository's root, with the
    // stack file's relative path (the paths in it are then relative too).
    let mut command = towerkit();
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .arg("serve")
        .arg(README_CONFIG)
        .args(["--listen", "127.0.0.1:0"]);
    let server = Running::start_command(command);
    let dir = tempfile::tempdir().unwrap();
    let jar = dir.path().join("jar");
    let jar = jar.to_str().unwrap();
    let browse = |args: &[&str]| {
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
            "--compressed",
        ];
        all.extend_from_slice(args);
        String::from_utf8_lossy(&curl_output(&all).stdout).replace("\r\n", "\n")
    };
    let home = browse(&[&server.url("/")]);
    assert!(
        home.starts_with("HTTP/1.1 200") && home.contains("towerkit is running"),
        "{home}"
    );
    assert!(
        home.to_ascii_lowercase().contains("content-encoding: gzip"),
        "{home}"
    );
    let missing = browse(&[&server.url("/nowhere")]);
    assert!(
        missing.starts_with("HTTP/1.1 404") && missing.contains("Nothing here"),
        "{missing}"
    );
    let private = browse(&[&server.url("/private/")]);
    assert!(
        private.starts_with("HTTP/1.1 303")
            && private.contains("location: /login?next=%2Fprivate%2F"),
        "{private}"
    );
    let login = browse(&[
        "-d",
        "username=demo&password=demo&next=/private/",
        &server.url("/login"),
    ]);
    assert!(login.starts_with("HTTP/1.1 303"), "{login}");
    let private = browse(&[&server.url("/private/")]);
    assert!(
        private.starts_with("HTTP/1.1 200") && private.contains("You are logged in"),
        "{private}"
    );
    let env: serde_json::Value =
        serde_json::from_str(&curl(&["-s", "-b", jar, &server.url("/debug/whoami")])).unwrap();
    assert_eq!(
        (env["remote_user"].as_str(), env["script_name"].as_str()),
        (Some("demo"), Some("/debug"))
    );
    assert_eq!(curl(&[&server.url("/health")]), "ok\n");
    let cgi = browse(&[&server.url("/cgi-bin/hello.py")]);
    assert!(
        cgi.starts_with("HTTP/1.1 200") && cgi.contains("Hello, demo, from a CGI script"),
        "{cgi}"
    );
    let cgi = browse(&[&server.url("/cgi-bin/hello.py/some/path")]);
    assert!(
        cgi.starts_with("HTTP/1.1 200")
            && cgi.contains("Hello, demo, from a CGI script")
            && cgi.contains("<code>/some/path</code>"),
        "{cgi}"
    );
}
