//! The AppSignal API token: the one secret the gateway holds.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// What every printed form of the token shows instead of it.
pub const REDACTED: &str = "[redacted]";

/// What the entry MAC key is derived over; changing it makes every stored entry a miss.
const ENTRY_MAC_LABEL: &[u8] = b"appsignal-gateway entry mac v1";

/// The AppSignal personal API token.
///
/// This type is the one place the token lives: clones share one allocation, and every
/// printed form (`Debug`, `Display`, `Serialize`) shows [`REDACTED`]. Only the upstream
/// client reads it, through [`Token::expose`], to append it to the request it sends.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(Arc<str>);

impl Token {
    /// Wraps a token, trimming surrounding white space (a token file's trailing newline).
    pub fn new(raw: &str) -> Self {
        Token(Arc::from(raw.trim()))
    }

    /// The token itself, for the upstream request only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The key the shared tier's entries are sealed with: HMAC-SHA256 keyed by the token
    /// over a fixed label. Every replica of a fleet derives the same key and no one
    /// without the token can; the key tells nothing of the token, which never leaves
    /// this type but through [`Token::expose`], for the upstream request.
    pub fn entry_mac_key(&self) -> [u8; 32] {
        use hmac::Mac;
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(self.0.as_bytes())
            .expect("HMAC takes a key of any length");
        mac.update(ENTRY_MAC_LABEL);
        mac.finalize().into_bytes().into()
    }

    /// Whether the token is empty, which validation rejects.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Replaces every occurrence of the token (plain or percent-encoded) in `text`.
    ///
    /// Used on any text that came from outside the gateway (upstream error bodies, error
    /// chains that may quote a URL) before it is logged.
    pub fn scrub<'a>(&self, text: &'a str) -> Cow<'a, str> {
        if self.0.is_empty() {
            return Cow::Borrowed(text);
        }
        let encoded =
            percent_encoding::utf8_percent_encode(&self.0, crate::urlencoded::QUERY_VALUE).to_string();
        if !text.contains(&*self.0) && !text.contains(&encoded) {
            return Cow::Borrowed(text);
        }
        Cow::Owned(text.replace(&*self.0, REDACTED).replace(&encoded, REDACTED))
    }

    /// `body` with every occurrence of the token (plain or percent-encoded) replaced,
    /// or `None` when it holds none. For AppSignal's 200 bodies, once when they are
    /// stored: an answer that echoes a URL must not hand the token to every client and
    /// to Redis. A JSON string stays a JSON string: `[redacted]` needs no escaping.
    pub fn scrub_bytes(&self, body: &[u8]) -> Option<Vec<u8>> {
        if self.0.is_empty() {
            return None;
        }
        let encoded =
            percent_encoding::utf8_percent_encode(&self.0, crate::urlencoded::QUERY_VALUE).to_string();
        let mut forms = vec![self.0.as_bytes()];
        if encoded != *self.0 {
            forms.push(encoded.as_bytes());
        }
        let mut out: Option<Vec<u8>> = None;
        for form in forms {
            let source = out.as_deref().unwrap_or(body);
            let finder = memchr::memmem::Finder::new(form);
            let mut hits = finder.find_iter(source).peekable();
            if hits.peek().is_none() {
                continue;
            }
            let mut next = Vec::with_capacity(source.len());
            let mut from = 0;
            for at in hits {
                next.extend_from_slice(&source[from..at]);
                next.extend_from_slice(REDACTED.as_bytes());
                from = at + form.len();
            }
            next.extend_from_slice(&source[from..]);
            out = Some(next);
        }
        out
    }

    /// `text` scrubbed, then cut to at most `max` bytes: scrubbing first means the cut
    /// can never split the token and leave part of it. A cut that ends within a prefix
    /// of the token (plain or encoded, [`PREFIX_SHOWN`] characters or more) counts as
    /// the token: the client chooses the length of what AppSignal echoes, so it chooses
    /// where the cut falls.
    pub fn scrub_cut(&self, text: &str, max: usize) -> String {
        let scrubbed = self.scrub(text);
        let mut end = max.min(scrubbed.len());
        while !scrubbed.is_char_boundary(end) {
            end -= 1;
        }
        let mut cut = scrubbed[..end].to_owned();
        if self.0.is_empty() {
            return cut;
        }
        // Also when the text was whole: AppSignal may have cut its own echo.
        let encoded =
            percent_encoding::utf8_percent_encode(&self.0, crate::urlencoded::QUERY_VALUE).to_string();
        for form in [&*self.0, encoded.as_str()] {
            if let Some(len) = prefix_at_end(&cut, form) {
                cut.truncate(cut.len() - len);
                cut.push_str(REDACTED);
                break;
            }
        }
        cut
    }
}

