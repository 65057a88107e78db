//! What a part of a stack needs from the filters outside it.
//!
//! Some layers work only inside another: the form login keeps the user in
//! the session a session layer puts in each request, error documents are
//! fetched through the handle of a recursive layer. Such a stack builds and
//! then silently does nothing, so it is refused when loaded instead.
//!
//! Both sides are declared, never special-cased here: a filter factory is
//! registered as providing a capability ([`Registry::provides`]), and a
//! factory states what its section needs ([`Section::needs`]), which may
//! depend on its options. A need is met only by a filter *outside* the
//! section on every way to it from the served root: one listed before it in
//! its pipeline, or in a pipeline around the composite that mounts it. A
//! provider listed after it is inside it, and does not count.
//!
//! [`Registry::provides`]: crate::Registry::provides
//! [`Section::needs`]: crate::Section::needs

use crate::error::ConfigError;
use crate::registry::Registry;
use crate::tree::Node;

/// What one section needs from the filters outside it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Need {
    /// The capability, as filters are registered providing it.
    pub(crate) capability: String,
    /// Why, for the error: `"form" keeps the login in a session`.
    pub(crate) why: String,
    /// Where the need comes from (the key, or the section), message empty.
    pub(crate) at: ConfigError,
}

/// Checks every need along the served stack, `root` being what is served.
pub(crate) fn check(registry: &Registry, root: &Node) -> Result<(), ConfigError> {
    walk(registry, root, &[], None, &[])
}

/// `outside`: what the filters around `node` provide; `pipeline`: the name
/// of the innermost pipeline that lists `node`; `later`: what that pipeline
/// lists after `node` (inside it).
fn walk(
    registry: &Registry,
    node: &Node,
    outside: &[String],
    pipeline: Option<&str>,
    later: &[Node],
) -> Result<(), ConfigError> {
    for need in &node.needs {
        if !outside.contains(&need.capability) {
            return Err(unmet(registry, need, pipeline, later));
        }
    }
    let mut inside = outside.to_vec();
    inside.extend(node.provides.iter().cloned());
    match &node.pipeline {
        // Filters outermost first, then the app: each stands inside the
        // ones before it.
        Some(name) => {
            for (i, child) in node.children().iter().enumerate() {
                let after = node.children().get(i + 1..).unwrap_or_default();
                walk(registry, child, &inside, Some(name), after)?;
                inside.extend(child.provides.iter().cloned());
            }
        }
        // What a composite mounts (or a filter refers to) stands inside it.
        None => {
            for child in node.children() {
                walk(registry, child, &inside, pipeline, &[])?;
            }
        }
    }
    Ok(())
}

fn unmet(registry: &Registry, need: &Need, pipeline: Option<&str>, later: &[Node]) -> ConfigError {
    let capability = need.capability.as_str();
    let after = later
        .iter()
        .find(|node| node.provides.iter().any(|p| p == capability));
    let fix = match (after.and_then(|node| node.section.as_deref()), pipeline) {
        (Some(section), Some(pipeline)) => {
            format!("[{section}] comes after it: list it before it in [pipeline.{pipeline}]")
        }
        (_, pipeline) => {
            let providers: Vec<String> = registry
                .filter_names_providing(capability)
                .into_iter()
                .map(|name| format!("use = {name:?}"))
                .collect();
            let filter = if providers.is_empty() {
                format!("a filter providing `{capability}`")
            } else {
                format!("a filter with {}", providers.join(" or "))
            };
            match pipeline {
                Some(pipeline) => format!("put {filter} before it in [pipeline.{pipeline}]"),
                None => format!("serve it from a pipeline with {filter} before it"),
            }
        }
    };
    need.at.clone().with_message(format!("{}: {fix}", need.why))
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use crate::{Filter, Registry};

    /// The demo's users, for `use = "login"`.
    const USERS: &str = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/demo/users.htpasswd"
    );

    /// The built-ins, and `needs-session`, a filter that needs a session
    /// when its `mode` says so.
    fn registry() -> Registry {
        let mut registry = Registry::with_builtins();
        registry.filter("needs-session", |section| {
            if section.get::<String>("mode")?.as_deref() == Some("session") {
                section.needs(
                    "session",
                    Some("mode"),
                    "mode = \"session\" reads the session",
                );
            }
            Ok(Filter::new(|app| app))
        });
        registry
    }

    fn load(registry: &Registry, toml: &str) -> Result<(), String> {
        let toml = toml.replace("USERS", &format!("{USERS:?}"));
        registry
            .load_str(Path::new("stack.toml"), &toml)
            .map(|_| ())
            .map_err(|e| e.to_string())
    }

    const AUTH: &str = r#"
