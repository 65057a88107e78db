//! `use = "routes"`: a rule router (`towerkit-routing`) from a section whose
//! keys are rules and whose values name the sections of their endpoints.
//!
//! ```toml
//! [app.api]
//! use = "routes"
//! "GET /devices/" = "devices"
//! "GET /devices/<int:id>" = "device"
//! "POST /devices/<int:id>/toggle" = "toggle"
//! "/files/<path:rest>" = "files"                      # mounted: PATH_INFO is the rest
//! "/old/<int:id>" = { redirect_to = "/devices/<id>" }
//! "GET /d/<int:id>" = { endpoint = "device", alias = true }
//! ```
//!
//! Map options: `strict_slashes`, `merge_slashes`, `host_matching`,
//! `server_name`, `default_subdomain`. A rule's table takes `endpoint`,
//! `redirect_to`, `alias`, `strict_slashes`, `merge_slashes`, `subdomain`.

use std::collections::BTreeMap;

use serde::Deserialize;
use towerkit_routing::{Map, MapError, Router, Rule};

use crate::registry::{boxed_app, BoxApp};
use crate::section::Section;
use crate::tree::Node;
use crate::ConfigError;

/// The options of the map itself; every other key is a rule.
const MAP_OPTIONS: [&str; 5] = [
    "strict_slashes",
    "merge_slashes",
    "host_matching",
    "server_name",
    "default_subdomain",
];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleTable {
    endpoint: Option<String>,
    redirect_to: Option<String>,
    #[serde(default)]
    alias: bool,
    strict_slashes: Option<bool>,
    merge_slashes: Option<bool>,
    subdomain: Option<String>,
}

pub(crate) fn routes(section: &mut Section<'_, '_>) -> Result<BoxApp, ConfigError> {
    let mut map = Map::builder();
    if let Some(strict) = section.get::<bool>("strict_slashes")? {
        map = map.strict_slashes(strict);
    }
    if let Some(merge) = section.get::<bool>("merge_slashes")? {
        map = map.merge_slashes(merge);
    }
    if let Some(on) = section.get::<bool>("host_matching")? {
        map = map.host_matching(on);
    }
    if let Some(name) = section.get::<String>("server_name")? {
        map = map.server_name(name);
    }
    if let Some(sub) = section.get::<String>("default_subdomain")? {
        map = map.default_subdomain(sub);
    }
    let keys: Vec<String> = section
        .remaining_keys()
        .into_iter()
        .filter(|k| k != "use" && !MAP_OPTIONS.contains(&k.as_str()))
        .collect();
    if keys.is_empty() {
        return Err(section.section_error(
            "no rules: add keys like \"GET /devices/<int:id>\" = \"device\" (the section of the endpoint)",
        ));
    }
    // Each rule's key, and the section of its endpoint (if it dispatches).
    let mut rows: Vec<(String, Option<String>)> = Vec::new();
    for key in &keys {
        let value: toml::Value = section.require(key)?;
        let mut rule = Rule::spec(key).map_err(|err| section.error(key, reason(&err)))?;
        let endpoint = match value {
            toml::Value::String(endpoint) => {
                rule = rule.endpoint(endpoint.clone());
                Some(endpoint)
            }
            toml::Value::Table(table) => {
                let table: RuleTable =
                    toml::Value::Table(table)
                        .try_into()
                        .map_err(|err: toml::de::Error| {
                            section.error(key, format!("a rule's table: {}", err.message().trim()))
                        })?;
                if let Some(endpoint) = &table.endpoint {
                    rule = rule.endpoint(endpoint.clone());
                }
                if let Some(target) = table.redirect_to {
                    rule = rule.redirect_to(target);
                }
                if let Some(strict) = table.strict_slashes {
                    rule = rule.strict_slashes(strict);
                }
                if let Some(merge) = table.merge_slashes {
                    rule = rule.merge_slashes(merge);
                }
                if let Some(sub) = table.subdomain {
                    rule = rule.subdomain(sub);
                }
                rule = rule.alias(table.alias);
                table.endpoint.filter(|_| !rule.is_redirect())
            }
            other => {
                return Err(section.error(
                    key,
                    format!(
                        "a rule names its endpoint's section (a string) or is a table, not a {}",
                        other.type_str()
                    ),
                ))
            }
        };
        map = map.rule(rule);
        rows.push((key.clone(), endpoint));
    }
    let map = map.build().map_err(|err| match err.rule_index() {
        Some(i) => section.error(&keys[i], reason(&err)),
        None => section.section_error(err.to_string()),
    })?;
    // Build each endpoint's section once; the rule table is the tree.
    let mut services: BTreeMap<String, (BoxApp, Node)> = BTreeMap::new();
    for (key, endpoint) in &rows {
        if let Some(endpoint) = endpoint {
            if !services.contains_key(endpoint) {
                let built = section.app_named(key, endpoint)?;
                services.insert(endpoint.clone(), built);
            }
        }
    }
    let table = map.table();
    for (row, &i) in map.matching_order().iter().enumerate() {
        let children = match &rows[i].1 {
            Some(endpoint) => services
                .get(endpoint)
                .map(|(_, node)| vec![node.clone()])
                .unwrap_or_default(),
            None => Vec::new(),
        };
        section
            .children
            .push(Node::new(table[row].clone(), children));
    }
    let mut router = Router::builder(map);
    for (endpoint, (app, _)) in services {
        router = router.endpoint(endpoint, app);
    }
    let router = router
        .build()
        .map_err(|err| section.section_error(err.to_string()))?;
    Ok(boxed_app(router))
}

