//! What Werkzeug's `tests/test_routing.py` expects of a router, asked of
//! this one through a `TestClient`: what a user observes.

use std::convert::Infallible;
use std::sync::Arc;

use http::{Method, Request, Response};
use tower::util::BoxCloneSyncService;
use towerkit_core::{handler, path_info, Body, BoxError, ConnectionInfo, ScriptName, TestClient};

use crate::{
    url_for, Converter, Map, MapBuilder, MapError, Params, RouteMatch, Router, Rule, Urls, Value,
};

type App = BoxCloneSyncService<Request<Body>, Response<Body>, BoxError>;

/// Answers `endpoint name=value… | SCRIPT_NAME | PATH_INFO`.
fn show() -> App {
    BoxCloneSyncService::new(handler(|req: Request<Body>| async move {
        let route = RouteMatch::of(&req).ok_or("no match")?;
        let values: Vec<String> = route
            .values()
            .map(|(name, value)| format!("{name}={value:?}"))
            .collect();
        let text = format!(
            "{} {}|{}|{}",
            route.endpoint(),
            values.join(","),
            ScriptName::of(&req),
            path_info(&req)
        );
        Ok::<_, BoxError>(Response::new(Body::from(text)))
    }))
}

fn router(map: MapBuilder) -> Router<App> {
    let map = map.build().unwrap();
    let mut router = Router::builder(map.clone());
    for endpoint in map.endpoints() {
        router = router.endpoint(endpoint, show());
    }
    router.build().unwrap()
}

fn client(map: MapBuilder) -> TestClient<Router<App>> {
    TestClient::new(router(map))
}

async fn text(client: &mut TestClient<Router<App>>, uri: &str) -> String {
    let res = client.get(uri).send().await.unwrap();
    assert_eq!(res.status(), 200, "{uri}: {}", res.text());
    res.text()
}

