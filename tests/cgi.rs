//! The CGI gateway through the real binary, with real shell and Python
//! scripts.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::{Duration, Instant};

use common::{curl, curl_output, Stack};
use serde_json::Value;

fn script(dir: &Path, name: &str, text: &str) {
    let path = dir.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, text).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

const STACK: &str = r#"
[pipeline.main]
pipeline = ["recursive", "site"]

[filter.recursive]
use = "recursive"

[composite.site]
use = "urlmap"
"/" = "home"
"/cgi-bin" = "scripts"
"/docs" = "docs"

[app.home]
use = "text"
body = "home\n"

[app.scripts]
use = "cgi"
root = "cgi-bin"
timeout = "1s"

[app.docs]
use = "urlparser"
root = "docs"
handlers = { cgi = "cgi" }
"#;

fn serve() -> (Stack, common::Running) {
    let stack = Stack::new(STACK);
    let bin = stack.path().join("cgi-bin");
    script(&bin, "env.py", "#!/usr/bin/env python3\nimport json, os, sys\nbody = sys.stdin.buffer.read()\nprint('Content-Type: application/json')\nprint()\nenv = dict(os.environ)\nenv['_body_length'] = len(body)\nenv['_cwd'] = os.getcwd()\nprint(json.dumps(env))\n");
    script(
        &bin,
        "echo.sh",
        "#!/bin/sh\necho 'Content-Type: application/octet-stream'\necho\ncat\n",
    );
    script(&bin, "status.sh", "#!/bin/sh\necho 'Status: 418 I am a teapot'\necho 'X-Script: yes'\necho\necho short and stout\n");
    script(
        &bin,
        "okay.sh",
        "#!/bin/sh\necho 'Status: 200 Okay'\necho 'Content-Type: text/plain'\necho\necho fine\n",
    );
    // A reason phrase with a control character (and one with Latin-1
    // bytes, which HTTP allows as obs-text).
    script(
        &bin,
        "control.sh",
        "#!/bin/sh\nprintf 'Status: 201 Made\\001Up\\r\\nContent-Type: text/plain\\r\\n\\r\\nmade\\n'\n",
    );
    script(
        &bin,
        "latin1.sh",
        "#!/bin/sh\nprintf 'Status: 202 Re\\347u\\r\\n\\r\\naccepted\\n'\n",
    );
    script(
        &bin,
        "away.sh",
        "#!/bin/sh\necho 'Location: https://example.org/elsewhere'\necho\n",
    );
    script(
        &bin,
        "local.sh",
        "#!/bin/sh\necho 'Location: /?from=cgi'\necho\n",
    );
    script(
        &bin,
        "bad.sh",
        "#!/bin/sh\necho 'this is not a header'\necho\n",
    );
    script(&bin, "warn.sh", "#!/bin/sh\necho 'a warning for the log' >&2\necho 'Content-Type: text/plain'\necho\necho ok\n");
    // An unusual duration, so that the check below finds these and no
    // other `sleep` on the machine.
    script(&bin, "hang.sh", "#!/bin/sh\nsleep 3141 &\nsleep 3141\n");
    script(
        &bin,
        "sub/deep.sh",
        "#!/bin/sh\necho 'Content-Type: text/plain'\necho\necho \"$SCRIPT_NAME|$PATH_INFO\"\n",
    );
    script(
        &stack.path().join("docs"),
        "page.cgi",
        "#!/bin/sh\necho 'Content-Type: text/plain'\necho\necho \"$SCRIPT_NAME|$PATH_INFO\"\n",
    );
    let server = stack.serve();
    (stack, server)
}

