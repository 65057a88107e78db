//! Every example runs and does what its header says, driven by curl as a
//! reader of the book would.

mod common;

use common::{curl, curl_output, example, headers, require, status, Running};

fn start(name: &str) -> Running {
    let mut command = example(name);
    command.arg("127.0.0.1:0");
    Running::start_command(command)
}

#[test]
fn hello() {
    if !require("curl") {
        return;
    }
    let server = start("hello");
    assert_eq!(curl(&["-s", &server.url("/")]), "hello\n");
    let env: serde_json::Value =
        serde_json::from_str(&curl(&["-s", &server.url("/env/a/b")])).unwrap();
    assert_eq!(env["script_name"], "/env");
    assert_eq!(env["path_info"], "/a/b");
}

#[test]
fn single_crate_in_axum() {
    if !require("curl") {
        return;
    }
    let server = start("single_crate_in_axum");
    assert_eq!(curl(&["-s", &server.url("/")]), "hello from axum\n");
    // The JSON is gzipped for a client that asks, and left alone otherwise.
    let head = headers(&["-H", "Accept-Encoding: gzip", &server.url("/status")]);
    assert!(
        head.to_ascii_lowercase().contains("content-encoding: gzip"),
        "{head}"
    );
    let plain: serde_json::Value =
        serde_json::from_str(&curl(&["-s", &server.url("/status")])).unwrap();
    assert_eq!(plain["ok"], true);
    // The event stream is gzipped and live: three ticks arrive within a
    // stream cut after 3 s (an event every 200 ms).
    let output = curl_output(&[
        "-sN",
        "--compressed",
        "-D",
        "-",
        "--max-time",
        "3",
        &server.url("/ticks"),
    ]);
    let text = String::from_utf8_lossy(&output.stdout).to_ascii_lowercase();
    assert!(text.contains("content-encoding: gzip"), "{text}");
    assert!(text.contains("content-type: text/event-stream"), "{text}");
    for n in 0..3 {
        assert!(text.contains(&format!("data: tick {n}\n")), "{text}");
    }
}

#[test]
fn legacy() {
    if !require("curl") || !require("python3") {
        return;
    }
    let server = start("legacy");
    // Everything needs the login.
    assert_eq!(status(&[&server.url("/cgi-bin/whoami.py")]), "401");
    let cgi: serde_json::Value = serde_json::from_str(&curl(&[
        "-s",
        "-u",
        "demo:demo",
        &server.url("/cgi-bin/whoami.py/extra?x=1"),
    ]))
    .unwrap();
    assert_eq!(cgi["remote_user"], "demo");
    assert_eq!(cgi["auth_type"], "Basic");
    assert_eq!(cgi["script_name"], "/cgi-bin/whoami.py");
    assert_eq!(cgi["path_info"], "/extra");
    assert_eq!(cgi["query_string"], "x=1");
    // The proxied service sees the path below the mount and who asked.
    let service: serde_json::Value = serde_json::from_str(&curl(&[
        "-s",
        "-u",
        "demo:demo",
        &server.url("/service/orders/7"),
    ]))
    .unwrap();
    assert_eq!(service["path_info"], "/orders/7");
    assert_eq!(service["headers"]["x-forwarded-for"], "127.0.0.1");
    assert_eq!(service["headers"]["x-forwarded-prefix"], "/service");
}