async fn status(client: &mut TestClient<Router<App>>, method: Method, uri: &str) -> u16 {
    client
        .request(method, uri)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn basic_matching_and_converters() {
    let mut c = client(
        Map::builder()
            .route("/", "index")
            .unwrap()
            .route("/foo", "foo")
            .unwrap()
            .route("/bar/", "bar")
            .unwrap()
            .route("/say/<name>", "say")
            .unwrap()
            .route("/n/<int:n>", "int")
            .unwrap()
            .route("/x/<float:x>", "float")
            .unwrap()
            .route("/id/<uuid:id>", "uuid")
            .unwrap()
            .route("/k/<any(lamp, heater):kind>", "any")
            .unwrap()
            .route("/files/<path:rest>", "files")
            .unwrap(),
    );
    assert_eq!(text(&mut c, "/").await, "index ||/");
    assert_eq!(text(&mut c, "/foo").await, "foo ||/foo");
    assert_eq!(text(&mut c, "/bar/").await, "bar ||/bar/");
    assert_eq!(
        text(&mut c, "/say/caf%c3%a9").await,
        "say name=Str(\"café\")||/say/caf%C3%A9"
    );
    assert_eq!(text(&mut c, "/n/42").await, "int n=Int(42)||/n/42");
    assert_eq!(text(&mut c, "/x/1.5").await, "float x=Float(1.5)||/x/1.5");
    assert!(text(&mut c, "/id/a8098c1a-f86e-11da-bd1a-00112444be1e")
        .await
        .starts_with("uuid id=Uuid("));
    assert_eq!(
        text(&mut c, "/k/lamp").await,
        "any kind=Str(\"lamp\")||/k/lamp"
    );
    // A rule ending in <path:…> mounts its service there.
    assert_eq!(
        text(&mut c, "/files/a/b.txt").await,
        "files rest=Str(\"a/b.txt\")|/files|/a/b.txt"
    );
    assert_eq!(
        text(&mut c, "/files/a/").await,
        "files rest=Str(\"a/\")|/files|/a/"
    );
    for missing in [
        "/n/x",
        "/n/-1",
        "/x/1",
        "/id/nope",
        "/k/fan",
        "/files",
        "/say/a%2Fb",
        "/foo/x",
    ] {
        assert_eq!(status(&mut c, Method::GET, missing).await, 404, "{missing}");
    }
    // A path that has no one canonical spelling is a 400.
    assert_eq!(status(&mut c, Method::GET, "/../foo").await, 400);
}

#[tokio::test]
async fn strict_slashes_redirect_with_query_and_script_name() {
    let mut c = client(
        Map::builder()
            .route("/docs/", "docs")
            .unwrap()
            .route("/plain", "plain")
            .unwrap(),
    );
    let res = c.get("/docs?page=2").send().await.unwrap();
    assert_eq!(res.status(), 308);
    assert_eq!(
        res.header("location"),
        Some("http://localhost/docs/?page=2")
    );
    // Not the other way round.
    assert_eq!(status(&mut c, Method::GET, "/plain/").await, 404);
    // Mounted below a prefix, the redirect keeps it.
    let map = Map::builder().route("/docs/", "docs").unwrap();
    let mounted = handler(move |mut req: Request<Body>| {
        let mut inner = router(map.clone());
        async move {
            towerkit_core::shift_path_info(&mut req);
            tower::ServiceExt::oneshot(&mut inner, req).await
        }
    });
    let mut c = TestClient::new(mounted);
    let res = c
        .get("/api/docs?x=1")
        .header("host", "hub.example")
        .send()
        .await
        .unwrap();
    assert_eq!(
        res.header("location"),
        Some("http://hub.example/api/docs/?x=1")
    );
    // Without strict slashes both spellings match.
    let mut c = client(
        Map::builder()
            .strict_slashes(false)
            .route("/docs/", "docs")
            .unwrap()
            .route("/plain", "plain")
            .unwrap(),
    );
    assert_eq!(text(&mut c, "/docs").await, "docs ||/docs");
    assert_eq!(text(&mut c, "/plain/").await, "plain ||/plain/");
}

#[tokio::test]
async fn merge_slashes_redirects_to_the_merged_path() {
    let mut c = client(Map::builder().route("/a/b/<int:n>", "ab").unwrap());
    let res = c.get("/a//b///3?q").send().await.unwrap();
    assert_eq!(res.status(), 308);
    assert_eq!(res.header("location"), Some("http://localhost/a/b/3?q"));
    let mut c = client(
        Map::builder()
            .merge_slashes(false)
            .route("/a/b/<int:n>", "ab")
            .unwrap(),
    );
    assert_eq!(text(&mut c, "/a//b/3").await, "ab n=Int(3)||/a/b/3");
}

#[tokio::test]
async fn methods_head_options_and_405() {
    let mut c = client(
        Map::builder()
            .route("GET /devices/<int:id>", "get")
            .unwrap()
            .route("PUT,DELETE /devices/<int:id>", "change")
            .unwrap()
            .route("OPTIONS /own", "own")
            .unwrap()
            .route("/any", "any")
            .unwrap(),
    );
    assert_eq!(
        text(&mut c, "/devices/3").await,
        "get id=Int(3)||/devices/3"
    );
    assert_eq!(status(&mut c, Method::HEAD, "/devices/3").await, 200);
    assert_eq!(status(&mut c, Method::DELETE, "/devices/3").await, 200);
    let res = c
        .post("/devices/3")
        .header("accept", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 405);
    assert_eq!(res.header("allow"), Some("DELETE, GET, HEAD, OPTIONS, PUT"));
    assert_eq!(res.json()["status"], 405);
    let res = c
        .request(Method::OPTIONS, "/devices/3")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.header("allow"), Some("DELETE, GET, HEAD, OPTIONS, PUT"));
    // A rule that lists OPTIONS answers it itself.
    assert_eq!(text_of(&mut c, Method::OPTIONS, "/own").await, "own ||/own");
    // A rule without methods answers all of them.
    assert_eq!(text_of(&mut c, Method::PATCH, "/any").await, "any ||/any");
    // A path matching nothing is 404 whatever the method.
    assert_eq!(status(&mut c, Method::POST, "/devices/x").await, 404);
    assert_eq!(status(&mut c, Method::OPTIONS, "/nowhere").await, 404);
}

async fn text_of(c: &mut TestClient<Router<App>>, method: Method, uri: &str) -> String {
    let res = c.request(method, uri).send().await.unwrap();
    assert_eq!(res.status(), 200, "{uri}");
    res.text()
}

