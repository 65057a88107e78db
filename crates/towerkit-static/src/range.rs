//! The `Range` header (RFC 9110 §14.1.2), and what is served of it.
//!
//! Ranges never make a response bigger than the file. A client can list the
//! same bytes many times (`bytes=0-,0-,0-,…`) or thousands of tiny ranges;
//! answered as asked, that is a request a few hundred bytes long for a
//! response many times the file's size, or a part header and a read per
//! byte. RFC 9110 §14.2 lets a server ignore such a header and §15.3.7.2
//! lets it coalesce ranges, which is what is done here:
//!
//! 1. A malformed header, another unit than `bytes`, or more than
//!    [`MAX_RANGES`] (32) ranges listed: ignored, the whole file is sent
//!    (200), as for any `Range` a server does not honour.
//! 2. Ranges that do not reach the file are dropped; if none is left: 416.
//! 3. Ranges that overlap or touch are coalesced into one: `0-10,5-20` is
//!    `0-20`, thirty-two `0-` are one `0-`. The parts that remain are
//!    disjoint, so together they are at most the file; they are sent in the
//!    order their first range was listed (§15.3.7.2 asks for the order of
//!    the header).
//! 4. One part: 206 with `Content-Range`.
//! 5. Several: 206 `multipart/byteranges`, unless that body, part headers
//!    included, would be longer than the file: then the whole file is sent
//!    (200), which is less to send and to read (this is nginx's rule, with
//!    the part headers counted). Neither answer is ever longer than the
//!    file; see `response.rs`.

/// What a `Range` header asks of a representation of `len` bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Ranges {
    /// No usable header: send the whole representation. A malformed header,
    /// another unit than bytes, or too many ranges all end here.
    Whole,
    /// Nothing asked for overlaps the representation: 416.
    Unsatisfiable,
    /// These byte ranges, `start..=end`: within the representation,
    /// disjoint and not adjacent (coalesced), in the order the first range
    /// of each was asked for.
    Some(Vec<(u64, u64)>),
}

/// A header listing more ranges than this is ignored (the whole file is
/// sent). Clients that ask for several ranges (PDF readers fetching pages)
/// list a handful; 32 leaves room for them, and bounds the work for one
/// header: the ranges are sorted, and each part that remains costs a read
/// of its own and a part header of about 100 bytes.
pub(crate) const MAX_RANGES: usize = 32;

pub(crate) fn parse(header: &str, len: u64) -> Ranges {
    let Some((unit, specs)) = header.split_once('=') else {
        return Ranges::Whole;
    };
    if !unit.trim().eq_ignore_ascii_case("bytes") {
        return Ranges::Whole;
    }
    let mut ranges = Vec::new();
    let mut count = 0;
    for spec in specs.split(',') {
        let spec = spec.trim();
        if spec.is_empty() {
            continue;
        }
        count += 1;
        if count > MAX_RANGES {
            return Ranges::Whole;
        }
        let Some((first, last)) = spec.split_once('-') else {
            return Ranges::Whole;
        };
        let (first, last) = (first.trim(), last.trim());
        let number = |s: &str| -> Option<u64> {
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse().ok())
                .flatten()
        };
        if first.is_empty() {
            // A suffix: the last N bytes.
            let Some(suffix) = number(last) else {
                return Ranges::Whole;
            };
            if suffix > 0 && len > 0 {
                ranges.push((len - suffix.min(len), len - 1));
            }
            continue;
        }
        let Some(start) = number(first) else {
            return Ranges::Whole;
        };
        let end = if last.is_empty() {
            None
        } else {
            match number(last) {
                Some(end) if end >= start => Some(end),
                _ => return Ranges::Whole,
            }
        };
        if start < len {
            let end = end.map_or(len - 1, |end| end.min(len - 1));
            ranges.push((start, end));
        }
    }
    if count == 0 {
        Ranges::Whole
    } else if ranges.is_empty() {
        Ranges::Unsatisfiable
    } else {
        Ranges::Some(coalesce(ranges))
    }
}