#[test]
fn environment_as_the_script_sees_it() {
    let (stack, server) = serve();
    let out = curl(&[
        "-H",
        "X-Custom: yes",
        "-H",
        "Proxy: http://evil.example",
        "-H",
        "Authorization: Basic c2VjcmV0",
        &server.url("/cgi-bin/env.py/extra/path%20x?a=1&b=2"),
    ]);
    let env: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(env["GATEWAY_INTERFACE"], "CGI/1.1");
    assert_eq!(env["REQUEST_METHOD"], "GET");
    assert_eq!(env["SCRIPT_NAME"], "/cgi-bin/env.py");
    assert_eq!(env["PATH_INFO"], "/extra/path x");
    assert_eq!(env["QUERY_STRING"], "a=1&b=2");
    assert_eq!(env["REQUEST_URI"], "/cgi-bin/env.py/extra/path%20x?a=1&b=2");
    assert_eq!(env["REMOTE_ADDR"], "127.0.0.1");
    assert_eq!(env["SERVER_PORT"], server.addr().port().to_string());
    assert_eq!(env["SERVER_PROTOCOL"], "HTTP/1.1");
    assert_eq!(env["HTTP_X_CUSTOM"], "yes");
    assert!(env.get("HTTP_PROXY").is_none(), "httpoxy");
    assert!(env.get("HTTP_AUTHORIZATION").is_none());
    assert!(env["SCRIPT_FILENAME"]
        .as_str()
        .unwrap()
        .ends_with("cgi-bin/env.py"));
    assert!(env["PATH_TRANSLATED"]
        .as_str()
        .unwrap()
        .ends_with("cgi-bin/extra/path x"));
    let real_bin = std::fs::canonicalize(stack.path().join("cgi-bin")).unwrap();
    assert_eq!(
        env["_cwd"],
        real_bin.display().to_string(),
        "the script runs in its folder"
    );
    assert!(
        env.get("HOME").is_none() && env.get("CARGO").is_none(),
        "the environment is cleared"
    );
    assert!(env.get("PATH").is_some(), "but PATH passes");
    // Nested folders; a handler in a document root.
    assert_eq!(
        curl(&[&server.url("/cgi-bin/sub/deep.sh/x")]),
        "/cgi-bin/sub/deep.sh|/x\n"
    );
    assert_eq!(
        curl(&[&server.url("/docs/page.cgi/more")]),
        "/docs/page.cgi|/more\n"
    );
    assert_eq!(
        curl(&[
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &server.url("/cgi-bin/nothing.sh")
        ]),
        "404"
    );
    // `..` is resolved before any layer decides (towerkit_core::canonical):
    // the script runs under its one spelling; climbing above the root is
    // refused, and an encoded slash never leads out of the script folder.
    assert_eq!(
        curl(&[
            "--path-as-is",
            &server.url("/cgi-bin/../cgi-bin/sub/./../sub/deep.sh/x")
        ]),
        "/cgi-bin/sub/deep.sh|/x\n"
    );
    for (path, code) in [
        ("/cgi-bin/../../cgi-bin/env.py", "400"),
        ("/cgi-bin/..%2Fcgi-bin%2Fenv.py", "404"),
        ("/cgi-bin/sub/..%2Fenv.py", "404"),
    ] {
        assert_eq!(
            curl(&[
                "-s",
                "--path-as-is",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                &server.url(path)
            ]),
            code,
            "{path}"
        );
    }
}

#[test]
fn a_multipart_post_is_streamed_through() {
    let (stack, server) = serve();
    let upload = stack.path().join("upload.bin");
    let data: Vec<u8> = (0..10_240u32).map(|i| (i % 251) as u8).collect();
    std::fs::write(&upload, &data).unwrap();
    let env: Value = serde_json::from_str(&curl(&[
        "-F",
        &format!("file=@{}", upload.display()),
        &server.url("/cgi-bin/env.py"),
    ]))
    .unwrap();
    assert!(env["CONTENT_TYPE"]
        .as_str()
        .unwrap()
        .starts_with("multipart/form-data; boundary="));
    let length: usize = env["CONTENT_LENGTH"].as_str().unwrap().parse().unwrap();
    assert!(length > 10_240);
    assert_eq!(env["_body_length"], length);
    // Bytes in, the same bytes out; chunked too.
    let echoed = curl_output(&[
        "--data-binary",
        &format!("@{}", upload.display()),
        &server.url("/cgi-bin/echo.sh"),
    ])
    .stdout;
    assert_eq!(echoed, data);
    let echoed = curl_output(&[
        "-H",
        "Transfer-Encoding: chunked",
        "--data-binary",
        &format!("@{}", upload.display()),
        &server.url("/cgi-bin/echo.sh"),
    ])
    .stdout;
    assert_eq!(echoed, data);
}

