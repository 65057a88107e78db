//! Converters: what a `<name>` placeholder of a rule accepts, the typed
//! [`Value`] it gives, and how a value is written back into a URL.
//!
//! The built-ins, after Werkzeug's:
//!
//! | in a rule | matches | value |
//! | --- | --- | --- |
//! | `<name>`, `<string:name>`, `<string(minlength=2, maxlength=8, length=4):name>` | one segment, no `/` | [`Value::Str`] |
//! | `<int:id>`, `<int(min=1, max=99, fixed_digits=4, signed=true):id>` | decimal digits (`-` first when signed) | [`Value::Int`] |
//! | `<float:x>`, `<float(min=0.5, max=2, signed=true):x>` | digits `.` digits | [`Value::Float`] |
//! | `<path:rest>` | one or more segments, slashes included | [`Value::Str`] |
//! | `<uuid:id>` | a hyphenated UUID | [`Value::Uuid`] |
//! | `<any(a, b, c):kind>` | one of the words | [`Value::Str`] |
//!
//! A converter of one's own implements [`Converter`] and is registered on the
//! map by name with [`MapBuilder::converter`](crate::MapBuilder::converter).

use std::fmt;
use std::sync::Arc;

use uuid::Uuid;

/// A value a converter gave (matching) or takes (building).
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    /// Text: `string`, `path`, `any`.
    Str(String),
    /// A whole number: `int`.
    Int(i64),
    /// A number with a fraction: `float`.
    Float(f64),
    /// A UUID: `uuid`.
    Uuid(Uuid),
}

impl Value {
    /// The text, for [`Value::Str`].
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The number, for [`Value::Int`].
    pub fn as_int(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            _ => None,
        }
    }

    /// The number, for [`Value::Float`] (and [`Value::Int`]).
    pub fn as_float(&self) -> Option<f64> {
        match self {
            Value::Float(f) => Some(*f),
            Value::Int(i) => Some(*i as f64),
            _ => None,
        }
    }

    /// The UUID, for [`Value::Uuid`].
    pub fn as_uuid(&self) -> Option<Uuid> {
        match self {
            Value::Uuid(u) => Some(*u),
            _ => None,
        }
    }

    /// What kind of value this is, for error messages.
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Str(_) => "text",
            Value::Int(_) => "integer",
            Value::Float(_) => "float",
            Value::Uuid(_) => "uuid",
        }
    }
}

/// The value as a query-string parameter would write it.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::Str(s) => f.write_str(s),
            Value::Int(i) => write!(f, "{i}"),
            Value::Float(x) => write!(f, "{}", format_float(*x).as_deref().unwrap_or("NaN")),
            Value::Uuid(u) => write!(f, "{}", u.hyphenated()),
        }
    }
}

macro_rules! value_from {
    ($($t:ty => $variant:ident($conv:expr)),* $(,)?) => {
        $(impl From<$t> for Value {
            fn from(v: $t) -> Value {
                Value::$variant($conv(v))
            }
        })*
    };
}

value_from! {
    &str => Str(str::to_owned),
    String => Str(std::convert::identity),
    &String => Str(String::clone),
    i64 => Int(std::convert::identity),
    i32 => Int(i64::from),
    u32 => Int(i64::from),
    u16 => Int(i64::from),
    f64 => Float(std::convert::identity),
    Uuid => Uuid(std::convert::identity),
}

