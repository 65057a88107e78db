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

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        /// A list item as written: a name, an optional q with a case and
        /// spaces of its own.
        fn item() -> impl Strategy<Value = (String, Option<u16>, String)> {
            (
                "[a-zA-Z*][a-zA-Z0-9*/+.-]{0,12}",
                proptest::option::of(0u16..=1000),
                prop_oneof![Just(";q="), Just("; q="), Just(";Q="), Just(" ;q = ")],
            )
                .prop_map(|(name, q, sep)| (name, q, sep.to_owned()))
        }

        proptest! {
            /// What is written is what is read: every item, in order, with
            /// its q (1 when none is written).
            #[test]
            fn items_round_trip(items in proptest::collection::vec(item(), 0..8), sep in prop_oneof![Just(","), Just(", "), Just(" , ")]) {
                let written: Vec<String> = items
                    .iter()
                    .map(|(name, q, qsep)| match q {
                        Some(q) => format!("{name}{qsep}{}.{:03}", q / 1000, q % 1000),
                        None => name.clone(),
                    })
                    .collect();
                let value = written.join(sep);
                let read: Vec<(&str, f32)> = weighted_items(&value).collect();
                prop_assert_eq!(read.len(), items.len(), "{}", value);
                for ((name, q, _), (read_name, read_q)) in items.iter().zip(&read) {
                    prop_assert_eq!(name.as_str(), *read_name);
                    let expected = q.map_or(1.0, |q| f32::from(q) / 1000.0);
                    prop_assert!((expected - read_q).abs() < 1e-6, "{} read {} for {}", value, read_q, expected);
                }
            }

            /// Whatever the bytes, items are non-empty, trimmed, hold no
            /// comma, and their q lies within 0 and 1.
            #[test]
            fn any_value_reads_sanely(value in "\\PC{0,64}") {
                for (name, q) in weighted_items(&value) {
                    prop_assert!(!name.is_empty() && name.trim() == name && !name.contains(','));
                    prop_assert!((0.0..=1.0).contains(&q), "{}", q);
                }
            }

            /// The cookie found is the value of the first pair of that name,
            /// whatever other pairs and spacing surround it.
            #[test]
            fn cookies_are_found_by_name(
                others in proptest::collection::vec(("[a-z]{1,6}", "[A-Za-z0-9]{0,8}"), 0..5),
                value in "[A-Za-z0-9+/=-]{0,16}",
                at in 0usize..6,
            ) {
                let mut pairs: Vec<(String, String)> = others
                    .into_iter()
                    .filter(|(n, _)| n != "sid")
                    .collect();
                let at = at.min(pairs.len());
                pairs.insert(at, ("sid".to_owned(), value.clone()));
                let header = pairs
                    .iter()
                    .map(|(n, v)| format!("{n}={v}"))
                    .collect::<Vec<_>>()
                    .join("; ");
                let values = [HeaderValue::from_str(&header).unwrap()];
                prop_assert_eq!(cookie(&values, "sid"), Some(value.as_str()));
                prop_assert_eq!(cookie(&values, "absent"), None);
            }
        }
    }
}
