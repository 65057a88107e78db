//! Parsing a rule's path (`/devices/<int(min=1):id>/state`) or host
//! (`<sub>.example.com`) into parts, and matching parts against text.

use std::borrow::Cow;
use std::collections::HashMap;
use std::sync::Arc;

use percent_encoding::percent_decode_str;

use crate::converter::{builtin, Args, Converter, ConverterFactory, Value};

/// A placeholder of a rule: its name and converter.
#[derive(Clone, Debug)]
pub(crate) struct Var {
    pub(crate) name: String,
    pub(crate) converter: Arc<dyn Converter>,
    /// The converter as written (`int(min=1)`), for tables and keys.
    pub(crate) spec: String,
}

/// One piece of a segment (or of a host): text, or a placeholder (an index
/// into the rule's variables).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Part {
    /// Decoded text (a host's is lower case).
    Text(String),
    Var(usize),
}

/// One segment of a rule's path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Segment {
    /// Fixed text, in its canonical percent-encoded spelling (compared with
    /// the request's canonical segment as it is).
    Static(String),
    /// Text and placeholders within one segment.
    Dynamic(Vec<Part>),
    /// A placeholder that spans one or more whole segments (`path`).
    Span(usize),
}

/// A parsed path: its segments and whether it ends with `/`.
#[derive(Clone, Debug)]
pub(crate) struct PathPattern {
    pub(crate) segments: Vec<Segment>,
    /// The source of each segment, as written (a trie key).
    pub(crate) sources: Vec<String>,
    pub(crate) trailing_slash: bool,
}

/// Where converters come from while parsing.
pub(crate) struct Converters<'a> {
    pub(crate) own: &'a HashMap<String, ConverterFactory>,
}

impl Converters<'_> {
    fn make(&self, name: &str, args: &str) -> Result<(Arc<dyn Converter>, String), String> {
        let factory = self
            .own
            .get(name)
            .cloned()
            .or_else(|| builtin(name))
            .ok_or_else(|| format!("unknown converter `{name}`"))?;
        let parsed = Args::parse(args).map_err(|e| format!("converter `{name}`: {e}"))?;
        let converter = factory(&parsed).map_err(|e| format!("converter `{name}`: {e}"))?;
        if let Some(why) = converter.impossible() {
            return Err(format!("`<{name}({args})>` can never match: {why}"));
        }
        let spec = if args.trim().is_empty() {
            name.to_owned()
        } else {
            format!("{name}({})", args.trim())
        };
        Ok((converter, spec))
    }
}

/// Splits `text` into text and what stands between `<` and `>`, each
/// placeholder made a part by `placeholder`.
pub(crate) fn split_parts(
    text: &str,
    mut placeholder: impl FnMut(&str) -> Result<usize, String>,
) -> Result<Vec<Part>, String> {
    let mut parts = Vec::new();
    let mut rest = text;
    while let Some(open) = rest.find('<') {
        if open > 0 {
            parts.push(Part::Text(rest[..open].to_owned()));
        }
        let after = &rest[open + 1..];
        let close = after
            .find('>')
            .ok_or_else(|| format!("`<` without `>` in {text:?}"))?;
        parts.push(Part::Var(placeholder(&after[..close])?));
        rest = &after[close + 1..];
    }
    if rest.contains('>') {
        return Err(format!("`>` without `<` in {text:?}"));
    }
    if !rest.is_empty() {
        parts.push(Part::Text(rest.to_owned()));
    }
    Ok(parts)
}

/// Splits `text` into text and `<conv(args):name>` placeholders, adding the
/// placeholders to `vars`.
fn parse_parts(
    text: &str,
    vars: &mut Vec<Var>,
    converters: &Converters<'_>,
) -> Result<Vec<Part>, String> {
    split_parts(text, |inner| {
        let (conv, args, name) = split_placeholder(inner)?;
        if vars.iter().any(|v| v.name == name) {
            return Err(format!("the placeholder `{name}` appears twice"));
        }
        let (converter, spec) = converters.make(conv, args)?;
        vars.push(Var {
            name: name.to_owned(),
            converter,
            spec,
        });
        Ok(vars.len() - 1)
    })
}