/// The shortest prefix of the token a cut text may end with before it counts as the
/// token: shorter ones are too common in ordinary text to tell anything.
pub const PREFIX_SHOWN: usize = 4;

/// The length of the longest prefix of `secret` (at least [`PREFIX_SHOWN`] bytes) that
/// `text` ends with.
fn prefix_at_end(text: &str, secret: &str) -> Option<usize> {
    (PREFIX_SHOWN..=secret.len())
        .rev()
        .find(|&len| secret.is_char_boundary(len) && text.ends_with(&secret[..len]))
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(REDACTED)
    }
}

impl Serialize for Token {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(REDACTED)
    }
}

impl<'de> Deserialize<'de> for Token {
    /// Accepts a string or a number: an environment override made only of digits
    /// reaches serde as a number.
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw {
            Text(String),
            Unsigned(u64),
            Signed(i64),
        }
        Ok(match Raw::deserialize(deserializer)? {
            Raw::Text(text) => Token::new(&text),
            Raw::Unsigned(n) => Token::new(&n.to_string()),
            Raw::Signed(n) => Token::new(&n.to_string()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printed_forms_are_redacted() {
        let token = Token::new("s3cr3t-token\n");
        assert_eq!(format!("{token}"), REDACTED);
        assert_eq!(format!("{token:?}"), REDACTED);
        assert_eq!(serde_json::to_string(&token).unwrap(), "\"[redacted]\"");
        assert_eq!(token.expose(), "s3cr3t-token");
    }

    #[test]
    fn scrub_replaces_plain_and_encoded_forms() {
        let token = Token::new("a/b+c");
        let text = "GET /api?token=a%2Fb%2Bc failed; raw a/b+c";
        let scrubbed = token.scrub(text);
        assert!(!scrubbed.contains("a/b+c"));
        assert!(!scrubbed.contains("a%2Fb%2Bc"));
        assert_eq!(token.scrub("nothing here"), "nothing here");
    }

    #[test]
    fn a_cut_never_leaves_a_prefix_of_the_token() {
        let token = Token::new("SECRET-tok-123");
        let text = format!("GET /api/x?q={}&token=SECRET-tok-123 failed", "p".repeat(20));
        for max in 0..=text.len() + 4 {
            let cut = token.scrub_cut(&text, max);
            for len in PREFIX_SHOWN..=token.expose().len() {
                assert!(!cut.contains(&token.expose()[..len]), "max {max}: {cut}");
            }
        }
        assert_eq!(token.scrub_cut("short", 512), "short");
    }

    #[test]
    fn bodies_lose_every_form_of_the_token() {
        let token = Token::new("a/b+c-tok");
        let body = br#"{"next":"/api/x?token=a%2Fb%2Bc-tok","echo":"a/b+c-tok","n":1}"#;
        let scrubbed = token.scrub_bytes(body).expect("found");
        assert_eq!(
            String::from_utf8(scrubbed).unwrap(),
            r#"{"next":"/api/x?token=[redacted]","echo":"[redacted]","n":1}"#
        );
        assert_eq!(token.scrub_bytes(br#"{"clean":true}"#), None);
    }

    proptest::proptest! {
        /// Whatever the token and wherever the cut falls, no prefix of at least
        /// `PREFIX_SHOWN` characters of the token (plain or encoded) survives.
        #[test]
        fn no_cut_shows_a_prefix(
            secret in "[A-Za-z0-9/+=_-]{8,40}",
            before in "[a-z&=?/ ]{0,64}",
            max in 0usize..160,
        ) {
            let token = Token::new(&secret);
            let encoded = percent_encoding::utf8_percent_encode(&secret, crate::urlencoded::QUERY_VALUE).to_string();
            let text = format!("{before}{secret} and {encoded}");
            let cut = token.scrub_cut(&text, max);
            for form in [&secret, &encoded] {
                for len in PREFIX_SHOWN..=form.len() {
                    proptest::prop_assert!(!cut.contains(&form[..len])
                        || before.contains(&form[..len])
                        || "[redacted] and ".contains(&form[..len]), "{}", cut);
                }
            }
        }
    }
}
