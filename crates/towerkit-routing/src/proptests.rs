//! Properties of the rule parser, the matcher and the builder.

use http::Method;
use proptest::prelude::*;
use towerkit_core::canonical::canonical_path;

use crate::map::{Outcome, Query};
use crate::{Map, MapBuilder, Params, Value};

/// A REST-ish map with every converter.
fn map() -> Map {
    Map::builder()
        .route("GET /", "index")
        .unwrap()
        .route("GET /users/<name>", "user")
        .unwrap()
        .route("GET /users/<name>/repos/<int:n>", "repo")
        .unwrap()
        .route("GET /signed/<int(signed=true):n>", "signed")
        .unwrap()
        .route("GET /fixed/<int(fixed_digits=4):n>/", "fixed")
        .unwrap()
        .route("GET /x/<float(signed=true):x>", "float")
        .unwrap()
        .route("GET /files/<path:p>", "file")
        .unwrap()
        .route("GET /files/<path:p>/edit", "edit")
        .unwrap()
        .route("GET /id/<uuid:id>", "uuid")
        .unwrap()
        .route("GET /k/<any(lamp, heater):kind>", "any")
        .unwrap()
        .route("GET /page-<int:n>.<any(html, json):ext>", "page")
        .unwrap()
        .build()
        .unwrap()
}

fn find(map: &Map, path: &str) -> Option<(String, Vec<(String, Value)>)> {
    let canonical = canonical_path(path).ok()?;
    match map.inner.find(&Query {
        host: "",
        path: &canonical,
        method: &Method::GET,
        unmerged: false,
    }) {
        Outcome::Matched { rule, captures } => {
            let rule = &map.inner.rules[rule];
            let values = rule
                .vars
                .iter()
                .zip(captures)
                .map(|(v, c)| (v.name.clone(), c.value))
                .collect();
            Some((rule.endpoint.as_deref().unwrap_or("").to_owned(), values))
        }
        _ => None,
    }
}

fn text() -> impl Strategy<Value = String> {
    // Any characters but `/` and controls (which a path cannot hold:
    // building refuses them), including ones that need encoding.
    r"[^/\p{Cc}]{1,12}".prop_filter("not . or ..", |s| s != "." && s != "..")
}

fn path_value() -> impl Strategy<Value = String> {
    prop::collection::vec(text(), 1..4).prop_map(|segments| segments.join("/"))
}

fn params() -> impl Strategy<Value = (&'static str, Params)> {
    prop_oneof![
        text().prop_map(|n| ("user", Params::new().set("name", n))),
        (text(), 0i64..1_000_000)
            .prop_map(|(n, i)| ("repo", Params::new().set("name", n).set("n", i))),
        any::<i64>().prop_map(|i| ("signed", Params::new().set("n", i))),
        (0i64..10_000).prop_map(|i| ("fixed", Params::new().set("n", i))),
        (-1e9f64..1e9).prop_map(|x| ("float", Params::new().set("x", x))),
        path_value().prop_map(|p| ("file", Params::new().set("p", p))),
        path_value().prop_map(|p| ("edit", Params::new().set("p", p))),
        any::<u128>().prop_map(|u| ("uuid", Params::new().set("id", uuid::Uuid::from_u128(u)))),
        prop_oneof![Just("lamp"), Just("heater")]
            .prop_map(|k| ("any", Params::new().set("kind", k))),
        (0i64..1000, prop_oneof![Just("html"), Just("json")])
            .prop_map(|(n, e)| ("page", Params::new().set("n", n).set("ext", e))),
    ]
}

proptest! {
    /// A URL built from values matches its rule and gives the values back.
    #[test]
    fn build_then_match_round_trips((endpoint, params) in params()) {
        let map = map();
        let req = http::Request::get("/").body(()).unwrap();
        let url = map.urls(&req).url_for(endpoint, &params).unwrap();
        prop_assert_eq!(canonical_path(&url).unwrap(), url.as_str(), "built URLs are canonical");
        let (matched, values) = find(&map, &url).expect("the built URL matches");
        prop_assert_eq!(matched, endpoint);
        for (name, value) in values {
            prop_assert_eq!(Some(&value), params.get(&name), "{} in {}", name, url);
        }
    }

    /// A value a path cannot hold is a build error, not a URL the server
    /// would refuse.
    #[test]
    fn control_characters_are_refused(c in r"\p{Cc}") {
        let req = http::Request::get("/").body(()).unwrap();
        let params = Params::new().set("name", format!("a{c}"));
        prop_assert!(map().urls(&req).url_for("user", &params).is_err());
    }

    /// Whatever path matches, building from what it matched gives a URL
    /// that matches the same rule with the same values.
    #[test]
    fn match_then_build_then_match(path in "(/([a-z0-9.%-]{1,6}|users|files|edit|k|lamp|repos|[0-9]{1,5})){0,5}/?") {
        let map = map();
        if let Some((endpoint, values)) = find(&map, &path) {
            let params: Params = values.iter().cloned().collect();
            let req = http::Request::get("/").body(()).unwrap();
            let url = map.urls(&req).url_for(&endpoint, &params).unwrap();
            let again = find(&map, &url).expect("the built URL matches");
            prop_assert_eq!(again, (endpoint, values));
        }
    }

    /// No rule text makes the parser or compiler panic; every refusal says
    /// which rule.
    #[test]
    fn rule_parsing_never_panics(rule in r"[/<>():,=a-z0-9 .'%-]{0,30}", methods in "(GET|POST|get|,| ){0,3}") {
        let spec = format!("{methods} {rule}");
        match MapBuilder::default().route(&spec, "e").and_then(MapBuilder::build) {
            Ok(map) => { find(&map, "/a/b"); }
            Err(err) => prop_assert!(!err.to_string().is_empty()),
        }
    }

    /// The order rules are added in does not change what matches.
    #[test]
    fn insertion_order_does_not_matter(seed in any::<u64>(), path in "(/(users|me|[a-z0-9]{1,3})){1,4}/?") {
        let rules = [
            ("/<path:p>", "catch"), ("/<a>/<b>", "two"), ("/users/<name>", "user"),
            ("/users/me", "me"), ("/users/<int:id>", "id"), ("/users/<name>/<int:n>", "n"),
        ];
        let mut order: Vec<usize> = (0..rules.len()).collect();
        let mut state = seed;
        for i in (1..order.len()).rev() {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            order.swap(i, (state >> 33) as usize % (i + 1));
        }
        let build = |order: &[usize]| {
            order.iter().fold(Map::builder(), |b, &i| b.route(rules[i].0, rules[i].1).unwrap()).build().unwrap()
        };
        let straight: Vec<usize> = (0..rules.len()).collect();
        prop_assert_eq!(find(&build(&straight), &path), find(&build(&order), &path));
    }
}
