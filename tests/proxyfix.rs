//! Behind a real nginx under a sub-path: the app sees the client, scheme and
//! prefix; straight to towerkit, forged headers change nothing.

mod common;

use common::{curl, require, Nginx, Stack};
use serde_json::Value;

const STACK: &str = r#"
[pipeline.main]
pipeline = ["fix", "site"]

[filter.fix]
use = "proxy-fix"
x_for = 1
x_proto = 1
x_host = 1
x_prefix = 1
trusted = ["127.0.0.2"]
strip = true

[composite.site]
use = "urlmap"
"/" = "docs"
"/env" = "env"

[app.docs]
use = "urlparser"
root = "public"

[app.env]
use = "echo"
"#;

#[test]
fn behind_nginx_under_a_sub_path() {
    if !require("nginx") {
        return;
    }
    let stack = Stack::new(STACK);
    std::fs::create_dir_all(stack.path().join("public/folder")).unwrap();
    std::fs::write(stack.path().join("public/folder/index.html"), "folder").unwrap();
    let towerkit = stack.serve();
    let nginx = Nginx::start(&format!(
        r#"
server {{
  listen 127.0.0.1:{{port}};
  location /sub/ {{
    proxy_pass http://{backend}/;
    proxy_bind 127.0.0.2;
    proxy_set_header Host backend.internal;
    proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    proxy_set_header X-Forwarded-Proto https;
    proxy_set_header X-Forwarded-Host $http_host;
    proxy_set_header X-Forwarded-Prefix /sub;
  }}
}}
"#,
        backend = towerkit.addr()
    ));

    // The client is 127.0.0.3; nginx (127.0.0.2, trusted) forwards it.
    let out = curl(&["--interface", "127.0.0.3", &nginx.url("/sub/env/x/y?z=1")]);
    let env: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(env["remote_addr"], "127.0.0.3");
    assert_eq!(env["scheme"], "https");
    assert_eq!(env["host"], format!("127.0.0.1:{}", nginx.port));
    assert_eq!(env["script_name"], "/sub/env");
    assert_eq!(env["path_info"], "/x/y");
    assert_eq!(
        env["application_url"],
        format!("https://127.0.0.1:{}/sub/env", nginx.port)
    );
    assert_eq!(
        env["url"],
        format!("https://127.0.0.1:{}/sub/env/x/y?z=1", nginx.port)
    );

    // A redirect from the document root carries the public prefix.
    let head = curl(&["-sI", "--interface", "127.0.0.3", &nginx.url("/sub/folder")]);
    let location = head
        .lines()
        .find_map(|l| {
            l.strip_prefix("location: ")
                .or_else(|| l.strip_prefix("Location: "))
        })
        .map(str::trim)
        .expect("a Location");
    assert_eq!(location, "/sub/folder/");
    assert_eq!(
        curl(&["-L", "--interface", "127.0.0.3", &nginx.url("/sub/folder")]),
        "folder"
    );

    // Straight to towerkit from an untrusted peer, with forged headers.
    let out = curl(&[
        "-H",
        "X-Forwarded-For: 6.6.6.6",
        "-H",
        "X-Forwarded-Proto: https",
        "-H",
        "X-Forwarded-Host: evil.example",
        "-H",
        "X-Forwarded-Prefix: /evil",
        "-H",
        "Forwarded: for=6.6.6.6;proto=https",
        &towerkit.url("/env/x"),
    ]);
    let env: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(env["remote_addr"], "127.0.0.1");
    assert_eq!(env["scheme"], "http");
    assert_eq!(env["script_name"], "/env");
    assert_eq!(
        env["application_url"],
        format!("http://{}/env", towerkit.addr())
    );
    let headers = env["headers"].as_object().unwrap();
    assert!(
        !headers.contains_key("x-forwarded-for"),
        "strip removes them: {headers:?}"
    );
    assert!(!headers.contains_key("forwarded"));
}