#[tokio::test]
async fn specificity_not_insertion_order() {
    let rules = [
        ("/<path:p>", "catch"),
        ("/<a>/<b>", "two"),
        ("/users/<name>", "user"),
        ("/users/me", "me"),
        ("/users/<int:id>", "user_id"),
        ("/users/<name>/repos", "repos"),
        ("/page-<int:n>.html", "page"),
        ("/<slug>.html", "html"),
    ];
    let expect = [
        ("/users/me", "me"),
        ("/users/7", "user_id"),
        ("/users/ann", "user"),
        ("/users/ann/repos", "repos"),
        ("/x/y", "two"),
        ("/x/y/z", "catch"),
        ("/page-3.html", "page"),
        ("/about.html", "html"),
        ("/users", "catch"),
    ];
    // Every rotation of the rules answers the same.
    for shift in 0..rules.len() {
        let mut builder = Map::builder();
        for i in 0..rules.len() {
            let (rule, endpoint) = rules[(i + shift) % rules.len()];
            builder = builder.route(rule, endpoint).unwrap();
        }
        let mut c = client(builder);
        for (path, endpoint) in expect {
            let answer = text(&mut c, path).await;
            assert!(
                answer.starts_with(&format!("{endpoint} ")),
                "{path} with shift {shift}: {answer}"
            );
        }
    }
}

#[tokio::test]
async fn redirect_to_and_alias() {
    let mut c = client(
        Map::builder()
            .rule(Rule::new("/old/<int:id>").redirect_to("/devices/<id>"))
            .rule(Rule::new("/away").redirect_to("https://elsewhere.example/x"))
            .route("GET /devices/<int:id>", "device")
            .unwrap()
            .rule(
                Rule::new("/d/<int:id>")
                    .endpoint("device")
                    .alias(true)
                    .methods([Method::GET]),
            ),
    );
    let res = c.get("/old/7?x=1").send().await.unwrap();
    assert_eq!(res.status(), 308);
    assert_eq!(res.header("location"), Some("http://localhost/devices/7"));
    let res = c.get("/away").send().await.unwrap();
    assert_eq!(res.header("location"), Some("https://elsewhere.example/x"));
    let res = c.get("/d/7?x=1").send().await.unwrap();
    assert_eq!(res.status(), 308);
    assert_eq!(
        res.header("location"),
        Some("http://localhost/devices/7?x=1")
    );
}

fn with_host(host: &str) -> Request<()> {
    Request::get("/").header("host", host).body(()).unwrap()
}

#[tokio::test]
async fn host_matching() {
    let map = Map::builder()
        .host_matching(true)
        .route("GET www.example.com/", "home")
        .unwrap()
        .route("GET <user>.example.com/", "user")
        .unwrap()
        .route("GET <user>.example.com/<int:n>", "user_n")
        .unwrap();
    let answer = |host: &'static str, path: &'static str| {
        let mut c = client(map.clone());
        async move { c.get(path).header("host", host).send().await.unwrap() }
    };
    assert_eq!(answer("www.example.com", "/").await.text(), "home ||/");
    assert_eq!(answer("WWW.Example.com:80", "/").await.text(), "home ||/");
    assert_eq!(
        answer("ann.example.com", "/").await.text(),
        "user user=Str(\"ann\")||/"
    );
    assert_eq!(
        answer("ann.example.com", "/3").await.text(),
        "user_n user=Str(\"ann\"),n=Int(3)||/3"
    );
    assert_eq!(answer("example.org", "/").await.status(), 404);
    // Building: the same host is a path, another an absolute URL.
    let map = map.build().unwrap();
    let req = with_host("ann.example.com");
    let urls = map.urls(&req);
    let ann = Params::new().set("user", "ann");
    assert_eq!(urls.url_for("user", &ann).unwrap(), "/");
    let bob = Params::new().set("user", "bob").set("n", 2);
    assert_eq!(
        urls.url_for("user_n", &bob).unwrap(),
        "http://bob.example.com/2"
    );
    assert_eq!(
        urls.url_for("home", &Params::new()).unwrap(),
        "http://www.example.com/"
    );
}

