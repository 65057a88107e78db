//! Who may log in: an async trait, and the files Apache's tools write.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use md5::{Digest as _, Md5};
use sha1::Sha1;
use subtle::ConstantTimeEq;
use towerkit_core::recursive::BoxFuture;

use crate::LoginError;

/// Checks passwords, and (for Digest) knows `H(user:realm:password)`.
pub trait Authenticator: Send + Sync + 'static {
    /// Whether `password` is `user`'s.
    fn check(&self, user: &str, password: &str) -> BoxFuture<bool>;

    /// `H(user:realm:password)` in lower-case hex, for Digest with
    /// `algorithm` (`MD5` or `SHA-256`), when this source knows it.
    fn digest_secret(&self, _user: &str, _realm: &str, _algorithm: &str) -> Option<String> {
        None
    }
}

/// Whether two byte strings are equal, in time that does not depend on
/// where they differ.
pub(crate) fn same(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && bool::from(a.ct_eq(b))
}

/// The users of an htpasswd file, as Apache's `htpasswd` writes it: bcrypt
/// (`$2y$`, `$2a$`, `$2b$`), SHA-1 (`{SHA}`) and apr1 MD5 (`$apr1$`). The
/// file is read again when it changes (checked at most once a second).
pub struct HtpasswdFile {
    path: PathBuf,
    state: Mutex<Loaded>,
}

#[derive(Default)]
struct Loaded {
    users: Arc<HashMap<String, String>>,
    modified: Option<SystemTime>,
    checked: Option<Instant>,
}

impl HtpasswdFile {
    /// The file at `path`, read now: a missing or unreadable file is an
    /// error, and so is a line in no format this reads.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, LoginError> {
        let file = HtpasswdFile {
            path: path.into(),
            state: Mutex::default(),
        };
        let users = file.read().map_err(LoginError::UsersFile)?;
        if let Ok(mut state) = file.state.lock() {
            state.users = Arc::new(users);
            state.modified = std::fs::metadata(&file.path)
                .and_then(|m| m.modified())
                .ok();
            state.checked = Some(Instant::now());
        }
        Ok(file)
    }

    fn read(&self) -> Result<HashMap<String, String>, String> {
        let text = std::fs::read_to_string(&self.path)
            .map_err(|err| format!("{}: {err}", self.path.display()))?;
        let mut users = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let parsed = htpasswd_line(line)
                .map_err(|err| format!("{}:{}: {err}", self.path.display(), n + 1))?;
            if let Some((user, hash)) = parsed {
                users.insert(user.to_owned(), hash.to_owned());
            }
        }
        Ok(users)
    }

    /// The users, read again if the file changed.
    fn users(&self) -> Arc<HashMap<String, String>> {
        let Ok(mut state) = self.state.lock() else {
            return Arc::default();
        };
        if state
            .checked
            .is_none_or(|at| at.elapsed() >= Duration::from_secs(1))
        {
            state.checked = Some(Instant::now());
            let modified = std::fs::metadata(&self.path)
                .and_then(|m| m.modified())
                .ok();
            if modified != state.modified {
                match self.read() {
                    Ok(users) => {
                        tracing::info!(path = %self.path.display(), "users reloaded");
                        state.users = Arc::new(users);
                        state.modified = modified;
                    }
                    Err(err) => tracing::error!("users not reloaded: {err}"),
                }
            }
        }
        state.users.clone()
    }
}

impl std::fmt::Debug for HtpasswdFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HtpasswdFile")
            .field("path", &self.path)
            .finish()
    }
}

impl std::fmt::Debug for HtdigestFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HtdigestFile")
            .field("users", &self.entries.len())
            .finish()
    }
}

impl std::fmt::Debug for UserFiles {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UserFiles")
            .field("htpasswd", &self.htpasswd)
            .field("htdigest", &self.htdigest)
            .finish()
    }
}

/// One line of an htpasswd file: `user:hash`, split at the first colon,
/// with a hash in a format [`verify`] reads. `Ok(None)` for a blank line
/// or a comment; the error says what is wrong, not where.
pub(crate) fn htpasswd_line(line: &str) -> Result<Option<(&str, &str)>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let Some((user, hash)) = line.split_once(':') else {
        return Err("not `user:hash`".to_owned());
    };
    let known = ["$2y$", "$2a$", "$2b$", "{SHA}", "$apr1$"]
        .iter()
        .any(|prefix| hash.starts_with(prefix));
    if !known {
        return Err(format!(
            "the hash of `{user}` is in no format read here (bcrypt, {{SHA}}, $apr1$)"
        ));
    }
    Ok(Some((user, hash)))
}

