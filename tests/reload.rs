//! Reloading the stack: on SIGHUP under load (no request fails, the new
//! stack answers), a broken file keeps the running stack, and
//! `serve --reload` follows edits.

mod common;

use std::process::Command;
use std::time::Duration;

use common::{curl, require, towerkit, Stack};

fn text(body: &str) -> String {
    format!("[app.main]\nuse = \"text\"\nbody = \"{body}\\n\"\n")
}

/// Waits (at most 10 s) until `url` answers `body`.
fn answers(url: &str, body: &str) -> bool {
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while std::time::Instant::now() < deadline {
        if curl(&["-s", url]) == body {
            return true;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    false
}

#[test]
fn sighup_under_load_loses_nothing() {
    if !require("wrk") || !require("curl") {
        return;
    }
    let stack = Stack::new(&text("one"));
    let server = stack.serve();
    let url = server.url("/");
    assert_eq!(curl(&["-s", &url]), "one\n");

    let load = Command::new("wrk")
        .args(["-t1", "-c16", "-d3s", &url])
        .output();
    let reload = std::thread::spawn({
        let config = stack.config.clone();
        move || {
            std::thread::sleep(Duration::from_millis(1000));
            std::fs::write(&config, text("two")).unwrap();
        }
    });
    std::thread::sleep(Duration::from_millis(1200));
    server.signal(libc::SIGHUP);
    reload.join().unwrap();
    let load = load.expect("wrk");
    let report = String::from_utf8_lossy(&load.stdout);
    assert!(load.status.success(), "{report}");
    assert!(report.contains("requests in"), "{report}");
    // Neither a refused or reset connection nor an error status.
    assert!(!report.contains("Socket errors"), "{report}");
    assert!(!report.contains("Non-2xx"), "{report}");
    assert!(
        server.wait_for_log("towerkit: reloaded"),
        "{:?}",
        server.stderr()
    );
    assert_eq!(curl(&["-s", &url]), "two\n");

    // A broken file: the error is logged and the running stack stays.
    std::fs::write(&stack.config, "[app.main]\nuse = \"nope\"\n").unwrap();
    server.signal(libc::SIGHUP);
    assert!(
        server.wait_for_log("reload failed, the running stack stays"),
        "{:?}",
        server.stderr()
    );
    assert!(server
        .stderr()
        .iter()
        .any(|l| l.contains("unknown app factory `nope`")));
    assert_eq!(curl(&["-s", &url]), "two\n");
}

#[test]
fn serve_reload_follows_edits_to_the_stack_and_its_files() {
    if !require("curl") {
        return;
    }
    let stack = Stack::new(
        "[composite.main]\nuse = \"urlmap\"\n\"/\" = \"hello\"\n\"/files\" = \"files\"\n\
         [app.hello]\nuse = \"text\"\nbody = \"one\\n\"\n\
         [app.files]\nuse = \"static\"\nroot = \"public\"\n",
    );
    std::fs::create_dir(stack.path().join("public")).unwrap();
    stack.write("public/a.txt", "a\n");
    let server = stack.serve_expecting(towerkit(), &["127.0.0.1:0"], &["--reload"], 1);
    assert!(server.wait_for_log("reloading when the stack's files change"));
    let url = server.url("/");
    assert_eq!(curl(&["-s", &url]), "one\n");
    let config = std::fs::read_to_string(&stack.config).unwrap();
    std::fs::write(&stack.config, config.replace("one", "two")).unwrap();
    assert!(answers(&url, "two\n"), "{:?}", server.stderr());
    // A change under a document root reloads too.
    stack.write("public/b.txt", "b\n");
    assert!(
        server.wait_for_log("changed: reloading"),
        "{:?}",
        server.stderr()
    );
    assert_eq!(curl(&["-s", &server.url("/files/b.txt")]), "b\n");
}