#[tokio::test]
async fn subdomains_with_a_default() {
    let map = Map::builder()
        .server_name("example.com")
        .default_subdomain("www")
        .route("GET /", "index")
        .unwrap()
        .rule(
            Rule::new("/")
                .endpoint("user")
                .subdomain("<user>")
                .methods([Method::GET]),
        )
        .rule(
            Rule::new("/")
                .endpoint("root")
                .subdomain("")
                .methods([Method::GET]),
        );
    let answer = |host: &'static str| {
        let mut c = client(map.clone());
        async move { c.get("/").header("host", host).send().await.unwrap() }
    };
    assert_eq!(answer("www.example.com").await.text(), "index ||/");
    assert_eq!(
        answer("ann.example.com").await.text(),
        "user user=Str(\"ann\")||/"
    );
    assert_eq!(answer("example.com:8080").await.text(), "root ||/");
    assert_eq!(answer("example.org").await.status(), 404);
    let map = map.build().unwrap();
    let req = with_host("www.example.com:8080");
    let urls = map.urls(&req);
    assert_eq!(urls.url_for("index", &Params::new()).unwrap(), "/");
    assert_eq!(
        urls.url_for("user", &Params::new().set("user", "bob"))
            .unwrap(),
        "http://bob.example.com:8080/"
    );
    assert_eq!(
        urls.url_for("root", &Params::new()).unwrap(),
        "http://example.com:8080/"
    );
    // Subdomains without a server name are a mistake said at build time.
    let err = Map::builder()
        .rule(Rule::new("/").endpoint("x").subdomain("api"))
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("server_name"), "{err}");
}

#[test]
fn building_urls() {
    let map = Map::builder()
        .route("GET /devices/<int:id>", "device")
        .unwrap()
        .route("GET /d/<int:id>", "device")
        .unwrap()
        .build()
        .unwrap_err();
    assert!(
        matches!(map, MapError::Conflict { .. }),
        "same endpoint, arguments and methods"
    );
    let map = Map::builder()
        .route("GET /devices/", "devices")
        .unwrap()
        .route("GET /devices/<int(fixed_digits=3):id>", "device")
        .unwrap()
        .route("GET /files/<path:p>", "file")
        .unwrap()
        .route("GET /say/<word>", "say")
        .unwrap()
        .route("GET /pages/", "pages")
        .unwrap()
        .route("GET /pages/<int:n>", "pages")
        .unwrap()
        .rule(
            Rule::new("/devices/<int:id>")
                .endpoint("edit")
                .methods([Method::PUT]),
        )
        .rule(
            Rule::new("/devices/<int:id>/edit")
                .endpoint("edit")
                .methods([Method::GET]),
        )
        .build()
        .unwrap();
    let mut req = Request::get("/")
        .header("host", "hub.example:443")
        .body(())
        .unwrap();
    let mut info = ConnectionInfo::loopback();
    info.scheme = http::uri::Scheme::HTTPS;
    req.extensions_mut().insert(info);
    towerkit_core::mount(&mut req, "/hub/api", "/").unwrap();
    let urls = map.urls(&req);
    let p = |id: i64| Params::new().set("id", id);
    assert_eq!(
        urls.url_for("device", &p(7)).unwrap(),
        "/hub/api/devices/007"
    );
    assert_eq!(
        urls.clone()
            .external(true)
            .url_for("device", &p(7))
            .unwrap(),
        "https://hub.example/hub/api/devices/007"
    );
    assert_eq!(
        urls.url_for("devices", &Params::new().set("q", "a b&c").set("n", 1))
            .unwrap(),
        "/hub/api/devices/?q=a%20b%26c&n=1"
    );
    assert_eq!(
        urls.url_for("file", &Params::new().set("p", "a b/c.txt"))
            .unwrap(),
        "/hub/api/files/a%20b/c.txt"
    );
    assert_eq!(
        urls.url_for("say", &Params::new().set("word", "a/b"))
            .unwrap_err()
            .to_string(),
        "endpoint `say`, parameter `word`: \"a/b\" holds a `/`"
    );
    assert_eq!(
        urls.url_for("say", &Params::new().set("word", "café"))
            .unwrap(),
        "/hub/api/say/caf%C3%A9"
    );
    assert_eq!(
        urls.url_for(
            "devices",
            &Params::new().append("tag", "a").append("tag", "b")
        )
        .unwrap(),
        "/hub/api/devices/?tag=a&tag=b"
    );
    // More arguments first: the rule the parameters fill.
    assert_eq!(
        urls.url_for("pages", &Params::new()).unwrap(),
        "/hub/api/pages/"
    );
    assert_eq!(
        urls.url_for("pages", &Params::new().set("n", 2)).unwrap(),
        "/hub/api/pages/2"
    );
    // The method chooses among an endpoint's rules.
    assert_eq!(
        urls.clone()
            .method(Method::PUT)
            .url_for("edit", &p(1))
            .unwrap(),
        "/hub/api/devices/1"
    );
    assert_eq!(
        urls.clone()
            .method(Method::GET)
            .url_for("edit", &p(1))
            .unwrap(),
        "/hub/api/devices/1/edit"
    );
    // Typed errors.
    use crate::BuildError;
    assert_eq!(
        urls.url_for("nope", &Params::new()),
        Err(BuildError::UnknownEndpoint("nope".into()))
    );
    assert!(
        matches!(urls.url_for("device", &Params::new()), Err(BuildError::MissingParams { missing, .. }) if missing == ["id"])
    );
    assert!(
        matches!(urls.url_for("device", &Params::new().set("id", "x")), Err(BuildError::InvalidParam { param, .. }) if param == "id")
    );
    assert!(matches!(
        urls.url_for("device", &p(1234)),
        Err(BuildError::InvalidParam { .. })
    ));
    assert!(matches!(
        urls.clone().method(Method::DELETE).url_for("device", &p(1)),
        Err(BuildError::MethodNotAllowed { .. })
    ));
    assert!(matches!(
        urls.url_for("file", &Params::new().set("p", "a//b")),
        Err(BuildError::InvalidParam { .. })
    ));
    assert!(matches!(
        urls.url_for("file", &Params::new().set("p", "../etc")),
        Err(BuildError::InvalidParam { .. })
    ));
    // Outside a router, url_for says so.
    assert_eq!(url_for(&req, "device", &p(1)), Err(BuildError::NoRouter));
}

