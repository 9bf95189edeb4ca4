//! Query strings as browsers send them: strict decoding, and the percent-encode set of
//! what the gateway forwards.
//!
//! A leaf: it imports nothing from the crate, so routing, JSONP, keys, the admin surface
//! and the token's scrubber can all use it without depending on each other.

use std::borrow::Cow;
use std::fmt;

use percent_encoding::{percent_decode_str, AsciiSet, NON_ALPHANUMERIC};

/// Characters percent-encoded in the query values and path ids the gateway forwards:
/// everything but RFC 3986's unreserved characters.
pub const QUERY_VALUE: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'.').remove(b'_').remove(b'~');

/// One decoded `name=value` pair.
pub type Pair<'a> = (Cow<'a, str>, Cow<'a, str>);

/// A piece of a query string whose percent-escapes do not form UTF-8.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BadEncoding {
    /// A parameter name could not be decoded.
    Name,
    /// The value of the parameter with this (decoded) name could not be decoded.
    Value(String),
}

impl fmt::Display for BadEncoding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BadEncoding::Name => f.write_str("a parameter name is not valid percent-encoded UTF-8"),
            BadEncoding::Value(name) => write!(f, "{name}: is not valid percent-encoded UTF-8"),
        }
    }
}

/// Splits and decodes a query string: `+` is a space, percent-escapes must form UTF-8,
/// empty pieces (`a=1&&b=2`) are skipped. A piece without `=` has an empty value.
pub fn decode_query(query: &str) -> Result<Vec<Pair<'_>>, BadEncoding> {
    let mut out = Vec::new();
    for piece in query.split('&').filter(|p| !p.is_empty()) {
        let (name, value) = piece.split_once('=').unwrap_or((piece, ""));
        let name = decode(name).ok_or(BadEncoding::Name)?;
        let value = decode(value).ok_or_else(|| BadEncoding::Value(name.clone().into_owned()))?;
        out.push((name, value));
    }
    Ok(out)
}

fn decode(text: &str) -> Option<Cow<'_, str>> {
    if !text.contains(['+', '%']) {
        return Some(Cow::Borrowed(text));
    }
    let spaced = text.replace('+', " ");
    percent_decode_str(&spaced).decode_utf8().ok().map(|s| Cow::Owned(s.into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_plus_percent_and_bare_names() {
        let pairs = decode_query("a=1+2&&b=%23x&c").unwrap();
        let pairs: Vec<(&str, &str)> = pairs.iter().map(|(n, v)| (&**n, &**v)).collect();
        assert_eq!(pairs, [("a", "1 2"), ("b", "#x"), ("c", "")]);
    }

    #[test]
    fn bad_utf8_names_what_failed() {
        assert_eq!(decode_query("%ff=1"), Err(BadEncoding::Name));
        assert_eq!(decode_query("since=%ff"), Err(BadEncoding::Value("since".into())));
    }
}
