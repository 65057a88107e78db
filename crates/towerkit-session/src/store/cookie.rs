//! Sessions in the cookie itself, encrypted and signed.

use std::time::Duration;

use crate::SessionError;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit};
use chacha20poly1305::{Key, XChaCha20Poly1305, XNonce};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{SessionStore, StoreError, StoreFuture};
use crate::record::{now, Record};

/// The most a cookie value may be: browsers keep cookies of 4,096 bytes
/// (name and attributes included), so some room is left for those.
const MAX_VALUE: usize = 3900;

/// The whole session in the cookie, encrypted and authenticated with
/// XChaCha20-Poly1305 under a key derived from `secret`: the client can
/// neither read nor change it. Nothing is kept on the server, so it scales
/// to any number of instances sharing the secret; a session larger than a
/// cookie can hold is refused (500, logged).
pub struct CookieStore {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for CookieStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CookieStore")
    }
}

/// The shortest secret accepted.
pub const MIN_SECRET: usize = 32;

#[derive(Serialize, Deserialize)]
struct Sealed {
    expires: u64,
    record: Record,
}

impl CookieStore {
    /// A store whose cookies are sealed with `secret` (at least
    /// 32 bytes; every instance of an app shares it).
    pub fn new(secret: &str) -> Result<Self, SessionError> {
        if secret.len() < MIN_SECRET {
            return Err(SessionError::SecretTooShort(secret.len()));
        }
        let mut hasher = Sha256::new();
        hasher.update(b"towerkit-session cookie store v1\0");
        hasher.update(secret.as_bytes());
        let key = Key::from(<[u8; 32]>::from(hasher.finalize()));
        Ok(CookieStore {
            cipher: XChaCha20Poly1305::new(&key),
        })
    }

    fn seal(&self, sealed: &Sealed) -> Result<String, StoreError> {
        let plain =
            serde_json::to_vec(sealed).map_err(|err| StoreError::Failed(err.to_string()))?;
        let mut nonce = [0u8; 24];
        getrandom::fill(&mut nonce).map_err(|err| StoreError::Failed(err.to_string()))?;
        let cipher = self
            .cipher
            .encrypt(XNonce::from_slice(&nonce), plain.as_slice())
            .map_err(|_| StoreError::Failed("encryption failed".into()))?;
        let mut bytes = nonce.to_vec();
        bytes.extend_from_slice(&cipher);
        let value = URL_SAFE_NO_PAD.encode(bytes);
        if value.len() > MAX_VALUE {
            return Err(StoreError::TooLarge(value.len()));
        }
        Ok(value)
    }

    fn open(&self, value: &str) -> Option<Sealed> {
        if value.len() > MAX_VALUE {
            return None;
        }
        let bytes = URL_SAFE_NO_PAD.decode(value).ok()?;
        if bytes.len() < 24 {
            return None;
        }
        let (nonce, cipher) = bytes.split_at(24);
        let plain = self
            .cipher
            .decrypt(XNonce::from_slice(nonce), cipher)
            .ok()?;
        serde_json::from_slice(&plain).ok()
    }
}

impl SessionStore for CookieStore {
    fn load<'a>(&'a self, key: &'a str) -> StoreFuture<'a, Option<Record>> {
        Box::pin(async move {
            Ok(self
                .open(key)
                .filter(|sealed| sealed.expires > now())
                .map(|sealed| sealed.record))
        })
    }

