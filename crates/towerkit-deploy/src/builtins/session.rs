//! `use = "session"`, from towerkit-session.

use super::*;

/// A session store, as a health check asks it.
pub(super) struct StoreReady(std::sync::Arc<dyn SessionStore>);

impl Check for StoreReady {
    fn check(
        &self,
    ) -> std::pin::Pin<Box<dyn std::future::Future<Output = Result<(), String>> + Send + '_>> {
        Box::pin(async move { self.0.ready().await.map_err(|err| err.to_string()) })
    }
}

/// `use = "session"`: `store` (`memory`, `file`, `cookie`, `redis`),
/// `cookie_name`, `max_age`, `idle_timeout`, `same_site` (`lax`, `strict`,
/// `none`), `secure`; `capacity` (memory), `path` (file), `url`, `prefix`
/// and `timeout` (redis), `secret` (cookie).
pub(super) fn session(section: &mut Section<'_, '_>) -> Result<Filter, ConfigError> {
    let kind = section
        .get::<String>("store")?
        .unwrap_or_else(|| "memory".to_owned());
    let path = section.output_path("path")?;
    let url = section.get::<String>("url")?;
    let prefix = section.get::<String>("prefix")?;
    let secret = section.get::<String>("secret")?;
    let capacity = section.get::<usize>("capacity")?;
    let timeout = section.get::<HumanDuration>("timeout")?;
    let misplaced = |section: &Section<'_, '_>, key: &str, store: &str| {
        section.error(key, format!("`{key}` applies to store = \"{store}\" only"))
    };
    if kind != "file" && path.is_some() {
        return Err(misplaced(section, "path", "file"));
    }
    if kind != "redis" && (url.is_some() || prefix.is_some() || timeout.is_some()) {
        let key = match (&url, &prefix) {
            (Some(_), _) => "url",
            (_, Some(_)) => "prefix",
            _ => "timeout",
        };
        return Err(misplaced(section, key, "redis"));
    }
    if kind != "memory" && capacity.is_some() {
        return Err(misplaced(section, "capacity", "memory"));
    }
    if capacity == Some(0) {
        return Err(section.error("capacity", "the store must hold at least one session"));
    }
    if timeout.as_ref().is_some_and(|t| t.0.is_zero()) {
        return Err(section.error("timeout", "a Redis operation needs some time: e.g. \"2s\""));
    }
    if kind != "cookie" && secret.is_some() {
        return Err(misplaced(section, "secret", "cookie"));
    }
    let store: std::sync::Arc<dyn SessionStore> = match kind.as_str() {
        "memory" => {
            std::sync::Arc::new(capacity.map_or_else(MemoryStore::default, MemoryStore::new))
        }
        "file" => {
            let Some(path) = path else {
                return Err(section.error(
                    "path",
                    "store = \"file\" needs a folder: path = \"sessions\"",
                ));
            };
            let store = FileStore::new(&path)
                .map_err(|err| section.error("path", format!("{}: {err}", path.display())))?;
            std::sync::Arc::new(store)
        }
        "cookie" => {
            let Some(secret) = secret else {
                return Err(section.error(
                    "secret",
                    "store = \"cookie\" needs a secret of at least 32 bytes",
                ));
            };
            std::sync::Arc::new(
                CookieStore::new(&secret)
                    .map_err(|err| section.error("secret", err.to_string()))?,
            )
        }
        "redis" => {
            let Some(url) = url else {
                return Err(section.error(
                    "url",
                    "store = \"redis\" needs a url, e.g. redis://127.0.0.1:6379/0",
                ));
            };
            let prefix = prefix.unwrap_or_else(|| "towerkit:session:".to_owned());
            let store = RedisStore::new(&url, &prefix)
                .map_err(|err| section.error("url", err.to_string()))?;
            std::sync::Arc::new(match timeout {
                Some(timeout) => store.timeout(timeout.0),
                None => store,
            })
        }
        other => {
            return Err(section.error(
                "store",
                format!("unknown store `{other}` (known: memory, file, cookie, redis)"),
            ))
        }
    };
    section.readiness().add(
        format!("filter.{}", section.name()),
        std::sync::Arc::new(StoreReady(store.clone())),
    );
    let mut layer = SessionLayer::with_store(store);
    if let Some(name) = section.get::<String>("cookie_name")? {
        // The builder's own check, so that Rust and TOML say the same.
        layer = layer
            .cookie_name(&name)
            .map_err(|err| section.error("cookie_name", err.to_string()))?;
    }
    if let Some(max_age) = section.get::<HumanDuration>("max_age")? {
        layer = layer.max_age(max_age.0);
    }
    if let Some(idle) = section.get::<HumanDuration>("idle_timeout")? {
        layer = layer.idle_timeout(idle.0);
    }
    let secure = section.get::<bool>("secure")?;
    if let Some(secure) = secure {
        layer = layer.secure(secure);
    }
    if let Some(same_site) = section.get::<String>("same_site")? {
        let same_site = match same_site.to_ascii_lowercase().as_str() {
            "lax" => SameSite::Lax,
            "strict" => SameSite::Strict,
            "none" if secure == Some(true) => SameSite::None,
            "none" => {
                return Err(section.error(
                    "same_site",
                    "same_site = \"none\" needs secure = true (browsers refuse it otherwise)",
                ))
            }
            _ => return Err(section.error("same_site", "expected lax, strict or none")),
        };
        layer = layer.same_site(same_site);
    }
    Ok(Filter::layer(layer))
}
