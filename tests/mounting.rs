//! urlmap mounting, through the real binary and real clients.

mod common;

use common::{curl, Stack};
use serde_json::Value;

const STACK: &str = r#"
[pipeline.main]
pipeline = ["site"]

[composite.site]
use = "urlmap"
"/" = "home"
"/app" = "env"
"/app/admin/" = "admin"
"//double//slash//" = "env"
"example.com/" = "example"
"example.com:8080/api" = "env"
"/health" = "health"

[app.home]
use = "text"
body = "home\n"

[app.admin]
use = "text"
body = "admin\n"

[app.example]
use = "text"
body = "example.com\n"

[app.env]
use = "echo"

[app.health]
use = "text"
status = 204
"#;

async fn environ(client: &reqwest::Client, url: &str) -> Value {
    let res = client.get(url).send().await.expect("request");
    assert_eq!(res.status(), 200, "{url}");
    res.json().await.expect("json")
}

#[tokio::test]
async fn mounted_apps_see_script_name_and_path() {
    let stack = Stack::new(STACK);
    let server = stack.serve();
    let client = reqwest::Client::new();

    let env = environ(&client, &server.url("/app/users/7?sort=asc")).await;
    assert_eq!(env["script_name"], "/app");
    assert_eq!(env["path_info"], "/users/7");
    assert_eq!(env["query_string"], "sort=asc");
    assert_eq!(env["remote_addr"], "127.0.0.1");
    assert_eq!(env["server_port"], server.addr().port());

    // The mount itself: empty PATH_INFO, not "/".
    let env = environ(&client, &server.url("/app")).await;
    assert_eq!(
        (env["script_name"].as_str(), env["path_info"].as_str()),
        (Some("/app"), Some(""))
    );
    let env = environ(&client, &server.url("/app/")).await;
    assert_eq!(env["path_info"], "/");

    // Keys with `//` and a trailing `/` are normalised.
    let env = environ(&client, &server.url("/double/slash/x")).await;
    assert_eq!(env["script_name"], "/double/slash");

    // Encoded segments stay encoded in SCRIPT_NAME and the path.
    let env = environ(&client, &server.url("/app/caf%C3%A9/a%2Fb")).await;
    assert_eq!(env["path_info"], "/caf%C3%A9/a%2Fb");
}

#[tokio::test]
async fn longest_prefix_at_segment_boundaries() {
    let stack = Stack::new(STACK);
    let server = stack.serve();
    let client = reqwest::Client::new();
    let text = |path: &'static str| {
        let client = client.clone();
        let url = server.url(path);
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    assert_eq!(text("/app/admin/x").await, "admin\n");
    assert!(text("/app/administrator")
        .await
        .contains("\"script_name\":\"/app\""));
    assert_eq!(text("/application").await, "home\n");
    assert_eq!(text("/").await, "home\n");
    let res = client.get(server.url("/health")).send().await.unwrap();
    assert_eq!(res.status(), 204);
}

#[tokio::test]
async fn host_keys_match_only_their_host() {
    let stack = Stack::new(STACK);
    let server = stack.serve();
    let url = server.url("/x");
    assert_eq!(curl(&["-H", "Host: example.com", &url]), "example.com\n");
    assert_eq!(
        curl(&["-H", "Host: EXAMPLE.COM:9999", &url]),
        "example.com\n"
    );
    assert_eq!(curl(&["-H", "Host: other.example", &url]), "home\n");
    // A host:port key applies to that port only.
    let api = server.url("/api/v2");
    let env: Value = serde_json::from_str(&curl(&["-H", "Host: example.com:8080", &api])).unwrap();
    assert_eq!(
        (env["script_name"].as_str(), env["path_info"].as_str()),
        (Some("/api"), Some("/v2"))
    );
    assert_eq!(
        curl(&["-H", "Host: example.com:8081", &api]),
        "example.com\n"
    );
}

#[tokio::test]
async fn no_match_is_a_404_in_the_format_asked_for() {
    let stack = Stack::new(
        "[composite.main]\nuse = \"urlmap\"\n\"/only\" = \"e\"\n[app.e]\nuse = \"echo\"\n",
    );
    let server = stack.serve();
    let client = reqwest::Client::new();
    let res = client
        .get(server.url("/other"))
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert_eq!(res.headers()["content-type"], "application/problem+json");
    let problem: Value = res.json().await.unwrap();
    assert_eq!(problem["title"], "Not Found");
    let res = client
        .get(server.url("/onlyx"))
        .header("accept", "text/html")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    assert!(res.text().await.unwrap().contains("<h1>Not Found</h1>"));
    // `..` is resolved before a mount is chosen: `/only/../other` names
    // `/other`, which no mount serves, and a path that climbs above the
    // root is refused.
    let code = |path: &str| {
        curl(&[
            "--path-as-is",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &server.url(path),
        ])
    };
    assert_eq!(code("/only/../other"), "404");
    assert_eq!(code("/other/../only/x"), "200");
    assert_eq!(code("/../only"), "400");
}

#[tokio::test]
async fn http2_prior_knowledge_and_many_connections() {
    let stack = Stack::new(STACK);
    let server = stack.serve();
    let out = curl(&[
        "--http2-prior-knowledge",
        "-o",
        "/dev/null",
        "-w",
        "%{http_version}",
        &server.url("/"),
    ]);
    assert_eq!(out, "2");
    // 200 requests over fresh connections at once.
    let mut tasks = Vec::new();
    for i in 0..200 {
        let url = server.url(&format!("/app/{i}"));
        tasks.push(tokio::spawn(async move {
            let client = reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap();
            let env: Value = client.get(url).send().await.unwrap().json().await.unwrap();
            env["path_info"].as_str().unwrap().to_owned()
        }));
    }
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(task.await.unwrap(), format!("/{i}"));
    }
}

#[tokio::test]
async fn several_listeners_ipv4_and_ipv6() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        eprintln!("SKIPPED: no IPv6 loopback on this machine");
        return;
    }
    let stack = Stack::new(STACK);
    let server = stack.serve_on(&["127.0.0.1:0", "[::1]:0"]);
    assert!(server.addrs[1].is_ipv6());
    let v6 = format!("http://{}/app/x", server.addrs[1]);
    let env: Value = serde_json::from_str(&curl(&[&v6])).unwrap();
    assert_eq!(env["remote_addr"], "::1");
    assert_eq!(env["path_info"], "/x");
}