/// What a placeholder of a rule accepts and how its value is written back.
///
/// `parse` gets the matched text percent-decoded (for a converter that
/// [`spans_segments`](Converter::spans_segments), the segments joined by
/// `/`); `format` gets a value and writes the text, which the map then
/// percent-encodes. A value of a kind the converter does not take, or out of
/// its bounds, is `Err` with the reason.
///
/// ```
/// use towerkit_routing::{Converter, Value};
///
/// /// `<hex:n>`: a number written in lowercase hexadecimal.
/// #[derive(Debug)]
/// struct Hex;
///
/// impl Converter for Hex {
///     fn parse(&self, text: &str) -> Option<Value> {
///         let lower = text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
///         if !lower || text.is_empty() || text.len() > 15 {
///             return None;
///         }
///         i64::from_str_radix(text, 16).ok().map(Value::Int)
///     }
///     fn format(&self, value: &Value) -> Result<String, String> {
///         match value {
///             Value::Int(n) if *n >= 0 => Ok(format!("{n:x}")),
///             other => Err(format!("a non-negative integer, not {other:?}")),
///         }
///     }
/// }
/// assert_eq!(Hex.parse("ff"), Some(Value::Int(255)));
/// ```
pub trait Converter: Send + Sync + fmt::Debug {
    /// The value of matched text, or `None` when the text does not match.
    fn parse(&self, text: &str) -> Option<Value>;

    /// The text of a value (not yet percent-encoded), or why the value
    /// cannot stand here.
    fn format(&self, value: &Value) -> Result<String, String>;

    /// Where the placeholder sorts among others in the same position:
    /// lower is tried first. `int` and `float` are 50, most others 100,
    /// `path` 200.
    fn weight(&self) -> u32 {
        100
    }

    /// Whether the placeholder matches one or more whole segments, slashes
    /// included (`path`). Such a placeholder must fill its segments alone.
    fn spans_segments(&self) -> bool {
        false
    }

    /// Whether the converter can ever match: a rule whose converter cannot
    /// is refused when the map is built. Returns why not.
    fn impossible(&self) -> Option<String> {
        None
    }
}

/// One argument of a converter: `<int(min=1, 4):x>` has a keyword argument
/// `min` and a positional one.
#[derive(Clone, Debug, PartialEq)]
pub enum Arg {
    /// A number without a fraction.
    Int(i64),
    /// A number with one.
    Float(f64),
    /// `true`/`false` (also `True`/`False`).
    Bool(bool),
    /// A quoted string, or a bare word.
    Str(String),
}

/// The arguments of a converter, as written between its parentheses.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Args {
    /// Arguments without a name, in order.
    pub positional: Vec<Arg>,
    /// `name=value` arguments, in order.
    pub keywords: Vec<(String, Arg)>,
}

impl Args {
    /// Parses `min=1, max=5, 'a', b` (what stands between the parentheses).
    pub fn parse(text: &str) -> Result<Args, String> {
        let mut args = Args::default();
        for item in split_args(text)? {
            let item = item.trim();
            if item.is_empty() {
                return Err("an empty argument".into());
            }
            match item.split_once('=') {
                Some((name, value)) if is_identifier(name.trim()) && !is_quoted(item) => {
                    let name = name.trim().to_owned();
                    if args.keywords.iter().any(|(k, _)| *k == name) {
                        return Err(format!("argument `{name}` given twice"));
                    }
                    args.keywords.push((name, parse_arg(value.trim())?));
                }
                _ => {
                    if !args.keywords.is_empty() {
                        return Err(format!("positional argument `{item}` after keywords"));
                    }
                    args.positional.push(parse_arg(item)?);
                }
            }
        }
        Ok(args)
    }