/// `int(min=1):id` → (`int`, `min=1`, `id`); `id` → (`default`, ``, `id`).
fn split_placeholder(inner: &str) -> Result<(&str, &str, &str), String> {
    let (conv, args, name) = match inner.find('(') {
        Some(open) => {
            let close = inner
                .rfind(')')
                .filter(|&c| c > open)
                .ok_or_else(|| format!("`(` without `)` in <{inner}>"))?;
            let name = inner[close + 1..]
                .strip_prefix(':')
                .ok_or_else(|| format!("no `:name` after the converter in <{inner}>"))?;
            (&inner[..open], &inner[open + 1..close], name)
        }
        None => match inner.split_once(':') {
            Some((conv, name)) => (conv, "", name),
            None => ("default", "", inner),
        },
    };
    let (conv, name) = (conv.trim(), name.trim());
    let identifier = |s: &str| {
        let mut chars = s.chars();
        matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
            && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
    };
    if !identifier(name) {
        return Err(format!("`{name}` in <{inner}> is not a placeholder name"));
    }
    if !identifier(conv) {
        return Err(format!("`{conv}` in <{inner}> is not a converter name"));
    }
    Ok((conv, args, name))
}

/// Splits a rule's path on the `/` outside placeholders.
fn split_segments(path: &str) -> Result<Vec<&str>, String> {
    let mut segments = Vec::new();
    let mut depth = 0usize;
    let mut start = 0;
    for (i, c) in path.char_indices() {
        match c {
            '<' => depth += 1,
            '>' => depth = depth.saturating_sub(1),
            '/' if depth == 0 => {
                segments.push(&path[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    segments.push(&path[start..]);
    Ok(segments)
}

/// Parses a rule's path. Static segments are decoded, then spelled the
/// canonical way, so `/caf%C3%A9` and `/café` are the same rule.
pub(crate) fn parse_path(
    path: &str,
    vars: &mut Vec<Var>,
    converters: &Converters<'_>,
) -> Result<PathPattern, String> {
    let Some(rest) = path.strip_prefix('/') else {
        return Err("a rule's path starts with `/`".into());
    };
    if path.contains('?') || path.contains('#') {
        return Err("a rule's path has no `?` or `#`".into());
    }
    let mut raw = split_segments(rest)?;
    let trailing_slash = raw.last().is_some_and(|s| s.is_empty());
    if trailing_slash {
        raw.pop();
    }
    let mut pattern = PathPattern {
        segments: Vec::new(),
        sources: Vec::new(),
        trailing_slash,
    };
    for source in raw {
        if source.is_empty() {
            return Err("an empty segment (`//`) can never be matched: paths are matched with their slashes merged".into());
        }
        let parts = parse_parts(source, vars, converters)?;
        let segment = match parts.as_slice() {
            [Part::Text(text)] => {
                let decoded = decode(text);
                if decoded == "." || decoded == ".." {
                    return Err(format!("a `{decoded}` segment can never be matched"));
                }
                if decoded.chars().any(char::is_control) {
                    return Err("a control character can never be matched".into());
                }
                Segment::Static(encode_segment(&decoded))
            }
            [Part::Var(v)] if vars[*v].converter.spans_segments() => Segment::Span(*v),
            parts => {
                if let Some(Part::Var(v)) = parts
                    .iter()
                    .find(|p| matches!(p, Part::Var(v) if vars[*v].converter.spans_segments()))
                {
                    return Err(format!(
                        "`<{}:{}>` spans segments: it must fill its segment alone",
                        vars[*v].spec, vars[*v].name
                    ));
                }
                Segment::Dynamic(
                    parts
                        .iter()
                        .map(|p| match p {
                            Part::Text(t) => Part::Text(decode(t).into_owned()),
                            var => var.clone(),
                        })
                        .collect(),
                )
            }
        };
        pattern.segments.push(segment);
        pattern.sources.push(source.to_owned());
    }
    Ok(pattern)
}

/// Parses a host or subdomain pattern (`<user>.example.com`): text is
/// lower-cased; placeholders may not span segments.
pub(crate) fn parse_host(
    host: &str,
    vars: &mut Vec<Var>,
    converters: &Converters<'_>,
) -> Result<Vec<Part>, String> {
    if host.contains('/') {
        return Err(format!("{host:?} is not a host pattern"));
    }
    let parts = parse_parts(host, vars, converters)?;
    parts
        .into_iter()
        .map(|part| match part {
            Part::Text(t) => Ok(Part::Text(t.to_ascii_lowercase())),
            Part::Var(v) if vars[v].converter.spans_segments() => {
                Err(format!("`{}` cannot stand in a host", vars[v].spec))
            }
            var => Ok(var),
        })
        .collect()
}

/// Percent-decodes `text` (invalid UTF-8 replaced).
pub(crate) fn decode(text: &str) -> Cow<'_, str> {
    if text.contains('%') {
        percent_decode_str(text).decode_utf8_lossy()
    } else {
        Cow::Borrowed(text)
    }
}

/// Bytes kept as they are in a segment: what `towerkit_core::canonical`
/// keeps (RFC 3986 unreserved and sub-delimiters, `:` and `@`).
fn is_plain(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b)
}

/// Percent-encodes one segment the canonical way (`/` encoded too).
pub(crate) fn encode_segment(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    push_encoded(text, &mut out, false);
    out
}

/// Appends `text` percent-encoded the canonical way; with `keep_slashes`,
/// `/` stays a separator (a `path` value).
pub(crate) fn push_encoded(text: &str, out: &mut String, keep_slashes: bool) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in text.as_bytes() {
        if is_plain(b) || (keep_slashes && b == b'/') {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xf)] as char);
        }
    }
}