[filter.sessions]
use = "session"

[filter.auth]
use = "login"
methods = ["form", "basic"]
users = USERS

[app.site]
use = "echo"
"#;

    #[test]
    fn a_form_login_needs_a_session_before_it() {
        let registry = registry();
        let ok = format!("[pipeline.main]\npipeline = [\"sessions\", \"auth\", \"site\"]\n{AUTH}");
        assert_eq!(load(&registry, &ok), Ok(()));
        let none = format!("[pipeline.main]\npipeline = [\"auth\", \"site\"]\n{AUTH}");
        assert_eq!(
            load(&registry, &none),
            Err(
                "stack.toml:9:11: [filter.auth] key `methods`: \"form\" without \"ticket\" keeps \
                 the login in a session: put a filter with use = \"session\" before it in \
                 [pipeline.main]"
                    .into()
            )
        );
        let after =
            format!("[pipeline.main]\npipeline = [\"auth\", \"sessions\", \"site\"]\n{AUTH}");
        assert_eq!(
            load(&registry, &after),
            Err(
                "stack.toml:9:11: [filter.auth] key `methods`: \"form\" without \"ticket\" keeps \
                 the login in a session: [filter.sessions] comes after it: list it before it in \
                 [pipeline.main]"
                    .into()
            )
        );
        // Basic alone, or a form whose login is kept in a ticket, needs none.
        for methods in [
            r#"["basic"]"#,
            r#"["form", "ticket"]
ticket = { secret = "a secret of sixteen bytes or more" }"#,
        ] {
            let stack = format!(
                "[pipeline.main]\npipeline = [\"auth\", \"site\"]\n{}",
                AUTH.replace(r#"["form", "basic"]"#, methods)
            );
            assert_eq!(load(&registry, &stack), Ok(()), "{methods}");
        }
    }

    #[test]
    fn error_documents_need_a_recursive_layer_before_them() {
        let registry = registry();
        let stack = |pipeline: &str| {
            format!(
                "[pipeline.main]\npipeline = {pipeline}\n\
                 [filter.recursive]\nuse = \"recursive\"\n\
                 [filter.documents]\nuse = \"error-documents\"\n404 = \"/404\"\n\
                 [app.site]\nuse = \"echo\"\n"
            )
        };
        assert_eq!(
            load(&registry, &stack(r#"["recursive", "documents", "site"]"#)),
            Ok(())
        );
        assert_eq!(
            load(&registry, &stack(r#"["documents", "site"]"#)),
            Err(
                "stack.toml:5:1: [filter.documents]: error documents are fetched through the \
                 stack again, by a recursive layer: put a filter with use = \"recursive\" before \
                 it in [pipeline.main]"
                    .into()
            )
        );
    }

    /// `main` serves a URL map whose `/app` is the pipeline `inner`.
    fn nested(main: &str, inner: &str, extra: &str) -> String {
        format!(
            "[pipeline.main]\npipeline = {main}\n\
             [composite.map]\nuse = \"urlmap\"\n\"/app\" = \"inner\"\n\"/\" = \"site\"\n{extra}\n\
             [pipeline.inner]\npipeline = {inner}\n\
             [filter.sessions]\nuse = \"session\"\n\
             [filter.reader]\nuse = \"needs-session\"\nmode = \"session\"\n\
             [app.site]\nuse = \"echo\"\n"
        )
    }

    #[test]
    fn needs_are_met_only_outside_on_the_way_from_the_served_root() {
        let registry = registry();
        // Outside: in the pipeline around the map, or before it in its own.
        for (main, inner) in [
            (r#"["sessions", "map"]"#, r#"["reader", "site"]"#),
            (r#"["map"]"#, r#"["sessions", "reader", "site"]"#),
        ] {
            assert_eq!(
                load(&registry, &nested(main, inner, "")),
                Ok(()),
                "{main} {inner}"
            );
        }
        // Inside is not outside: a session in the inner pipeline does not
        // serve a filter around the map.
        let err = load(
            &registry,
            &nested(r#"["reader", "map"]"#, r#"["sessions", "site"]"#, ""),
        )
        .unwrap_err();
        assert!(
            err.ends_with(
                "[filter.reader] key `mode`: mode = \"session\" reads the session: put a filter \
                 with use = \"session\" before it in [pipeline.main]"
            ),
            "{err}"
        );
        // Nor does one on another branch of the map.
        let branch = nested(
            r#"["map"]"#,
            r#"["reader", "site"]"#,
            "\"/other\" = \"other\"\n[pipeline.other]\npipeline = [\"sessions\", \"site\"]",
        );
        let err = load(&registry, &branch).unwrap_err();
        assert!(err.ends_with("before it in [pipeline.inner]"), "{err}");
        // One pipeline mounted twice, once with a session around it: the
        // other way to it fails.
        let twice = "[pipeline.main]\npipeline = [\"map\"]\n\
             [composite.map]\nuse = \"urlmap\"\n\"/a\" = \"with\"\n\"/b\" = \"inner\"\n\
             [pipeline.with]\npipeline = [\"sessions\", \"inner\"]\n\
             [pipeline.inner]\npipeline = [\"reader\", \"site\"]\n\
             [filter.sessions]\nuse = \"session\"\n\
             [filter.reader]\nuse = \"needs-session\"\nmode = \"session\"\n\
             [app.site]\nuse = \"echo\"\n";
        let err = load(&registry, twice).unwrap_err();
        assert!(err.contains("[filter.reader] key `mode`"), "{err}");
        // A section that is not served has no outside to check.
        let unused =
            "[app.main]\nuse = \"echo\"\n[pipeline.spare]\npipeline = [\"reader\", \"site\"]\n\
             [filter.reader]\nuse = \"needs-session\"\nmode = \"session\"\n\
             [app.site]\nuse = \"echo\"\n";
        assert_eq!(load(&registry, unused), Ok(()));
    }

    #[test]
    fn factories_of_ones_own_provide_and_need() {
        let mut registry = registry();
        registry
            .filter("my-sessions", |_| Ok(Filter::new(|app| app)))
            .provides("my-sessions", "session");
        registry.app("needs-recursion", |section| {
            section.needs("recursive", None, "it includes other pages");
            Ok(crate::boxed_app(towerkit_core::app::Echo))
        });
        let stack = |pipeline: &str| {
            format!(
                "[pipeline.main]\npipeline = {pipeline}\n\
                 [filter.mine]\nuse = \"my-sessions\"\n\
                 [filter.reader]\nuse = \"needs-session\"\nmode = \"session\"\n\
                 [app.site]\nuse = \"echo\"\n"
            )
        };
        assert_eq!(
            load(&registry, &stack(r#"["mine", "reader", "site"]"#)),
            Ok(())
        );
        let err = load(&registry, &stack(r#"["reader", "site"]"#)).unwrap_err();
        assert!(
            err.ends_with("put a filter with use = \"my-sessions\" or use = \"session\" before it in [pipeline.main]"),
            "{err}"
        );
        // An app's needs, served with no pipeline at all.
        let err = load(
            &registry,
            "[composite.main]\nuse = \"urlmap\"\n\"/\" = \"page\"\n[app.page]\nuse = \"needs-recursion\"\n",
        )
        .unwrap_err();
        assert_eq!(
            err,
            "stack.toml:4:1: [app.page]: it includes other pages: serve it from a pipeline with a \
             filter with use = \"recursive\" before it"
        );
    }
}
