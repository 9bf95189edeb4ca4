//! Property tests of the JSONP callback validator and wrapper.

use appsignal_gateway::jsonp::{valid_callback, wrap, MAX_CALLBACK};
use proptest::prelude::*;

fn identifier_part(part: &str) -> bool {
    let mut chars = part.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == '$')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '$')
}

proptest! {
    #[test]
    fn accepted_callbacks_are_dotted_identifiers(name in "\\PC{0,140}|[A-Za-z_$.][A-Za-z0-9_$.]{0,140}") {
        if valid_callback(&name) {
            prop_assert!(name.len() <= MAX_CALLBACK);
            prop_assert!(name.split('.').all(identifier_part), "{name:?}");
            prop_assert!(!name.contains(['<', '>', '(', ')', '"', '\'', ' ', '\n', '[', ']']));
        }
    }

    #[test]
    fn wrapped_json_is_the_same_json_without_raw_line_separators(text in "\\PC{0,64}", n in any::<i64>()) {
        let json = serde_json::json!({ "text": text, "n": n, "sep": "a\u{2028}b\u{2029}c" }).to_string();
        let wrapped = wrap("cb.x", json.as_bytes());
        let wrapped = std::str::from_utf8(&wrapped).unwrap();
        let inner = wrapped
            .strip_prefix("/**/ typeof cb.x === 'function' && cb.x(")
            .and_then(|rest| rest.strip_suffix(");"))
            .expect("JSONP shape");
        let raw_separator = inner.contains('\u{2028}') || inner.contains('\u{2029}');
        prop_assert!(!raw_separator, "raw line separator in {}", inner);
        let parsed: serde_json::Value = serde_json::from_str(inner).unwrap();
        let original: serde_json::Value = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(parsed, original);
    }
}
