//! The forms a document is compared and hashed in.
//!
//! The *checked form* of a document is its significant tokens (names, punctuators,
//! values) joined by single spaces, with whitespace, comments, commas and every
//! `__typename` field dropped: two texts with the same checked form ask AppSignal the
//! same question, whatever their layout and however many `__typename`s a client (Apollo
//! Client adds one to every selection set) put in. `__typename` reads nothing but a
//! type's name. The *printed form* keeps the `__typename`s: the gateway's own printing of
//! a client's operation, what is sent upstream when a client's text adds them.

use apollo_parser::cst::{self, CstNode};
use apollo_parser::{Parser, SyntaxElement, SyntaxKind, SyntaxNode};
use sha2::{Digest, Sha256};

use super::check::{RECURSION_LIMIT, TOKEN_LIMIT};

/// A client's text, parsed: its checked form, and its printed form.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Forms {
    /// Without `__typename`: what is compared with a declared operation's.
    pub checked: String,
    /// With them: what is sent upstream when it differs from the declared one's.
    pub printed: String,
}

/// The checked and printed forms of `text`, or `None` when it does not parse (within
/// the parser's recursion and token bounds).
pub fn forms(text: &str) -> Option<Forms> {
    let tree = Parser::new(text).recursion_limit(RECURSION_LIMIT).token_limit(TOKEN_LIMIT).parse();
    if tree.errors().next().is_some() {
        return None;
    }
    let root = tree.document();
    let mut checked = String::with_capacity(text.len());
    let mut printed = String::with_capacity(text.len());
    print(root.syntax(), false, &mut checked);
    print(root.syntax(), true, &mut printed);
    Some(Forms { checked, printed })
}

/// The checked form of `text`, or `None` when it does not parse.
pub fn checked_form(text: &str) -> Option<String> {
    forms(text).map(|f| f.checked)
}

/// Appends the significant tokens under `node`, space-separated; `__typename` fields
/// only when `typenames`.
fn print(node: &SyntaxNode, typenames: bool, out: &mut String) {
    for child in node.children_with_tokens() {
        match child {
            SyntaxElement::Node(child) => {
                if !typenames && is_typename(&child) {
                    continue;
                }
                print(&child, typenames, out);
            }
            SyntaxElement::Token(token) => {
                if matches!(token.kind(), SyntaxKind::WHITESPACE | SyntaxKind::COMMENT | SyntaxKind::COMMA) {
                    continue;
                }
                if !out.is_empty() {
                    out.push(' ');
                }
                out.push_str(token.text());
            }
        }
    }
}

fn is_typename(node: &SyntaxNode) -> bool {
    node.kind() == SyntaxKind::FIELD
        && cst::Field::cast(node.clone()).and_then(|f| f.name()).is_some_and(|n| n.text() == "__typename")
}

/// SHA-256 of `bytes`, lower-case hex: how Apollo names a persisted query.
pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_comments_commas_and_typenames_do_not_matter() {
        let declared = "query Q($appId: String!) {\n  app(id: $appId) { name }\n}\n";
        let client = "# mine\nquery Q( $appId : String! ) { __typename app(id:$appId) { name, __typename } }";
        let a = forms(declared).unwrap();
        let b = forms(client).unwrap();
        assert_eq!(a.checked, b.checked);
        assert_eq!(a.checked, "query Q ( $ appId : String ! ) { app ( id : $ appId ) { name } }");
        assert_ne!(a.printed, b.printed, "the printed form keeps the client's __typenames");
        assert!(b.printed.contains("name __typename"));
        assert_eq!(forms(&b.printed).unwrap().checked, a.checked, "the printed form checks the same");
        assert_ne!(checked_form("query Q($appId: String!) { app(id: $appId) { id } }").unwrap(), a.checked);
        assert_eq!(checked_form("query {"), None);
    }

    #[test]
    fn hashes_are_apollos() {
        assert_eq!(sha256_hex(b"abc"), "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    }
}
