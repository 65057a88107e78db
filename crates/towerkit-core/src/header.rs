//! Reading the list-shaped headers every layer meets: weighted lists
//! (`Accept`, `Accept-Encoding`), token lists (`Connection`,
//! `Cache-Control`) and cookies.

use http::HeaderValue;

/// The items of a weighted list with their q-values, in order:
/// `gzip;q=0.5, *` gives `("gzip", 0.5)` and `("*", 1.0)`. Items are
/// trimmed, as written (compare them without regard to case), and empty
/// ones skipped; a missing or unreadable q is 1, and q is kept within 0
/// and 1. Nothing is allocated.
pub fn weighted_items(value: &str) -> impl Iterator<Item = (&str, f32)> + '_ {
    value.split(',').filter_map(|item| {
        let mut params = item.split(';');
        let name = params.next().unwrap_or("").trim();
        if name.is_empty() {
            return None;
        }
        let q = params
            .filter_map(|p| {
                let (key, value) = p.split_once('=')?;
                key.trim()
                    .eq_ignore_ascii_case("q")
                    .then(|| value.trim().parse::<f32>().ok())?
            })
            .next()
            .unwrap_or(1.0)
            .clamp(0.0, 1.0);
        Some((name, q))
    })
}

/// Whether a comma-separated list among these header values names `token`
/// (compared without regard to case): `Connection: keep-alive, Close` names
/// `close`.
pub fn lists_token<'a>(values: impl IntoIterator<Item = &'a HeaderValue>, token: &str) -> bool {
    values
        .into_iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
}

/// The value of the cookie `name` among `Cookie` header values (quotes
/// around it removed), if the request sent one.
pub fn cookie<'a>(
    values: impl IntoIterator<Item = &'a HeaderValue>,
    name: &str,
) -> Option<&'a str> {
    values
        .into_iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(n, _)| *n == name)
        .map(|(_, value)| value.trim().trim_matches('"'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens() {
        let values = [
            HeaderValue::from_static("keep-alive"),
            HeaderValue::from_static("x-a , Close"),
        ];
        assert!(lists_token(&values, "close"));
        assert!(lists_token(&values, "KEEP-ALIVE"));
        assert!(!lists_token(&values, "clos"));
        assert!(!lists_token(&[], "close"));
    }

    #[test]
    fn weights() {
        let items: Vec<_> = weighted_items("GZIP;q=0.5, , br;Q=0, *;q=x, identity;q=7").collect();
        assert_eq!(
            items,
            [("GZIP", 0.5), ("br", 0.0), ("*", 1.0), ("identity", 1.0)]
        );
    }

    #[test]
    fn cookies() {
        let values = [
            HeaderValue::from_static("a=1; sid=\"x y\""),
            HeaderValue::from_static("b=2"),
        ];
        assert_eq!(cookie(&values, "sid"), Some("x y"));
        assert_eq!(cookie(&values, "b"), Some("2"));
        assert_eq!(cookie(&values, "s"), None);
    }
}
