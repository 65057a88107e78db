//! The book cannot rot: every include and link resolves, every TOML
//! listing is a stack `towerkit check` accepts, and the deployment chapter's
//! setup (two instances sharing sessions in Redis behind nginx) works.

mod common;

use std::path::{Path, PathBuf};

use common::{curl, require, towerkit, Nginx, Redis, Running};

const ROOT: &str = env!("CARGO_MANIFEST_DIR");

fn chapters() -> Vec<PathBuf> {
    let mut chapters: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("book/src"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "md"))
        .collect();
    chapters.sort();
    chapters
}

#[test]
fn includes_and_links_resolve() {
    let mut checked = 0;
    for chapter in chapters() {
        let text = std::fs::read_to_string(&chapter).unwrap();
        let dir = chapter.parent().unwrap();
        for include in text.split("{{#include ").skip(1) {
            let target = include.split("}}").next().unwrap().trim();
            let (file, anchor) = match target.split_once(':') {
                Some((file, anchor)) => (file, Some(anchor)),
                None => (target, None),
            };
            let path = dir.join(file);
            let source = std::fs::read_to_string(&path).unwrap_or_else(|err| {
                panic!("{}: {{{{#include {target}}}}}: {err}", chapter.display())
            });
            if let Some(anchor) = anchor.filter(|a| !a.chars().all(|c| c.is_ascii_digit())) {
                assert!(
                    source.contains(&format!("ANCHOR: {anchor}"))
                        && source.contains(&format!("ANCHOR_END: {anchor}")),
                    "{}: no anchor `{anchor}` in {file}",
                    chapter.display()
                );
            }
            checked += 1;
        }
        for link in text.split("](").skip(1) {
            let target = link.split(')').next().unwrap();
            if target.contains("://") || target.starts_with('#') {
                continue;
            }
            let file = target.split('#').next().unwrap();
            assert!(
                dir.join(file).exists(),
                "{}: link to {target} goes nowhere",
                chapter.display()
            );
            checked += 1;
        }
    }
    assert!(checked > 20, "only {checked} includes and links found");
}

#[test]
fn the_summary_lists_every_chapter() {
    let summary = std::fs::read_to_string(Path::new(ROOT).join("book/src/SUMMARY.md")).unwrap();
    for chapter in chapters() {
        let name = chapter.file_name().unwrap().to_str().unwrap();
        if name != "SUMMARY.md" {
            assert!(
                summary.contains(&format!("]({name})")),
                "{name} is not in SUMMARY.md"
            );
        }
    }
}

/// A folder holding a copy of `listing` and what the listings refer to:
/// `public/`, `users.htpasswd`, `users.htdigest`, a certificate.
fn beside(listing: &Path) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join(listing.file_name().unwrap());
    std::fs::copy(listing, &config).unwrap();
    std::fs::create_dir(dir.path().join("public")).unwrap();
    std::fs::copy(
        Path::new(ROOT).join("examples/demo/users.htpasswd"),
        dir.path().join("users.htpasswd"),
    )
    .unwrap();
    // demo's password, demo, in the realm `hub`, as `htdigest` writes it.
    std::fs::write(
        dir.path().join("users.htdigest"),
        "demo:hub:60acbeb27bfb9f2c74849dfa9b3b0285\n",
    )
    .unwrap();
    let cert = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).unwrap();
    std::fs::write(dir.path().join("cert.pem"), cert.cert.pem()).unwrap();
    std::fs::write(dir.path().join("key.pem"), cert.signing_key.serialize_pem()).unwrap();
    (dir, config)
}

