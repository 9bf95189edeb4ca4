//! JSONP: the callback validator and the wrapper around a JSON body.
//!
//! The cache holds JSON; wrapping happens per request, on the way out, for answers and
//! errors alike, so a page's handler also sees failures.

use bytes::{BufMut, Bytes, BytesMut};
use http::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE, ETAG, X_CONTENT_TYPE_OPTIONS};
use http::Response;
use http_body_util::Full;

use crate::response::{Body, JSON};
use crate::urlencoded::decode_query;

/// The content type of a JSONP answer.
pub const JAVASCRIPT: HeaderValue = HeaderValue::from_static("text/javascript; charset=utf-8");

/// The longest callback accepted, in bytes.
pub const MAX_CALLBACK: usize = 128;

/// Words that cannot name a function in any part of a dotted callback.
pub const RESERVED: &[&str] = &[
    "abstract",
    "arguments",
    "await",
    "boolean",
    "break",
    "byte",
    "case",
    "catch",
    "char",
    "class",
    "const",
    "continue",
    "debugger",
    "default",
    "delete",
    "do",
    "double",
    "else",
    "enum",
    "eval",
    "export",
    "extends",
    "false",
    "final",
    "finally",
    "float",
    "for",
    "function",
    "goto",
    "if",
    "implements",
    "import",
    "in",
    "instanceof",
    "int",
    "interface",
    "let",
    "long",
    "native",
    "new",
    "null",
    "package",
    "private",
    "protected",
    "public",
    "return",
    "short",
    "static",
    "super",
    "switch",
    "synchronized",
    "this",
    "throw",
    "throws",
    "transient",
    "true",
    "try",
    "typeof",
    "undefined",
    "var",
    "void",
    "volatile",
    "while",
    "with",
    "yield",
    "__proto__",
    "constructor",
    "prototype",
];

/// Whether `name` is a dotted JavaScript identifier: parts of `[A-Za-z_$][A-Za-z0-9_$]*`
/// joined by single dots, at most [`MAX_CALLBACK`] bytes, no part a reserved word.
///
/// ```
/// use appsignal_gateway::jsonp::valid_callback;
/// assert!(valid_callback("jQuery.cb_1"));
/// assert!(!valid_callback("alert(1)//"));
/// ```
pub fn valid_callback(name: &str) -> bool {
    name.len() <= MAX_CALLBACK && !name.is_empty() && name.split('.').all(valid_part)
}

fn valid_part(part: &str) -> bool {
    let mut bytes = part.bytes();
    let first_ok = matches!(bytes.next(), Some(b'A'..=b'Z' | b'a'..=b'z' | b'_' | b'$'));
    first_ok
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$')
        && !RESERVED.contains(&part)
}

/// The valid callback named by `param` in a raw query string, if any. Used to wrap
/// answers, errors included, for requests whose other parameters may be invalid.
pub fn requested_callback(query: Option<&str>, param: &str) -> Option<String> {
    let query = query?;
    if !query.contains(param) {
        return None;
    }
    let pairs = decode_query(query).ok()?;
    let mut found = pairs.into_iter().filter(|(name, _)| name == param);
    let (_, callback) = found.next()?;
    (found.next().is_none() && valid_callback(&callback)).then(|| callback.into_owned())
}

/// `/**/ typeof cb === 'function' && cb(<json>);`, with U+2028 and U+2029 escaped
/// (valid in JSON strings, line terminators in older JavaScript).
pub fn wrap(callback: &str, json: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(json.len() + 2 * callback.len() + 40);
    out.put_slice(b"/**/ typeof ");
    out.put_slice(callback.as_bytes());
    out.put_slice(b" === 'function' && ");
    out.put_slice(callback.as_bytes());
    out.put_u8(b'(');
    let mut rest = json;
    // Both separators are E2 80 A8 / E2 80 A9 in UTF-8.
    while let Some(at) =
        rest.windows(3).position(|w| w[0] == 0xE2 && w[1] == 0x80 && (w[2] == 0xA8 || w[2] == 0xA9))
    {
        out.put_slice(&rest[..at]);
        out.put_slice(if rest[at + 2] == 0xA8 { b"\\u2028" } else { b"\\u2029" });
        rest = &rest[at + 3..];
    }
    out.put_slice(rest);
    out.put_slice(b");");
    out.freeze()
}

/// Turns a JSON response into JSONP for `callback`. Other responses (empty 304s,
/// plain text) are left alone. The ETag is dropped: it names the JSON, not this body.
pub fn wrap_response(response: &mut Response<Body>, callback: &str, json: &Bytes) {
    if response.headers().get(CONTENT_TYPE) != Some(&JSON) {
        return;
    }
    let body = wrap(callback, json);
    let headers = response.headers_mut();
    headers.insert(CONTENT_TYPE, JAVASCRIPT);
    headers.insert(X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    headers.insert(CONTENT_LENGTH, HeaderValue::from(body.len()));
    headers.remove(ETAG);
    *response.body_mut() = Full::new(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_identifiers_pass() {
        for ok in ["cb", "jQuery1124_1700000000", "$", "_x", "a.b.c", "window.dash.update$"] {
            assert!(valid_callback(ok), "{ok:?} refused");
        }
    }

    #[test]
    fn wrapping_escapes_line_separators() {
        let json = "{\"a\":\"x\u{2028}y\u{2029}z\"}";
        let wrapped = wrap("cb", json.as_bytes());
        let text = std::str::from_utf8(&wrapped).unwrap();
        assert_eq!(text, "/**/ typeof cb === 'function' && cb({\"a\":\"x\\u2028y\\u2029z\"});");
    }

    #[test]
    fn requested_callback_is_found_only_when_valid_and_single() {
        assert_eq!(requested_callback(Some("limit=0&callback=cb.x"), "callback").as_deref(), Some("cb.x"));
        assert_eq!(requested_callback(Some("callback=alert(1)"), "callback"), None);
        assert_eq!(requested_callback(Some("callback=a&callback=b"), "callback"), None);
        assert_eq!(requested_callback(None, "callback"), None);
    }

    #[test]
    fn hostile_callbacks_fail() {
        let long = "a".repeat(MAX_CALLBACK + 1);
        for bad in [
            "",
            "alert(1)//",
            "<script>",
            "a b",
            "a..b",
            ".a",
            "a.",
            "1abc",
            "a\nb",
            "a'b",
            "a\"b",
            "constructor[0]",
            "function",
            "a.delete",
            "a-b",
            "é",
            &long,
        ] {
            assert!(!valid_callback(bad), "{bad:?} accepted");
        }
    }
}