/// The error without the rule (the key already shows it).
fn reason(err: &MapError) -> String {
    match err {
        MapError::InvalidRule { reason, .. } => reason.clone(),
        MapError::Conflict { other, reason, .. } => format!("conflicts with `{other}`: {reason}"),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use towerkit_core::TestClient;

    use crate::Registry;

    const STACK: &str = r#"
[app.main]
use = "routes"
"GET /devices/" = "devices"
"GET /devices/<int:id>" = "device"
"/env/<path:rest>" = "environ"
"/old/<int:id>" = { redirect_to = "/devices/<id>" }

[app.devices]
use = "text"
body = "all"

[app.device]
use = "text"
body = "one"

[app.environ]
use = "echo"
"#;

    #[tokio::test]
    async fn rules_dispatch_to_sections() {
        let d = Registry::with_builtins()
            .load_str(Path::new("stack.toml"), STACK)
            .unwrap();
        let mut client = TestClient::new(d.app.clone());
        assert_eq!(client.get("/devices/").send().await.unwrap().text(), "all");
        assert_eq!(client.get("/devices/7").send().await.unwrap().text(), "one");
        let env = client.get("/env/a/b").send().await.unwrap().json();
        assert_eq!(env["script_name"], "/env");
        assert_eq!(env["path_info"], "/a/b");
        let res = client.get("/old/3").send().await.unwrap();
        assert_eq!(res.header("location"), Some("http://localhost/devices/3"));
        let res = client.post("/devices/7").send().await.unwrap();
        assert_eq!(res.status(), 405);
        assert_eq!(res.header("allow"), Some("GET, HEAD, OPTIONS"));
        assert_eq!(client.get("/nope").send().await.unwrap().status(), 404);
    }

    #[test]
    fn the_tree_is_the_rule_table() {
        let d = Registry::with_builtins()
            .load_str(Path::new("stack.toml"), STACK)
            .unwrap();
        assert_eq!(
            d.tree.to_string(),
            "app main (use = \"routes\")\n\
             \x20 GET,HEAD /devices/ -> devices\n\
             \x20   app devices (use = \"text\")\n\
             \x20 GET,HEAD /devices/<int:id> -> device\n\
             \x20   app device (use = \"text\")\n\
             \x20 * /env/<path:rest> -> environ\n\
             \x20   app environ (use = \"echo\")\n\
             \x20 * /old/<int:id> => /devices/<id>\n"
        );
    }

    fn refused(rules: &str) -> String {
        let source = format!("[app.main]\nuse = \"routes\"\n{rules}\n[app.x]\nuse = \"echo\"\n");
        Registry::with_builtins()
            .load_str(Path::new("stack.toml"), &source)
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn errors_name_file_key_and_reason() {
        assert_eq!(
            refused("\"GET /a/<int(min=2, max=1):id>\" = \"x\""),
            "stack.toml:3:35: [app.main] key `GET /a/<int(min=2, max=1):id>`: `<int(min=2, max=1)>` can never match: no integer satisfies its min, max, fixed_digits and signed"
        );
        assert!(refused("\"GET /a\" = \"x\"\n\"GET /b\" = \"x\"")
            .contains("key `GET /b`: conflicts with `GET,HEAD /a -> x`: endpoint `x` twice"));
        assert!(refused("\"get /a\" = \"x\"").contains("key `get /a`: `get` is not a method"));
        assert!(
            refused("\"GET /a\" = \"nothing\"").contains("`nothing` is referenced but not defined")
        );
        assert!(refused("\"GET /a\" = { endpoint = \"x\", colour = 1 }")
            .contains("unknown field `colour`"));
        assert!(refused("\"GET /a\" = 3").contains("not a integer"));
        assert!(refused("").contains("no rules"));
        assert!(refused("server_name = 3\n\"/a\" = \"x\"")
            .contains("key `server_name`: wrong value type"));
        assert!(
            refused("\"/a\" = { endpoint = \"x\", subdomain = \"api\" }").contains("server_name")
        );
    }
}
