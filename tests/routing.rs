//! A `routes` app mounted under a URL map, behind proxy-fix with a public
//! prefix, through the real binary: the URLs it builds and the redirects it
//! answers carry the proxy's scheme, host and prefix and the mount.

mod common;

use common::{curl, headers, own_factories, status, towerkit, Stack};
use serde_json::Value;

const STACK: &str = r#"
[pipeline.main]
pipeline = ["fix", "site"]

[filter.fix]
use = "proxy-fix"
x_proto = 1
x_host = 1
x_prefix = 1
trusted = ["127.0.0.1/32"]

[composite.site]
use = "urlmap"
"/api" = "api"

[app.api]
use = "routes"
"GET /devices/" = "devices"
"GET /devices/<int:id>" = "device"
"PUT /devices/<int:id>" = "save"
"GET /devices/<int:id>/state" = "state"
"/old/<int:id>" = { redirect_to = "/devices/<id>" }
"GET /d/<int:id>" = { endpoint = "device", alias = true }
"/raw/<path:rest>" = "env"

[app.devices]
use = "url-for"
endpoint = "device"

[app.device]
use = "url-for"

[app.save]
use = "echo"

[app.state]
use = "url-for"

[app.env]
use = "echo"
"#;

/// What the proxy in front sends: the public scheme, host and prefix.
const PROXY: [&str; 6] = [
    "-H",
    "X-Forwarded-Proto: https",
    "-H",
    "X-Forwarded-Host: public.example",
    "-H",
    "X-Forwarded-Prefix: /hub",
];

fn get(url: &str) -> String {
    let mut args = PROXY.to_vec();
    args.push(url);
    curl(&args)
}

fn head_of(extra: &[&str], url: &str) -> String {
    let mut args = PROXY.to_vec();
    args.extend_from_slice(extra);
    args.push(url);
    headers(&args)
}

fn header<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|line| {
        let (n, v) = line.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn urls_and_redirects_behind_a_proxy_prefix() {
    let stack = Stack::new(STACK);
    let server = stack.serve_with(own_factories(), &["127.0.0.1:0"]);

    // url_for inside the app: the proxy's prefix, the mount, the rule.
    let list: Value = serde_json::from_str(&get(&server.url("/api/devices/?id=7"))).unwrap();
    assert_eq!(list["endpoint"], "devices");
    assert_eq!(list["url"], "/hub/api/devices/7");
    assert_eq!(list["external"], "https://public.example/hub/api/devices/7");
    let device: Value = serde_json::from_str(&get(&server.url("/api/devices/7"))).unwrap();
    assert_eq!(device["rule"], "/devices/<int:id>");
    assert_eq!(device["params"]["id"], "7");
    assert_eq!(device["url"], "/hub/api/devices/7");
    assert_eq!(
        device["external"],
        "https://public.example/hub/api/devices/7"
    );
    let state: Value = serde_json::from_str(&get(&server.url("/api/devices/7/state"))).unwrap();
    assert_eq!(
        state["external"],
        "https://public.example/hub/api/devices/7/state"
    );

    // Redirects are built the same way, query kept where Werkzeug keeps it.
    let head = head_of(&[], &server.url("/api/devices?page=2"));
    assert!(head.starts_with("HTTP/1.1 308"), "{head}");
    assert_eq!(
        header(&head, "location"),
        Some("https://public.example/hub/api/devices/?page=2")
    );
    let head = head_of(&[], &server.url("/api/old/7"));
    assert_eq!(
        header(&head, "location"),
        Some("https://public.example/hub/api/devices/7")
    );
    let head = head_of(&[], &server.url("/api/d/7?x=1"));
    assert_eq!(
        header(&head, "location"),
        Some("https://public.example/hub/api/devices/7?x=1")
    );
    let head = head_of(&[], &server.url("/api//devices//7"));
    assert_eq!(
        header(&head, "location"),
        Some("https://public.example/hub/api/devices/7")
    );

    // Methods: 405 with Allow, OPTIONS, HEAD by GET.
    let head = head_of(&["-X", "POST"], &server.url("/api/devices/7"));
    assert!(head.starts_with("HTTP/1.1 405"), "{head}");
    assert_eq!(header(&head, "allow"), Some("GET, HEAD, OPTIONS, PUT"));
    let head = head_of(&["-X", "OPTIONS"], &server.url("/api/devices/7"));
    assert!(head.starts_with("HTTP/1.1 200"), "{head}");
    assert_eq!(header(&head, "allow"), Some("GET, HEAD, OPTIONS, PUT"));
    assert_eq!(status(&["-I", &server.url("/api/devices/7")]), "200");
    let saved: Value =
        serde_json::from_str(&curl(&["-X", "PUT", &server.url("/api/devices/7")])).unwrap();
    assert_eq!(saved["method"], "PUT");

    // No rule: 404, in the format asked for.
    assert_eq!(status(&[&server.url("/api/devices/seven")]), "404");
    let problem: Value = serde_json::from_str(&curl(&[
        "-H",
        "Accept: application/json",
        &server.url("/api/nothing"),
    ]))
    .unwrap();
    assert_eq!(problem["status"], 404);

    // A rule ending in <path:…> mounts its app below the proxy prefix.
    let env: Value = serde_json::from_str(&get(&server.url("/api/raw/a/b?c=1"))).unwrap();
    assert_eq!(env["script_name"], "/hub/api/raw");
    assert_eq!(env["path_info"], "/a/b");
    assert_eq!(env["application_url"], "https://public.example/hub/api/raw");
}

#[test]
fn check_prints_the_rule_table() {
    let stack = Stack::new(STACK);
    let out = own_factories()
        .arg("check")
        .arg(&stack.config)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let tree = String::from_utf8(out.stdout).unwrap();
    for line in [
        "    \"/api\" = app api (use = \"routes\")",
        "      GET,HEAD /d/<int:id> -> device (alias)",
        "      GET,HEAD /devices/ -> devices",
        "      GET,HEAD /devices/<int:id> -> device",
        "      PUT /devices/<int:id> -> save",
        "        app save (use = \"echo\")",
        "      * /old/<int:id> => /devices/<id>",
        "      * /raw/<path:rest> -> env",
    ] {
        assert!(tree.lines().any(|l| l == line), "{line:?} in\n{tree}");
    }
}

#[test]
fn a_bad_rule_is_a_config_error_naming_file_key_and_reason() {
    let stack = Stack::new(
        "[app.main]\nuse = \"routes\"\n\"GET /devices/<int(min=5, max=1):id>\" = \"x\"\n\n[app.x]\nuse = \"echo\"\n",
    );
    let out = towerkit().arg("check").arg(&stack.config).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    let message = String::from_utf8(out.stderr).unwrap();
    assert_eq!(
        message.trim_end(),
        format!(
            "towerkit: {}:3:41: [app.main] key `GET /devices/<int(min=5, max=1):id>`: `<int(min=5, max=1)>` can never match: no integer satisfies its min, max, fixed_digits and signed",
            stack.config.display()
        )
    );
}
