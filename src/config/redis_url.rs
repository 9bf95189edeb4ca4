//! The Redis address of the shared tier: a secret when it carries a password.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::REDACTED;

/// `shared.redis_url`: `redis://[user:password@]host:port[/db]` or `rediss://…` for TLS.
///
/// Like the token, its password never appears in a printed form: `Debug`, `Display` and
/// `Serialize` (what `check` prints) show [`RedisUrl::redacted`]. Only the Redis client
/// reads the whole URL, through [`RedisUrl::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct RedisUrl(String);

impl RedisUrl {
    /// Wraps a URL as given; [`RedisUrl::check`] says whether it is usable.
    pub fn new(url: &str) -> Self {
        RedisUrl(url.trim().to_owned())
    }

    /// The URL with its password, for the Redis client only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// Why the URL cannot be used, if it cannot: it must parse, name a host, and use the
    /// `redis` or `rediss` scheme. The reason never quotes the URL.
    pub fn check(&self) -> Result<(), &'static str> {
        let url = url::Url::parse(&self.0).map_err(|_| "not a URL (redis://host:port/db)")?;
        if !matches!(url.scheme(), "redis" | "rediss") {
            return Err("the scheme must be redis:// or rediss:// (TLS)");
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err("names no host");
        }
        Ok(())
    }

    /// Whether the connection uses TLS (`rediss://`).
    pub fn is_tls(&self) -> bool {
        self.0.starts_with("rediss://")
    }

    /// The URL with its password (if any) replaced by `[redacted]`; a URL that does not
    /// parse is redacted whole, since it might hold a password in a shape we cannot find.
    pub fn redacted(&self) -> String {
        match url::Url::parse(&self.0) {
            Ok(mut url) if url.password().is_some() => {
                let _ = url.set_password(Some(REDACTED));
                url.to_string().replace("%5Bredacted%5D", REDACTED)
            }
            Ok(url) => url.to_string(),
            Err(_) => REDACTED.to_owned(),
        }
    }

    /// Replaces every occurrence of the password in `text` (an error message from the
    /// Redis client that might quote the URL).
    pub fn scrub(&self, text: &str) -> String {
        match url::Url::parse(&self.0).ok().and_then(|u| u.password().map(str::to_owned)) {
            Some(password) if !password.is_empty() => {
                text.replace(&self.0, &self.redacted()).replace(&password, REDACTED)
            }
            _ => text.to_owned(),
        }
    }
}

/// The secrets in a URL's userinfo (`user:password@`): the password, as written and
/// decoded, and for a URL that is not a Redis URL the user name too (a token pasted as
/// `https://TOKEN@host` is one). Short values are skipped: replacing them everywhere
/// would mangle a message without hiding anything worth hiding.
pub fn userinfo_secrets(url: &str) -> Vec<String> {
    let Ok(parsed) = url::Url::parse(url.trim()) else { return Vec::new() };
    let redis = matches!(parsed.scheme(), "redis" | "rediss");
    let user = (!redis).then(|| parsed.username().to_owned());
    let mut secrets = Vec::new();
    for raw in parsed.password().map(str::to_owned).into_iter().chain(user) {
        let decoded = percent_encoding::percent_decode_str(&raw).decode_utf8_lossy().into_owned();
        secrets.extend([raw, decoded].into_iter().filter(|s| s.len() >= 4));
    }
    secrets.dedup();
    secrets
}

/// `url` with its userinfo (user and password) replaced by `[redacted]`: what is printed
/// of `upstream.base_url`. A URL that does not parse is shown as it is only when it has
/// no `@` at all, which userinfo needs.
pub fn redact_userinfo(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(parsed) if !parsed.username().is_empty() || parsed.password().is_some() => {
            let (scheme, rest) = url.split_once("://").unwrap_or(("", url));
            let host_and_more = rest.rsplit_once('@').map_or(rest, |(_, after)| after);
            format!("{scheme}://{REDACTED}@{host_and_more}")
        }
        Ok(_) => url.to_owned(),
        Err(_) if !url.contains('@') => url.to_owned(),
        Err(_) => REDACTED.to_owned(),
    }
}

impl fmt::Debug for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RedisUrl({})", self.redacted())
    }
}

impl fmt::Display for RedisUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.redacted())
    }
}

impl Serialize for RedisUrl {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.redacted())
    }
}

impl<'de> Deserialize<'de> for RedisUrl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        String::deserialize(deserializer).map(|s| RedisUrl::new(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_password_never_prints() {
        let url = RedisUrl::new("rediss://app:s3cret-pw@redis.internal:6380/2");
        assert!(url.check().is_ok());
        assert!(url.is_tls());
        for shown in [format!("{url}"), format!("{url:?}"), serde_json::to_string(&url).unwrap()] {
            assert!(!shown.contains("s3cret-pw"), "{shown}");
            assert!(shown.contains("rediss://app:[redacted]@redis.internal:6380/2"), "{shown}");
        }
        let error = "connection to redis.internal failed (s3cret-pw)";
        assert!(!url.scrub(error).contains("s3cret-pw"));
        assert_eq!(RedisUrl::new("redis://localhost:6379").redacted(), "redis://localhost:6379");
        assert_eq!(RedisUrl::new("::not a url s3cret").redacted(), REDACTED);
    }

    #[test]
    fn base_url_userinfo_is_redacted_whole() {
        assert_eq!(redact_userinfo("https://appsignal.com"), "https://appsignal.com");
        assert_eq!(
            redact_userinfo("https://gw:s3cret-pw@proxy.internal:8443/appsignal"),
            "https://[redacted]@proxy.internal:8443/appsignal"
        );
        assert_eq!(
            redact_userinfo("https://TOKEN-as-user@appsignal.com"),
            "https://[redacted]@appsignal.com"
        );
        assert_eq!(
            userinfo_secrets("https://TOKEN-as-user:p%40ss-word@h"),
            ["p%40ss-word", "p@ss-word", "TOKEN-as-user"]
        );
        assert_eq!(userinfo_secrets("redis://user:pa55-word@h"), ["pa55-word"]);
    }

    #[test]
    fn only_redis_schemes_with_a_host_are_accepted() {
        assert!(RedisUrl::new("http://localhost").check().is_err());
        assert!(RedisUrl::new("redis://").check().is_err());
        assert!(RedisUrl::new("nonsense").check().is_err());
        assert!(RedisUrl::new("redis://127.0.0.1:6379/0").check().is_ok());
    }
}
