//! JSONP: the callback validator and the wrapper around a JSON body.

/// The longest callback accepted, in bytes.
pub const MAX_CALLBACK: usize = 128;

/// Words that cannot name a function in any part of a dotted callback.
const RESERVED: &[&str] = &[
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dotted_identifiers_pass() {
        for ok in [
            "cb",
            "jQuery1124_1700000000",
            "$",
            "_x",
            "a.b.c",
            "window.dash.update$",
        ] {
            assert!(valid_callback(ok), "{ok:?} refused");
        }
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