#[test]
fn default_ports_are_left_out_of_built_urls() {
    let map = Map::builder().route("/x", "x").unwrap().build().unwrap();
    for (scheme, host, expected) in [
        (
            http::uri::Scheme::HTTP,
            "example.org:80",
            "http://example.org/x",
        ),
        (
            http::uri::Scheme::HTTPS,
            "example.org:443",
            "https://example.org/x",
        ),
        (
            http::uri::Scheme::HTTP,
            "example.org:8080",
            "http://example.org:8080/x",
        ),
        (
            http::uri::Scheme::HTTPS,
            "example.org:80",
            "https://example.org:80/x",
        ),
    ] {
        let mut req = with_host(host);
        let mut info = ConnectionInfo::loopback();
        info.scheme = scheme;
        req.extensions_mut().insert(info);
        assert_eq!(
            map.urls(&req)
                .external(true)
                .url_for("x", &Params::new())
                .unwrap(),
            expected
        );
    }
}

#[test]
fn the_map_refuses_what_can_never_match() {
    let refused = |builder: Result<MapBuilder, MapError>| -> String {
        match builder.and_then(MapBuilder::build) {
            Ok(_) => panic!("built"),
            Err(err) => err.to_string(),
        }
    };
    let b = Map::builder;
    for (result, why) in [
        (
            refused(b().route("/a/<int(min=9, max=1):x>", "a")),
            "never match",
        ),
        (
            refused(b().route("/a", "a").and_then(|m| m.route("/a", "b"))),
            "could never match",
        ),
        (
            refused(
                b().route("/a/<int:x>", "a")
                    .and_then(|m| m.route("/a/<int:y>", "b")),
            ),
            "placeholder names",
        ),
        (
            refused(b().route("GET /a", "a").and_then(|m| m.route("/a", "b"))),
            "could never match",
        ),
        (refused(Ok(b().rule(Rule::new("/a")))), "no endpoint"),
        (
            refused(Ok(b().rule(Rule::new("/a").endpoint("a").methods([])))),
            "no methods",
        ),
        (
            refused(Ok(b().rule(Rule::new("/a/<x>").endpoint("a").alias(true)))),
            "an alias needs",
        ),
        (
            refused(Ok(b().rule(Rule::new("/a").redirect_to("/b/<y>")))),
            "does not have",
        ),
        (
            refused(Ok(b().rule(Rule::new("/a").redirect_to("b")))),
            "neither a path",
        ),
        (refused(b().route("GET /<x>/<x>", "a")), "twice"),
        (refused(b().route("GET x.com/a", "a")), "host_matching"),
    ] {
        assert!(result.contains(why), "{result} (wanted {why})");
    }
    // Different methods, or one with a slash and one without, stand together.
    b().route("GET /a", "a")
        .unwrap()
        .route("POST /a", "b")
        .unwrap()
        .route("/a/", "c")
        .unwrap()
        .build()
        .unwrap();
}