/// One line of an htdigest file: `user:realm:hash`, the hash MD5 or
/// SHA-256 hex (returned in lower case). `Ok(None)` for a blank line or a
/// comment; the error says what is wrong, not where.
pub(crate) fn htdigest_line(line: &str) -> Result<Option<(&str, &str, String)>, String> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return Ok(None);
    }
    let mut parts = line.splitn(3, ':');
    let (Some(user), Some(realm), Some(hash)) = (parts.next(), parts.next(), parts.next()) else {
        return Err("not `user:realm:hash`".to_owned());
    };
    let valid =
        (hash.len() == 32 || hash.len() == 64) && hash.bytes().all(|b| b.is_ascii_hexdigit());
    if !valid {
        return Err(format!("the hash of `{user}` is not MD5 or SHA-256 hex"));
    }
    Ok(Some((user, realm, hash.to_ascii_lowercase())))
}

/// Checks `password` against one htpasswd hash.
pub fn verify(password: &str, hash: &str) -> bool {
    if let Some(sha) = hash.strip_prefix("{SHA}") {
        let computed = STANDARD.encode(Sha1::digest(password.as_bytes()));
        return same(computed.as_bytes(), sha.as_bytes());
    }
    if let Some(rest) = hash.strip_prefix("$apr1$") {
        let salt = rest.split('$').next().unwrap_or("");
        return same(apr1(password, salt).as_bytes(), hash.as_bytes());
    }
    if hash.starts_with("$2") {
        return bcrypt::verify(password, hash).unwrap_or(false);
    }
    false
}

/// Apache's MD5-crypt variant, `$apr1$SALT$HASH`.
pub fn apr1(password: &str, salt: &str) -> String {
    const MAGIC: &[u8] = b"$apr1$";
    const ITOA64: &[u8] = b"./0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
    let pw = password.as_bytes();
    let salt = &salt.as_bytes()[..salt.len().min(8)];
    let mut ctx = Md5::new();
    ctx.update(pw);
    ctx.update(MAGIC);
    ctx.update(salt);
    let alt = Md5::new()
        .chain_update(pw)
        .chain_update(salt)
        .chain_update(pw)
        .finalize();
    let mut left = pw.len();
    while left > 0 {
        ctx.update(&alt[..left.min(16)]);
        left = left.saturating_sub(16);
    }
    let mut i = pw.len();
    while i > 0 {
        if i & 1 != 0 {
            ctx.update([0u8]);
        } else {
            ctx.update(&pw[..pw.len().min(1)]);
        }
        i >>= 1;
    }
    let mut fin = ctx.finalize();
    for round in 0..1000 {
        let mut ctx = Md5::new();
        if round & 1 != 0 {
            ctx.update(pw);
        } else {
            ctx.update(fin);
        }
        if round % 3 != 0 {
            ctx.update(salt);
        }
        if round % 7 != 0 {
            ctx.update(pw);
        }
        if round & 1 != 0 {
            ctx.update(fin);
        } else {
            ctx.update(pw);
        }
        fin = ctx.finalize();
    }
    let mut out = String::from("$apr1$");
    out.push_str(&String::from_utf8_lossy(salt));
    out.push('$');
    let mut to64 = |mut v: u32, n: usize| {
        for _ in 0..n {
            out.push(ITOA64[(v & 0x3f) as usize] as char);
            v >>= 6;
        }
    };
    for (a, b, c) in [(0, 6, 12), (1, 7, 13), (2, 8, 14), (3, 9, 15), (4, 10, 5)] {
        to64(
            ((fin[a] as u32) << 16) | ((fin[b] as u32) << 8) | fin[c] as u32,
            4,
        );
    }
    to64(fin[11] as u32, 2);
    out
}

impl Authenticator for HtpasswdFile {
    fn check(&self, user: &str, password: &str) -> BoxFuture<bool> {
        let users = self.users();
        let hash = users.get(user).cloned();
        let password = password.to_owned();
        Box::pin(async move {
            match hash {
                // bcrypt is slow on purpose: off the runtime thread.
                Some(hash) => tokio::task::spawn_blocking(move || verify(&password, &hash))
                    .await
                    .unwrap_or(false),
                // The same work for an unknown user, so timing does not tell.
                None => {
                    let _ = tokio::task::spawn_blocking(move || verify(&password, "{SHA}x")).await;
                    false
                }
            }
        })
    }
}

/// The users of an htdigest file (`user:realm:HEX`), as Apache's
/// `htdigest` writes it (MD5), or with a SHA-256 hex of `user:realm:password`
/// (64 characters): what Digest needs. Basic and form logins work with it
/// too.
pub struct HtdigestFile {
    entries: HashMap<(String, String), String>,
}

impl HtdigestFile {
    /// Reads the file at `path`.
    pub fn open(path: impl Into<PathBuf>) -> Result<Self, LoginError> {
        Self::read(path.into()).map_err(LoginError::UsersFile)
    }