#[test]
fn status_location_and_bad_headers() {
    let (_stack, server) = serve();
    let out = curl(&["-i", &server.url("/cgi-bin/status.sh")]).replace("\r\n", "\n");
    assert!(
        out.starts_with("HTTP/1.1 418")
            && out.contains("x-script: yes")
            && out.ends_with("short and stout\n"),
        "{out}"
    );
    let out = curl(&["-i", &server.url("/cgi-bin/away.sh")]).replace("\r\n", "\n");
    assert!(
        out.starts_with("HTTP/1.1 302") && out.contains("location: https://example.org/elsewhere"),
        "{out}"
    );
    // A local path: an internal redirect through the recursive layer.
    assert_eq!(curl(&[&server.url("/cgi-bin/local.sh")]), "home\n");
    let out = curl(&["-i", &server.url("/cgi-bin/bad.sh")]);
    assert!(out.starts_with("HTTP/1.1 502"), "{out}");
}

#[test]
fn header_names_with_underscores_never_reach_a_script() {
    // A front proxy sets `X-User`; a client sending `X_User` must not be
    // able to pass for it as HTTP_X_USER (nginx and Apache drop such
    // names too).
    let (_stack, server) = serve();
    let out = curl(&[
        "-H",
        "X_User: admin",
        "-H",
        "X-User: alice",
        "-H",
        "Only_Underscores: yes",
        &server.url("/cgi-bin/env.py"),
    ]);
    let env: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(env["HTTP_X_USER"], "alice", "{out}");
    assert!(env.get("HTTP_ONLY_UNDERSCORES").is_none(), "{out}");
    // Without the dashed one, nothing at all.
    let out = curl(&["-H", "X_User: admin", &server.url("/cgi-bin/env.py")]);
    let env: Value = serde_json::from_str(&out).unwrap();
    assert!(env.get("HTTP_X_USER").is_none(), "{out}");
}

#[test]
fn a_scripts_reason_phrase_reaches_an_http1_client() {
    let (_stack, server) = serve();
    let out = curl_output(&["-sv", &server.url("/cgi-bin/okay.sh")]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("< HTTP/1.1 200 Okay\r\n"), "{stderr}");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "fine\n");
    let out = curl(&["-i", &server.url("/cgi-bin/status.sh")]);
    assert!(out.starts_with("HTTP/1.1 418 I am a teapot\r\n"), "{out}");
    // A phrase with a control character is dropped: the standard one is
    // sent.
    let out = curl(&["-i", &server.url("/cgi-bin/control.sh")]);
    assert!(out.starts_with("HTTP/1.1 201 Created\r\n"), "{out}");
    assert!(out.ends_with("\r\n\r\nmade\n"), "{out}");
    // Bytes above 0x7F are obs-text: allowed, and sent as they are.
    let out = curl_output(&["-i", &server.url("/cgi-bin/latin1.sh")]);
    assert!(
        out.stdout.starts_with(b"HTTP/1.1 202 Re\xe7u\r\n"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // HTTP/2 has no reason phrases; the status still arrives.
    let out = curl(&[
        "-i",
        "--http2-prior-knowledge",
        &server.url("/cgi-bin/okay.sh"),
    ]);
    assert!(out.starts_with("HTTP/2 200"), "{out}");
}

#[test]
fn stderr_is_logged() {
    let (_stack, server) = serve();
    assert_eq!(curl(&[&server.url("/cgi-bin/warn.sh")]), "ok\n");
    assert!(server.wait_for_log("a warning for the log"));
}

#[test]
fn a_hung_script_is_killed_with_its_children() {
    let (stack, server) = serve();
    let started = Instant::now();
    let code = curl(&[
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        &server.url("/cgi-bin/hang.sh"),
    ]);
    assert_eq!(code, "504");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // Neither the script nor its background child outlive it, and no
    // zombie is left.
    std::thread::sleep(Duration::from_millis(500));
    let dir = stack.path().display().to_string();
    let ps = String::from_utf8(
        std::process::Command::new("ps")
            .args(["-eo", "pid,ppid,stat,args"])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap();
    let left: Vec<&str> = ps
        .lines()
        .filter(|l| l.ends_with("sleep 3141") || (l.contains(" Z") && l.contains("hang")))
        .collect();
    assert!(left.is_empty(), "left behind: {left:?} (in {dir})");
}