/// `towerkit serve` on a copy of a listing with `replacements` made (ports,
/// URLs) and `--listen 127.0.0.1:0`, waiting for `listeners` listeners.
fn serve_listing(name: &str, replacements: &[(&str, &str)], listeners: usize) -> Running {
    let (dir, config) = beside(&Path::new(ROOT).join("book/listings").join(name));
    let text = replacements.iter().fold(
        std::fs::read_to_string(&config).unwrap(),
        |text, (from, to)| text.replace(from, to),
    );
    std::fs::write(&config, text).unwrap();
    let mut command = towerkit();
    command
        .arg("serve")
        .arg(&config)
        .args(["--listen", "127.0.0.1:0"]);
    let mut running = Running::start_expecting(command, listeners);
    running.keep(dir);
    running
}

#[test]
fn every_toml_listing_is_a_valid_stack() {
    let mut listings: Vec<PathBuf> = std::fs::read_dir(Path::new(ROOT).join("book/listings"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|e| e == "toml"))
        .collect();
    listings.sort();
    assert!(listings.len() >= 6, "{listings:?}");
    for listing in listings {
        let (_dir, config) = beside(&listing);
        let output = towerkit().arg("check").arg(&config).output().unwrap();
        assert!(
            output.status.success(),
            "{}: {}",
            listing.display(),
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

#[test]
fn two_instances_share_sessions_behind_nginx() {
    if !require("nginx") || !require("redis-server") || !require("curl") {
        return;
    }
    let redis = Redis::start();
    let listings = Path::new(ROOT).join("book/listings");
    let redis_url = redis.url();
    let start = || {
        serve_listing(
            "production.toml",
            &[
                ("127.0.0.1:8443", "127.0.0.1:0"),
                ("redis://127.0.0.1:6379/", &redis_url),
            ],
            2,
        )
    };
    let (a, b) = (start(), start());
    let conf = std::fs::read_to_string(listings.join("nginx.conf"))
        .unwrap()
        .replace("127.0.0.1:8081", &a.addr().to_string())
        .replace("127.0.0.1:8082", &b.addr().to_string())
        .replace("listen 127.0.0.1:8000", "listen 127.0.0.1:{port}");
    let nginx = Nginx::start(&conf);

    let jar = tempfile::NamedTempFile::new().unwrap();
    let jar = jar.path().to_str().unwrap().to_owned();
    let login = common::post_form(
        &jar,
        &nginx.url("/login"),
        "username=demo&password=demo&next=/",
    );
    assert_eq!(login, "303");
    // Round robin: both instances serve the logged-in user from Redis.
    for _ in 0..4 {
        let echo: serde_json::Value =
            serde_json::from_str(&curl(&["-s", "-b", &jar, &nginx.url("/whoami")])).unwrap();
        assert_eq!(echo["remote_user"], "demo");
    }
    for instance in [&a, &b] {
        let log = std::fs::read_to_string(instance.kept().join("access.log")).unwrap();
        assert!(
            log.lines()
                .any(|l| l.contains(" - demo [") && l.contains("\"GET /whoami HTTP/1.1\" 200")),
            "{log}"
        );
    }
}

#[test]
fn a_login_shared_with_a_python_app() {
    if !require("curl") || !common::python_has("pyramid.authentication") {
        return;
    }
    let listings = Path::new(ROOT).join("book/listings");
    let port = common::free_port();
    let _python = common::Python::start(
        &std::fs::read_to_string(listings.join("ticket_app.py")).unwrap(),
        &[&port.to_string()],
    );
    let upstream = format!("127.0.0.1:{port}");
    let server = serve_listing("ticket.toml", &[("127.0.0.1:9000", &upstream)], 1);

    let jar = server.kept().join("jar");
    let jar = jar.to_str().unwrap();
    let login = curl(&[
        "-s",
        "-c",
        jar,
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "-d",
        "username=demo&password=demo&next=/reports/",
        &server.url("/login"),
    ]);
    assert_eq!(login, "303");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut answer = String::new();
    while std::time::Instant::now() < deadline {
        answer = curl(&["-s", "-b", jar, &server.url("/reports/q3")]);
        if answer.starts_with("reports") {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    assert_eq!(answer, "reports for demo, mounted at /reports\n");
}