#[tokio::test]
async fn converters_of_ones_own() {
    #[derive(Debug)]
    struct Hex;
    impl Converter for Hex {
        fn parse(&self, text: &str) -> Option<Value> {
            if text.is_empty()
                || text.len() > 15
                || !text
                    .bytes()
                    .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase())
            {
                return None;
            }
            i64::from_str_radix(text, 16).ok().map(Value::Int)
        }
        fn format(&self, value: &Value) -> Result<String, String> {
            match value {
                Value::Int(n) if *n >= 0 => Ok(format!("{n:x}")),
                other => Err(format!("a non-negative integer, not {other:?}")),
            }
        }
    }
    let map = Map::builder()
        .converter("hex", |_args| Ok(Arc::new(Hex) as Arc<dyn Converter>))
        .route("/c/<hex:n>", "color")
        .unwrap();
    let mut c = client(map.clone());
    assert_eq!(text(&mut c, "/c/ff").await, "color n=Int(255)||/c/ff");
    assert_eq!(status(&mut c, Method::GET, "/c/FF").await, 404);
    let map = map.build().unwrap();
    let req = with_host("h");
    assert_eq!(
        map.urls(&req)
            .url_for("color", &Params::new().set("n", 4095))
            .unwrap(),
        "/c/fff"
    );
    let err = Map::builder()
        .route("/c/<hex:n>", "c")
        .unwrap()
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("unknown converter `hex`"));
}

#[tokio::test]
async fn url_for_inside_a_mounted_router_keeps_the_router_mount() {
    // A rule mounting a service at <path:rest> moves SCRIPT_NAME on; a URL
    // built inside still starts where the router is mounted.
    let map = Map::builder()
        .route("/static/<path:rest>", "static")
        .unwrap()
        .route("/", "index")
        .unwrap()
        .build()
        .unwrap();
    let inner = BoxCloneSyncService::new(handler(|req: Request<Body>| async move {
        let url = Urls::of(&req)?
            .external(true)
            .url_for("index", &Params::new())?;
        Ok::<_, BoxError>(Response::new(Body::from(format!(
            "{} {}",
            ScriptName::of(&req),
            url
        ))))
    }));
    let router: Router<App> = Router::builder(map)
        .endpoint("static", inner)
        .endpoint("index", show())
        .build()
        .unwrap();
    let mut c = TestClient::new(router);
    let res = c
        .get("/static/css/site.css")
        .header("host", "h")
        .send()
        .await
        .unwrap();
    assert_eq!(res.text(), "/static http://h/");
}

#[test]
fn the_rule_table_is_in_matching_order() {
    let map = Map::builder()
        .route("/<path:p>", "catch")
        .unwrap()
        .route("GET /devices/<int:id>", "device")
        .unwrap()
        .route("/devices/new", "new")
        .unwrap()
        .rule(Rule::new("/old").redirect_to("/devices/new"))
        .build()
        .unwrap();
    assert_eq!(
        map.table(),
        [
            "* /devices/new -> new",
            "GET,HEAD /devices/<int:id> -> device",
            "* /old => /devices/new",
            "* /<path:p> -> catch"
        ]
    );
}

#[test]
fn a_router_needs_a_service_for_each_endpoint() {
    let map = Map::builder().route("/a", "a").unwrap().build().unwrap();
    let missing = Router::<App>::builder(map.clone()).build().unwrap_err();
    assert!(missing.to_string().contains("no service"), "{missing}");
    let unknown = Router::builder(map.clone())
        .endpoint("a", show())
        .endpoint("b", show())
        .build()
        .unwrap_err();
    assert!(unknown.to_string().contains("no rule"), "{unknown}");
    let twice = Router::builder(map)
        .endpoint("a", show())
        .endpoint("a", show())
        .build()
        .unwrap_err();
    assert!(twice.to_string().contains("twice"), "{twice}");
}

