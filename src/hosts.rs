//! The `Host` rule both listeners apply before any work: the defence against DNS
//! rebinding that development servers adopted (Vite's `server.allowedHosts`,
//! webpack-dev-server's `allowedHosts`).
//!
//! A page on `attacker.example` that rebinds its name to 127.0.0.1 reaches the gateway
//! with its own name in `Host`, and as a same-origin request it carries no `Origin`: the
//! name is all that tells it apart. So a listener answers only the names it is meant to
//! be reached by: `allowed_hosts`, and the loopback names (no rebinding can make a page
//! send those). With `allowed_hosts` empty, a listener on a loopback address answers only
//! the loopback names; one on any other address answers any name (`check` warns).
//!
//! A leaf: imports nothing of the crate.

use std::net::SocketAddr;

use http::{HeaderMap, Uri};

/// The names every listener answers: no rebinding can make a page send them.
const LOOPBACK: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Which `Host` values one listener answers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostRule {
    /// The accepted host names, lower-case, without brackets or port; empty with `any`.
    names: Vec<String>,
    /// Any name is accepted: `allowed_hosts` is empty and the listener is not loopback.
    any: bool,
}

impl HostRule {
    /// The rule for a listener bound to `listener` under `allowed_hosts`.
    pub fn new(allowed_hosts: &[String], listener: SocketAddr) -> Self {
        if allowed_hosts.is_empty() && !listener.ip().is_loopback() {
            return HostRule { names: Vec::new(), any: true };
        }
        let listed = allowed_hosts.iter().map(|h| bare(h).to_ascii_lowercase());
        let names = LOOPBACK.iter().map(|n| (*n).to_owned()).chain(listed).collect();
        HostRule { names, any: false }
    }

    /// Whether this rule accepts any name (what `check` warns about).
    pub fn accepts_any(&self) -> bool {
        self.any
    }

    /// Whether a request with these headers and this URI may be answered: its `Host`,
    /// or (HTTP/2, which hyper exposes as the URI's authority) its `:authority`. A
    /// request naming no host at all is answered: a browser always names one, so it is
    /// no page's request (an HTTP/1.0 client, or a host service calling an embedded
    /// gateway in process).
    pub fn allows(&self, headers: &HeaderMap, uri: &Uri) -> bool {
        if self.any {
            return true;
        }
        match headers.get(http::header::HOST) {
            Some(value) => value.to_str().is_ok_and(|host| self.allows_name(host)),
            None => uri.authority().is_none_or(|a| self.allows_name(a.as_str())),
        }
    }

    /// Whether `host` (a `Host` value: a name or address, with or without a port) is one
    /// of the accepted names.
    pub fn allows_name(&self, host: &str) -> bool {
        if self.any {
            return true;
        }
        let name = bare(strip_port(host));
        !name.is_empty() && self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }
}

/// `host` without a `:port` suffix (an IPv6 literal keeps its brackets).
fn strip_port(host: &str) -> &str {
    if let Some(end) = host.strip_prefix('[').and_then(|rest| rest.find(']')) {
        let (literal, rest) = host.split_at(end + 2);
        return match rest {
            "" => literal,
            _ if rest.strip_prefix(':').is_some_and(is_port) => literal,
            // Something after the literal that is not a port: nothing matches it.
            _ => "",
        };
    }
    match host.rsplit_once(':') {
        Some((name, port)) if is_port(port) && !name.contains(':') => name,
        Some(_) => "",
        None => host,
    }
}

/// `[::1]` as `::1`; names unchanged.
fn bare(host: &str) -> &str {
    host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host)
}

fn is_port(text: &str) -> bool {
    !text.is_empty() && text.len() <= 5 && text.bytes().all(|b| b.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn a_loopback_listener_answers_loopback_names_only() {
        let rule = HostRule::new(&[], addr("127.0.0.1:8080"));
        assert!(!rule.accepts_any());
        for ok in ["localhost", "LOCALHOST:8080", "127.0.0.1", "127.0.0.1:9090", "[::1]", "[::1]:8080"] {
            assert!(rule.allows_name(ok), "{ok} refused");
        }
        for bad in [
            "attacker.example",
            "attacker.example:8080",
            "localhost.attacker.example",
            "",
            "127.0.0.1:x",
            "[::1]x",
        ] {
            assert!(!rule.allows_name(bad), "{bad} accepted");
        }
    }

    #[test]
    fn listed_names_are_added_and_other_listeners_answer_any_name_when_none_is_listed() {
        let listed = vec!["Gateway.Example.com".to_owned()];
        let rule = HostRule::new(&listed, addr("0.0.0.0:8080"));
        assert!(rule.allows_name("gateway.example.com:8080"));
        assert!(rule.allows_name("localhost"));
        assert!(!rule.allows_name("attacker.example"));
        let open = HostRule::new(&[], addr("0.0.0.0:8080"));
        assert!(open.accepts_any());
        assert!(open.allows_name("attacker.example"));
    }

    #[test]
    fn http2_requests_are_judged_by_their_authority() {
        let rule = HostRule::new(&[], addr("127.0.0.1:8080"));
        let uri: Uri = "https://localhost:8080/healthz".parse().unwrap();
        assert!(rule.allows(&HeaderMap::new(), &uri));
        let uri: Uri = "https://attacker.example/healthz".parse().unwrap();
        assert!(!rule.allows(&HeaderMap::new(), &uri));
        assert!(rule.allows(&HeaderMap::new(), &"/healthz".parse().unwrap()), "no name at all: no page");
        let mut headers = HeaderMap::new();
        headers.insert(http::header::HOST, "attacker.example".parse().unwrap());
        assert!(!rule.allows(&headers, &"/healthz".parse().unwrap()));
    }
}
