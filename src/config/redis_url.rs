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
    fn only_redis_schemes_with_a_host_are_accepted() {
        assert!(RedisUrl::new("http://localhost").check().is_err());
        assert!(RedisUrl::new("redis://").check().is_err());
        assert!(RedisUrl::new("nonsense").check().is_err());
        assert!(RedisUrl::new("redis://127.0.0.1:6379/0").check().is_ok());
    }
}