/// Appends `text` encoded for a query string (`&`, `=`, `+`, `#` encoded).
pub(crate) fn push_query_encoded(text: &str, out: &mut String) {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    for &b in text.as_bytes() {
        if b.is_ascii_alphanumeric() || b"-._~!$'()*,;:@/".contains(&b) {
            out.push(b as char);
        } else {
            out.push('%');
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xf)] as char);
        }
    }
}

/// The order dynamic patterns are tried in, after Werkzeug: text before
/// placeholders, longer text first, then by converter weight.
pub(crate) fn weights(parts: &[Part], vars: &[Var]) -> Vec<(u8, i64)> {
    parts
        .iter()
        .map(|p| match p {
            Part::Text(t) => (0, -(t.len() as i64)),
            Part::Var(v) => (1, i64::from(vars[*v].converter.weight())),
        })
        .collect()
}

/// A matched placeholder: its value and, when the value does not spell it
/// back the same (`007` for 7), its decoded text.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Capture {
    pub(crate) value: Value,
    spelled: Option<Box<str>>,
}

impl Capture {
    /// Keeps `text` only when `value` does not spell it (no allocation for
    /// text and plain numbers).
    pub(crate) fn new(value: Value, text: &str) -> Capture {
        let same = match &value {
            Value::Str(s) => s == text,
            Value::Int(_) => {
                let digits = text.strip_prefix('-').unwrap_or(text);
                !(digits.len() > 1 && digits.starts_with('0')) && text != "-0"
            }
            _ => false,
        };
        Capture {
            spelled: (!same).then(|| text.into()),
            value,
        }
    }

    /// The decoded text the placeholder matched.
    pub(crate) fn text(&self) -> Cow<'_, str> {
        match (&self.spelled, &self.value) {
            (Some(text), _) => Cow::Borrowed(text),
            (None, Value::Str(s)) => Cow::Borrowed(s),
            (None, value) => Cow::Owned(value.to_string()),
        }
    }
}

/// How many converter attempts one request may cost: matching backtracks
/// (`<a>-<b>-<c>` against a segment of dashes, a `path` placeholder
/// followed by more), and a request must not be able to make it slow. A
/// walk that runs out matches nothing (404). Ordinary requests use a few.
pub(crate) const ATTEMPTS: u32 = 1024;

/// Matches `text` against `parts` (greedy, backtracking), pushing one
/// capture per placeholder; on failure `out` is as it was. Each converter
/// attempt costs one of `budget`.
pub(crate) fn match_parts(
    parts: &[Part],
    vars: &[Var],
    text: &str,
    out: &mut Vec<Capture>,
    budget: &mut u32,
) -> bool {
    let mark = out.len();
    if go(parts, vars, text, out, budget) {
        true
    } else {
        out.truncate(mark);
        false
    }
}