#[tokio::test]
async fn bodies_are_generic() {
    // Any request body, any response body: here `String` responses.
    let map = Map::builder().route("/", "i").unwrap().build().unwrap();
    let svc = tower::service_fn(|_req: Request<String>| async {
        Ok::<_, Infallible>(Response::new(String::from("hi")))
    });
    let mut router = Router::builder(map).endpoint("i", svc).build().unwrap();
    let res =
        tower::ServiceExt::oneshot(&mut router, Request::get("/").body(String::new()).unwrap())
            .await
            .unwrap();
    let bytes = http_body_util::BodyExt::collect(res.into_body())
        .await
        .unwrap()
        .to_bytes();
    assert_eq!(bytes, "hi");
}

/// What matching `path` with `method` gives: the endpoint and the values,
/// or the outcome's name.
fn matched(map: &Map, method: Method, path: &str) -> String {
    use crate::map::{Outcome, Query};
    match map.inner.find(&Query {
        host: "",
        path,
        method: &method,
        unmerged: false,
    }) {
        Outcome::Matched { rule, captures } => {
            let rule = &map.inner.rules[rule];
            let values: Vec<String> = rule
                .vars
                .iter()
                .zip(&captures)
                .map(|(v, c)| format!("{}={:?}", v.name, c.value))
                .collect();
            format!(
                "{} {}",
                rule.endpoint.as_deref().unwrap_or(""),
                values.join(",")
            )
            .trim_end()
            .to_owned()
        }
        Outcome::Redirect { target, .. } => format!("redirect {target}"),
        Outcome::MethodNotAllowed(allowed) => format!("405 {allowed:?}"),
        Outcome::Options(allowed) => format!("options {allowed:?}"),
        Outcome::NotFound => "404".to_owned(),
    }
}

#[test]
fn werkzeug_strict_slashes_leaves_dont_consume() {
    let map = Map::builder()
        .strict_slashes(false)
        .rule(Rule::new("/path1").endpoint("leaf"))
        .rule(Rule::new("/path1/").endpoint("branch"))
        .rule(Rule::new("/path2").endpoint("leaf2").strict_slashes(false))
        .rule(Rule::new("/path2/").endpoint("branch2"))
        .rule(Rule::new("/path3").endpoint("leaf3"))
        .rule(
            Rule::new("/path3/")
                .endpoint("branch3")
                .strict_slashes(false),
        )
        .rule(Rule::new("/path5").endpoint("leaf5"))
        .build()
        .unwrap();
    for (path, expected) in [
        ("/path1", "leaf"),
        ("/path1/", "branch"),
        ("/path2", "leaf2"),
        ("/path2/", "branch2"),
        ("/path3", "leaf3"),
        ("/path3/", "branch3"),
        ("/path5/", "leaf5"),
    ] {
        assert_eq!(matched(&map, Method::GET, path), expected, "{path}");
    }
}

#[test]
fn werkzeug_path_weighting_and_strict_slashes_false() {
    let map = Map::builder()
        .route("/<path:path>/c", "simple")
        .unwrap()
        .route("/<path:path>/<a>/<b>", "complex")
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(
        matched(&map, Method::GET, "/a/b/c"),
        "simple path=Str(\"a/b\")"
    );
    assert_eq!(
        matched(&map, Method::GET, "/a/b/d"),
        "complex path=Str(\"a\"),a=Str(\"b\"),b=Str(\"d\")"
    );
    let map = Map::builder()
        .rule(
            Rule::new("/path1")
                .endpoint("leaf_path")
                .strict_slashes(false),
        )
        .rule(
            Rule::new("/path2/")
                .endpoint("branch_path")
                .strict_slashes(false),
        )
        .rule(
            Rule::new("/<path:path>")
                .endpoint("leaf_path_converter")
                .strict_slashes(false),
        )
        .build()
        .unwrap();
    assert_eq!(matched(&map, Method::GET, "/path1/"), "leaf_path");
    assert_eq!(matched(&map, Method::GET, "/path2"), "branch_path");
    assert_eq!(
        matched(&map, Method::GET, "/any"),
        "leaf_path_converter path=Str(\"any\")"
    );
    assert_eq!(
        matched(&map, Method::GET, "/any/"),
        "leaf_path_converter path=Str(\"any/\")"
    );
}