#[test]
fn dashboard() {
    if !require("curl") {
        return;
    }
    let server = start("dashboard");
    let base = format!("https://127.0.0.1:{}", server.addr().port());
    let jar = tempfile::NamedTempFile::new().unwrap();
    let jar = jar.path().to_str().unwrap().to_owned();
    let get = |path: &str| curl(&["-sk", "-b", &jar, "-c", &jar, &format!("{base}{path}")]);

    // A browser is sent to the form; the API refuses the anonymous.
    let form = curl(&["-sk", "-L", "-H", "Accept: text/html", &format!("{base}/")]);
    assert!(form.contains("name=\"password\""), "{form}");
    assert_eq!(status(&["-k", &format!("{base}/api/me")]), "401");

    // Logging in through the form keeps the user in the session.
    let login = curl(&[
        "-sk",
        "-b",
        &jar,
        "-c",
        &jar,
        "-o",
        "/dev/null",
        "-w",
        "%{http_code} %{redirect_url}",
        "-d",
        "username=admin&password=hub&next=/",
        &format!("{base}/login"),
    ]);
    assert_eq!(login, format!("303 {base}/"));
    let me: serde_json::Value = serde_json::from_str(&get("/api/me")).unwrap();
    assert_eq!(
        me,
        serde_json::json!({"user": "admin", "visits": 1, "api": format!("{base}/api/devices")})
    );
    let me: serde_json::Value = serde_json::from_str(&get("/api/me")).unwrap();
    assert_eq!(me["visits"], 2);
    assert!(get("/").contains("<title>Hub dashboard</title>"));

    // Devices, a toggle, and the change on the event stream, gzipped.
    let devices: serde_json::Value = serde_json::from_str(&get("/api/devices")).unwrap();
    assert_eq!(
        devices[0],
        serde_json::json!({
            "id": "lamp", "kind": "switch", "on": false,
            "url": "/api/devices/lamp", "toggle": "/api/devices/lamp/toggle",
        })
    );
    assert_eq!(devices[2]["url"], "/api/devices/thermometer");
    assert!(devices[2].get("toggle").is_none(), "a sensor has no toggle");
    // Behind a proxy that mounts the hub at /hub, the URLs say so.
    let behind = |path: &str| {
        curl(&[
            "-sk",
            "-b",
            &jar,
            "-H",
            "X-Forwarded-Host: public.example",
            "-H",
            "X-Forwarded-Prefix: /hub",
            &format!("{base}{path}"),
        ])
    };
    let devices: serde_json::Value = serde_json::from_str(&behind("/api/devices")).unwrap();
    assert_eq!(devices[0]["toggle"], "/hub/api/devices/lamp/toggle");
    let me: serde_json::Value = serde_json::from_str(&behind("/api/me")).unwrap();
    assert_eq!(me["api"], "https://public.example/hub/api/devices");
    let lamp: serde_json::Value = serde_json::from_str(&get("/api/devices/lamp")).unwrap();
    assert_eq!(lamp["on"], false);
    // The router answers wrong methods and unknown paths.
    let head = headers(&[
        "-k",
        "-b",
        &jar,
        "-X",
        "DELETE",
        &format!("{base}/api/devices"),
    ]);
    assert!(
        head.starts_with("HTTP/2 405") || head.starts_with("HTTP/1.1 405"),
        "{head}"
    );
    assert!(head.contains("allow: GET, HEAD, OPTIONS\n"), "{head}");
    assert_eq!(
        status(&["-k", "-b", &jar, &format!("{base}/api/devices/toaster")]),
        "404"
    );
    let stream = std::process::Command::new("curl")
        .args([
            "-skN",
            "--compressed",
            "-D",
            "-",
            "--max-time",
            "4",
            "-b",
            &jar,
        ])
        .arg(format!("{base}/events"))
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let toggled: serde_json::Value = serde_json::from_str(&curl(&[
        "-sk",
        "-b",
        &jar,
        "-X",
        "POST",
        &format!("{base}/api/devices/lamp/toggle"),
    ]))
    .unwrap();
    assert_eq!(toggled, serde_json::json!({"id": "lamp", "on": true}));
    let stream = stream.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&stream.stdout).to_ascii_lowercase();
    assert!(text.contains("content-encoding: gzip"), "{text}");
    let events = text
        .split("event: device\ndata: ")
        .filter(|event| event.contains("\"id\":\"thermometer\""))
        .count();
    assert!(events >= 3, "{events} thermometer events in 4 s: {text}");
    assert!(
        text.contains("event: device\ndata: {\"id\":\"lamp\",\"on\":true}\n"),
        "{text}"
    );
    let toaster = format!("{base}/api/devices/toaster/toggle");
    assert_eq!(status(&["-k", "-b", &jar, "-X", "POST", &toaster]), "404");

    // Logging out ends it.
    get("/logout");
    assert_eq!(
        status(&["-k", "-b", &jar, &format!("{base}/api/me")]),
        "401"
    );
}

#[test]
fn own_layer() {
    if !require("curl") {
        return;
    }
    let config = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/own_layer.toml");
    let mut command = example("own_layer");
    command.args(["serve", config, "--listen", "127.0.0.1:0"]);
    let server = Running::start_command(command);
    let head = headers(&[&server.url("/")]);
    assert!(head.contains("x-request-id: hub-1\n"), "{head}");
    let echo: serde_json::Value = serde_json::from_str(&curl(&["-s", &server.url("/")])).unwrap();
    assert_eq!(echo["headers"]["x-request-id"], "hub-2");
    // One given by the client (a proxy) is kept.
    let head = headers(&["-H", "X-Request-Id: abc", &server.url("/")]);
    assert!(head.contains("x-request-id: abc\n"), "{head}");
    // A bad option is a config error naming the key.
    let bad = common::Stack::new(
        "[pipeline.main]\npipeline = [\"ids\", \"app\"]\n[filter.ids]\nuse = \"request-id\"\n\
         header = \"bad header\"\n[app.app]\nuse = \"echo\"\n",
    );
    let output = example("own_layer")
        .arg("check")
        .arg(&bad.config)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("[filter.ids] key `header`: not a header name"),
        "{stderr}"
    );
}