    fn read(path: PathBuf) -> Result<Self, String> {
        let text =
            std::fs::read_to_string(&path).map_err(|err| format!("{}: {err}", path.display()))?;
        let mut entries = HashMap::new();
        for (n, line) in text.lines().enumerate() {
            let parsed = htdigest_line(line)
                .map_err(|err| format!("{}:{}: {err}", path.display(), n + 1))?;
            if let Some((user, realm, hash)) = parsed {
                entries.insert((user.to_owned(), realm.to_owned()), hash);
            }
        }
        Ok(HtdigestFile { entries })
    }

    /// The realms the file has users for.
    pub fn realms(&self) -> Vec<&str> {
        let mut realms: Vec<&str> = self.entries.keys().map(|(_, r)| r.as_str()).collect();
        realms.sort_unstable();
        realms.dedup();
        realms
    }

    /// Which algorithms the file can serve: `SHA-256`, `MD5`.
    pub fn algorithms(&self) -> Vec<&'static str> {
        let mut algorithms = Vec::new();
        if self.entries.values().any(|h| h.len() == 64) {
            algorithms.push("SHA-256");
        }
        if self.entries.values().any(|h| h.len() == 32) {
            algorithms.push("MD5");
        }
        algorithms
    }
}

impl Authenticator for HtdigestFile {
    fn check(&self, user: &str, password: &str) -> BoxFuture<bool> {
        let found = self
            .entries
            .iter()
            .find(|((u, _), _)| u == user)
            .map(|((_, realm), hash)| (realm.clone(), hash.clone()));
        let user = user.to_owned();
        let password = password.to_owned();
        Box::pin(async move {
            let Some((realm, hash)) = found else {
                return false;
            };
            let algorithm = if hash.len() == 64 { "SHA-256" } else { "MD5" };
            let computed =
                crate::digest::hex_hash(algorithm, &format!("{user}:{realm}:{password}"));
            same(computed.as_bytes(), hash.as_bytes())
        })
    }

    fn digest_secret(&self, user: &str, realm: &str, algorithm: &str) -> Option<String> {
        let hash = self.entries.get(&(user.to_owned(), realm.to_owned()))?;
        let fits = match algorithm {
            "SHA-256" => hash.len() == 64,
            _ => hash.len() == 32,
        };
        fits.then(|| hash.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn apache_hashes() {
        // Known answers from `openssl passwd -apr1` and `sha1 | base64`.
        assert!(verify("secret", &apr1("secret", "abcdefgh")));
        assert_eq!(
            apr1("secret", "abcdefgh"),
            "$apr1$abcdefgh$h9FWgUz3n9YxylKLlR5SQ/"
        );
        assert_eq!(
            apr1("password", "xxxxxxxx"),
            "$apr1$xxxxxxxx$dxHfLAsjHkDRmG83UXe8K0"
        );
        assert!(verify("secret", "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="));
        assert!(!verify("Secret", "{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ="));
        let bcrypt = bcrypt::hash("secret", 4)
            .unwrap()
            .replacen("$2b$", "$2y$", 1);
        assert!(verify("secret", &bcrypt));
        assert!(!verify("nope", &bcrypt));
        assert!(!verify("secret", "plaintext"));
    }
}

/// Passwords from an htpasswd file and Digest secrets from an htdigest file,
/// either or both: what a stack file's `users` and `digest_users` name.
pub struct UserFiles {
    htpasswd: Option<HtpasswdFile>,
    htdigest: Option<HtdigestFile>,
}

impl UserFiles {
    /// At least one of the two.
    pub fn new(htpasswd: Option<HtpasswdFile>, htdigest: Option<HtdigestFile>) -> Self {
        UserFiles { htpasswd, htdigest }
    }
}

impl Authenticator for UserFiles {
    fn check(&self, user: &str, password: &str) -> BoxFuture<bool> {
        match (&self.htpasswd, &self.htdigest) {
            (Some(htpasswd), _) => htpasswd.check(user, password),
            (None, Some(htdigest)) => htdigest.check(user, password),
            (None, None) => Box::pin(async { false }),
        }
    }

    fn digest_secret(&self, user: &str, realm: &str, algorithm: &str) -> Option<String> {
        self.htdigest
            .as_ref()?
            .digest_secret(user, realm, algorithm)
    }
}

#[cfg(test)]
mod reload_tests {
    use super::*;

    #[tokio::test]
    async fn a_changed_file_is_read_again() {
        let dir = std::env::temp_dir().join(format!("towerkit-htpasswd-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("users");
        std::fs::write(&path, "old:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n").unwrap();
        let users = HtpasswdFile::open(&path).unwrap();
        assert!(users.check("old", "secret").await);
        std::thread::sleep(Duration::from_millis(1100));
        std::fs::write(&path, "new:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n").unwrap();
        assert!(users.check("new", "secret").await);
        assert!(!users.check("old", "secret").await);
        assert!(HtpasswdFile::open(dir.join("missing")).is_err());
        std::fs::write(&path, "plain:secret\n").unwrap();
        assert!(HtpasswdFile::open(&path)
            .unwrap_err()
            .to_string()
            .contains("no format read here"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