#[test]
fn werkzeug_weighting_methods_and_greedy() {
    let map = Map::builder()
        .route("/<int:value>", "int")
        .unwrap()
        .route("/<uuid:value>", "uuid")
        .unwrap()
        .route("GET /get", "a")
        .unwrap()
        .route("POST /post", "b")
        .unwrap()
        .route("/a-<b>-<c>", "greedy")
        .unwrap()
        .build()
        .unwrap();
    assert!(
        matched(&map, Method::GET, "/2b5b0911-fdcf-4dd2-921b-28ace88db8a0").starts_with("uuid ")
    );
    assert_eq!(matched(&map, Method::GET, "/7"), "int value=Int(7)");
    // HEAD is answered by GET, not by POST.
    assert_eq!(matched(&map, Method::HEAD, "/get"), "a");
    assert_eq!(matched(&map, Method::HEAD, "/post"), "405 [OPTIONS, POST]");
    // A newline is not part of a path (and the canonical path refuses it).
    assert_eq!(matched(&map, Method::GET, "/get%0A"), "404");
    assert_eq!(
        matched(&map, Method::GET, "/a-b-c-d"),
        "greedy b=Str(\"b-c\"),c=Str(\"d\")"
    );
    // A static rule ending in `/` redirects, as Werkzeug's SlashRequired,
    // before a placeholder elsewhere is tried.
    let map = Map::builder()
        .route("GET /docs/", "docs")
        .unwrap()
        .route("GET /<name>", "name")
        .unwrap()
        .build()
        .unwrap();
    assert_eq!(matched(&map, Method::GET, "/docs"), "redirect /docs/");
    assert_eq!(
        matched(&map, Method::POST, "/docs"),
        "405 [GET, HEAD, OPTIONS]"
    );
}

#[test]
fn werkzeug_method_fallback_when_building() {
    let map = Map::builder()
        .route("GET /", "index")
        .unwrap()
        .route("GET /<name>", "hello_name")
        .unwrap()
        .route("POST /select", "hello_select")
        .unwrap()
        .route("GET /search_get", "search")
        .unwrap()
        .route("POST /search_post", "search")
        .unwrap()
        .build()
        .unwrap();
    let req = with_host("example.com");
    let urls = map.urls(&req);
    let none = Params::new();
    assert_eq!(urls.url_for("index", &none).unwrap(), "/");
    assert_eq!(
        urls.url_for("hello_name", &Params::new().set("name", "foo"))
            .unwrap(),
        "/foo"
    );
    assert_eq!(urls.url_for("hello_select", &none).unwrap(), "/select");
    assert_eq!(urls.url_for("search", &none).unwrap(), "/search_get");
    assert_eq!(
        urls.clone()
            .method(Method::POST)
            .url_for("search", &none)
            .unwrap(),
        "/search_post"
    );
    // A colon stays as it is (Werkzeug's protocol-joining bug).
    assert_eq!(
        urls.url_for("hello_name", &Params::new().set("name", "x:y"))
            .unwrap(),
        "/x:y"
    );
    assert_eq!(
        urls.external(true)
            .url_for("hello_name", &Params::new().set("name", "x:y"))
            .unwrap(),
        "http://example.com/x:y"
    );
}

#[test]
fn backtracking_a_request_can_cause_is_bounded() {
    // Three placeholders split by dashes against a segment of dashes, and a
    // path placeholder followed by a placeholder, against thousands of
    // segments: each match gives up after a bounded number of attempts
    // (ATTEMPTS) and answers 404, rather than trying every split.
    let map = Map::builder()
        .route("/<a>-<b>-<c>x", "dashes")
        .unwrap()
        .route("/p/<path:p>/<int:n>/end", "span")
        .unwrap()
        .build()
        .unwrap();
    let dashes = format!("/{}", "-".repeat(4000));
    assert_eq!(matched(&map, Method::GET, &dashes), "404");
    let segments = format!("/p{}", "/1".repeat(3000));
    assert_eq!(matched(&map, Method::GET, &segments), "404");
    // Ordinary requests are far below the bound.
    assert_eq!(
        matched(&map, Method::GET, "/a-b-cx"),
        "dashes a=Str(\"a\"),b=Str(\"b\"),c=Str(\"c\")"
    );
    assert_eq!(
        matched(&map, Method::GET, "/p/x/y/7/end"),
        "span p=Str(\"x/y\"),n=Int(7)"
    );
    // Two spans in one rule are refused: where one ends would be a guess.
    let err = Map::builder()
        .route("/<path:a>/<path:b>", "x")
        .unwrap()
        .build()
        .unwrap_err();
    assert!(err.to_string().contains("more than one"), "{err}");
}