fn go(parts: &[Part], vars: &[Var], text: &str, out: &mut Vec<Capture>, budget: &mut u32) -> bool {
    let Some((first, rest)) = parts.split_first() else {
        return text.is_empty();
    };
    match first {
        Part::Text(t) => text
            .strip_prefix(t.as_str())
            .is_some_and(|after| go(rest, vars, after, out, budget)),
        Part::Var(v) => {
            let converter = &vars[*v].converter;
            let attempt = |end: usize, out: &mut Vec<Capture>, budget: &mut u32| {
                if *budget == 0 {
                    return false;
                }
                *budget -= 1;
                let candidate = &text[..end];
                if let Some(value) = converter.parse(candidate) {
                    out.push(Capture::new(value, candidate));
                    if go(rest, vars, &text[end..], out, budget) {
                        return true;
                    }
                    out.pop();
                }
                false
            };
            match rest.first() {
                None => attempt(text.len(), out, budget),
                Some(Part::Text(next)) => {
                    // Longest first: every place the next text occurs.
                    let ends: Vec<usize> =
                        text.match_indices(next.as_str()).map(|(i, _)| i).collect();
                    ends.into_iter().rev().any(|end| attempt(end, out, budget))
                }
                Some(Part::Var(_)) => {
                    let ends: Vec<usize> = text.char_indices().map(|(i, _)| i).skip(1).collect();
                    ends.into_iter().rev().any(|end| attempt(end, out, budget))
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(path: &str) -> Result<(PathPattern, Vec<Var>), String> {
        let own = HashMap::new();
        let mut vars = Vec::new();
        let pattern = parse_path(path, &mut vars, &Converters { own: &own })?;
        Ok((pattern, vars))
    }

    #[test]
    fn segments_of_a_rule() {
        let (p, vars) = parse("/devices/<int:id>/page-<int(fixed_digits=2):n>.html/").unwrap();
        assert!(p.trailing_slash);
        assert_eq!(p.segments[0], Segment::Static("devices".into()));
        assert_eq!(p.segments[1], Segment::Dynamic(vec![Part::Var(0)]));
        assert_eq!(
            p.segments[2],
            Segment::Dynamic(vec![
                Part::Text("page-".into()),
                Part::Var(1),
                Part::Text(".html".into())
            ])
        );
        assert_eq!(vars[1].spec, "int(fixed_digits=2)");
        let (p, _) = parse("/caf%c3%a9/<path:rest>").unwrap();
        assert_eq!(p.segments[0], Segment::Static("caf%C3%A9".into()));
        assert_eq!(p.segments[1], Segment::Span(0));
        let (p, _) = parse("/").unwrap();
        assert!(p.segments.is_empty() && p.trailing_slash);
    }

    #[test]
    fn bad_rules_say_why() {
        for (rule, why) in [
            ("devices", "starts with"),
            ("/a//b", "empty segment"),
            ("/<int:id>/<id>", "twice"),
            ("/<nope:id>", "unknown converter"),
            ("/<int(min=3,max=1):id>", "never match"),
            ("/x<path:p>", "alone"),
            ("/<int:>", "not a placeholder name"),
            ("/<int:id", "without `>`"),
            ("/a>", "without `<`"),
            ("/a/../b", "never be matched"),
            ("/<int(min=1:id>", "without `)`"),
        ] {
            let err = parse(rule).unwrap_err();
            assert!(err.contains(why), "{rule}: {err}");
        }
    }

    #[test]
    fn captures_keep_text_only_when_the_value_spells_it_otherwise() {
        for (value, text, kept) in [
            (Value::Int(7), "7", false),
            (Value::Int(7), "007", true),
            (Value::Int(0), "0", false),
            (Value::Int(0), "-0", true),
            (Value::Int(-3), "-3", false),
            (Value::Str("a".into()), "a", false),
            (Value::Float(1.5), "1.50", true),
        ] {
            let capture = Capture::new(value, text);
            assert_eq!(capture.text(), text);
            assert_eq!(capture.spelled.is_some(), kept, "{text}");
        }
    }

    #[test]
    fn parts_match_greedily_and_backtrack() {
        let own = HashMap::new();
        let mut vars = Vec::new();
        let parts = parse_parts("<a>-<int:b>", &mut vars, &Converters { own: &own }).unwrap();
        let mut out = Vec::new();
        assert!(match_parts(
            &parts,
            &vars,
            "x-y-3",
            &mut out,
            &mut ATTEMPTS.clone()
        ));
        assert_eq!(out[0].text(), "x-y");
        assert_eq!(out[1].value, Value::Int(3));
        out.clear();
        assert!(!match_parts(
            &parts,
            &vars,
            "x-y",
            &mut out,
            &mut ATTEMPTS.clone()
        ));
        assert!(out.is_empty());
    }
}