    fn keyword(&self, name: &str) -> Option<&Arg> {
        self.keywords
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v)
    }

    fn check_known(
        &self,
        converter: &str,
        known: &[&str],
        positional: usize,
    ) -> Result<(), String> {
        if self.positional.len() > positional {
            return Err(format!(
                "{converter} takes {} positional argument{}",
                positional,
                if positional == 1 { "" } else { "s" }
            ));
        }
        for (k, _) in &self.keywords {
            if !known.contains(&k.as_str()) {
                return Err(format!(
                    "{converter} has no argument `{k}` (it takes {})",
                    if known.is_empty() {
                        "none".to_owned()
                    } else {
                        known.join(", ")
                    }
                ));
            }
        }
        Ok(())
    }

    /// Argument `name`, or the positional one at `index`.
    fn get(&self, name: &str, index: usize) -> Option<&Arg> {
        self.keyword(name).or_else(|| self.positional.get(index))
    }

    fn int(&self, name: &str, index: usize) -> Result<Option<i64>, String> {
        match self.get(name, index) {
            None => Ok(None),
            Some(Arg::Int(i)) => Ok(Some(*i)),
            Some(other) => Err(format!("`{name}` must be an integer, not {other:?}")),
        }
    }

    fn float(&self, name: &str, index: usize) -> Result<Option<f64>, String> {
        match self.get(name, index) {
            None => Ok(None),
            Some(Arg::Int(i)) => Ok(Some(*i as f64)),
            Some(Arg::Float(f)) => Ok(Some(*f)),
            Some(other) => Err(format!("`{name}` must be a number, not {other:?}")),
        }
    }

    fn bool(&self, name: &str, index: usize) -> Result<Option<bool>, String> {
        match self.get(name, index) {
            None => Ok(None),
            Some(Arg::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(format!("`{name}` must be true or false, not {other:?}")),
        }
    }
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn is_quoted(s: &str) -> bool {
    s.starts_with('"') || s.starts_with('\'')
}

/// Splits on commas outside quotes.
fn split_args(text: &str) -> Result<Vec<&str>, String> {
    if text.trim().is_empty() {
        return Ok(Vec::new());
    }
    let mut items = Vec::new();
    let mut quote = None;
    let mut start = 0;
    for (i, c) in text.char_indices() {
        match (quote, c) {
            (None, '"' | '\'') => quote = Some(c),
            (Some(q), c) if c == q => quote = None,
            (None, ',') => {
                items.push(&text[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    if quote.is_some() {
        return Err("an unterminated quoted argument".into());
    }
    items.push(&text[start..]);
    Ok(items)
}

fn parse_arg(text: &str) -> Result<Arg, String> {
    if let Some(inner) = text
        .strip_prefix('"')
        .and_then(|t| t.strip_suffix('"'))
        .or_else(|| text.strip_prefix('\'').and_then(|t| t.strip_suffix('\'')))
    {
        return Ok(Arg::Str(inner.to_owned()));
    }
    match text {
        "true" | "True" => return Ok(Arg::Bool(true)),
        "false" | "False" => return Ok(Arg::Bool(false)),
        _ => {}
    }
    if let Ok(i) = text.parse::<i64>() {
        return Ok(Arg::Int(i));
    }
    if text.bytes().any(|b| b.is_ascii_digit()) {
        if let Ok(f) = text.parse::<f64>() {
            if f.is_finite() {
                return Ok(Arg::Float(f));
            }
        }
    }
    if !text.is_empty()
        && text
            .chars()
            .all(|c| c.is_alphanumeric() || "-_.~".contains(c))
    {
        return Ok(Arg::Str(text.to_owned()));
    }
    Err(format!("`{text}` is not a number, a boolean or a word"))
}

/// Makes a converter from its arguments; what a map knows by name.
pub type ConverterFactory = Arc<dyn Fn(&Args) -> Result<Arc<dyn Converter>, String> + Send + Sync>;

/// The factories of the built-in converters, by name.
pub(crate) fn builtin(name: &str) -> Option<ConverterFactory> {
    let factory: ConverterFactory = match name {
        "default" | "string" => Arc::new(|a: &Args| Ok(Arc::new(StringConverter::new(a)?) as _)),
        "int" => Arc::new(|a: &Args| Ok(Arc::new(IntConverter::new(a)?) as _)),
        "float" => Arc::new(|a: &Args| Ok(Arc::new(FloatConverter::new(a)?) as _)),
        "path" => Arc::new(|a: &Args| {
            a.check_known("path", &[], 0)?;
            Ok(Arc::new(PathConverter) as _)
        }),
        "uuid" => Arc::new(|a: &Args| {
            a.check_known("uuid", &[], 0)?;
            Ok(Arc::new(UuidConverter) as _)
        }),
        "any" => Arc::new(|a: &Args| Ok(Arc::new(AnyConverter::new(a)?) as _)),
        _ => return None,
    };
    Some(factory)
}

/// `string`: one segment (no `/`), of `minlength` (1) to `maxlength`
/// characters, or exactly `length`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StringConverter {
    min: usize,
    max: Option<usize>,
}

impl StringConverter {
    fn new(args: &Args) -> Result<Self, String> {
        args.check_known("string", &["minlength", "maxlength", "length"], 1)?;
        let length = |name: &str, index: usize| -> Result<Option<usize>, String> {
            match args.int(name, index)? {
                None => Ok(None),
                Some(n) => usize::try_from(n)
                    .map(Some)
                    .map_err(|_| format!("`{name}` cannot be negative")),
            }
        };
        let (min, max) = match length("length", usize::MAX)? {
            Some(n) => (n, Some(n)),
            None => (
                length("minlength", 0)?.unwrap_or(1),
                length("maxlength", usize::MAX)?,
            ),
        };
        Ok(StringConverter { min, max })
    }

    fn fits(&self, text: &str) -> bool {
        if self.min <= 1 && self.max.is_none() {
            return !text.is_empty();
        }
        let n = text.chars().count();
        n >= self.min.max(1) && self.max.is_none_or(|max| n <= max)
    }
}

impl Converter for StringConverter {
    fn parse(&self, text: &str) -> Option<Value> {
        (!text.contains('/') && self.fits(text)).then(|| Value::Str(text.to_owned()))
    }

    fn format(&self, value: &Value) -> Result<String, String> {
        let text = value.to_string();
        if text.contains('/') {
            Err(format!("{text:?} holds a `/`"))
        } else if self.fits(&text) {
            Ok(text)
        } else {
            Err(format!("{text:?} is not {}", self.describe()))
        }
    }

    fn impossible(&self) -> Option<String> {
        match self.max {
            Some(max) if max < self.min.max(1) => Some(format!(
                "a string of at least {} and at most {max} characters",
                self.min.max(1)
            )),
            _ => None,
        }
    }
}

impl StringConverter {
    fn describe(&self) -> String {
        match self.max {
            Some(max) if max == self.min => format!("{max} characters long"),
            Some(max) => format!("{} to {max} characters long", self.min.max(1)),
            None => format!("at least {} characters long", self.min.max(1)),
        }
    }
}

/// `path`: one or more segments, slashes included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathConverter;

impl Converter for PathConverter {
    fn parse(&self, text: &str) -> Option<Value> {
        (!text.is_empty()).then(|| Value::Str(text.to_owned()))
    }

    fn format(&self, value: &Value) -> Result<String, String> {
        let text = value.to_string();
        if text
            .split('/')
            .next()
            .is_some_and(|first| !first.is_empty())
        {
            Ok(text)
        } else {
            Err(format!("{text:?} is empty or starts with '/'"))
        }
    }

    fn weight(&self) -> u32 {
        200
    }

    fn spans_segments(&self) -> bool {
        true
    }
}

/// `int`: decimal digits, optionally `signed`, `fixed_digits` long, within
/// `min` and `max`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IntConverter {
    fixed_digits: usize,
    min: Option<i64>,
    max: Option<i64>,
    signed: bool,
}

impl IntConverter {
    fn new(args: &Args) -> Result<Self, String> {
        args.check_known("int", &["fixed_digits", "min", "max", "signed"], 3)?;
        let fixed_digits = match args.int("fixed_digits", 0)? {
            None => 0,
            Some(n) if (0..=19).contains(&n) => n as usize,
            Some(n) => return Err(format!("`fixed_digits` {n} is not within 0 and 19")),
        };
        Ok(IntConverter {
            fixed_digits,
            min: args.int("min", 1)?,
            max: args.int("max", 2)?,
            signed: args.bool("signed", usize::MAX)?.unwrap_or(false),
        })
    }

    fn in_bounds(&self, n: i64) -> bool {
        self.min.is_none_or(|min| n >= min) && self.max.is_none_or(|max| n <= max)
    }
}

impl Converter for IntConverter {
    fn parse(&self, text: &str) -> Option<Value> {
        let digits = match text.strip_prefix('-') {
            Some(digits) if self.signed => digits,
            _ => text,
        };
        if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        if self.fixed_digits > 0 && digits.len() != self.fixed_digits {
            return None;
        }
        let n: i64 = text.parse().ok()?;
        self.in_bounds(n).then_some(Value::Int(n))
    }

    fn format(&self, value: &Value) -> Result<String, String> {
        let n = match value {
            Value::Int(n) => *n,
            // Text that reads as one (from a query string, say).
            Value::Str(s) => match self.parse(s) {
                Some(Value::Int(n)) => n,
                _ => return Err(format!("{s:?} is not an integer this converter takes")),
            },
            other => return Err(format!("an integer, not {}", other.kind())),
        };
        if n < 0 && !self.signed {
            return Err(format!("{n} is negative and the converter is not signed"));
        }
        if !self.in_bounds(n) {
            return Err(format!("{n} is out of bounds"));
        }
        let text = if self.fixed_digits > 0 {
            let digits = format!("{:0width$}", n.unsigned_abs(), width = self.fixed_digits);
            if digits.len() != self.fixed_digits {
                return Err(format!("{n} has more than {} digits", self.fixed_digits));
            }
            if n < 0 {
                format!("-{digits}")
            } else {
                digits
            }
        } else {
            n.to_string()
        };
        Ok(text)
    }

    fn weight(&self) -> u32 {
        50
    }

    fn impossible(&self) -> Option<String> {
        let mut low = self.min.unwrap_or(i64::MIN);
        let mut high = self.max.unwrap_or(i64::MAX);
        if !self.signed {
            low = low.max(0);
        }
        if self.fixed_digits > 0 {
            let width = u32::try_from(self.fixed_digits).unwrap_or(19);
            let top = 10i64.checked_pow(width).map_or(i64::MAX, |p| p - 1);
            high = high.min(top);
            if !self.signed {
                low = low.max(0);
            } else {
                low = low.max(-top);
            }
        }
        (low > high).then(|| "no integer satisfies its min, max, fixed_digits and signed".into())
    }
}

/// `float`: `digits.digits`, optionally `signed`, within `min` and `max`.
#[derive(Clone, Debug, PartialEq)]
pub struct FloatConverter {
    min: Option<f64>,
    max: Option<f64>,
    signed: bool,
}

impl FloatConverter {
    fn new(args: &Args) -> Result<Self, String> {
        args.check_known("float", &["min", "max", "signed"], 2)?;
        Ok(FloatConverter {
            min: args.float("min", 0)?,
            max: args.float("max", 1)?,
            signed: args.bool("signed", usize::MAX)?.unwrap_or(false),
        })
    }

    fn in_bounds(&self, x: f64) -> bool {
        self.min.is_none_or(|min| x >= min) && self.max.is_none_or(|max| x <= max)
    }
}

/// `x` as the float converter writes it: digits, a dot, digits; `None` for
/// what it cannot write (NaN, infinities).
fn format_float(x: f64) -> Option<String> {
    if !x.is_finite() {
        return None;
    }
    let mut text = x.to_string();
    if !text.contains('.') {
        text.push_str(".0");
    }
    Some(text)
}

impl Converter for FloatConverter {
    fn parse(&self, text: &str) -> Option<Value> {
        let unsigned = match text.strip_prefix('-') {
            Some(rest) if self.signed => rest,
            _ => text,
        };
        let (whole, fraction) = unsigned.split_once('.')?;
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits(whole) || !digits(fraction) {
            return None;
        }
        let x: f64 = text.parse().ok()?;
        (x.is_finite() && self.in_bounds(x)).then_some(Value::Float(x))
    }

    fn format(&self, value: &Value) -> Result<String, String> {
        let x = match value {
            Value::Float(x) => *x,
            Value::Int(i) => *i as f64,
            Value::Str(s) => match self.parse(s) {
                Some(Value::Float(x)) => x,
                _ => return Err(format!("{s:?} is not a number this converter takes")),
            },
            other => return Err(format!("a number, not {}", other.kind())),
        };
        if x < 0.0 && !self.signed {
            return Err(format!("{x} is negative and the converter is not signed"));
        }
        if !self.in_bounds(x) {
            return Err(format!("{x} is out of bounds"));
        }
        format_float(x).ok_or_else(|| format!("{x} is not a finite number"))
    }

    fn weight(&self) -> u32 {
        50
    }

    fn impossible(&self) -> Option<String> {
        let low = self.min.unwrap_or(f64::MIN);
        let low = if self.signed { low } else { low.max(0.0) };
        (low > self.max.unwrap_or(f64::MAX))
            .then(|| "no number satisfies its min, max and signed".into())
    }
}

/// `uuid`: a hyphenated UUID (`8-4-4-4-12` hexadecimal digits).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct UuidConverter;

impl Converter for UuidConverter {
    fn parse(&self, text: &str) -> Option<Value> {
        if text.len() != 36 {
            return None;
        }
        Uuid::try_parse(text).ok().map(Value::Uuid)
    }

    fn format(&self, value: &Value) -> Result<String, String> {
        match value {
            Value::Uuid(u) => Ok(u.hyphenated().to_string()),
            Value::Str(s) if self.parse(s).is_some() => Ok(s.to_ascii_lowercase()),
            other => Err(format!("a UUID, not {other:?}")),
        }
    }
}

/// `any(a, b, c)`: one of the words given.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AnyConverter {
    items: Vec<String>,
}

impl AnyConverter {
    fn new(args: &Args) -> Result<Self, String> {
        if !args.keywords.is_empty() {
            return Err("any takes words, not keyword arguments".into());
        }
        let items = args
            .positional
            .iter()
            .map(|arg| match arg {
                Arg::Str(s) if !s.is_empty() && !s.contains('/') => Ok(s.clone()),
                Arg::Int(i) => Ok(i.to_string()),
                other => Err(format!("any takes non-empty words, not {other:?}")),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(AnyConverter { items })
    }
}

impl Converter for AnyConverter {
    fn parse(&self, text: &str) -> Option<Value> {
        self.items
            .iter()
            .any(|item| item == text)
            .then(|| Value::Str(text.to_owned()))
    }

    fn format(&self, value: &Value) -> Result<String, String> {
        let text = value.to_string();
        if self.items.contains(&text) {
            Ok(text)
        } else {
            Err(format!("{text:?} is not one of {}", self.items.join(", ")))
        }
    }

    fn impossible(&self) -> Option<String> {
        self.items
            .is_empty()
            .then(|| "any() without words matches nothing".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn make(name: &str, args: &str) -> Arc<dyn Converter> {
        builtin(name).unwrap()(&Args::parse(args).unwrap()).unwrap()
    }

    #[test]
    fn args_parse_like_werkzeug() {
        let args = Args::parse("2, min=1, signed=True, name='a,b'").unwrap();
        assert_eq!(args.positional, vec![Arg::Int(2)]);
        assert_eq!(
            args.keywords,
            vec![
                ("min".into(), Arg::Int(1)),
                ("signed".into(), Arg::Bool(true)),
                ("name".into(), Arg::Str("a,b".into()))
            ]
        );
        assert!(Args::parse("min=1, 2").is_err());
        assert!(Args::parse("a,,b").is_err());
        assert!(Args::parse("'open").is_err());
        assert!(Args::parse("min=1, min=2").is_err());
        assert_eq!(Args::parse(" ").unwrap(), Args::default());
    }

    #[test]
    fn int_bounds_digits_and_sign() {
        let plain = make("int", "");
        assert_eq!(plain.parse("42"), Some(Value::Int(42)));
        assert_eq!(plain.parse("-42"), None);
        assert_eq!(plain.parse("4x"), None);
        assert_eq!(plain.parse(""), None);
        assert_eq!(plain.parse("99999999999999999999"), None);
        let signed = make("int", "signed=true");
        assert_eq!(signed.parse("-42"), Some(Value::Int(-42)));
        assert_eq!(signed.format(&Value::Int(-3)).unwrap(), "-3");
        assert!(plain.format(&Value::Int(-3)).is_err());
        let fixed = make("int", "fixed_digits=4");
        assert_eq!(fixed.parse("0042"), Some(Value::Int(42)));
        assert_eq!(fixed.parse("42"), None);
        assert_eq!(fixed.format(&Value::Int(42)).unwrap(), "0042");
        assert!(fixed.format(&Value::Int(12345)).is_err());
        let bounded = make("int", "min=1, max=10");
        assert_eq!(bounded.parse("0"), None);
        assert_eq!(bounded.parse("11"), None);
        assert_eq!(bounded.parse("10"), Some(Value::Int(10)));
        assert!(bounded.format(&Value::Int(11)).is_err());
        assert_eq!(bounded.format(&Value::Str("3".into())).unwrap(), "3");
        assert!(bounded.format(&Value::Str("30".into())).is_err());
        assert!(bounded.format(&Value::Str("x".into())).is_err());
        assert!(make("int", "min=5, max=4").impossible().is_some());
        assert!(make("int", "max=-1").impossible().is_some());
        assert!(make("int", "fixed_digits=2, min=100")
            .impossible()
            .is_some());
        assert!(make("int", "signed=true, max=-1").impossible().is_none());
    }

    #[test]
    fn float_needs_a_fraction() {
        let f = make("float", "");
        assert_eq!(f.parse("1.5"), Some(Value::Float(1.5)));
        assert_eq!(f.parse("1"), None);
        assert_eq!(f.parse(".5"), None);
        assert_eq!(f.parse("-1.5"), None);
        assert_eq!(f.format(&Value::Float(2.0)).unwrap(), "2.0");
        assert_eq!(f.format(&Value::Int(2)).unwrap(), "2.0");
        assert!(f.format(&Value::Float(f64::NAN)).is_err());
        let signed = make("float", "signed=true, min=-2");
        assert_eq!(signed.parse("-1.5"), Some(Value::Float(-1.5)));
        assert_eq!(signed.parse("-2.5"), None);
    }

    #[test]
    fn string_lengths_and_any_and_uuid() {
        let s = make("string", "length=2");
        assert_eq!(s.parse("ab"), Some(Value::Str("ab".into())));
        assert_eq!(s.parse("abc"), None);
        assert!(make("string", "minlength=3, maxlength=2")
            .impossible()
            .is_some());
        let any = make("any", "a, 'b', 3");
        assert_eq!(any.parse("3"), Some(Value::Str("3".into())));
        assert_eq!(any.parse("c"), None);
        assert!(any.format(&Value::from("c")).is_err());
        assert!(make("any", "").impossible().is_some());
        let u = make("uuid", "");
        let id = "a8098c1a-f86e-11da-bd1a-00112444be1e";
        assert!(matches!(u.parse(id), Some(Value::Uuid(_))));
        assert_eq!(u.parse("a8098c1af86e11dabd1a00112444be1e"), None);
        assert_eq!(u.format(&u.parse(id).unwrap()).unwrap(), id);
    }

    #[test]
    fn unknown_arguments_are_refused() {
        assert!(builtin("int").unwrap()(&Args::parse("mn=1").unwrap()).is_err());
        assert!(builtin("path").unwrap()(&Args::parse("1").unwrap()).is_err());
        assert!(builtin("any").unwrap()(&Args::parse("x=1").unwrap()).is_err());
    }
}
