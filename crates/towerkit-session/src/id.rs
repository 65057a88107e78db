//! Session ids: 256 random bits from the operating system, URL-safe.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;

/// The length of an id: 32 random bytes in unpadded URL-safe base64.
pub const ID_LEN: usize = 43;

/// A new id from the OS's random number generator.
pub fn new_id() -> Result<String, getrandom::Error> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// Whether a value from a client can be an id: the right length and
/// alphabet, so that it is safe in a file name or a Redis key.
pub fn is_valid_id(id: &str) -> bool {
    id.len() == ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_random_and_valid() {
        let a = new_id().unwrap();
        let b = new_id().unwrap();
        assert_ne!(a, b);
        assert!(is_valid_id(&a) && is_valid_id(&b));
        assert!(!is_valid_id("../../etc/passwd"));
        assert!(!is_valid_id(&format!("{}/", &a[..42])));
        assert!(!is_valid_id(""));
    }
}