/// Merges the ranges that overlap or touch, keeping each merged range where
/// the first of its ranges was asked for.
fn coalesce(ranges: Vec<(u64, u64)>) -> Vec<(u64, u64)> {
    if ranges.len() < 2 {
        return ranges;
    }
    let mut sorted: Vec<(u64, u64, usize)> = ranges
        .into_iter()
        .enumerate()
        .map(|(asked, (start, end))| (start, end, asked))
        .collect();
    sorted.sort_unstable();
    let mut merged: Vec<(u64, u64, usize)> = Vec::with_capacity(sorted.len());
    for (start, end, asked) in sorted {
        match merged.last_mut() {
            Some(last) if start <= last.1.saturating_add(1) => {
                last.1 = last.1.max(end);
                last.2 = last.2.min(asked);
            }
            _ => merged.push((start, end, asked)),
        }
    }
    merged.sort_unstable_by_key(|&(_, _, asked)| asked);
    merged
        .into_iter()
        .map(|(start, end, _)| (start, end))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_ranges() {
        assert_eq!(parse("bytes=0-499", 1000), Ranges::Some(vec![(0, 499)]));
        assert_eq!(parse("bytes=500-", 1000), Ranges::Some(vec![(500, 999)]));
        assert_eq!(parse("bytes=-100", 1000), Ranges::Some(vec![(900, 999)]));
        assert_eq!(parse("bytes=-5000", 1000), Ranges::Some(vec![(0, 999)]));
        assert_eq!(
            parse("bytes=900-5000", 1000),
            Ranges::Some(vec![(900, 999)])
        );
        assert_eq!(parse("BYTES = 1-1", 10), Ranges::Some(vec![(1, 1)]));
    }

    #[test]
    fn overlapping_and_adjacent_ranges_are_coalesced() {
        assert_eq!(parse("bytes=0-10,5-20", 100), Ranges::Some(vec![(0, 20)]));
        assert_eq!(parse("bytes=0-9,10-19", 100), Ranges::Some(vec![(0, 19)]));
        assert_eq!(
            parse("bytes=0-9,11-19", 100),
            Ranges::Some(vec![(0, 9), (11, 19)])
        );
        let copies = format!("bytes={}", vec!["0-"; MAX_RANGES].join(","));
        assert_eq!(parse(&copies, 1000), Ranges::Some(vec![(0, 999)]));
        // A suffix and an open end over the same bytes; one inside another.
        assert_eq!(
            parse("bytes=-100,900-", 1000),
            Ranges::Some(vec![(900, 999)])
        );
        assert_eq!(
            parse("bytes=10-90,20-30", 100),
            Ranges::Some(vec![(10, 90)])
        );
        // A merged part stands where the first of its ranges was asked for.
        assert_eq!(
            parse("bytes=50-59,0-9,55-70,5-12", 100),
            Ranges::Some(vec![(50, 70), (0, 12)])
        );
        // Ranges past the end are dropped before.
        assert_eq!(parse("bytes=0-4,500-,3-8", 100), Ranges::Some(vec![(0, 8)]));
    }

    #[test]
    fn multiple_ranges_keep_their_order() {
        assert_eq!(
            parse("bytes=10-19, -5,0-0", 100),
            Ranges::Some(vec![(10, 19), (95, 99), (0, 0)])
        );
        assert_eq!(
            parse("bytes=2000-3000, 0-1", 100),
            Ranges::Some(vec![(0, 1)])
        );
    }

    #[test]
    fn unsatisfiable() {
        assert_eq!(parse("bytes=1000-", 1000), Ranges::Unsatisfiable);
        assert_eq!(parse("bytes=-0", 1000), Ranges::Unsatisfiable);
        assert_eq!(parse("bytes=0-", 0), Ranges::Unsatisfiable);
        assert_eq!(parse("bytes=5-9, 20-30", 5), Ranges::Unsatisfiable);
    }

    #[test]
    fn malformed_is_ignored() {
        for header in [
            "bytes",
            "bytes=",
            "bytes=a-b",
            "bytes=5-1",
            "items=0-1",
            "bytes=1-2-3",
            "bytes=--1",
            "bytes=+1-2",
            "bytes=99999999999999999999999-",
        ] {
            assert_eq!(parse(header, 1000), Ranges::Whole, "{header}");
        }
        let many = format!("bytes={}", vec!["0-0"; MAX_RANGES + 1].join(","));
        assert_eq!(parse(&many, 1000), Ranges::Whole);
        let many = format!("bytes={}", vec!["0-"; MAX_RANGES + 1].join(","));
        assert_eq!(parse(&many, 1000), Ranges::Whole);
        // Empty elements of the list are not ranges.
        let sparse = format!("bytes=0-0{}", ",".repeat(100));
        assert_eq!(parse(&sparse, 1000), Ranges::Some(vec![(0, 0)]));
    }

    mod properties {
        use proptest::prelude::*;

        use super::super::*;

        /// A range-spec around a file of `len` bytes: both ends, an open
        /// end, a suffix; now and then one past the end.
        fn spec(len: u64) -> impl Strategy<Value = String> {
            let at = 0..len.saturating_mul(2).max(1) + 2;
            prop_oneof![
                (at.clone(), 0..len.max(1) + 2).prop_map(|(a, n)| format!("{a}-{}", a + n)),
                at.clone().prop_map(|a| format!("{a}-")),
                at.prop_map(|n| format!("-{n}")),
            ]
        }

        fn header() -> impl Strategy<Value = (u64, String)> {
            (0u64..300).prop_flat_map(|len| {
                (
                    Just(len),
                    prop::collection::vec(spec(len), 1..40)
                        .prop_map(|specs| format!("bytes={}", specs.join(","))),
                )
            })
        }

        proptest! {
            /// Whatever is asked, the parts are within the file, disjoint
            /// and apart, so that together they are at most the file; and
            /// they hold exactly the bytes asked for.
            #[test]
            fn parts_are_within_the_file_and_never_repeat((len, header) in header()) {
                let asked: Vec<&str> = header["bytes=".len()..].split(',').collect();
                match parse(&header, len) {
                    Ranges::Whole => prop_assert!(asked.len() > MAX_RANGES),
                    Ranges::Unsatisfiable => prop_assert!(asked.len() <= MAX_RANGES),
                    Ranges::Some(parts) => {
                        prop_assert!(parts.len() <= MAX_RANGES);
                        let mut covered = vec![false; len as usize];
                        for &(start, end) in &parts {
                            prop_assert!(start <= end && end < len);
                            for byte in &mut covered[start as usize..=end as usize] {
                                prop_assert!(!*byte, "a byte twice in {:?}", parts);
                                *byte = true;
                            }
                        }
                        let total: u64 = parts.iter().map(|(s, e)| e - s + 1).sum();
                        prop_assert!(total <= len);
                        let mut sorted = parts.clone();
                        sorted.sort_unstable();
                        for pair in sorted.windows(2) {
                            prop_assert!(pair[0].1 + 1 < pair[1].0, "touching: {:?}", parts);
                        }
                        // The bytes covered are the ones asked for.
                        let mut wanted = vec![false; len as usize];
                        for spec in asked {
                            let (first, last) = spec.split_once('-').unwrap();
                            let (start, end) = if first.is_empty() {
                                let n: u64 = last.parse().unwrap();
                                (len - n.min(len), len)
                            } else {
                                let start: u64 = first.parse().unwrap();
                                let end = if last.is_empty() { len } else { last.parse::<u64>().unwrap().saturating_add(1).min(len) };
                                (start.min(len), end)
                            };
                            for byte in &mut wanted[start as usize..end as usize] {
                                *byte = true;
                            }
                        }
                        prop_assert_eq!(covered, wanted);
                    }
                }
            }
        }
    }
}