    fn store<'a>(
        &'a self,
        _key: Option<&'a str>,
        record: &'a Record,
        ttl: Duration,
    ) -> StoreFuture<'a, String> {
        Box::pin(async move {
            self.seal(&Sealed {
                expires: now() + ttl.as_secs(),
                record: record.clone(),
            })
        })
    }

    fn delete<'a>(&'a self, _key: &'a str) -> StoreFuture<'a, ()> {
        // Nothing is kept: removing the cookie is the whole deletion.
        Box::pin(async { Ok(()) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SECRET: &str = "a secret of thirty-two bytes or more, for tests";

    #[tokio::test]
    async fn sealed_round_trip_and_forgeries() {
        let store = CookieStore::new(SECRET).unwrap();
        let mut record = Record::default();
        record.data.insert("user".into(), "ada".into());
        let value = store
            .store(None, &record, Duration::from_secs(60))
            .await
            .unwrap();
        assert!(!value.contains("ada"), "the cookie is encrypted");
        assert_eq!(store.load(&value).await.unwrap(), Some(record.clone()));
        // One changed character, another secret, garbage: no session.
        let mut forged = value.clone().into_bytes();
        forged[40] = if forged[40] == b'A' { b'B' } else { b'A' };
        assert_eq!(
            store
                .load(std::str::from_utf8(&forged).unwrap())
                .await
                .unwrap(),
            None
        );
        let other = CookieStore::new("another secret of thirty-two bytes or more").unwrap();
        assert_eq!(other.load(&value).await.unwrap(), None);
        assert_eq!(store.load("garbage").await.unwrap(), None);
        // Expired.
        let old = store
            .store(None, &record, Duration::from_secs(0))
            .await
            .unwrap();
        assert_eq!(store.load(&old).await.unwrap(), None);
    }

    #[tokio::test]
    async fn too_large_is_refused() {
        let store = CookieStore::new(SECRET).unwrap();
        let mut record = Record::default();
        record.data.insert("blob".into(), "x".repeat(5000).into());
        let err = store
            .store(None, &record, Duration::from_secs(60))
            .await
            .unwrap_err();
        assert!(matches!(err, StoreError::TooLarge(_)));
        assert!(CookieStore::new("short").is_err());
    }
}

/// Properties of the one parser here that a client reaches: the cookie
/// value, decoded and opened.
#[cfg(test)]
mod properties {
    use proptest::prelude::*;
    use serde_json::Value;

    use super::*;

    const SECRET: &str = "a secret of thirty-two bytes or more, for tests";
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

    fn store() -> CookieStore {
        CookieStore::new(SECRET).unwrap()
    }

    fn records() -> impl Strategy<Value = Record> {
        let value = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            ".{0,40}".prop_map(Value::from),
        ];
        (
            proptest::collection::btree_map(".{0,20}", value, 0..8),
            any::<u64>(),
            any::<u64>(),
        )
            .prop_map(|(data, created, last_seen)| Record {
                data: data.into_iter().collect(),
                created,
                last_seen,
            })
    }

    /// What a client may send: anything, or what looks like a sealed
    /// value (the right alphabet, any length up to past the limit).
    fn cookie_values() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[A-Za-z0-9_-]{0,120}",
            "[A-Za-z0-9_-]{3890,3910}",
            "[A-Za-z0-9_=+/.-]{30,200}",
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// Whatever a client sends, opening it does not panic, and
        /// nothing but a sealed value opens.
        #[test]
        fn any_value_opens_to_nothing_without_panicking(value in cookie_values()) {
            prop_assert!(store().open(&value).is_none());
        }

        /// A sealed record opens to itself, with its expiry.
        #[test]
        fn sealed_records_round_trip(record in records(), expires in any::<u64>()) {
            let store = store();
            let sealed = store.seal(&Sealed { expires, record: record.clone() });
            // A record too large for a cookie is refused; any other opens.
            let Ok(value) = sealed else { return Ok(()); };
            prop_assert!(value.bytes().all(|b| ALPHABET.contains(&b)), "{}", value);
            let opened = store.open(&value).expect("a sealed value opens");
            prop_assert_eq!(opened.expires, expires);
            prop_assert_eq!(opened.record, record);
        }

        /// One character changed, one cut off or one added anywhere, or
        /// another secret: refused.
        #[test]
        fn tampered_values_are_refused(
            record in records(),
            at in any::<prop::sample::Index>(),
            with in any::<prop::sample::Index>(),
            how in 0..3u8,
        ) {
            let store = store();
            let Ok(value) = store.seal(&Sealed { expires: u64::MAX, record }) else {
                return Ok(());
            };
            let mut bytes = value.clone().into_bytes();
            // Anywhere in the value; an insertion may also go at its end.
            let (end, at) = (at.index(bytes.len() + 1), at.index(bytes.len()));
            match how {
                0 => {
                    // Another letter of the alphabet, never the same.
                    let mut replacement = ALPHABET[with.index(ALPHABET.len())];
                    if replacement == bytes[at] {
                        replacement = ALPHABET[(with.index(ALPHABET.len()) + 1) % ALPHABET.len()];
                    }
                    bytes[at] = replacement;
                }
                1 => {
                    bytes.remove(at);
                }
                _ => bytes.insert(end, ALPHABET[with.index(ALPHABET.len())]),
            }
            let tampered = String::from_utf8(bytes).unwrap();
            prop_assert_ne!(&tampered, &value);
            prop_assert!(store.open(&tampered).is_none(), "{} opened", tampered);
            let other = CookieStore::new("another secret of thirty-two bytes or more").unwrap();
            prop_assert!(other.open(&value).is_none());
        }
    }
}
